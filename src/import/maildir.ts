/**
 * `mailwright import maildir`: a Dovecot Maildir++ tree (INBOX in the root, ".Folder" subfolders) into a user's
 * mail store, keeping UIDVALIDITY and every UID (dovecot-uidlist), flags (":2," letters), keywords
 * (dovecot-keywords letters a..z) and INTERNALDATE (the file's mtime, as Dovecot uses), so that IMAP clients keep
 * their caches.
 *
 * Memory stays flat: the uidlist is streamed into a compact index (12 bytes per message), directories are read
 * with opendir in chunks, messages are copied and indexed in batches (default 500). Each batch: copy the files
 * into cur/ and fsync them and the directory, then insert their rows in one transaction. The rows are the
 * progress record: a re-run (after a kill, a crash or a finished run) skips every message whose base name is
 * already indexed, so it resumes where it stopped and never duplicates. --dry-run reads everything and writes
 * nothing. Run it while the server is stopped (see store/mail/import-index.ts).
 */
import { promises as fsp, type Dirent } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/sql/db.js';
import { MailStore } from '../store/mail/store.js';
import { MailStoreError } from '../store/mail/errors.js';
import { decodeDir, encodeDir } from '../store/mail/names.js';
import { FlagError, keywordsToColumn, lettersToSysflags, parseFlags, sysflagsToLetters } from '../store/mail/flags.js';
import { fsyncDir } from '../store/maildir/maildir.js';
import { countsByMailbox, existingBases, insertImported, prepareImportMailbox, type ImportTarget, type ImportedRow } from '../store/mail/import-index.js';
import { maildirBase, namesFlags, nameTimestamp, readKeywords, readUidlist, readUidlistHeader, UidIndex } from './dovecot.js';

export interface MaildirImportOptions {
  db: Db;
  dataDir: string;
  /** The user's address (must be a user of the accounts store; the CLI checks). */
  user: string;
  /** The user's Maildir root (INBOX: cur/ new/ dovecot-uidlist; folders: .Name). */
  from: string;
  dryRun?: boolean;
  /** Messages per transaction (default 500). */
  batchSize?: number;
  /** Hard-link the files instead of copying them (same file system; the source must not be changed later). */
  link?: boolean;
  /** Progress lines. */
  progress?: (line: string) => void;
  /** Stop after this many messages were imported in this run (tests of resumption). */
  limit?: number;
}

export interface FolderSummary {
  name: string;
  /** Messages in the source folder (files in cur/ and new/). */
  source: number;
  /** Messages in our mailbox before and after this run. */
  before: number;
  after: number;
  imported: number;
  /** Already imported by an earlier run. */
  skipped: number;
  /** Messages that got a new UID (not in dovecot-uidlist, UID clash, or a mailbox that already had mail). */
  renumbered: number;
  uidValidity: number;
  mode: ImportTarget['mode'] | 'dry-run';
}

export interface MaildirImportResult {
  user: string;
  folders: FolderSummary[];
  imported: number;
  skipped: number;
  /** True when `limit` stopped the run early. */
  partial: boolean;
}

const COPY_PARALLEL = 32;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Source folders: [dir, name] with "" = INBOX, sorted so that parents come first. */
export async function sourceFolders(root: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  if ((await isDir(join(root, 'cur'))) || (await isDir(join(root, 'new')))) out.push(['', 'INBOX']);
  for (const e of (await fsp.readdir(root)).sort()) {
    if (!e.startsWith('.') || e === '.' || e === '..') continue;
    const name = decodeDir(e);
    if (!name || !(await isDir(join(root, e, 'cur')))) continue;
    out.push([e, name]);
  }
  return out;
}

async function* dirEntries(dir: string): AsyncGenerator<string> {
  let d;
  try {
    d = await fsp.opendir(dir, { bufferSize: 256 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for await (const e of d as AsyncIterable<Dirent>) {
    if (e.name.startsWith('.')) continue;
    if (!e.isDirectory()) yield e.name;
  }
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Pending {
  src: string;
  name: string;
  base: string;
  uid: number;
  letters: string;
  keywords: string[];
}

export async function importMaildir(o: MaildirImportOptions): Promise<MaildirImportResult> {
  const batchSize = o.batchSize ?? 500;
  const store = new MailStore({ db: o.db, dataDir: o.dataDir });
  const userKey = store.userKey(o.user);
  const res: MaildirImportResult = { user: o.user, folders: [], imported: 0, skipped: 0, partial: false };
  if (!(await isDir(o.from))) throw new MailStoreError('NONEXISTENT', `${o.from} is not a directory`);
  const folders = await sourceFolders(o.from);
  if (!o.dryRun) await store.ensureUser(o.user);
  const beforeCounts = await countsByMailbox(o.db, userKey);
  let budget = o.limit ?? Infinity;

  for (const [dir, name] of folders) {
    const src = join(o.from, dir);
    const header = await readUidlistHeader(src);
    const keywords = await readKeywords(src);
    const index = new UidIndex();
    for await (const e of readUidlist(src)) index.add(e.base, e.uid);
    await index.finish(() => readUidlist(src));
    const sum: FolderSummary = {
      name,
      source: 0,
      before: beforeCounts.get(name) ?? 0,
      after: 0,
      imported: 0,
      skipped: 0,
      renumbered: 0,
      uidValidity: header?.uidValidity ?? 0,
      mode: 'dry-run',
    };
    res.folders.push(sum);

    let target: ImportTarget | null = null;
    let mailboxId: number | null = null;
    const ourDir = dir === '' ? '' : encodeDir(name);
    if (!o.dryRun) {
      if (name !== 'INBOX') {
        await store.createMailbox(o.user, name).catch((err) => {
          if (!(err instanceof MailStoreError && err.code === 'ALREADYEXISTS')) throw err;
        });
      }
      const row = await o.db.selectFrom('mail_mailboxes').select('id').where('user_key', '=', userKey).where('dir', '=', ourDir).executeTakeFirstOrThrow();
      mailboxId = Number(row.id);
      target = await prepareImportMailbox(o.db, mailboxId, { uidValidity: header?.uidValidity ?? 0, uidNext: Math.max(header?.nextUid ?? 1, index.maxUid + 1) });
      sum.mode = target.mode;
      sum.uidValidity = target.uidValidity;
    } else {
      const row = await o.db.selectFrom('mail_mailboxes').select('id').where('user_key', '=', userKey).where('dir', '=', ourDir).executeTakeFirst();
      mailboxId = row ? Number(row.id) : null;
    }
    const destRoot = join(store.userMaildir(o.user), ourDir);
    const destCur = join(destRoot, 'cur');
    if (!o.dryRun) for (const s of ['tmp', 'new', 'cur']) await fsp.mkdir(join(destRoot, s), { recursive: true, mode: 0o700 });

    const flush = async (batch: Pending[]) => {
      if (!batch.length) return;
      const have = mailboxId === null ? new Set<string>() : await existingBases(o.db, mailboxId, batch.map((p) => p.base));
      let todo = batch.filter((p) => !have.has(p.base));
      sum.skipped += batch.length - todo.length;
      if (todo.length > budget) {
        todo = todo.slice(0, budget);
        res.partial = true;
      }
      if (o.dryRun || !target) {
        sum.imported += todo.length;
        res.imported += todo.length;
        budget -= todo.length;
        for (const p of todo) if (!p.uid) sum.renumbered++;
        return;
      }
      const rows: ImportedRow[] = [];
      await mapLimit(todo, COPY_PARALLEL, async (p) => {
        let st;
        try {
          st = await fsp.stat(p.src);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // moved by a running Dovecot: next run
          throw err;
        }
        let fl = { sysflags: lettersToSysflags(p.letters), keywords: [] as string[] };
        try {
          const parsed = parseFlags(p.keywords);
          fl = { sysflags: fl.sysflags | parsed.sysflags, keywords: parsed.keywords };
        } catch (err) {
          if (!(err instanceof FlagError)) throw err;
        }
        const mdflags = sysflagsToLetters(fl.sysflags);
        const dest = join(destCur, `${p.base}:2,${mdflags}`);
        if (o.link) {
          await fsp.link(p.src, dest).catch(async (err) => {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            await fsp.unlink(dest);
            await fsp.link(p.src, dest);
          });
        } else {
          await fsp.copyFile(p.src, dest);
          const fh = await fsp.open(dest, 'r+');
          try {
            await fh.utimes(st.atime, st.mtime);
            await fh.sync();
          } finally {
            await fh.close();
          }
        }
        const ts = nameTimestamp(p.name);
        rows.push({
          uid: p.uid,
          base: p.base,
          mdflags,
          sysflags: fl.sysflags,
          keywords: keywordsToColumn(fl.keywords),
          internaldate: Math.floor(st.mtimeMs) || (ts ? ts * 1000 : Date.now()),
          size: st.size,
        });
      });
      await fsyncDir(destCur);
      const uids = await insertImported(o.db, target, rows);
      rows.forEach((r, i) => {
        if (r.uid !== uids[i]) sum.renumbered++;
      });
      sum.imported += rows.length;
      budget -= rows.length;
      res.imported += rows.length;
      if (res.imported % 10_000 < rows.length) o.progress?.(`${o.user} ${name}: ${sum.imported} imported`);
    };

    let batch: Pending[] = [];
    for (const sub of ['cur', 'new']) {
      for await (const fname of dirEntries(join(src, sub))) {
        sum.source++;
        if (budget <= 0) {
          res.partial = true;
          continue;
        }
        const base = maildirBase(fname);
        const f = sub === 'cur' ? namesFlags(fname, keywords) : { letters: '', keywords: [] };
        batch.push({ src: join(src, sub, fname), name: fname, base, uid: index.get(base) ?? 0, letters: f.letters, keywords: f.keywords });
        if (batch.length >= batchSize) {
          await flush(batch);
          batch = [];
        }
      }
    }
    await flush(batch);
    res.skipped += sum.skipped;
  }
  const after = await countsByMailbox(o.db, userKey);
  for (const f of res.folders) f.after = o.dryRun ? f.before + f.imported : (after.get(f.name) ?? 0);
  return res;
}

/** Summary table lines. */
export function formatSummary(r: MaildirImportResult, dryRun: boolean): string[] {
  const lines = [`${r.user}${dryRun ? ' (dry run: nothing written)' : ''}`];
  lines.push(`  ${'folder'.padEnd(24)} ${'source'.padStart(8)} ${'before'.padStart(8)} ${'after'.padStart(8)} ${dryRun ? 'would import' : 'imported'}  skipped  new-uid  uidvalidity`);
  for (const f of r.folders) {
    lines.push(
      `  ${f.name.padEnd(24)} ${String(f.source).padStart(8)} ${String(f.before).padStart(8)} ${String(f.after).padStart(8)} ${String(f.imported).padStart(dryRun ? 12 : 8)}  ${String(f.skipped).padStart(7)}  ${String(f.renumbered).padStart(7)}  ${f.uidValidity}${f.mode === 'renumber' ? ' (mailbox had mail: new UIDs)' : ''}`,
    );
  }
  lines.push(`  total: ${r.imported} imported, ${r.skipped} already there${r.partial ? ' (stopped early: run again to continue)' : ''}`);
  return lines;
}
