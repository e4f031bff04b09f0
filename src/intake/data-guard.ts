/**
 * Guards the DATA stream against SMTP smuggling (CVE-2023-51764/51765/51766 class) by refusing bare LF and bare CR.
 * RFC 5321 §2.3.8: lines end with CRLF; "bare" CR or LF must not be treated as line endings. Our wire layer only
 * ends DATA at <CRLF>.<CRLF>, so a smuggled "<LF>.<LF>" or "<CR>.<CR>" stays inside the message; we then reject
 * the whole message with 550 5.5.2, as Postfix does with smtpd_forbid_bare_newline = reject, so that no
 * downstream server that is lax about line endings can be fooled into seeing two messages.
 * Also counts bytes and the longest line (RFC 5321 §4.5.3.1.6 says 1000 octets with CRLF).
 */

export class BareNewlineScanner {
  bareLf = 0;
  bareCr = 0;
  bytes = 0;
  maxLine = 0;
  private prevCr = false;
  private lineLen = 0;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let prevCr = this.prevCr;
    let lineLen = this.lineLen;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0a) {
        if (!prevCr) this.bareLf++;
        if (lineLen > this.maxLine) this.maxLine = lineLen;
        lineLen = 0;
        prevCr = false;
        continue;
      }
      if (prevCr) this.bareCr++; // CR not followed by LF
      prevCr = b === 0x0d;
      if (!prevCr) lineLen++;
    }
    this.prevCr = prevCr;
    this.lineLen = lineLen;
  }

  /** Call at end of data: a CR at the very end is bare too. */
  end(): void {
    if (this.prevCr) this.bareCr++;
    if (this.lineLen > this.maxLine) this.maxLine = this.lineLen;
    this.prevCr = false;
  }

  get clean(): boolean {
    return this.bareLf === 0 && this.bareCr === 0;
  }
}
