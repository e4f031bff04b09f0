/**
 * The DATA phase byte stream (RFC 5321 §4.1.1.4, §4.5.2): finds the end of data "<CRLF>.<CRLF>", removes dot
 * stuffing, and counts bare CR and bare LF. Pure and incremental: push() it bytes as they arrive.
 *
 * Security (SMTP smuggling): only CRLF ends a line. A bare LF or bare CR never starts a new line, so "<LF>.<LF>",
 * "<LF>.<CRLF>", "<CR>.<CR>" and friends never end the data early; they stay inside the message and are counted so
 * the session can reject the message (RFC 5321 §2.3.8: bare CR/LF are not line endings).
 * The data starts at the beginning of a line (right after the DATA command's CRLF), so "." CRLF at once is an
 * empty message.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CR_BUF = Buffer.from([CR]);

const enum S {
  LineStart,
  Mid,
  Cr,
  Dot,
  DotCr,
}

export interface DecodeResult {
  /** Decoded message bytes (dot-unstuffed), in order. */
  out: Buffer[];
  /** How many input bytes were consumed; when done, the rest belongs to the next command. */
  consumed: number;
  done: boolean;
}

export class DataDecoder {
  private state: S = S.LineStart;
  bareLf = 0;
  bareCr = 0;
  /** Bytes of decoded message, including those not emitted once over the limit. */
  size = 0;
  /** The longest line in octets without CRLF (RFC 5321 §4.5.3.1.6 says 998). */
  maxLine = 0;
  private lineLen = 0;
  private done = false;

  constructor(private readonly maxSize = Infinity) {}

  get sizeExceeded(): boolean {
    return this.size > this.maxSize;
  }

  push(buf: Buffer): DecodeResult {
    const out: Buffer[] = [];
    if (this.done) return { out, consumed: 0, done: true };
    let segStart = 0;
    const emitSeg = (end: number) => {
      if (end > segStart) this.emit(out, buf.subarray(segStart, end));
    };
    let i = 0;
    for (; i < buf.length; i++) {
      const b = buf[i]!;
      switch (this.state) {
        case S.LineStart:
          if (b === DOT) {
            emitSeg(i);
            segStart = i + 1; // hold the dot back: stuffing or end of data
            this.state = S.Dot;
          } else if (b === CR) {
            this.state = S.Cr;
          } else if (b === LF) {
            this.bareLf++;
            this.newLine();
            this.state = S.Mid;
          } else {
            this.lineLen++;
            this.state = S.Mid;
          }
          break;
        case S.Mid:
          if (b === CR) this.state = S.Cr;
          else if (b === LF) {
            this.bareLf++; // stays mid-line: a bare LF is not a line ending
            this.newLine();
          } else this.lineLen++;
          break;
        case S.Cr:
          if (b === LF) {
            this.newLine();
            this.state = S.LineStart;
          } else {
            this.bareCr++;
            this.lineLen++;
            if (b === CR) this.state = S.Cr;
            else {
              this.lineLen++;
              this.state = S.Mid;
            }
          }
          break;
        case S.Dot:
          if (b === CR) {
            segStart = i + 1; // hold the CR back too
            this.state = S.DotCr;
          } else {
            // A stuffed line: the leading dot is dropped (already excluded); this byte starts the content.
            segStart = i;
            if (b === LF) {
              this.bareLf++;
              this.newLine();
            } else this.lineLen++;
            this.state = S.Mid;
          }
          break;
        case S.DotCr:
          if (b === LF) {
            // End of data. The CRLF before the dot belongs to the message; ".CRLF" does not.
            this.done = true;
            this.newLine();
            return { out, consumed: i + 1, done: true };
          }
          // ".<CR>x": a stuffed line whose content starts with a bare CR.
          this.emit(out, CR_BUF);
          this.bareCr++;
          segStart = i;
          if (b === CR) this.state = S.Cr;
          else {
            this.lineLen++;
            this.state = S.Mid;
          }
          break;
      }
    }
    if (this.state !== S.Dot && this.state !== S.DotCr) emitSeg(i);
    return { out, consumed: buf.length, done: false };
  }

  private newLine() {
    if (this.lineLen > this.maxLine) this.maxLine = this.lineLen;
    this.lineLen = 0;
  }

  private emit(out: Buffer[], b: Buffer) {
    const before = this.size;
    this.size += b.length;
    if (before >= this.maxSize) return;
    if (this.size > this.maxSize) out.push(b.subarray(0, this.maxSize - before));
    else out.push(b);
  }
}
