/**
 * Versioned schema migrations, written with Kysely's schema builder so the same steps run on SQLite, MySQL/MariaDB
 * and PostgreSQL. Append new migrations; never edit one that has shipped.
 */
import { Kysely, Migrator, type Migration, type MigrationProvider } from 'kysely';
import { createTable, idColumn } from './dialects.js';

const migrations: Record<string, Migration> = {
  '0001_accounts': {
    async up(db: Kysely<any>) {
      await createTable(db, 'domains')
        .addColumn('id', ...idColumn(db))
        .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await createTable(db, 'users')
        .addColumn('id', ...idColumn(db))
        .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
        .addColumn('address', 'varchar(320)', (c) => c.notNull())
        .addColumn('address_key', 'varchar(320)', (c) => c.notNull().unique())
        .addColumn('password_hash', 'varchar(512)', (c) => c.notNull())
        .addColumn('quota_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_domain').on('users').column('domain_id').execute();
      await createTable(db, 'aliases')
        .addColumn('id', ...idColumn(db))
        .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id'))
        .addColumn('source', 'varchar(320)', (c) => c.notNull())
        .addColumn('destination', 'varchar(320)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('aliases_source_destination', ['source', 'destination'])
        .execute();
      await db.schema.createIndex('aliases_domain').on('aliases').column('domain_id').execute();
    },
  },
};

class StaticProvider implements MigrationProvider {
  constructor(private readonly extra: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...migrations, ...this.extra };
  }
}

/** Registered by other parts of the store (e.g. the mail index) so that one migrator runs them all in order. */
const extraMigrations: Record<string, Migration> = {};
export function registerMigrations(m: Record<string, Migration>): void {
  Object.assign(extraMigrations, m);
}

export async function migrateToLatest(db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticProvider(extraMigrations), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}
