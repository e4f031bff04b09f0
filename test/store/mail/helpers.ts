import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenedDb } from '../../../src/store/sql/db.js';
import { MailStore, type MailStoreOptions } from '../../../src/store/mail/store.js';
import { forgetEnsured } from '../../../src/store/maildir/maildir.js';
import { createScratch, emptyTables, processScratchUrl, testBackend } from '../../backends/scratch.js';
import { sql, type Kysely } from 'kysely';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The database of a test environment: SQLite at dbPath, or (MW_TEST_DB=mysql|postgres, see test/backends/) the
 * process's scratch database on the server. A server database counts as "lost" (as a deleted SQLite file) when
 * dbPath's directory was removed: its tables are then emptied.
 */
async function openTestDb(dbPath: string, fresh: boolean): Promise<OpenedDb> {
  const backend = testBackend();
  if (backend === 'sqlite') return openDatabase('sqlite:' + dbPath);
  const opened = await openDatabase(await processScratchUrl(backend));
  if (fresh || !existsSync(dbPath)) {
    await emptyTables(opened.db);
    mkdirSync(dirname(dbPath), { recursive: true });
    writeFileSync(dbPath, backend);
  }
  return opened;
}

export const USER = 'alice@example.com';

export interface Env {
  dir: string;
  dataDir: string;
  dbPath: string;
  opened: OpenedDb;
  store: MailStore;
  /** Close the database and open a fresh store (same files). */
  reopen(opts?: Partial<MailStoreOptions>): Promise<MailStore>;
  close(): Promise<void>;
}

export async function makeEnv(opts: Partial<MailStoreOptions> = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'mw-mail-'));
  const dataDir = join(dir, 'data');
  const dbPath = join(dir, 'db', 'index.sqlite');
  const env: Env = {
    dir,
    dataDir,
    dbPath,
    opened: await openTestDb(dbPath, true),
    store: null as unknown as MailStore,
    async reopen(o = {}) {
      await env.opened.close();
      forgetEnsured();
      env.opened = await openTestDb(dbPath, false);
      env.store = await MailStore.open({ db: env.opened.db, dataDir, ...opts, ...o });
      return env.store;
    },
    async close() {
      await env.opened.close();
      forgetEnsured();
      await rm(dir, { recursive: true, force: true });
    },
  };
  env.store = await MailStore.open({ db: env.opened.db, dataDir, ...opts });
  return env;
}

export function msg(subject: string, body = 'hello'): string {
  return `From: a@example.org\r\nTo: alice@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}

/**
 * A migration test: an index as a previous release left it. Every migration runs, then `undo` takes one back (its
 * columns and its kysely_migration record); an INBOX gets one message row (UID 1, INTERNALDATE 1000, size 10, an
 * ENVELOPE JSON) in the old column set. `check` gets a store opened on it (which migrates again); then the store is
 * opened once more (nothing left to migrate) and everything is removed.
 */
export async function withOldIndex(undo: (db: Kysely<any>) => Promise<void>, check: (store: MailStore) => Promise<void>): Promise<void> {
  const backend = testBackend();
  const dir = await mkdtemp(join(tmpdir(), 'mw-oldindex-'));
  const scratch = backend === 'sqlite' ? null : await createScratch(backend);
  const opened = await openDatabase(scratch ? scratch.url : `sqlite:${join(dir, 'index.sqlite')}`);
  try {
    const db = opened.db as Kysely<any>;
    await undo(db);
    await sql`insert into mail_users (user_key, last_uidvalidity, created_at) values (${USER}, 1, 0)`.execute(db);
    await sql`insert into mail_mailboxes (user_key, name, dir, uidvalidity, uidnext, highestmodseq, subscribed, noselect, created_at)
      values (${USER}, 'INBOX', '', 1, 2, 1, 1, 0, 0)`.execute(db);
    const { id } = (await sql<{ id: number }>`select id from mail_mailboxes`.execute(db)).rows[0]!;
    await sql`insert into mail_messages (mailbox_id, uid, modseq, sysflags, keywords, base, mdflags, internaldate, size, envelope, bodystructure)
      values (${id}, 1, 1, 0, '', 'old', '', 1000, 10, ${'{"subject":"x"}'}, null)`.execute(db);
    await check(await MailStore.open({ db, dataDir: join(dir, 'data') }));
    await MailStore.open({ db, dataDir: join(dir, 'data') });
  } finally {
    await opened.close();
    await scratch?.drop();
    await rm(dir, { recursive: true, force: true });
  }
}
