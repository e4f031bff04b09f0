/**
 * The body of a RETR or TOP response (RFC 1939 §3, §7): the message's lines with CRLF endings, every line that
 * begins with "." given one more "." (byte-stuffing), a final CRLF added when the message does not end with one,
 * then the terminating ".\r\n". Works on chunks as they come from the file (state carries across chunk
 * boundaries), so a message of any size is sent without holding it in memory. A bare LF (a Maildir written by a
 * program that stores LF line ends) is sent as CRLF. With `bodyLines` (TOP msg n) it stops after the header, the
 * blank line and n lines of the body; `done` then tells the caller to stop reading the file.
 * Pure: no I/O. Untrusted input: the message bytes (any bytes, any line length).
 */

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const DOT1 = Buffer.from('.');
const TERMINATOR = Buffer.from('.\r\n');

export class DotStuffer {
  private atLineStart = true;
  /** The last input byte seen was CR (for a CRLF split between two chunks). */
  private prevCR = false;
  /** The last byte given out was LF (or nothing was given out yet: see `any`). */
  private lastLF = false;
  private any = false;
  /** TOP: still in the header; body lines still to send. */
  private inHeader = true;
  private bodyLeft = 0;
  /** TOP: bytes of the current (unfinished) line seen in earlier chunks. */
  private lineBytes = 0;
  done = false;

  constructor(private readonly bodyLines: number | null = null) {}

  /** Transform one chunk; returns the pieces to send (views into `data` where nothing changed). */
  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const len = data.length;
    if (this.done || len === 0) return out;
    const top = this.bodyLines !== null;
    let seg = 0;
    let pos = 0;
    while (pos < len) {
      if (this.atLineStart) {
        if (top && !this.inHeader && this.bodyLeft <= 0) {
          if (pos > seg) out.push(data.subarray(seg, pos));
          this.done = true;
          this.lastLF = true;
          this.any = true;
          return out;
        }
        if (data[pos] === DOT) {
          if (pos > seg) out.push(data.subarray(seg, pos));
          out.push(DOT1);
          seg = pos;
        }
        this.atLineStart = false;
      }
      const lf = data.indexOf(LF, pos);
      if (lf < 0) {
        if (top) this.lineBytes += len - pos;
        break;
      }
      const crBefore = lf > 0 ? data[lf - 1] === CR : this.prevCR;
      if (!crBefore) {
        if (lf > seg) out.push(data.subarray(seg, lf));
        out.push(CRLF);
        seg = lf + 1;
      }
      if (top) {
        const total = this.lineBytes + (lf - pos);
        const empty = total === 0 || (total === 1 && crBefore);
        this.lineBytes = 0;
        if (this.inHeader) {
          if (empty) {
            this.inHeader = false;
            this.bodyLeft = this.bodyLines!;
          }
        } else {
          this.bodyLeft--;
        }
      }
      this.atLineStart = true;
      pos = lf + 1;
    }
    if (len > seg) out.push(data.subarray(seg, len));
    this.prevCR = data[len - 1] === CR;
    this.lastLF = data[len - 1] === LF;
    this.any = true;
    return out;
  }

  /** The end of the response: a CRLF if the message did not end with a line end, then ".\r\n". */
  end(): Buffer {
    if (!this.any || this.lastLF) return TERMINATOR;
    return this.prevCR ? Buffer.from('\n.\r\n') : Buffer.from('\r\n.\r\n');
  }
}

/** The whole response body for a message held in memory (small messages): stuffed bytes plus terminator. */
export function stuffWhole(data: Buffer, bodyLines: number | null = null): Buffer {
  const d = new DotStuffer(bodyLines);
  const pieces = d.push(data);
  pieces.push(d.end());
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/**
 * True when data[start..end) is already its own RETR body (RFC 1939 §3): empty, or ends with CRLF, every LF is
 * preceded by CR and no line begins with "."; the response is then these bytes followed by ".\r\n", with no copy.
 * One pass over the line ends, no allocation.
 */
export function sendsAsIs(data: Buffer, start: number, end: number): boolean {
  if (end === start) return true;
  if (end - start < 2 || data[start] === DOT || data[end - 1] !== LF || data[end - 2] !== CR) return false;
  let lf = data.indexOf(LF, start);
  while (lf >= 0 && lf < end - 1) {
    if (lf === start || data[lf - 1] !== CR || data[lf + 1] === DOT) return false;
    lf = data.indexOf(LF, lf + 1);
  }
  return true;
}
