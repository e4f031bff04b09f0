/**
 * The on-disk outbound queue (Postfix's queue directories, RFC 5321 §4.5.4.1 "a message is on disk before 250").
 * Layout under <dataDir>/queue/:
 *   body/<id>                 the message as it will be sent (immutable, fsynced before its envelope exists)
 *   incoming|active|deferred|hold/<id>.json   the envelope record (QueueEntry); the directory is the state
 *   tmp/                      where records are written before they are renamed into place
 * Invariants: a record exists only when its body is durable; a state change is one rename (atomic); an update is
 * write-tmp + fsync + rename (atomic replace) followed by an fsync of the directory. A body without a record was
 * never acknowledged and is removed at start.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { QueueEntry, QueueState } from './types.js';
import { fsyncDir } from '../store/maildir/maildir.js';

export const QUEUE_STATES: readonly QueueState[] = ['incoming', 'active', 'deferred', 'hold'];
const ID_RE = /^[0-9A-Z]{8,32}$/;

export class QueueStore {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = join(dataDir, 'queue');
  }

  async init(): Promise<void> {
    for (const d of ['body', 'tmp', ...QUEUE_STATES]) await fsp.mkdir(join(this.root, d), { recursive: true, mode: 0o700 });
  }

  bodyPath(id: string): string {
    if (!ID_RE.test(id)) throw new Error(`bad queue id ${id}`);
    return join(this.root, 'body', id);
  }

  private recordPath(state: QueueState, id: string): string {
    if (!ID_RE.test(id)) throw new Error(`bad queue id ${id}`);
    return join(this.root, state, `${id}.json`);
  }

  /** Enqueue: hard-link an fsynced file as the body, then write the record into incoming/. */
  async enqueue(fsyncedFile: string, entry: QueueEntry): Promise<void> {
    const body = this.bodyPath(entry.id);
    await fsp.link(fsyncedFile, body);
    try {
      await fsyncDir(join(this.root, 'body'));
      await this.writeRecord('incoming', entry);
    } catch (err) {
      await fsp.unlink(body).catch(() => {});
      throw err;
    }
  }

  /** Enqueue a message given as bytes (bounces, delay warnings). */
  async enqueueBuffer(data: Buffer, entry: QueueEntry): Promise<void> {
    const tmp = join(this.root, 'tmp', `${entry.id}.body`);
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await this.enqueue(tmp, { ...entry, size: data.length });
    } finally {
      await fsp.unlink(tmp).catch(() => {});
    }
  }

  /**
   * Write (create or replace) a record in `state`. The file is always fsynced before the rename (a renamed but
   * unsynced file can come back empty after a crash); the directory is fsynced only for `durable` writes — the
   * acceptance of a message. A lost later update only means an attempt is repeated (a duplicate, never a loss).
   */
  async writeRecord(state: QueueState, entry: QueueEntry, opts: { durable?: boolean } = {}): Promise<void> {
    const tmp = join(this.root, 'tmp', `${entry.id}.${randomBytes(4).toString('hex')}.json`);
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    try {
      await fh.writeFile(JSON.stringify(entry));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.recordPath(state, entry.id));
    if (opts.durable !== false) await fsyncDir(join(this.root, state));
  }

  /**
   * Move a record between states (one rename). Not fsynced: if a crash loses the rename, the record is found in
   * its old state (active/ goes back to incoming/ at start), so the worst case is a repeated attempt. Admin moves
   * into hold/ are made durable, since losing one would send mail the admin stopped.
   */
  async move(id: string, from: QueueState, to: QueueState): Promise<void> {
    if (from === to) return;
    await fsp.rename(this.recordPath(from, id), this.recordPath(to, id));
    if (to === 'hold') await fsyncDir(join(this.root, to));
  }

  /** Remove a message completely (record, then body). A lost unlink after a crash only repeats a delivery. */
  async remove(id: string, state: QueueState): Promise<void> {
    await fsp.unlink(this.recordPath(state, id)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await fsp.unlink(this.bodyPath(id)).catch(() => {});
  }

  async read(state: QueueState, id: string): Promise<QueueEntry | null> {
    try {
      return JSON.parse(await fsp.readFile(this.recordPath(state, id), 'utf8')) as QueueEntry;
    } catch {
      return null;
    }
  }

  /** Find a message's state by id. */
  async locate(id: string): Promise<{ state: QueueState; entry: QueueEntry } | null> {
    if (!ID_RE.test(id)) return null;
    for (const state of QUEUE_STATES) {
      const entry = await this.read(state, id);
      if (entry) return { state, entry };
    }
    return null;
  }

  async ids(state: QueueState): Promise<string[]> {
    const names = await fsp.readdir(join(this.root, state)).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).filter((id) => ID_RE.test(id));
  }

  /**
   * Every message once, oldest first. The state directories are read one after the other while the queue runs, so
   * a message that moves meanwhile (incoming -> active, active -> deferred) can be met in two of them: the later
   * read is the newer state and wins. (Listed twice, a message was counted twice by the queue page's actions.)
   */
  async list(): Promise<Array<{ state: QueueState; entry: QueueEntry }>> {
    const byId = new Map<string, { state: QueueState; entry: QueueEntry }>();
    for (const state of QUEUE_STATES) {
      for (const id of await this.ids(state)) {
        const entry = await this.read(state, id);
        if (entry) {
          byId.delete(id);
          byId.set(id, { state, entry });
        }
      }
    }
    const out = [...byId.values()];
    out.sort((a, b) => a.entry.arrival - b.entry.arrival);
    return out;
  }

  /**
   * Crash recovery at start: records in active/ go back to incoming/ (their delivery was interrupted: a duplicate
   * is possible, a loss is not); bodies without a record and stale tmp files are removed.
   */
  async recover(): Promise<{ resumed: number; orphans: number }> {
    await this.init();
    let resumed = 0;
    for (const id of await this.ids('active')) {
      await this.move(id, 'active', 'incoming');
      resumed++;
    }
    const known = new Set<string>();
    for (const state of QUEUE_STATES) for (const id of await this.ids(state)) known.add(id);
    let orphans = 0;
    for (const name of await fsp.readdir(join(this.root, 'body'))) {
      if (!known.has(name)) {
        await fsp.unlink(join(this.root, 'body', name)).catch(() => {});
        orphans++;
      }
    }
    for (const name of await fsp.readdir(join(this.root, 'tmp'))) await fsp.unlink(join(this.root, 'tmp', name)).catch(() => {});
    return { resumed, orphans };
  }
}
