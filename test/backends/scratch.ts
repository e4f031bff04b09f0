/**
 * Scratch databases on the local MariaDB and PostgreSQL servers for the backend contract tests.
 *
 * Admin URLs (override with environment variables):
 *   MW_TEST_MYSQL_ADMIN  mysql://root@127.0.0.1:3306/        (root, empty password: the CI machine's MariaDB)
 *   MW_TEST_PG_ADMIN     postgres://postgres@127.0.0.1:5432/postgres   (trust auth over 127.0.0.1)
 * createScratch() makes `mw_test_<random>` (utf8mb4_bin on MariaDB) and returns its URL; drop() removes it
 * (PostgreSQL: WITH (FORCE), so a leaked pool cannot keep it alive).
 *
 * MW_TEST_DB selects the backend of the store tests (test/store/mail/helpers.ts): sqlite (default), mysql or
 * postgres; test/backends/store-*.test.ts set it and run those test files unchanged.
 */
import { randomBytes } from 'node:crypto';
import { openMysql, openPostgres, type SqlFlavor } from '../../src/store/sql/dialects.js';
import { sql } from 'kysely';

export type Backend = SqlFlavor;
export const BACKENDS: Backend[] = ['sqlite', 'mysql', 'postgres'];

export const MYSQL_ADMIN = process.env.MW_TEST_MYSQL_ADMIN ?? 'mysql://root@127.0.0.1:3306/';
export const PG_ADMIN = process.env.MW_TEST_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function testBackend(): Backend {
  const b = (process.env.MW_TEST_DB ?? 'sqlite').toLowerCase();
  if (b === 'mariadb') return 'mysql';
  if (b === 'postgresql' || b === 'pg') return 'postgres';
  if (b !== 'sqlite' && b !== 'mysql' && b !== 'postgres') throw new Error(`MW_TEST_DB=${b}: use sqlite, mysql or postgres`);
  return b;
}

export interface Scratch {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDb(admin: string, name: string): string {
  const u = new URL(admin);
  u.pathname = '/' + name;
  return u.toString();
}

/** Create an empty scratch database on the server of `backend` (mysql or postgres). */
export async function createScratch(backend: 'mysql' | 'postgres', name = `mw_test_${randomBytes(6).toString('hex')}`): Promise<Scratch> {
  if (backend === 'mysql') {
    const admin = await openMysql(MYSQL_ADMIN, { poolSize: 1 });
    try {
      await sql.raw(`create database \`${name}\` character set utf8mb4 collate utf8mb4_bin`).execute(admin.db);
    } finally {
      await admin.close();
    }
    return {
      url: withDb(MYSQL_ADMIN, name),
      name,
      async drop() {
        const a = await openMysql(MYSQL_ADMIN, { poolSize: 1 });
        try {
          await sql.raw(`drop database if exists \`${name}\``).execute(a.db);
        } finally {
          await a.close();
        }
      },
    };
  }
  const admin = await openPostgres(PG_ADMIN, { poolSize: 1 });
  try {
    await sql.raw(`create database "${name}"`).execute(admin.db);
  } finally {
    await admin.close();
  }
  return {
    url: withDb(PG_ADMIN, name),
    name,
    async drop() {
      const a = await openPostgres(PG_ADMIN, { poolSize: 1 });
      try {
        await sql.raw(`drop database if exists "${name}" with (force)`).execute(a.db);
      } finally {
        await a.close();
      }
    },
  };
}

// ------------------------------------------------------------------------------------------------------------
// One scratch database per test process for the store tests (fresh tables for every makeEnv by emptying them:
// creating and migrating a database per test takes about a second on the servers).

const DATA_TABLES = ['mail_expunged', 'mail_messages', 'mail_mailboxes', 'mail_users', 'dkim_keys', 'aliases', 'users', 'domains'];
let processScratch: Promise<Scratch> | null = null;

/** The URL of this process's scratch database for `backend` (created on first use). */
export async function processScratchUrl(backend: 'mysql' | 'postgres'): Promise<string> {
  processScratch ??= createScratch(backend);
  return (await processScratch).url;
}

/** Drop this process's scratch database (call from an after() hook). */
export async function dropProcessScratch(): Promise<void> {
  if (!processScratch) return;
  const s = await processScratch;
  processScratch = null;
  await s.drop();
}

/** Delete every row of the data tables (the migrations stay): a database as if new. */
export async function emptyTables(db: import('kysely').Kysely<any>): Promise<void> {
  for (const t of DATA_TABLES) await db.deleteFrom(t).execute();
}
