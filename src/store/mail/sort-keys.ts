/**
 * Per-message SORT/THREAD/SEARCH keys kept in the index (the columns sort_* / thread_* / search_subject of
 * mail_messages), as Dovecot keeps them in its cache file: computed once from the header when the message is
 * parsed (FETCH ENVELOPE, a SORT or THREAD that met a row without them, COPY/MOVE carry them over), then SORT,
 * THREAD and SEARCH SUBJECT read a few columns instead of parsing ENVELOPE JSON or reading files.
 *
 * The store only stores and returns them; what they mean (RFC 5256 rules) is decided by the IMAP layer
 * (src/server/imap/sort-keys.ts). sort_date is NOT NULL for every row whose keys were computed: a row with a NULL
 * sort_date has none yet (old rows, or rows added without a parse), and the caller computes and stores them.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import { flavorOf, rawSqliteIn } from '../sql/dialects.js';

export interface SortKeys {
  /** RFC 5256 §2.2 sent date (ms), INTERNALDATE when the Date header is missing or unparseable. */
  date: number;
  /** RFC 5256 §2.1 base subject, i;unicode-casemap form. */
  subject: string;
  /** The base subject extraction removed a reply/forward marker (THREAD REFERENCES step 5). */
  refwd: boolean;
  /** RFC 5256 §3 FROM / TO / CC: the first addr-mailbox, casemapped ("" when none). */
  from: string;
  to: string;
  cc: string;
  /** RFC 5957 DISPLAYFROM / DISPLAYTO, casemapped. */
  displayFrom: string;
  displayTo: string;
  /** The message's own msg-id as "<id>" (whitespace removed), null when it has no valid one. */
  messageId: string | null;
  /** The parent msg-ids THREAD REFERENCES uses (References, else the first of In-Reply-To), "<a> <b>", or null. */
  references: string | null;
  /** The decoded Subject as SEARCH SUBJECT matches it (trailing blanks removed), null when there is no Subject. */
  searchSubject: string | null;
}

export type SortKeyField = keyof SortKeys;

/** The index columns of the keys. */
export interface SortKeyColumns {
  sort_date: number | null;
  sort_subject: string | null;
  sort_refwd: number | null;
  sort_from: string | null;
  sort_to: string | null;
  sort_cc: string | null;
  sort_display_from: string | null;
  sort_display_to: string | null;
  thread_msgid: string | null;
  thread_refs: string | null;
  search_subject: string | null;
}

export const COLUMN_OF: Record<SortKeyField, keyof SortKeyColumns> = {
  date: 'sort_date',
  subject: 'sort_subject',
  refwd: 'sort_refwd',
  from: 'sort_from',
  to: 'sort_to',
  cc: 'sort_cc',
  displayFrom: 'sort_display_from',
  displayTo: 'sort_display_to',
  messageId: 'thread_msgid',
  references: 'thread_refs',
  searchSubject: 'search_subject',
};

export const SORT_KEY_COLUMNS = Object.values(COLUMN_OF);

const NO_KEYS: SortKeyColumns = Object.freeze({
  sort_date: null,
  sort_subject: null,
  sort_refwd: null,
  sort_from: null,
  sort_to: null,
  sort_cc: null,
  sort_display_from: null,
  sort_display_to: null,
  thread_msgid: null,
  thread_refs: null,
  search_subject: null,
});

/**
 * Longest key string stored (UTF-16 units). 21,000 units are at most 63,000 UTF-8 bytes: under MySQL's 65,535-byte
 * TEXT. A message with a longer key (a hostile header) keeps NULL keys and is computed from its header each time.
 */
const MAX_KEY = 21_000;
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /[\u0000\p{Cs}]/u; // PostgreSQL text has no NUL; MySQL utf8mb4 refuses lone surrogates

/** Whether every backend can hold `s` in a text column (null: yes). */
export function storable(s: string | null): boolean {
  return s === null || (s.length <= MAX_KEY && !UNSTORABLE.test(s));
}

/** The column values for `keys` (all NULL when absent or not storable in every backend). */
export function keyColumns(keys: SortKeys | null | undefined): SortKeyColumns {
  if (!keys) return NO_KEYS;
  const strings = [keys.subject, keys.from, keys.to, keys.cc, keys.displayFrom, keys.displayTo, keys.messageId, keys.references, keys.searchSubject];
  if (!Number.isSafeInteger(keys.date) || !strings.every(storable)) return NO_KEYS;
  return {
    sort_date: keys.date,
    sort_subject: keys.subject,
    sort_refwd: keys.refwd ? 1 : 0,
    sort_from: keys.from,
    sort_to: keys.to,
    sort_cc: keys.cc,
    sort_display_from: keys.displayFrom,
    sort_display_to: keys.displayTo,
    thread_msgid: keys.messageId,
    thread_refs: keys.references,
    search_subject: keys.searchSubject,
  };
}

/** The keys of a row as read (all fields asked for, or null when the row has none yet). */
export interface SortKeyRow {
  uid: number;
  /** INTERNALDATE and RFC822.SIZE (SORT ARRIVAL / SIZE), always present. */
  arrival: number;
  size: number;
  keys: Partial<SortKeys> | null;
}

type Row = Record<string, unknown> & { uid: number | string; internaldate: number | string; size: number | string; sort_date: number | string | null };

/**
 * The keys `fields` of the messages of one mailbox in the UID ranges (inclusive), in UID order. Rows without
 * keys come back with keys: null.
 */
export async function readSortKeys(
  db: Kysely<any>,
  mailboxId: number,
  ranges: ReadonlyArray<readonly [number, number]>,
  fields: readonly SortKeyField[],
): Promise<SortKeyRow[]> {
  const cols = new Set<string>(['uid', 'internaldate', 'size', 'sort_date']);
  for (const f of fields) cols.add(COLUMN_OF[f]);
  const rows = (await db
    .selectFrom('mail_messages')
    .select([...cols])
    .where('mailbox_id', '=', mailboxId)
    .where((eb) => eb.or(ranges.map(([a, b]) => (a === b ? eb('uid', '=', a) : eb.and([eb('uid', '>=', a), eb('uid', '<=', b)])))))
    .orderBy('uid')
    .execute()) as Row[];
  const out: SortKeyRow[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let keys: Partial<SortKeys> | null = null;
    if (r.sort_date !== null && r.sort_date !== undefined) {
      keys = {};
      for (const f of fields) {
        const v = r[COLUMN_OF[f]];
        if (f === 'date') keys.date = Number(v);
        else if (f === 'refwd') keys.refwd = Number(v) === 1;
        else (keys as Record<string, unknown>)[f] = v ?? (f === 'messageId' || f === 'references' || f === 'searchSubject' ? null : '');
      }
    }
    out[i] = { uid: Number(r.uid), arrival: Number(r.internaldate), size: Number(r.size), keys };
  }
  return out;
}

const INTEGER_COLUMNS = new Set<string>(['sort_date', 'sort_refwd', 'internaldate']);
/** Rows per UPDATE ... CASE statement (MySQL/PostgreSQL). */
const CASE_ROWS = 100;

/**
 * Set `columns` of rows of one mailbox to per-row values (values[i] in columns' order), in the caller's
 * transaction. A cache: no MODSEQ change; rows that vanished are not updated. SQLite: one short prepared UPDATE per
 * row (no round trip, and it beats a long CASE, whose cost grows with rows x columns); MySQL/PostgreSQL: one
 * UPDATE ... SET col = CASE uid WHEN ... END per 100 rows. The SQL text is built here, not by Kysely's template
 * compiler, whose per-parameter cost was most of the time; on SQLite inside a transaction the one prepared
 * statement runs straight on the connection (rawSqliteIn).
 */
export async function updateRows(
  db: Kysely<any>,
  mailboxId: number,
  columns: readonly string[],
  rows: ReadonlyArray<readonly [number, readonly unknown[]]>,
  /** An extra condition on the rows to update (SQL text without parameters), e.g. "internaldate = -1". */
  only?: string,
): Promise<void> {
  if (!rows.length) return;
  const flavor = flavorOf(db);
  const also = only ? ` and ${only}` : '';
  if (flavor === 'sqlite') {
    const text = `update mail_messages set ${columns.map((c) => `${c} = ?`).join(', ')} where mailbox_id = ? and uid = ?${also}`;
    const raw = rawSqliteIn(db);
    if (raw) {
      const stmt = raw.prepare(text);
      // One parameter array for all rows: run() binds it before it returns.
      const params: unknown[] = [];
      for (const [uid, values] of rows) {
        params.length = 0;
        for (let k = 0; k < values.length; k++) params.push(values[k]);
        params.push(mailboxId, uid);
        stmt.run(params);
      }
      return;
    }
    for (const [uid, values] of rows) await db.executeQuery(CompiledQuery.raw(text, [...values, mailboxId, uid]));
    return;
  }
  const pg = flavor === 'postgres';
  for (let i = 0; i < rows.length; i += CASE_ROWS) {
    const part = rows.slice(i, i + CASE_ROWS);
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return pg ? `$${params.length}` : '?';
    };
    const sets = columns.map((col, j) => {
      const int = INTEGER_COLUMNS.has(col);
      let t = `${col} = case uid`;
      for (const [uid, values] of part) {
        const u = p(uid); // placeholders in text order (MySQL's "?" are positional)
        const v = p(values[j]);
        t += ` when ${u} then ${int ? (pg ? `cast(${v} as bigint)` : `cast(${v} as signed)`) : v}`;
      }
      return t + ' end';
    });
    const where = `mailbox_id = ${p(mailboxId)} and uid in (${part.map(([uid]) => p(uid)).join(', ')})${also}`;
    await db.executeQuery(CompiledQuery.raw(`update mail_messages set ${sets.join(', ')} where ${where}`, params));
  }
}

/** The values of keyColumns(keys) in SORT_KEY_COLUMNS order. */
export function keyValues(keys: SortKeys | null | undefined): unknown[] {
  const out: unknown[] = [];
  pushKeyValues(out, keys);
  return out;
}

/** keyValues(keys) appended to `out`. */
export function pushKeyValues(out: unknown[], keys: SortKeys | null | undefined): void {
  const c = keyColumns(keys);
  for (const col of SORT_KEY_COLUMNS) out.push(c[col]);
}

/** Store keys for messages of one mailbox, in the caller's transaction (see updateRows). */
export async function writeSortKeys(db: Kysely<any>, mailboxId: number, entries: ReadonlyArray<readonly [number, SortKeys | null | undefined]>): Promise<void> {
  await updateRows(db, mailboxId, SORT_KEY_COLUMNS, entries.map(([uid, k]) => [uid, keyValues(k)] as const));
}
