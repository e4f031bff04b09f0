/**
 * Opens the SQL database named by the config's URL and runs the migrations.
 * sqlite:PATH is the embedded default (better-sqlite3, WAL mode, synchronous=FULL so a committed row survives a
 * crash); mysql:// and postgres:// are reached through the same Kysely interface (see issue on backends).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from 'kysely';
import Database from 'better-sqlite3';
import type { DatabaseSchema } from './schema.js';
import { migrateToLatest } from './migrations.js';
// Every module that owns tables registers its migrations when imported; importing them here makes sure that any
// process that opens the database (server, CLI, tests) knows all of them, whatever else it imports.
import '../mail/tables.js';
import '../../dkim/keys.js';
import '../../web/admins.js';
import { UserError } from '../../common/errors.js';
import { checkConnection, openMysql, openPostgres, redactUrl, registerRawSqlite, urlFlavor } from './dialects.js';

export type Db = Kysely<DatabaseSchema>;
export type SqlDialectName = 'sqlite' | 'mysql' | 'postgres';

export interface OpenedDb {
  db: Db;
  dialect: SqlDialectName;
  close(): Promise<void>;
}

export async function openDatabase(url: string): Promise<OpenedDb> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let sqlite: Database.Database;
    try {
      sqlite = new Database(path);
    } catch (err) {
      throw new UserError(`cannot open database ${path}: ${(err as Error).message}`, 2);
    }
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    cachePreparedStatements(sqlite);
    const db = new Kysely<DatabaseSchema>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
    registerRawSqlite(db, sqlite);
    await migrateToLatest(db);
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const flavor = urlFlavor(url);
  if (flavor === 'mysql' || flavor === 'postgres') {
    const conn = flavor === 'mysql' ? await openMysql(url) : await openPostgres(url);
    const db = conn.db as Kysely<DatabaseSchema>;
    try {
      await checkConnection(db, url);
      await migrateToLatest(db);
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    return { db, dialect: flavor, close: () => conn.close() };
  }
  throw new UserError(
    `database URL '${redactUrl(url)}' is not supported: use sqlite:PATH, mysql://USER:PASSWORD@HOST/DB (or mariadb://) or postgres://USER:PASSWORD@HOST/DB`,
    2,
  );
}

/**
 * Kysely's SQLite driver calls prepare() for every query; SQLite then parses and plans the SQL text each time (a
 * tenth of the CPU of a first SELECT's index build, half of a large STORE). The same SQL text gets the same
 * prepared statement here, from a bounded LRU cache. Safe because every query runs to completion on the single
 * connection before the next one starts (Kysely's connection mutex), and nothing changes a statement's modes.
 */
function cachePreparedStatements(sqlite: Database.Database, max = 256): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Database.Statement>();
  sqlite.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (stmt) {
      cache.delete(source); // most recently used last
      cache.set(source, stmt);
      return stmt;
    }
    stmt = prepare(source);
    // Huge one-off statements (bulk inserts with thousands of parameters) are not worth keeping.
    if (source.length <= 64 * 1024) {
      cache.set(source, stmt);
      if (cache.size > max) cache.delete(cache.keys().next().value!);
    }
    return stmt;
  }) as typeof sqlite.prepare;
}

/**
 * SQLite in WAL mode cannot upgrade a deferred (read) transaction to a write one when another process (the CLI next
 * to the server, or two CLI runs) committed in between: it fails with SQLITE_BUSY at once, without waiting for
 * busy_timeout. Every transaction therefore starts as BEGIN IMMEDIATE, which takes the write lock up front and so
 * waits its turn under busy_timeout instead of failing with "database is locked".
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

/** True when a database error is a unique-constraint violation (all three backends). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  return (
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'ER_DUP_ENTRY' ||
    e?.code === '23505'
  );
}
