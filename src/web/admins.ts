/**
 * Web admin accounts, kept apart from mail users in the SQL table `admins` (a mail user's password never opens the
 * admin pages, and an admin has no mailbox). Passwords are hashed with hashPassword (Argon2id) and never logged.
 * Used by `mailwright admin add|passwd|remove|list` and by the web admin's login.
 */
import type { Generated, Kysely, Migration } from 'kysely';
import type { Db } from '../store/sql/db.js';
import { isUniqueViolation } from '../store/sql/db.js';
import { registerMigrations } from '../store/sql/migrations.js';
import { createTable, flavorOf, idColumn } from '../store/sql/dialects.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';

export interface AdminsTable {
  id: Generated<number>;
  /** Lower-case login name. */
  name: string;
  password_hash: string;
  created_at: number;
}

type AdminDb = Kysely<{ admins: AdminsTable }>;

export const adminMigrations: Record<string, Migration> = {
  '0011_web_admins': {
    async up(db: Kysely<any>) {
      await createTable(db, 'admins')
        .addColumn('id', ...idColumn(db))
        .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('password_hash', 'varchar(512)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};
registerMigrations(adminMigrations);

export interface Admin {
  name: string;
  createdAt: Date;
}

/** Admin names: 1-64 characters of letters, digits and . _ - @ (an e-mail address works too). */
export function requireAdminName(name: string): string {
  const n = name.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9._@-]{0,63}$/.test(n)) throw new UserError(`invalid admin name '${name}': use 1-64 letters, digits, '.', '_', '-' or '@'`);
  return n;
}

const DUMMY_HASH = '{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0nUBmfbQKzK0D3ZOiOHLXHwK8WnZW0E1QmcmZ0pLZ4U';

export class AdminStore {
  private readonly db: AdminDb;
  constructor(db: Db) {
    this.db = db as unknown as AdminDb;
  }

  async add(name: string, password: string): Promise<Admin> {
    const n = requireAdminName(name);
    if (!password) throw new UserError('the password must not be empty');
    try {
      await this.db.insertInto('admins').values({ name: n, password_hash: await hashPassword(password), created_at: Date.now() }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`admin ${n} already exists`);
      throw err;
    }
    return { name: n, createdAt: new Date() };
  }

  async setPassword(name: string, password: string): Promise<void> {
    const n = requireAdminName(name);
    if (!password) throw new UserError('the password must not be empty');
    const r = await this.db.updateTable('admins').set({ password_hash: await hashPassword(password) }).where('name', '=', n).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new NotFoundError(`no such admin: ${n}`);
  }

  /**
   * Removes an admin; the last one is never removed (nobody could log in to the web admin any more). The count
   * and the delete are one transaction (SQLite: BEGIN IMMEDIATE; MySQL/PostgreSQL: the rows are locked), so two
   * admins removing each other at the same moment cannot leave none.
   */
  async remove(name: string): Promise<void> {
    const n = requireAdminName(name);
    await this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('admins').select(['name']);
      if (flavorOf(this.db) !== 'sqlite') q = q.forUpdate();
      const all = await q.execute();
      if (!all.some((a) => a.name === n)) throw new NotFoundError(`no such admin: ${n} (see the list of admins)`);
      if (all.length <= 1) throw new ConflictError(`${n} is the last admin and cannot be removed: add another admin first (nobody could log in to the web admin otherwise)`);
      await trx.deleteFrom('admins').where('name', '=', n).execute();
    });
  }

  async list(): Promise<Admin[]> {
    const rows = await this.db.selectFrom('admins').select(['name', 'created_at']).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, createdAt: new Date(Number(r.created_at)) }));
  }

  /** The admin's name when the password matches; null otherwise (same work whether or not the admin exists). */
  async authenticate(name: string, password: string): Promise<string | null> {
    let n: string;
    try {
      n = requireAdminName(name);
    } catch {
      await verifyPassword(DUMMY_HASH, password);
      return null;
    }
    const row = await this.db.selectFrom('admins').select(['name', 'password_hash']).where('name', '=', n).executeTakeFirst();
    const r = await verifyPassword(row?.password_hash ?? DUMMY_HASH, password);
    return row && r.ok ? row.name : null;
  }
}
