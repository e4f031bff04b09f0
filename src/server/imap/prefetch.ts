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

/**
 * Array sort that gives the event loop turns: runs of RUN elements are sorted with Array.prototype.sort (a few ms
 * each), then merged pairwise, checking the time slice every 1024 elements. Stable, like Array.prototype.sort, so
 * equal keys keep their order. Used by SORT on large mailboxes, where one sort() of 100,000 rows would hold every
 * other session for a few hundred milliseconds.
 */
/** What a long loop needs of a TimeSlice. */
export type Yielding = Pick<TimeSlice, 'due' | 'yield'>;

export async function sortYielding<T>(items: T[], cmp: (a: T, b: T) => number, slice: Yielding): Promise<T[]> {
  const RUN = 4096;
  if (items.length <= RUN) return items.sort(cmp);
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += RUN) {
    runs.push(items.slice(i, i + RUN).sort(cmp));
    if (slice.due()) await slice.yield();
  }
  while (runs.length > 1) {
    const next: T[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1];
      if (!b) {
        next.push(a);
        continue;
      }
      const out = new Array<T>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        // b's element goes first only when strictly smaller: equal ones keep a's (earlier) position.
        out[k++] = cmp(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!;
        if ((k & 1023) === 0 && slice.due()) await slice.yield();
      }
      while (i < a.length) out[k++] = a[i++]!;
      while (j < b.length) out[k++] = b[j++]!;
      next.push(out);
    }
    runs = next;
  }
  return runs[0]!;
}

/**
 * The pages [0, size), [size, 2 size), ... of `count` items, each from `load(start)`, started up to `window` pages
 * ahead of the one being consumed (so work done elsewhere, e.g. by the parse workers, overlaps with the caller's).
 * A page started ahead whose load fails while the caller has stopped early is not an unhandled rejection.
 */
export async function* pagesAhead<T>(count: number, size: number, window: number, load: (start: number) => Promise<T>): AsyncGenerator<T> {
  const ahead: Array<Promise<T>> = [];
  let next = 0;
  for (let i = 0; i < count; i += size) {
    while (next < count && next <= i + window * size) {
      const p = load(next);
      p.catch(() => {});
      ahead.push(p);
      next += size;
    }
    yield await ahead.shift()!;
  }
}
