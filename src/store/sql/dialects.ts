/**
 * The three SQL backends and the few places where their SQL differs.
 *
 *   sqlite:PATH                         better-sqlite3 (the embedded default; see db.ts)
 *   mysql://user:pw@host:port/db        MySQL / MariaDB through mysql2 (also mariadb://; ?socket=/path for a socket)
 *   postgres://user:pw@host:port/db     PostgreSQL through pg (also postgresql://; ?host=/run/postgresql for a socket)
 *
 * Portability rules every migration and query follows (checked by the contract suite in test/backends/):
 *  - Auto-increment keys: `integer primary key autoincrement` (SQLite), `auto_increment` (MySQL), `serial`
 *    (PostgreSQL): use idColumn().
 *  - Tables on MySQL are InnoDB, utf8mb4 with the binary collation utf8mb4_bin, so that comparisons, unique keys and
 *    LIKE are case-sensitive as on PostgreSQL (mailbox names, Maildir base names and DKIM selectors differ by case
 *    only). Use createTable(). Indexed varchar keys stay under InnoDB's 3072-byte limit (varchar(320) = 1280 bytes).
 *  - 64-bit integers come back as JavaScript numbers from every backend (PostgreSQL's int8 and numeric, MySQL's
 *    DECIMAL sums are converted; values beyond 2^53 stay strings): code still wraps them in Number().
 *  - No ON CONFLICT / ON DUPLICATE KEY: insert and treat a unique violation (isUniqueViolation) as "exists";
 *    inside a transaction check first (a failed statement aborts a PostgreSQL transaction).
 *  - Booleans are integer 0/1 columns; identifiers are quoted by Kysely (raw SQL uses no reserved words).
 */
import { Kysely, MysqlAdapter, MysqlDialect, PostgresAdapter, PostgresDialect, sql, type CreateTableBuilder, type ColumnDefinitionBuilder } from 'kysely';
import { UserError } from '../../common/errors.js';

export type SqlFlavor = 'sqlite' | 'mysql' | 'postgres';

/** Which backend a Kysely instance talks to. */
export function flavorOf(db: Kysely<any>): SqlFlavor {
  const a = db.getExecutor().adapter;
  if (a instanceof PostgresAdapter) return 'postgres';
  if (a instanceof MysqlAdapter) return 'mysql';
  return 'sqlite';
}

/** The statement runner of an embedded SQLite connection (better-sqlite3's Database, structurally). */
export interface RawSqlite {
  prepare(source: string): { run(params: unknown[]): unknown };
}

/** Raw connections by Kysely adapter: a transaction's executor shares its database's adapter. */
const RAW_SQLITE = new WeakMap<object, RawSqlite>();

/** Called by openDatabase for an embedded SQLite database. */
export function registerRawSqlite(db: Kysely<any>, raw: RawSqlite): void {
  RAW_SQLITE.set(db.getExecutor().adapter, raw);
}

/**
 * The SQLite connection under a Kysely transaction, for per-row statements in a tight loop (Kysely's per-query
 * cost was a large part of 100,000 one-row UPDATEs). Only inside a transaction: that holds Kysely's connection
 * mutex, so the raw statements run in this transaction and never in another session's. null otherwise, and for
 * MySQL/PostgreSQL.
 */
export function rawSqliteIn(trx: Kysely<any>): RawSqlite | null {
  if (!trx.isTransaction) return null;
  return RAW_SQLITE.get(trx.getExecutor().adapter) ?? null;
}

/** CREATE TABLE with the backend's table options (MySQL: InnoDB, utf8mb4, case-sensitive binary collation). */
export function createTable(db: Kysely<any>, name: string): CreateTableBuilder<string, never> {
  const b = db.schema.createTable(name);
  if (flavorOf(db) === 'mysql') return b.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`);
  return b;
}

/** Type and modifiers of an auto-increment integer primary key: addColumn('id', ...idColumn(db)). */
export function idColumn(db: Kysely<any>): ['integer' | 'serial', (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder] {
  if (flavorOf(db) === 'postgres') return ['serial', (c) => c.primaryKey()];
  return ['integer', (c) => c.primaryKey().autoIncrement()];
}

export function urlFlavor(url: string): SqlFlavor | null {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql';
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  return null;
}

/** A database URL with the password hidden (for messages and logs). */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1:***@');
}

function toNumberIfSafe(v: string): number | string {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

export interface ServerConnection {
  db: Kysely<any>;
  close(): Promise<void>;
}

/** mysql2 connection options from a mysql:// or mariadb:// URL. */
export function mysqlOptions(url: string): Record<string, unknown> {
  let u: URL;
  try {
    u = new URL(url.replace(/^mariadb:/i, 'mysql:'));
  } catch {
    throw new UserError(`invalid database URL '${redactUrl(url)}'`, 2);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const socket = u.searchParams.get('socket') ?? u.searchParams.get('socketPath');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    ...(socket ? { socketPath: socket } : {}),
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    database: database || undefined,
    charset: 'utf8mb4_bin',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    dateStrings: true,
    timezone: 'Z',
  };
}

export async function openMysql(url: string, opts: { poolSize?: number } = {}): Promise<ServerConnection> {
  const { createPool } = await import('mysql2');
  const pool = createPool({ ...mysqlOptions(url), connectionLimit: opts.poolSize ?? 10, waitForConnections: true } as never);
  const db = new Kysely<any>({ dialect: new MysqlDialect({ pool: pool as never }) });
  return { db, close: () => db.destroy() };
}

export async function openPostgres(url: string, opts: { poolSize?: number } = {}): Promise<ServerConnection> {
  const pg = (await import('pg')).default;
  const base = pg.types;
  const pool = new pg.Pool({
    connectionString: url.replace(/^postgresql:/i, 'postgres:'),
    max: opts.poolSize ?? 10,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        // int8 (count, sum of integers, bigint columns) and numeric (sum of bigint) as numbers.
        if (oid === 20 || oid === 1700) return toNumberIfSafe;
        return base.getTypeParser(oid, format as 'text');
      }) as typeof base.getTypeParser,
    },
  });
  pool.on('error', () => {}); // an idle client that lost its server: the next query reports it
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  return { db, close: () => db.destroy() };
}

/** Check a server connection works (a clear message instead of a pool error later). */
export async function checkConnection(db: Kysely<any>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    throw new UserError(`cannot connect to database ${redactUrl(url)}: ${(err as Error).message}`, 2);
  }
}
