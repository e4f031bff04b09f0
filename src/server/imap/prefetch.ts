/**
 * Helpers for commands that walk many messages (FETCH, SEARCH): they read files with short blocking calls
 * (Mailbox.readRecordSync: much cheaper than a thread-pool round trip per file) and so must give the event loop a
 * turn regularly, and they write responses in large chunks instead of one socket write per message.
 */
import type { ImapSession } from './session.js';

/** Tells a loop when it has held the event loop for `ms` milliseconds; yield() gives other work a turn. */
export class TimeSlice {
  private start = performance.now();
  constructor(private readonly ms = 10) {}
  due(): boolean {
    return performance.now() - this.start >= this.ms;
  }
  async yield(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    this.start = performance.now();
  }
}

/** Collects responses and writes them to the session in chunks of about `chunk` bytes (with backpressure). */
export class ResponseBatch {
  private parts: Array<string | Buffer> = [];
  private binary = false;
  private bytes = 0;
  constructor(
    private readonly s: ImapSession,
    private readonly chunk = 64 * 1024,
  ) {}
  /** Add a response. Returns true when the batch is full: then call flush(). */
  add(r: string | Buffer): boolean {
    this.parts.push(r);
    this.bytes += r.length;
    if (typeof r !== 'string') this.binary = true;
    return this.bytes >= this.chunk;
  }
  /** Write what was collected, then wait while the socket's buffer is full. */
  async flush(): Promise<void> {
    if (this.parts.length) {
      const out = this.binary
        ? Buffer.concat(this.parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)))
        : (this.parts as string[]).join('');
      this.parts = [];
      this.binary = false;
      this.bytes = 0;
      this.s.write(out);
    }
    await this.s.flush();
  }
}
