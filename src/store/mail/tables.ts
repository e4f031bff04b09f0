/**
 * The mail index tables (Kysely types and migration). Portable SQL only (SQLite, MySQL/MariaDB, PostgreSQL):
 * integers for flags/booleans, bigint for UIDs, MODSEQs and times (ms since the epoch), text for cached JSON.
 *
 *   mail_users      one row per user whose mail store was initialised (special-use mailboxes created once).
 *   mail_mailboxes  one row per mailbox: name (API form), dir (Maildir++ folder, "" = INBOX), UIDVALIDITY, UIDNEXT,
 *                   HIGHESTMODSEQ, subscription, special-use attribute, \Noselect.
 *   mail_messages   one row per message: (mailbox_id, uid) primary key, modseq, flags, file base name, size, date,
 *                   cached ENVELOPE/BODYSTRUCTURE JSON (nullable); since 0012 the SORT/THREAD/SEARCH keys
 *                   derived from the header (nullable, ./sort-keys.ts); since 0013 the ENVELOPE's IMAP wire form.
 *   mail_expunged   expunged UIDs with the MODSEQ of the expunge (QRESYNC VANISHED).
 */
import type { Generated } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import { registerMigrations } from '../sql/migrations.js';
import { createTable, idColumn } from '../sql/dialects.js';
import type { SortKeyColumns } from './sort-keys.js';

export interface MailUsersTable {
  /** lower(local part)@domain, as users.address_key. */
  user_key: string;
  /** Last UIDVALIDITY handed out for this user (a new one is max(now in seconds, last + 1)). */
  last_uidvalidity: number;
  created_at: number;
}

export interface MailMailboxesTable {
  id: Generated<number>;
  user_key: string;
  /** Canonical API name ("INBOX", "Archive/2024"). */
  name: string;
  /** Maildir++ folder under the user's Maildir ("" for INBOX, ".Archive.2024"). Unique per user. */
  dir: string;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  subscribed: number;
  /** RFC 6154 attribute ("\\Sent") or null. */
  special_use: string | null;
  /** 1 for a hierarchy-only name (no Maildir folder, cannot be selected). */
  noselect: number;
  created_at: number;
}

/** SORT/THREAD/SEARCH keys: SortKeyColumns (./sort-keys.ts; migration 0012). NULL sort_date: not computed yet. */
export interface MailMessagesTable extends SortKeyColumns {
  mailbox_id: number;
  uid: number;
  modseq: number;
  /** Bit mask: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft, 32 $Forwarded (Maildir "P"). */
  sysflags: number;
  /** Space-separated keywords (not including $Forwarded). */
  keywords: string;
  /** Maildir unique name (everything before ":2,"); the file is <mailbox dir>/cur/<base>:2,<mdflags>. */
  base: string;
  /** The letters after ":2," in the current file name. */
  mdflags: string;
  internaldate: number;
  /** RFC822.SIZE: the file's size in bytes. */
  size: number;
  envelope: string | null;
  bodystructure: string | null;
  /** The ENVELOPE's RFC 3501 §7.4.2 wire form, ready to send (0013; NULL: not cached, use the JSON). */
  envelope_imap: string | null;
}

export interface MailExpungedTable {
  mailbox_id: number;
  uid: number;
  modseq: number;
}

export interface MailTables {
  mail_users: MailUsersTable;
  mail_mailboxes: MailMailboxesTable;
  mail_messages: MailMessagesTable;
  mail_expunged: MailExpungedTable;
}

export const mailMigrations: Record<string, Migration> = {
  '0002_mail_store': {
    async up(db: Kysely<any>) {
      await createTable(db, 'mail_users')
        .addColumn('user_key', 'varchar(320)', (c) => c.primaryKey())
        .addColumn('last_uidvalidity', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await createTable(db, 'mail_mailboxes')
        .addColumn('id', ...idColumn(db))
        .addColumn('user_key', 'varchar(320)', (c) => c.notNull())
        .addColumn('name', 'varchar(1024)', (c) => c.notNull())
        .addColumn('dir', 'varchar(255)', (c) => c.notNull())
        .addColumn('uidvalidity', 'bigint', (c) => c.notNull())
        .addColumn('uidnext', 'bigint', (c) => c.notNull())
        .addColumn('highestmodseq', 'bigint', (c) => c.notNull())
        .addColumn('subscribed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('special_use', 'varchar(32)')
        .addColumn('noselect', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('mail_mailboxes_user_dir', ['user_key', 'dir'])
        .execute();
      await createTable(db, 'mail_messages')
        .addColumn('mailbox_id', 'integer', (c) => c.notNull().references('mail_mailboxes.id'))
        .addColumn('uid', 'bigint', (c) => c.notNull())
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addColumn('sysflags', 'integer', (c) => c.notNull())
        .addColumn('keywords', 'text', (c) => c.notNull())
        .addColumn('base', 'varchar(255)', (c) => c.notNull())
        .addColumn('mdflags', 'varchar(64)', (c) => c.notNull())
        .addColumn('internaldate', 'bigint', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('envelope', 'text')
        .addColumn('bodystructure', 'text')
        .addPrimaryKeyConstraint('mail_messages_pk', ['mailbox_id', 'uid'])
        .addUniqueConstraint('mail_messages_base', ['mailbox_id', 'base'])
        .execute();
      await db.schema.createIndex('mail_messages_modseq').on('mail_messages').columns(['mailbox_id', 'modseq']).execute();
      await createTable(db, 'mail_expunged')
        .addColumn('mailbox_id', 'integer', (c) => c.notNull().references('mail_mailboxes.id'))
        .addColumn('uid', 'bigint', (c) => c.notNull())
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('mail_expunged_pk', ['mailbox_id', 'uid'])
        .execute();
      await db.schema.createIndex('mail_expunged_modseq').on('mail_expunged').columns(['mailbox_id', 'modseq']).execute();
    },
  },
  /**
   * SORT/THREAD/SEARCH keys cached per message (./sort-keys.ts). Nullable: existing rows get them lazily. One
   * column per ALTER (SQLite adds one at a time); adding a nullable column is a metadata change on all three.
   */
  '0012_mail_sort_keys': {
    async up(db: Kysely<any>) {
      const columns: Array<[string, 'bigint' | 'integer' | 'text']> = [
        ['sort_date', 'bigint'],
        ['sort_subject', 'text'],
        ['sort_refwd', 'integer'],
        ['sort_from', 'text'],
        ['sort_to', 'text'],
        ['sort_cc', 'text'],
        ['sort_display_from', 'text'],
        ['sort_display_to', 'text'],
        ['thread_msgid', 'text'],
        ['thread_refs', 'text'],
        ['search_subject', 'text'],
      ];
      for (const [name, type] of columns) await db.schema.alterTable('mail_messages').addColumn(name, type).execute();
    },
  },
  /**
   * The ENVELOPE as FETCH sends it (formatEnvelope's output), beside the JSON: a second FETCH ENVELOPE copies it
   * instead of parsing JSON and formatting. Nullable: existing rows get it at their next FETCH ENVELOPE.
   */
  '0013_mail_envelope_imap': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('mail_messages').addColumn('envelope_imap', 'text').execute();
    },
  },
};

registerMigrations(mailMigrations);
