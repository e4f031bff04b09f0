/**
 * Maildir delivery (https://cr.yp.to/proto/maildir.html, with Dovecot's ",S=<size>" name field).
 * A message is written once into tmp/, fsynced, then hard-linked into new/ of every recipient, each new/ directory
 * fsynced, and only then reported as delivered. A crash at any point leaves either nothing in new/ or a whole
 * message; leftovers in tmp/ are never visible to readers and are cleaned after 36 hours as the spec says.
 * tmp/new/cur are created on demand with owner-only permissions (0700), so a missing directory or a wrong mode,
 * the classic setup's delivery failures, cannot happen.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';

let counter = 0;
const host = osHostname().replace(/\//g, '\\057').replace(/:/g, '\\072');

/** A unique Maildir base name: <seconds>.M<usec>P<pid>Q<counter>.<host> (as qmail and Dovecot make them). */
export function uniqueName(now = Date.now()): string {
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
  counter = (counter + 1) % 1e9;
  return `${sec}.M${usec}P${process.pid}Q${counter}.${host}`;
}

const ensured = new Set<string>();

/** Create <dir>/{tmp,new,cur} (mode 0700) if missing. Cached per process. */
export async function ensureMaildir(dir: string): Promise<void> {
  if (ensured.has(dir)) return;
  for (const sub of ['tmp', 'new', 'cur']) {
    await mkdirp(join(dir, sub), 0o700);
  }
  ensured.add(dir);
}

/**
 * mkdir -p that reports the real error: Node's `recursive: true` reports ENOENT for the leaf when creating a
 * missing parent fails (e.g. with ENOSPC), which would turn "disk full" (452 4.3.1) into a generic 451.
 */
async function mkdirp(path: string, mode: number): Promise<void> {
  try {
    await fsp.mkdir(path, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await fsp.stat(path)).isDirectory()) throw err;
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
    await mkdirp(dirname(path), mode);
    await mkdirp(path, mode);
  }
}

/** Forget cached directories and directory handles (a test or an admin action that deletes a Maildir calls this). */
export function forgetEnsured(): void {
  ensured.clear();
  for (const s of syncers.values()) void s.close();
  syncers.clear();
}

/**
 * Durable directory fsync with two optimisations that keep the guarantee: the directory's handle stays open
 * (no open/close per message), and concurrent requests share one fsync. A caller's request is satisfied only by an
 * fsync that STARTS after the request (its link/rename is then covered): while one runs, later callers wait for the
 * next one, which all of them share.
 */
class DirSyncer {
  private fh: Promise<fsp.FileHandle> | null = null;
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  lastUse = Date.now();
  constructor(private readonly dir: string) {}

  private handle(): Promise<fsp.FileHandle> {
    if (!this.fh) {
      this.fh = fsp.open(this.dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
      this.fh.catch(() => (this.fh = null));
    }
    return this.fh;
  }

  private start(): Promise<void> {
    const p = (async () => {
      const fh = await this.handle();
      await fh.sync();
    })();
    this.running = p.finally(() => {
      this.running = null;
    });
    return this.running;
  }

  sync(): Promise<void> {
    this.lastUse = Date.now();
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    this.queued = this.running
      .catch(() => {})
      .then(() => {
        this.queued = null;
        return this.start();
      });
    return this.queued;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.then((h) => h.close()).catch(() => {});
  }
}

const syncers = new Map<string, DirSyncer>();
const MAX_SYNCERS = 512;

export async function fsyncDir(dir: string): Promise<void> {
  let s = syncers.get(dir);
  if (!s) {
    if (syncers.size >= MAX_SYNCERS) {
      // Close the least recently used half.
      const old = [...syncers.entries()].sort((a, b) => a[1].lastUse - b[1].lastUse).slice(0, MAX_SYNCERS / 2);
      for (const [k, v] of old) {
        syncers.delete(k);
        void v.close();
      }
    }
    s = new DirSyncer(dir);
    syncers.set(dir, s);
  }
  await s.sync();
}

/** A message being written into tmp/ of a Maildir. Call write() for each chunk, then commit() or abort(). */
export class MaildirTmpFile {
  readonly tmpPath: string;
  readonly baseName: string;
  size = 0;
  private fh: fsp.FileHandle | null = null;
  private constructor(
    readonly dir: string,
    base: string,
  ) {
    this.baseName = base;
    this.tmpPath = join(dir, 'tmp', base);
  }

  static async create(dir: string): Promise<MaildirTmpFile> {
    await ensureMaildir(dir);
    const f = new MaildirTmpFile(dir, uniqueName());
    f.fh = await fsp.open(f.tmpPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    return f;
  }

  async write(chunk: Buffer): Promise<void> {
    if (!this.fh) throw new Error('write after close');
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
    this.size += chunk.length;
  }

  /** fsync and close the tmp file. */
  async finish(): Promise<void> {
    if (!this.fh) return;
    const fh = this.fh;
    this.fh = null;
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** The file name in new/, with the size field. */
  get finalName(): string {
    return `${this.baseName},S=${this.size}`;
  }

  /**
   * Link the finished file into new/ of each target Maildir and fsync each new/; then remove the tmp name.
   * Returns the full paths created, in the order of `targets`. On failure removes what it linked, so the caller
   * can report a temporary error without a partial delivery being visible.
   */
  async commit(targets: string[]): Promise<string[]> {
    await this.finish();
    const created: string[] = [];
    const name = this.finalName;
    if (targets.length === 1 && targets[0] === this.dir) {
      // Written in the recipient's own tmp/: one rename, as the Maildir spec describes.
      const dest = join(this.dir, 'new', name);
      await fsp.rename(this.tmpPath, dest);
      try {
        await fsyncDir(join(this.dir, 'new'));
      } catch (err) {
        await fsp.unlink(dest).catch(() => {});
        throw err;
      }
      return [dest];
    }
    try {
      for (const target of targets) {
        await ensureMaildir(target);
        const dest = join(target, 'new', name);
        try {
          await fsp.link(this.tmpPath, dest);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          await fsp.copyFile(this.tmpPath, join(target, 'tmp', name), fsc.COPYFILE_EXCL);
          const fh = await fsp.open(join(target, 'tmp', name), 'r+');
          await fh.sync();
          await fh.close();
          await fsp.rename(join(target, 'tmp', name), dest);
        }
        created.push(dest);
      }
      const dirs = [...new Set(targets.map((t) => join(t, 'new')))];
      await Promise.all(dirs.map(fsyncDir));
    } catch (err) {
      await Promise.all(created.map((p) => fsp.unlink(p).catch(() => {})));
      throw err;
    }
    await fsp.unlink(this.tmpPath).catch(() => {});
    return created;
  }

  async abort(): Promise<void> {
    if (this.fh) {
      const fh = this.fh;
      this.fh = null;
      await fh.close().catch(() => {});
    }
    await fsp.unlink(this.tmpPath).catch(() => {});
  }
}

/** Remove files in tmp/ older than 36 hours (Maildir spec). Returns the number removed. */
export async function cleanTmp(dir: string, now = Date.now()): Promise<number> {
  let n = 0;
  const tmp = join(dir, 'tmp');
  let names: string[];
  try {
    names = await fsp.readdir(tmp);
  } catch {
    return 0;
  }
  for (const name of names) {
    const p = join(tmp, name);
    try {
      const st = await fsp.stat(p);
      if (now - st.mtimeMs > 36 * 3600 * 1000) {
        await fsp.unlink(p);
        n++;
      }
    } catch {
      /* raced with another cleaner */
    }
  }
  return n;
}
