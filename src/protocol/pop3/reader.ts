/**
 * POP3 line reader: turns client bytes into command lines (RFC 1939 §3: lines end with CRLF; a bare LF is accepted
 * as well, as most servers do). Untrusted input: every byte. A line longer than `maxLineLength` octets (RFC 2449
 * §4 allows commands of 255 octets; we allow more) is never buffered: it is reported once as 'too-long' and its
 * bytes are dropped up to the next LF, so memory per connection stays bounded whatever the client sends.
 */

export type LineEvent = { type: 'line'; line: Buffer } | { type: 'too-long' };

const NONE = Buffer.alloc(0);

export class LineReader {
  private buf: Buffer = NONE;
  /** Dropping the rest of an over-long line. */
  private discarding = false;

  constructor(private readonly maxLineLength: number) {}

  /** Feed bytes; returns the complete lines (without CRLF) and over-long line events, in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    const data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = NONE;
    let start = 0;
    for (;;) {
      const lf = data.indexOf(0x0a, start);
      if (lf < 0) break;
      if (this.discarding) {
        this.discarding = false;
      } else if (lf - start > this.maxLineLength + 1) {
        out.push({ type: 'too-long' });
      } else {
        const end = lf > start && data[lf - 1] === 0x0d ? lf - 1 : lf;
        out.push({ type: 'line', line: data.subarray(start, end) });
      }
      start = lf + 1;
    }
    const rest = data.length - start;
    if (rest > 0 && !this.discarding) {
      if (rest > this.maxLineLength + 1) {
        this.discarding = true;
        out.push({ type: 'too-long' });
      } else {
        // Copy: the chunk may be a view into a larger buffer that we must not keep alive.
        this.buf = Buffer.from(data.subarray(start));
      }
    }
    return out;
  }

  /** Nothing half-read: the next chunk starts a line. */
  get idle(): boolean {
    return this.buf.length === 0 && !this.discarding;
  }

  /** Forget buffered bytes (STLS: nothing sent before the handshake may be used after it, RFC 2595 §3.1). */
  reset(): void {
    this.buf = NONE;
    this.discarding = false;
  }

  get buffered(): number {
    return this.buf.length;
  }
}
