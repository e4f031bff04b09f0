/**
 * Worker threads that read and parse message files for a session (./parse-worker.ts):
 * - a first FETCH ENVELOPE over many messages sends each page's file paths to a worker ahead of time and writes the
 *   responses and the index as the answers come back (`envelopes`);
 * - SEARCH BODY/TEXT over many messages has the workers read the files and answer the content keys (`search`).
 * Reading and parsing then use the other cores. Dovecot parses in the one process of the connection; on a machine
 * with two or more cores this is what lets these commands over 100,000 messages finish within its time.
 *
 * Workers start when first needed and stop after `idleMs` without work (they do not keep the process alive).
 * A worker that fails (crash, error) rejects its pending jobs; callers then compute on their own thread, so the
 * answer is the same either way. Results equal the session-thread computation (test/imap/parse-pool.test.ts).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { EnvelopeEntry } from './message-keys.js';
import type { ContentKey } from './content-match.js';
import type { ParseJob, ParseReply } from './parse-worker.js';

export { UNREAD } from './parse-worker.js';

/** A job without its id (the pool numbers them). */
type Job = ParseJob extends infer J ? (J extends ParseJob ? Omit<J, 'id'> : never) : never;

interface Pending {
  resolve: (reply: ParseReply) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * The default number of workers: none on a single core, else one per core up to 2 (on two cores, two workers beside
 * the session's thread finished a first FETCH ENVELOPE of 100,000 messages sooner than one: bench/README.md).
 */
export function defaultParseWorkers(): number {
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(2, cores);
}

/** Under tsx (tests) this module is .ts and so is the worker beside it, which then needs tsx's loader too. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './parse-worker.ts' : './parse-worker.js', import.meta.url);

function newWorker(): Worker {
  // No options of the parent's: V8 and process options (e.g. --max-old-space-size, --cpu-prof) are refused by
  // workers or unwanted there, and the server needs none in them.
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { execArgv: [] });
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, execArgv: [] });
}

export class ParsePool {
  private readonly slots: Array<Slot | null>;
  private nextSlot = 0;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private lastReport = 0;

  constructor(
    readonly size: number,
    private readonly idleMs = 30_000,
    /** Told when a worker cannot start or fails (at most once a minute); the work is then done by the caller. */
    private readonly onError?: (err: Error) => void,
  ) {
    this.slots = new Array<Slot | null>(Math.max(0, size)).fill(null);
  }

  /** Workers running now (they start with the first job and stop when idle). */
  get running(): number {
    return this.slots.filter((x) => x !== null).length;
  }

  /** Whether jobs can be given to workers at all. */
  get enabled(): boolean {
    return this.slots.length > 0 && !this.closed;
  }

  /** The ENVELOPE entries for `paths` (null where a file could not be read), from the next worker in turn. */
  async envelopes(paths: string[], sizes: number[], max: number): Promise<Array<EnvelopeEntry | null>> {
    const r = await this.post({ kind: 'envelope', paths, sizes, max });
    if (!('entries' in r)) throw new Error('parse worker: wrong reply');
    return r.entries;
  }

  /**
   * The answers to content keys for `paths`: hits[i * keys.length + k] is 1 (match), 0 (no match) or UNREAD (the
   * worker could not read the file: the caller searches it itself).
   */
  async search(paths: string[], sizes: number[], keys: ContentKey[]): Promise<Uint8Array> {
    const r = await this.post({ kind: 'search', paths, sizes, keys });
    if (!('hits' in r)) throw new Error('parse worker: wrong reply');
    return r.hits;
  }

  private post(job: Job): Promise<ParseReply> {
    if (!this.enabled) return Promise.reject(new Error('parse pool disabled'));
    const i = this.nextSlot;
    this.nextSlot = (i + 1) % this.slots.length;
    let slot: Slot;
    try {
      slot = this.slots[i] ?? this.start(i);
    } catch (err) {
      this.report(err as Error);
      return Promise.reject(err as Error);
    }
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...job, id } as ParseJob);
    });
  }

  /** Stops the workers (server stop); pending jobs are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopAll();
  }

  private start(i: number): Slot {
    const worker = newWorker();
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    this.slots[i] = slot;
    const fail = (err: Error) => {
      if (this.slots[i] === slot) {
        this.slots[i] = null;
        if (!this.closed) this.report(err);
      }
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      void worker.terminate().catch(() => {});
    };
    worker.on('message', (reply: ParseReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      p.resolve(reply);
      if (!this.busy()) this.armIdle();
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`parse worker exited (${code})`)));
    return slot;
  }

  private report(err: Error): void {
    const now = Date.now();
    if (now - this.lastReport < 60_000) return;
    this.lastReport = now;
    this.onError?.(err);
  }

  private busy(): boolean {
    return this.slots.some((s) => s !== null && s.pending.size > 0);
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (!this.busy()) void this.stopAll();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private async stopAll(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const live = this.slots.filter((s): s is Slot => s !== null);
    this.slots.fill(null);
    for (const s of live) {
      for (const p of s.pending.values()) p.reject(new Error('parse pool stopped'));
      s.pending.clear();
    }
    await Promise.all(live.map((s) => s.worker.terminate().catch(() => 0)));
  }
}
