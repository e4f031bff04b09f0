/**
 * Table types for Kysely. The tables are plain and readable on purpose: an admin can inspect them with the sqlite3,
 * mysql or psql shell. Columns are snake_case; times are milliseconds since the epoch (portable across backends).
 */
import type { Generated } from 'kysely';
import type { MailTables } from '../mail/tables.js';

export interface DomainsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface UsersTable {
  id: Generated<number>;
  domain_id: number;
  /** Address as given; lookups use address_key. */
  address: string;
  /** lower(local part)@domain: the unique lookup key. */
  address_key: string;
  password_hash: string;
  quota_bytes: number;
  enabled: number;
  created_at: number;
}

export interface AliasesTable {
  id: Generated<number>;
  domain_id: number;
  /** lower-case "local@domain" or "@domain" (catch-all). */
  source: string;
  destination: string;
  created_at: number;
}

/** DKIM signing keys (src/dkim/keys.ts). state: 'active' | 'retiring' | 'retired'; public_key is the p= value. */
export interface DkimKeysTable {
  id: Generated<number>;
  domain: string;
  selector: string;
  algorithm: string;
  private_key: string;
  public_key: string;
  created_at: number;
  state: string;
}

/** The mail index tables (mail_users, mail_mailboxes, mail_messages, mail_expunged) are defined in store/mail/tables.ts. */
export interface DatabaseSchema extends MailTables {
  domains: DomainsTable;
  users: UsersTable;
  aliases: AliasesTable;
  dkim_keys: DkimKeysTable;
}
