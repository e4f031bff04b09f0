/**
 * The queue manager (Postfix's qmgr): schedules delivery attempts of queued messages, groups recipients by
 * destination domain (so a transport can reuse one connection for many messages), applies the retry policy
 * (exponential backoff, maximum queue lifetime, one delay warning), and sends delivery status notifications
 * (RFC 3464) from the null sender, never for a message whose sender was null (RFC 5321 §6.1).
 * Temporary errors (4xx, DNS SERVFAIL/timeouts, connection failures) defer; permanent ones (5xx) bounce at once.
 * Admin commands (flush, hold, release, delete, requeue) act on the same store and take effect at once.
 */
import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import { QueueStore } from './store.js';
import { newQueueEntry, type QueueEntry, type QueueRecipient, type QueueState, type RecipientResult, type Transport, type OutboundMessage } from './types.js';
import { buildDsn, headerBlock } from '../delivery/dsn.js';
import { newQueueId } from '../intake/queue-id.js';

export interface RetryPolicy {
  /** First retry after this long; doubles per attempt up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Give up (bounce) after this long in the queue (Postfix maximal_queue_lifetime, 5 days). */
  maxLifetimeMs: number;
  /** Send one "delayed" DSN after this long (Postfix delay_warning_time); 0 = never. */
  delayWarningMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  baseDelayMs: 5 * 60_000,
  maxDelayMs: 4 * 3600_000,
  maxLifetimeMs: 5 * 86400_000,
  delayWarningMs: 4 * 3600_000,
};

export interface QueueManagerOptions {
  store: QueueStore;
  transport: Transport;
  hostname: string;
  retry: RetryPolicy;
  /** How many destination domains are worked on at once. */
  concurrency: number;
  /** Deliver a message (a bounce) to a local address; throws when the address is not local or delivery failed. */
  deliverLocal: (address: string, data: Buffer) => Promise<boolean>;
  log: Logger;
}

interface Slot {
  state: QueueState;
  nextAttempt: number;
  inFlight: boolean;
  /** The record as just written by intake: activation uses it instead of reading the file back. */
  entry?: QueueEntry;
  /** Admin action requested while in flight. */
  pending?: 'hold' | 'delete' | 'flush';
}

export interface QueueListItem {
  id: string;
  state: QueueState;
  size: number;
  arrival: string;
  sender: string;
  recipients: Array<{ address: string; status: string; lastError?: string }>;
  attempts: number;
  nextAttempt: string | null;
  lastError: string | null;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export class QueueManager {
  private readonly slots = new Map<string, Slot>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private rerun = false;
  private current: Promise<void> | null = null;

  constructor(private readonly o: QueueManagerOptions) {}

  get store(): QueueStore {
    return this.o.store;
  }

  async start(): Promise<void> {
    const r = await this.o.store.recover();
    if (r.resumed || r.orphans) this.o.log.info(r, 'queue recovered after restart');
    for (const { state, entry } of await this.o.store.list()) {
      this.slots.set(entry.id, { state, nextAttempt: state === 'incoming' ? 0 : entry.nextAttempt, inFlight: false });
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.catch(() => {});
    await Promise.race([Promise.all([...this.workerPromises]), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await this.o.transport.close?.();
  }

  /**
   * A new message was written to incoming/. `entry` is the record as written (then activation does not read it
   * back from disk); without it, the record is read at activation.
   */
  enqueued(id: string, entry?: QueueEntry, o: { log?: boolean } = {}): void {
    // The queue's own line for a message an SMTP session queued: the same queueId as the session's line and the
    // delivery lines after it (and the start of the delivery latency in the metrics).
    if (o.log && entry) this.o.log.info({ queueId: id, from: entry.sender, to: entry.recipients.map((r) => r.address), size: entry.size, origin: entry.origin }, 'queued');
    this.slots.set(id, { state: 'incoming', nextAttempt: 0, inFlight: false, ...(entry && entry.id === id ? { entry: structuredClone(entry) } : {}) });
    this.schedule(0);
  }

  /** Create and enqueue a new message (bounces, forwarded copies). */
  async enqueueBuffer(data: Buffer, sender: string, recipients: string[], origin: string): Promise<string> {
    const id = newQueueId();
    const entry: QueueEntry = {
      ...newQueueEntry({ id, sender, recipients, body8bit: /[\x80-\xff]/.test(data.toString('latin1')), smtputf8: false, origin }),
      size: data.length,
    };
    await this.o.store.enqueueBuffer(data, entry);
    this.o.log.info({ queueId: id, from: sender, to: recipients, size: data.length, origin }, 'queued');
    this.enqueued(id, entry);
    return id;
  }

  private schedule(delayMs: number) {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), Math.max(0, Math.min(delayMs, 60_000)));
    this.timer.unref?.();
  }

  private run() {
    this.timer = null;
    if (this.stopped) return;
    this.running = true;
    this.current = this.cycle()
      .catch((err) => this.o.log.error({ err }, 'queue run failed'))
      .finally(() => {
        this.running = false;
        const next = this.rerun ? 0 : this.nextDue();
        this.rerun = false;
        if (next !== null) this.schedule(next);
      });
  }

  private nextDue(): number | null {
    let min: number | null = null;
    for (const s of this.slots.values()) {
      if (s.inFlight || s.state === 'hold') continue;
      if (min === null || s.nextAttempt < min) min = s.nextAttempt;
    }
    return min === null ? null : Math.max(0, min - Date.now());
  }

  /**
   * One scheduling round: activate every due message and hand its recipients to the destination queues. Delivery
   * runs in per-destination workers (a pipeline, like Postfix's qmgr): mail that arrives meanwhile is picked up at
   * once, and each message is finalized as soon as all its destinations have answered.
   */
  private async cycle(): Promise<void> {
    const now = Date.now();
    const due = [...this.slots.entries()]
      .filter(([, s]) => !s.inFlight && s.state !== 'hold' && s.nextAttempt <= now)
      .slice(0, 5000)
      .map(([id]) => id);
    if (!due.length) return;
    for (const id of due) this.slots.get(id)!.inFlight = true;
    let next = 0;
    const activator = async () => {
      while (next < due.length && !this.stopped) {
        const id = due[next++]!;
        await this.activate(id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, due.length) }, activator));
    // Anything not reached because of stop() goes back to the scheduler.
    for (; next < due.length; next++) {
      const s = this.slots.get(due[next]!);
      if (s) s.inFlight = false;
    }
  }

  private readonly destQueues = new Map<string, Array<{ entry: QueueEntry; rcpts: QueueRecipient[] }>>();
  private readonly destWorkers = new Map<string, number>();
  private workersRunning = 0;
  private readonly workerPromises = new Set<Promise<void>>();
  private readonly outstanding = new Map<string, { entry: QueueEntry; domains: number }>();
  private static readonly BATCH = 100;

  private async activate(id: string): Promise<void> {
    const slot = this.slots.get(id);
    if (!slot) return;
    let entry: QueueEntry | null = null;
    try {
      await this.o.store.move(id, slot.state, 'active');
      slot.state = 'active';
      entry = slot.entry ?? (await this.o.store.read('active', id));
      delete slot.entry;
    } catch (err) {
      this.o.log.error({ err, queueId: id }, 'cannot activate queued message');
      slot.inFlight = false;
      return;
    }
    if (!entry) {
      this.slots.delete(id);
      return;
    }
    const groups = new Map<string, QueueRecipient[]>();
    for (const r of entry.recipients) {
      if (r.status !== 'pending') continue;
      const d = domainOf(r.address);
      if (!groups.has(d)) groups.set(d, []);
      groups.get(d)!.push(r);
    }
    if (!groups.size) {
      await this.finish(entry);
      return;
    }
    this.outstanding.set(entry.id, { entry, domains: groups.size });
    for (const [d, rcpts] of groups) {
      if (!this.destQueues.has(d)) this.destQueues.set(d, []);
      this.destQueues.get(d)!.push({ entry, rcpts });
      this.kick(d);
    }
  }

  /** Start a worker for a destination when it has work, none runs for it, and the global limit allows. */
  private kick(domain: string) {
    const q = this.destQueues.get(domain);
    if (!q?.length || (this.destWorkers.get(domain) ?? 0) > 0) return;
    if (this.workersRunning >= this.o.concurrency) return;
    this.destWorkers.set(domain, 1);
    this.workersRunning++;
    const p = this.worker(domain).finally(() => {
      this.destWorkers.delete(domain);
      this.workersRunning--;
      this.workerPromises.delete(p);
      // Give the freed slot to a waiting destination.
      for (const d of this.destQueues.keys()) {
        if (this.workersRunning >= this.o.concurrency) break;
        this.kick(d);
      }
    });
    this.workerPromises.add(p);
  }

  private async worker(domain: string): Promise<void> {
    const q = this.destQueues.get(domain)!;
    while (q.length) {
      const batch = q.splice(0, QueueManager.BATCH);
      await this.deliverDomain(domain, batch);
      for (const { entry } of batch) {
        const o = this.outstanding.get(entry.id);
        if (!o) continue;
        if (--o.domains === 0) {
          this.outstanding.delete(entry.id);
          await this.finish(entry);
        }
      }
    }
    this.destQueues.delete(domain);
  }

  private async finish(entry: QueueEntry): Promise<void> {
    await this.finalize(entry).catch((err) => this.o.log.error({ err, queueId: entry.id }, 'queue update failed'));
    const next = this.nextDue();
    if (next !== null && !this.running) this.schedule(next);
  }

  private async deliverDomain(domain: string, items: Array<{ entry: QueueEntry; rcpts: QueueRecipient[] }>) {
    const msgs: OutboundMessage[] = items.map(({ entry, rcpts }) => ({
      id: entry.id,
      sender: entry.sender,
      recipients: rcpts.map((r) => r.address),
      body8bit: entry.body8bit,
      smtputf8: entry.smtputf8,
      size: entry.size,
      bodyPath: this.o.store.bodyPath(entry.id),
    }));
    let results: Map<string, RecipientResult[]>;
    try {
      results = await this.o.transport.deliver(domain, msgs);
    } catch (err) {
      const message = `4.4.0 delivery to ${domain} failed: ${(err as Error).message}`;
      this.o.log.warn({ domain, err }, 'transport failed');
      results = new Map(msgs.map((m) => [m.id, m.recipients.map((a) => ({ address: a, outcome: 'temp' as const, code: 0, message }))]));
    }
    const now = Date.now();
    for (const { entry, rcpts } of items) {
      const res = results.get(entry.id) ?? [];
      for (const r of rcpts) {
        const x = res.find((y) => y.address.toLowerCase() === r.address.toLowerCase());
        if (!x) {
          r.lastError = '4.4.0 no result from the transport';
          r.lastCode = 4;
          continue;
        }
        const text = x.code ? `${x.code} ${x.enhanced ? x.enhanced + ' ' : ''}${x.message}`.trim() : x.message;
        if (x.remoteMta) r.remoteMta = x.remoteMta;
        if (x.outcome === 'ok') {
          r.status = 'delivered';
          r.finishedAt = now;
          r.lastError = undefined;
        } else if (x.outcome === 'perm') {
          r.status = 'failed';
          r.finishedAt = now;
          r.lastError = text;
          r.lastCode = 5;
        } else {
          r.lastError = text;
          r.lastCode = 4;
        }
        this.o.log.info(
          { queueId: entry.id, to: r.address, domain, relay: x.remoteMta ?? null, result: x.outcome === 'ok' ? 'sent' : x.outcome === 'perm' ? 'bounced' : 'deferred', reply: text },
          x.outcome === 'ok' ? 'delivered' : 'delivery failed',
        );
      }
    }
  }

  private backoff(attempts: number): number {
    const r = this.o.retry;
    return Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  }

  private async finalize(entry: QueueEntry): Promise<void> {
    const slot = this.slots.get(entry.id);
    const now = Date.now();
    entry.attempts++;
    if (slot?.pending === 'delete') {
      await this.o.store.remove(entry.id, 'active');
      this.slots.delete(entry.id);
      return;
    }
    let pending = entry.recipients.filter((r) => r.status === 'pending');
    if (pending.length && now - entry.arrival >= this.o.retry.maxLifetimeMs) {
      for (const r of pending) {
        r.status = 'failed';
        r.finishedAt = now;
        r.lastError = `${r.lastError ?? '4.4.7 no answer'} (gave up: message too long in the queue)`;
      }
      pending = [];
    }
    const failed = entry.recipients.filter((r) => r.status === 'failed' && !r.notified);
    if (failed.length) {
      await this.notify(entry, failed, 'failed');
      for (const r of failed) r.notified = true;
    }
    if (!pending.length) {
      await this.o.store.remove(entry.id, 'active');
      this.slots.delete(entry.id);
      this.o.log.info({ queueId: entry.id, result: 'removed' }, 'removed from the queue');
      return;
    }
    if (!entry.warned && this.o.retry.delayWarningMs > 0 && now - entry.arrival >= this.o.retry.delayWarningMs) {
      entry.warned = true;
      await this.notify(entry, pending, 'delayed');
    }
    entry.nextAttempt = slot?.pending === 'flush' ? now : now + this.backoff(entry.attempts);
    const target: QueueState = slot?.pending === 'hold' ? 'hold' : 'deferred';
    await this.o.store.writeRecord('active', entry, { durable: false });
    await this.o.store.move(entry.id, 'active', target);
    this.slots.set(entry.id, { state: target, nextAttempt: entry.nextAttempt, inFlight: false });
  }

  /** Send a DSN to the sender (never for the null sender). */
  private async notify(entry: QueueEntry, rcpts: QueueRecipient[], action: 'failed' | 'delayed') {
    if (!entry.sender) {
      this.o.log.info({ queueId: entry.id, action }, 'no notification: the message had a null sender');
      return;
    }
    let original: Buffer;
    const full = entry.dsnRet === 'FULL' && entry.size <= 10 * 1024 * 1024;
    try {
      const raw = await fsp.readFile(this.o.store.bodyPath(entry.id));
      original = full ? raw : headerBlock(raw);
    } catch {
      original = Buffer.from('(original message unavailable)\r\n');
    }
    const { data } = buildDsn({
      reportingMta: this.o.hostname,
      entry,
      recipients: rcpts,
      action,
      original,
      originalIsFull: full,
      willRetryUntil: new Date(entry.arrival + this.o.retry.maxLifetimeMs),
    });
    try {
      if (await this.o.deliverLocal(entry.sender, data)) {
        this.o.log.info({ queueId: entry.id, to: entry.sender, action }, 'notification delivered locally');
        return;
      }
    } catch (err) {
      this.o.log.warn({ queueId: entry.id, err }, 'local delivery of a notification failed; queueing it');
    }
    const id = await this.enqueueBuffer(data, '', [entry.sender], 'bounce');
    this.o.log.info({ queueId: entry.id, notification: id, to: entry.sender, action }, 'notification queued');
  }

  // ---------------------------------------------------------------- admin commands (postqueue/postsuper)

  async list(): Promise<QueueListItem[]> {
    return (await this.o.store.list()).map(({ state, entry }) => toListItem(state, entry, this.slots.get(entry.id)));
  }

  /** Retry now: one message, or every deferred one. Returns how many were scheduled. */
  async flush(id?: string): Promise<number> {
    let n = 0;
    for (const [k, s] of this.slots) {
      if (id && k !== id) continue;
      if (s.state === 'hold') continue;
      if (s.inFlight) s.pending = 'flush';
      else s.nextAttempt = 0;
      n++;
    }
    this.schedule(0);
    return n;
  }

  async hold(ids: string[]): Promise<number> {
    let n = 0;
    for (const id of ids) {
      const s = this.slots.get(id);
      if (!s || s.state === 'hold') continue;
      if (s.inFlight) s.pending = 'hold';
      else {
        await this.o.store.move(id, s.state, 'hold');
        s.state = 'hold';
      }
      n++;
    }
    return n;
  }

  async release(ids: string[]): Promise<number> {
    let n = 0;
    for (const id of ids) {
      const s = this.slots.get(id);
      if (!s || s.state !== 'hold') continue;
      await this.o.store.move(id, 'hold', 'deferred');
      s.state = 'deferred';
      s.nextAttempt = 0;
      n++;
    }
    this.schedule(0);
    return n;
  }

  async remove(ids: string[]): Promise<number> {
    let n = 0;
    for (const id of ids) {
      const s = this.slots.get(id);
      if (!s) continue;
      if (s.inFlight) s.pending = 'delete';
      else {
        await this.o.store.remove(id, s.state);
        this.slots.delete(id);
      }
      this.o.log.info({ queueId: id, result: 'deleted' }, 'deleted from the queue by the admin');
      n++;
    }
    return n;
  }

  /** Requeue: back to incoming with the retry clock reset (Postfix postsuper -r). */
  async requeue(ids: string[]): Promise<number> {
    let n = 0;
    for (const id of ids) {
      const s = this.slots.get(id);
      if (!s || s.inFlight) continue;
      const e = await this.o.store.read(s.state, id);
      if (!e) continue;
      e.nextAttempt = 0;
      e.attempts = 0;
      await this.o.store.writeRecord(s.state, e);
      await this.o.store.move(id, s.state, 'incoming');
      this.slots.set(id, { state: 'incoming', nextAttempt: 0, inFlight: false });
      n++;
    }
    this.schedule(0);
    return n;
  }
}

export function toListItem(state: QueueState, entry: QueueEntry, slot?: { nextAttempt: number }): QueueListItem {
  const last = entry.recipients.find((r) => r.lastError)?.lastError ?? null;
  const next = state === 'hold' ? null : (slot?.nextAttempt ?? entry.nextAttempt);
  return {
    id: entry.id,
    state,
    size: entry.size,
    arrival: new Date(entry.arrival).toISOString(),
    sender: entry.sender,
    recipients: entry.recipients.map((r) => ({ address: r.address, status: r.status, lastError: r.lastError })),
    attempts: entry.attempts,
    nextAttempt: next === null ? null : new Date(next).toISOString(),
    lastError: last,
  };
}
