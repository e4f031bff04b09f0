/**
 * The mail store behind IMAP (and POP3): message bodies in Maildir, a durable SQL index beside it.
 *
 * Layout. A user's Maildir root (userMaildir(): <dataDir>/mail/<domain>/<localpart>/) is INBOX; every other
 * mailbox is a Maildir++ folder ".<level>.<level>" in that root (Dovecot's layout; names.ts encodes the levels).
 * Messages live in <mailbox>/cur/<base>:2,<letters> once indexed; new/ holds mail not yet seen by the index.
 *
 * Index (tables.ts): one row per mailbox (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, ...) and per message (UID, MODSEQ,
 * flags, base name, size, INTERNALDATE, cached ENVELOPE/BODYSTRUCTURE), plus expunged UIDs with their MODSEQ.
 *
 * Invariants
 *  - A message row exists only for a file that was fsynced in cur/ before the row was committed. The file name of
 *    an indexed message is exactly cur/<base>:2,<mdflags> of its row (we rename files only under the mailbox lock).
 *  - UIDs are assigned in SQL: UIDNEXT is bumped in the same transaction that inserts the rows. UIDs are never
 *    reused within a UIDVALIDITY. UIDVALIDITY values are unique per user (max(now in seconds, last + 1)).
 *  - Every committed change (new messages, flag changes, expunges) bumps the mailbox's HIGHESTMODSEQ by one, and every
 *    touched message gets that MODSEQ; expunged UIDs are kept in mail_expunged with theirs. So "what changed since
 *    MODSEQ N" is: messages with modseq > N plus expunged UIDs with modseq > N (Mailbox.changesSince).
 *  - The Maildir is the truth: sync() heals any difference. A file with no row gets the next UID (files found in
 *    new/ and unknown files in cur/, in order of mtime then name; new/ files are moved to cur/ first); a row whose
 *    file is gone is expunged; a file whose ":2," letters changed (another program) updates the row's flags.
 *    Hence a crash between a file operation and its index commit can only duplicate a message, never lose one:
 *    file operations happen before the index commit for additions, and before it for removals too (unlink first).
 *  - Writers are serialized per mailbox (KeyedMutex on the mailbox id) in this process; mailbox-tree operations
 *    (create/delete/rename/subscribe) per user. Two store instances on one data directory are not supported.
 *  - sync() is cheap when nothing changed: it always lists new/ (normally empty) but rescans cur/ only when its
 *    mtime differs from the one seen at the last scan, or that scan was within a second of the mtime (a change
 *    in the same clock tick could be missed otherwise). Our own changes to cur/ keep the cached mtime valid.
 *  - \Recent is not tracked: STATUS RECENT is always 0 and no message is ever \Recent (allowed by RFC 3501's
 *    "may", and IMAP4rev2 drops it). Keywords live in the index only (lost by a reindex after losing the database);
 *    $Forwarded is the Maildir "P" letter.
 *  - RFC822.SIZE is the file size; files are served as they are on disk (our own writers store CRLF).
 *  - POP3 UIDL: use MessageRecord.base (the Maildir unique name): it survives reindex, restarts and IMAP access.
 */
import { closeSync, createReadStream, openSync, promises as fsp, readdirSync, readSync, renameSync, statSync, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import type { Db } from '../sql/db.js';
import { migrateToLatest } from '../sql/migrations.js';
import './tables.js';
import { fsyncDir, MaildirTmpFile, uniqueName } from '../maildir/maildir.js';
import { userMaildir } from '../maildir/paths.js';
import { addressKey, parseAddress } from '../../common/address.js';
import { KeyedMutex } from './mutex.js';
import { MessageRecord, UNKNOWN_DATE, type RecordLocation } from './record.js';
import { RecordCache, columnsOf, type CacheRow, type RecordColumns } from './record-cache.js';
export type { RecordCache, RecordColumns } from './record-cache.js';
import { MailStoreError } from './errors.js';
import { pendingNewUsage } from './pending.js';
import {
  DELETED,
  FlagError,
  SEEN,
  applyFlags,
  flagsToList,
  keywordsFromColumn,
  keywordsToColumn,
  lettersToSysflags,
  parseFlags,
  parseMaildirName,
  sameFlags,
  sysflagsToLetters,
  type FlagSet,
} from './flags.js';
import {
  HIERARCHY_SEPARATOR,
  MailboxNameError,
  ancestors,
  decodeDir,
  encodeDir,
  normalizeMailboxName,
  parentName,
} from './names.js';

import { keyColumns, pushKeyValues, storable, readSortKeys, updateRows, writeSortKeys, SORT_KEY_COLUMNS, COLUMN_OF, type SortKeys, type SortKeyColumns, type SortKeyField, type SortKeyRow } from './sort-keys.js';
import { HEAD_READ, headerEnd, readHeaderBlockSync } from '../maildir/file-read.js';

export { HIERARCHY_SEPARATOR } from './names.js';
export { MessageRecord } from './record.js';
export type { SortKeys, SortKeyField, SortKeyRow } from './sort-keys.js';

const SORT_KEY_FIELDS = Object.keys(COLUMN_OF) as SortKeyField[];

/** The special-use mailboxes every user gets (RFC 6154). */
export const SPECIAL_USE_MAILBOXES: ReadonlyArray<readonly [string, string]> = [
  ['Drafts', '\\Drafts'],
  ['Sent', '\\Sent'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
  ['Archive', '\\Archive'],
];

const MAX_UID = 0xffffffff;
const INSERT_CHUNK = 400;
const BULK_INSERT_CHUNK = 500;
const INSERT_COLUMNS = `mailbox_id, uid, modseq, sysflags, keywords, base, mdflags, internaldate, size, envelope, bodystructure, envelope_imap, ${SORT_KEY_COLUMNS.join(', ')}`;
const INSERT_ARITY = 12 + SORT_KEY_COLUMNS.length;
const BARE_COLUMNS = 'mailbox_id, uid, modseq, sysflags, keywords, base, mdflags, internaldate, size';
const BARE_ARITY = 9;
const RANGE_CHUNK = 200;
/** A scan that finds at least this many files, all named with a time and a ",S=" size, does not stat them. */
const LAZY_SCAN_AT = 1000;
/** Delay before INTERNALDATEs read from files are written to the index (they are collected meanwhile). */
const DATE_FLUSH_MS = 200;
/** Rows per query when the in-memory copy is loaded. */
const LOAD_PAGE = 10_000;

/** Default MailStoreOptions.recordCacheMessages. */
const DEFAULT_RECORD_CACHE = 500_000;
/** A query for at least this many UIDs loads the mailbox's in-memory copy of its rows. */
const BUILD_RECORDS_AT = 64;
const STAT_PARALLEL = 64;
/** Flag renames done synchronously between two yields to the event loop. */
const RENAME_SLICE = 256;
const STAT_SLICE = 256;
const TRASH_PREFIX = '..deleted-';

/** Parse-cache columns getParsed can read. */
export type ParsedField = 'envelope' | 'bodystructure' | 'envelope_imap';

/** A row of getParsed: null where that column is not cached (yet). */
export interface ParsedRow {
  envelope: string | null;
  bodystructure: string | null;
  /** The ENVELOPE's RFC 3501 §7.4.2 wire form (formatEnvelope's output). */
  envelopeImap: string | null;
}

/** What setParsedMany stores for a message: only the columns given (undefined: left as they are). */
export interface ParsedEntry {
  envelope?: string;
  bodystructure?: string;
  envelopeImap?: string;
  keys?: SortKeys;
}

export interface ParsedCache {
  envelope?: string | null;
  bodystructure?: string | null;
  /** SORT/THREAD/SEARCH keys (./sort-keys.ts); null clears them. */
  keys?: SortKeys | null;
}

export interface MailStoreOptions {
  db: Db;
  /** The data directory: Maildirs are under <dataDir>/mail/. */
  dataDir: string;
  /**
   * Optional parser run for every message added to the index (append, copy without cache, sync): returns
   * ENVELOPE/BODYSTRUCTURE as JSON text to cache. Omit it to fill the cache lazily with Mailbox.setParsed().
   */
  parse?: (path: string) => Promise<ParsedCache>;
  /**
   * How many message rows, over all mailboxes, the store keeps in memory (record-cache.ts, ~120 bytes each; the
   * least recently used mailboxes are dropped first). 0 turns the copies off. Default 500,000.
   */
  recordCacheMessages?: number;
  /**
   * Quota extension point: the user's limit in bytes (0, null or undefined = unlimited). Checked by append and
   * copy (and by checkQuota, for SMTP delivery). For example `(key) => accounts.getUser(key).then(u => u?.quotaBytes)`.
   */
  quota?: (userKey: string) => Promise<number | null | undefined> | number | null | undefined;
  /** Where errors of background work (onDelivered) go. */
  log?: { warn(obj: object, msg: string): void };
}

export type MailboxEventKind =
  | 'append' // new messages (APPEND, COPY/MOVE target, or found by sync)
  | 'flags' // flags changed
  | 'expunge' // messages expunged
  | 'sync' // a sync committed several kinds of change at once
  | 'deleted' // the mailbox was deleted (or became \Noselect): sessions must leave it (BYE or close)
  | 'renamed' // name changed; UIDVALIDITY and UIDs unchanged
  | 'uidvalidity'; // full reindex: UIDVALIDITY changed, sessions must close the mailbox (BYE)

export interface MailboxEvent {
  mailboxId: number;
  userKey: string;
  kind: MailboxEventKind;
  /** The mailbox's HIGHESTMODSEQ after the change. */
  highestModseq: number;
  uidNext: number;
  /** The `origin` option of the call that made the change (lets a session recognise its own changes). */
  origin?: unknown;
}

export type UserEventKind = 'created' | 'deleted' | 'renamed' | 'subscribed' | 'unsubscribed';
export interface UserEvent {
  userKey: string;
  kind: UserEventKind;
  name: string;
  oldName?: string;
}

export interface MailboxListEntry {
  id: number;
  name: string;
  /** RFC 3501/6154/3348 attributes: \Noselect, \HasChildren or \HasNoChildren, and the special-use attribute. */
  attributes: string[];
  noselect: boolean;
  hasChildren: boolean;
  specialUse: string | null;
  subscribed: boolean;
}

export interface MailboxStatus {
  messages: number;
  uidNext: number;
  uidValidity: number;
  unseen: number;
  /** Sum of RFC822.SIZE (RFC 8438 STATUS SIZE). */
  size: number;
  highestModseq: number;
  /** Always 0 (\Recent is not tracked). */
  recent: number;
  deleted: number;
}

export interface AppendResult {
  uid: number;
  uidValidity: number;
  modseq: number;
}

export interface CopyResult {
  uidValidity: number;
  /** [source UID, destination UID] in source UID order (COPYUID). */
  mapping: Array<[number, number]>;
}

export interface FlagChange {
  uid: number;
  flags: string[];
  modseq: number;
}

export interface SetFlagsResult {
  /** Messages whose flags changed (new MODSEQ). */
  updated: FlagChange[];
  /** Messages that already had the resulting flags (no new MODSEQ). */
  unchanged: FlagChange[];
  /** UIDs that failed UNCHANGEDSINCE (RFC 7162 MODIFIED response code). */
  modified: number[];
  highestModseq: number;
}

export interface ChangesSince {
  highestModseq: number;
  uidNext: number;
  /** Messages with modseq > N, in UID order (new ones are those with uid >= the session's old UIDNEXT). */
  changed: MessageRecord[];
  /** Expunged UIDs with modseq > N, ascending. */
  expunged: number[];
}

export interface SyncResult {
  added: number;
  expunged: number;
  flagsChanged: number;
  scanned: boolean;
}

export interface ReindexResult {
  mailboxes: number;
  messages: number;
  added: number;
  expunged: number;
}

/** A user: the address, or any object with one (the accounts store's User). */
export type UserLike = string | { readonly address: string };

export type AppendInput = Buffer | Uint8Array | string | AsyncIterable<Buffer | Uint8Array | string>;

interface UserRef {
  key: string;
  dir: string;
}

interface MailboxState {
  id: number;
  user: UserRef;
  name: string;
  dir: string;
  uidValidity: number;
  deleted: boolean;
  loc: RecordLocation & { root: string };
  /** INTERNALDATEs read from files for rows indexed without one, waiting to be written to the index. */
  pendingDates: Map<number, number> | null;
  /** cur/ mtime (ns) seen at the last full scan or kept valid by our own changes; null = rescan. */
  curMtime: bigint | null;
  curClean: boolean;
  /**
   * All UIDs in ascending order, shared by every session that selects the mailbox (they copy it only when their
   * view diverges). null = query again. `uidGen` counts changes of the UID set so a query that raced with a commit
   * does not store a stale list.
   */
  uidList: Uint32Array | null;
  uidGen: number;
  /** The in-memory copy of the message rows (record-cache.ts), or null. `recGen` counts commits and drops, so a
   * copy loaded while one ran is not kept. */
  recs: RecordCache | null;
  recGen: number;
  recLoading: Promise<RecordCache | null> | null;
}

/** A message row as selected (MSG_COLUMNS); numbers may come back as strings from MySQL/PostgreSQL. */
type MsgRow = CacheRow;

interface NewRow extends Partial<SortKeyColumns> {
  base: string;
  mdflags: string;
  sysflags: number;
  keywords: string;
  internaldate: number;
  size: number;
  envelope: string | null;
  bodystructure: string | null;
  /** The ENVELOPE's wire form (COPY/MOVE carry it). */
  envelope_imap?: string | null;
}

interface ChangeSet {
  inserts?: NewRow[];
  /** The mailbox had no messages before (a first scan): the in-memory copy can be made from the inserts. */
  wasEmpty?: boolean;
  expungeUids?: number[];
  flagUpdates?: Array<{ uids: number[]; sysflags: number; keywords: string; mdflags: string }>;
}

const EMPTY: readonly string[] = Object.freeze([]);
const MSG_COLUMNS = ['uid', 'modseq', 'sysflags', 'keywords', 'internaldate', 'size', 'base', 'mdflags'] as const;

function chunks<T>(a: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

/** Sorted, merged UID ranges. */
export function toRanges(uids: Iterable<number>): Array<[number, number]> {
  const sorted = ascendingUids(uids);
  const out: Array<[number, number]> = [];
  for (const u of sorted) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

/** Valid UIDs, once each, ascending (without copying and sorting when they already are: the usual case). */
function ascendingUids(uids: Iterable<number>): readonly number[] {
  if (Array.isArray(uids)) {
    const a = uids as readonly number[];
    let ok = true;
    for (let i = 0; i < a.length; i++) {
      const u = a[i]!;
      if (!Number.isInteger(u) || u <= 0 || (i > 0 && u <= a[i - 1]!)) {
        ok = false;
        break;
      }
    }
    if (ok) return a;
  }
  return [...new Set(uids)].filter((u) => Number.isInteger(u) && u > 0).sort((a, b) => a - b);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Create <root>/{tmp,new,cur} (0700). Not cached (unlike ensureMaildir): mailboxes come and go. */
async function makeMaildir(root: string): Promise<void> {
  for (const sub of ['tmp', 'new', 'cur']) await fsp.mkdir(join(root, sub), { recursive: true, mode: 0o700 });
}

async function statMtime(dir: string): Promise<bigint | null> {
  try {
    return (await fsp.stat(dir, { bigint: true })).mtimeNs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * stat() many files (`from`), setting their mtime and size in place (size -1: vanished or not a regular file).
 * Synchronously, in slices with a turn of the event loop between them: a stat of a cached inode takes microseconds,
 * while a thread-pool round trip per file made a first scan of 10,000 files ~5x slower (measured: 75 ms against
 * 370 ms with 64 in flight).
 */
async function statMany(files: Array<{ dir: string; name: string; mtime: number; size: number }>): Promise<void> {
  for (let i = 0; i < files.length; i++) {
    if (i > 0 && i % STAT_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
    const f = files[i]!;
    const s = statSync(`${f.dir}/${f.name}`, { throwIfNoEntry: false });
    if (s && s.isFile()) {
      f.mtime = s.mtimeMs;
      f.size = s.size;
    } else f.size = -1;
  }
}

/**
 * The delivery time in a Maildir name "<secs>.M<usecs>P<pid>...": seconds then microseconds, in µs; -1 when the
 * name does not start with one. (Hand-parsed: two regular expressions per file were a visible part of a scan.)
 */
function nameTime(name: string): number {
  let secs = 0;
  let i = 0;
  for (; i < name.length && i < 12; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) break;
    secs = secs * 10 + (c - 48);
  }
  if (i === 0 || name.charCodeAt(i) !== 46 /* . */) return -1;
  let usecs = 0;
  const end = name.indexOf('.', i + 1);
  const m = name.indexOf('M', i + 1);
  if (m > 0 && (end < 0 || m < end)) {
    for (let j = m + 1, k = 0; j < name.length && k < 6; j++, k++) {
      const c = name.charCodeAt(j);
      if (c < 48 || c > 57) break;
      usecs = usecs * 10 + (c - 48);
    }
  }
  return secs * 1e6 + usecs;
}

/** The ",S=<size>" of a Maildir base name (ended by "," or the end), or -1. */
function nameSize(base: string): number {
  const at = base.indexOf(',S=');
  if (at < 0) return -1;
  let size = 0;
  let j = at + 3;
  for (; j < base.length; j++) {
    const c = base.charCodeAt(j);
    if (c === 44 /* , */) break;
    if (c < 48 || c > 57) return -1;
    size = size * 10 + (c - 48);
  }
  return j === at + 3 ? -1 : size;
}

/**
 * For a scan without stat: each file's delivery time from its name (see nameTime) and its size from ",S=" (set as
 * f.size); null when any name lacks either (then every file is stat()ed).
 */
function nameTimes(files: Array<{ name: string; base: string; size: number; time: number }>): boolean {
  const times = new Float64Array(files.length);
  const sizes = new Float64Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const t = nameTime(f.name);
    const z = nameSize(f.base);
    if (t < 0 || z < 0) return false;
    times[i] = t;
    sizes[i] = z;
  }
  for (let i = 0; i < files.length; i++) {
    files[i]!.time = times[i]!;
    files[i]!.size = sizes[i]!;
  }
  return true;
}

/** The UID set of the mailbox changed (or may have): drop the shared list. */
function invalidateUidList(st: MailboxState): void {
  st.uidList = null;
  st.uidGen++;
}

function dropRecords(st: MailboxState): void {
  st.recs = null;
  st.recGen++;
}

/** The mailbox's messages changed in a way not described by a commit (reindex, INBOX rename): drop both caches. */
function invalidateUids(st: MailboxState): void {
  invalidateUidList(st);
  dropRecords(st);
}

/**
 * Read a whole message file whose size is known: open, one read, close (three thread-pool hops instead of
 * readFile's four). A file larger than expected is read again with readFile; a shorter one is returned as it is.
 */
async function readKnownSize(path: string, size: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  let n: number;
  const buf = Buffer.allocUnsafe(Math.max(0, size) + 1);
  try {
    ({ bytesRead: n } = await fh.read(buf, 0, buf.length, 0));
  } finally {
    await fh.close();
  }
  if (n > size) return fsp.readFile(path);
  return buf.subarray(0, n);
}

/** Files up to this size may be read with blocking calls by bulk loops (readRecordSync). */
const SYNC_READ_MAX = 256 * 1024;

function isErr(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

function wrapNameError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MailboxNameError) throw new MailStoreError('BADNAME', err.message);
    throw err;
  }
}

function wrapFlags(flags: Iterable<string>): FlagSet {
  try {
    return parseFlags(flags);
  } catch (err) {
    if (err instanceof FlagError) throw new MailStoreError('BADFLAG', err.message);
    throw err;
  }
}

export class MailStore {
  readonly db: Db;
  readonly dataDir: string;
  private readonly opts: MailStoreOptions;
  private readonly mailboxLocks = new KeyedMutex<number>();
  private readonly userLocks = new KeyedMutex<string>();
  private readonly states = new Map<number, MailboxState>();
  /** Mailboxes holding an in-memory copy of their rows, least recently used first. */
  private readonly cached = new Set<MailboxState>();
  private readonly ensured = new Set<string>();
  private readonly watchers = new Map<number, Set<(e: MailboxEvent) => void>>();
  private readonly userWatchers = new Map<string, Set<(e: UserEvent) => void>>();

  constructor(opts: MailStoreOptions) {
    this.opts = opts;
    this.db = opts.db;
    this.dataDir = opts.dataDir;
  }

  /** Runs the migrations (idempotent: the tables may already exist) and returns a store. */
  static async open(opts: MailStoreOptions): Promise<MailStore> {
    await migrateToLatest(opts.db);
    return new MailStore(opts);
  }

  // ------------------------------------------------------------------------------------------------ users

  /** The store's key for a user address (lower-case local part, normalised domain). */
  userKey(address: UserLike): string {
    return this.userRef(address).key;
  }

  private userRef(user: UserLike): UserRef {
    const address = typeof user === 'string' ? user : user.address;
    const p = parseAddress(address);
    if (!p) throw new MailStoreError('NONEXISTENT', `invalid user address '${address}'`);
    return { key: addressKey(p), dir: userMaildir(this.dataDir, p.domain, p.localPart.toLowerCase()) };
  }

  /** The user's Maildir root (INBOX). */
  userMaildir(address: UserLike): string {
    return this.userRef(address).dir;
  }

  /**
   * Initialise a user's store on first use: INBOX and the special-use mailboxes (Drafts, Sent, Trash, Junk,
   * Archive), plus any Maildir++ folders already on disk (an imported Maildir). Later calls are cheap no-ops, and a
   * special-use mailbox the user deleted is not recreated.
   */
  async ensureUser(address: UserLike): Promise<void> {
    const u = this.userRef(address);
    if (this.ensured.has(u.key)) return;
    await this.userLocks.run(u.key, async () => {
      if (this.ensured.has(u.key)) return;
      const row = await this.db.selectFrom('mail_users').select('user_key').where('user_key', '=', u.key).executeTakeFirst();
      if (!row) {
        await makeMaildir(u.dir);
        await this.db
          .insertInto('mail_users')
          .values({ user_key: u.key, last_uidvalidity: 0, created_at: Date.now() })
          .execute()
          .catch(async (err) => {
            const again = await this.db.selectFrom('mail_users').select('user_key').where('user_key', '=', u.key).executeTakeFirst();
            if (!again) throw err;
          });
        await this.discoverLocked(u, false);
        const existing = new Map((await this.mailboxRows(u.key)).map((r) => [r.name, r]));
        for (const [name, use] of SPECIAL_USE_MAILBOXES) {
          const r = existing.get(name);
          if (!r) await this.createLocked(u, name, { specialUse: use, subscribed: true });
          else if (!r.special_use) await this.db.updateTable('mail_mailboxes').set({ special_use: use, subscribed: 1 }).where('id', '=', Number(r.id)).execute();
        }
        await this.db.updateTable('mail_mailboxes').set({ subscribed: 1 }).where('user_key', '=', u.key).where('dir', '=', '').execute();
      }
      this.ensured.add(u.key);
    });
  }

  private async mailboxRows(userKey: string) {
    return this.db.selectFrom('mail_mailboxes').selectAll().where('user_key', '=', userKey).execute();
  }

  /** A fresh UIDVALIDITY for the user: max(now in seconds, last + 1). */
  private async nextUidValidity(userKey: string): Promise<number> {
    const now = Math.floor(Date.now() / 1000);
    return this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('mail_users')
        .set({
          last_uidvalidity: sql<number>`case when last_uidvalidity + 1 > ${now} then last_uidvalidity + 1 else ${now} end`,
        })
        .where('user_key', '=', userKey)
        .execute();
      const r = await trx.selectFrom('mail_users').select('last_uidvalidity').where('user_key', '=', userKey).executeTakeFirst();
      if (!r) throw new MailStoreError('NONEXISTENT', `mail store of ${userKey} is not initialised`);
      return Number(r.last_uidvalidity);
    });
  }

  /**
   * Make the index's mailbox list match the folders on disk. Creates rows for valid folders without one (and
   * \Noselect rows for missing parents). With `prune`, rows of folders that vanished are dropped (or become \Noselect
   * when they have children). Removes leftovers of interrupted deletes.
   */
  private async discoverLocked(u: UserRef, prune: boolean): Promise<void> {
    let entries: string[] = [];
    try {
      entries = await fsp.readdir(u.dir);
    } catch (err) {
      if (!isErr(err, 'ENOENT')) throw err;
    }
    const onDisk = new Set<string>(['INBOX']);
    for (const e of entries) {
      if (e.startsWith(TRASH_PREFIX)) {
        await fsp.rm(join(u.dir, e), { recursive: true, force: true }).catch(() => {});
        continue;
      }
      if (!e.startsWith('.')) continue;
      const name = decodeDir(e);
      if (!name) continue;
      try {
        if (!(await fsp.stat(join(u.dir, e))).isDirectory()) continue;
      } catch {
        continue;
      }
      onDisk.add(name);
    }
    await makeMaildir(u.dir);
    const rows = await this.mailboxRows(u.key);
    const byName = new Map(rows.map((r) => [r.name, r]));
    const wanted = new Set<string>();
    for (const n of onDisk) for (const a of ancestors(n)) if (!onDisk.has(a)) wanted.add(a);
    for (const name of [...onDisk].sort()) {
      const r = byName.get(name);
      if (!r) await this.insertMailboxRow(u, name, { noselect: false });
      else if (Number(r.noselect)) {
        const uv = await this.nextUidValidity(u.key);
        await this.db.updateTable('mail_mailboxes').set({ noselect: 0, uidvalidity: uv, uidnext: 1 }).where('id', '=', Number(r.id)).execute();
        this.states.delete(Number(r.id));
      }
    }
    for (const name of [...wanted].sort()) {
      if (!byName.has(name)) await this.insertMailboxRow(u, name, { noselect: true });
    }
    if (!prune) return;
    const names = new Set([...onDisk, ...wanted]);
    // Deepest first so parents see their children's fate.
    const gone = rows.filter((r) => !names.has(r.name)).sort((a, b) => b.name.length - a.name.length);
    for (const r of gone) {
      const id = Number(r.id);
      const hasChildren = (await this.mailboxRows(u.key)).some((c) => c.name.startsWith(r.name + HIERARCHY_SEPARATOR));
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('mail_messages').where('mailbox_id', '=', id).execute();
        await trx.deleteFrom('mail_expunged').where('mailbox_id', '=', id).execute();
        if (hasChildren) await trx.updateTable('mail_mailboxes').set({ noselect: 1 }).where('id', '=', id).execute();
        else await trx.deleteFrom('mail_mailboxes').where('id', '=', id).execute();
      });
      const st = this.states.get(id);
      if (st) this.forget(st);
      this.emit(id, u.key, 'deleted', 0, 0);
    }
  }

  private async insertMailboxRow(
    u: UserRef,
    name: string,
    o: { noselect: boolean; specialUse?: string | null; subscribed?: boolean },
  ): Promise<number> {
    const uv = await this.nextUidValidity(u.key);
    const dir = encodeDir(name);
    await this.db
      .insertInto('mail_mailboxes')
      .values({
        user_key: u.key,
        name,
        dir,
        uidvalidity: uv,
        uidnext: 1,
        highestmodseq: 1,
        subscribed: o.subscribed ? 1 : 0,
        special_use: o.specialUse ?? null,
        noselect: o.noselect ? 1 : 0,
        created_at: Date.now(),
      })
      .execute();
    const r = await this.db.selectFrom('mail_mailboxes').select('id').where('user_key', '=', u.key).where('dir', '=', dir).executeTakeFirstOrThrow();
    return Number(r.id);
  }

  // ------------------------------------------------------------------------------------------------ mailbox tree

  /** All mailboxes of the user, sorted by name (INBOX first), with LIST attributes. Does not scan the disk. */
  async listMailboxes(user: UserLike): Promise<MailboxListEntry[]> {
    await this.ensureUser(user);
    const u = this.userRef(user);
    const rows = await this.mailboxRows(u.key);
    const names = new Set(rows.map((r) => r.name));
    const parents = new Set<string>();
    for (const n of names) {
      const p = parentName(n);
      if (p !== null) parents.add(p);
    }
    const out = rows.map((r): MailboxListEntry => {
      const noselect = Boolean(Number(r.noselect));
      const hasChildren = parents.has(r.name);
      const attributes: string[] = [];
      if (noselect) attributes.push('\\Noselect');
      attributes.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
      if (r.special_use) attributes.push(r.special_use);
      return {
        id: Number(r.id),
        name: r.name,
        attributes,
        noselect,
        hasChildren,
        specialUse: r.special_use ?? null,
        subscribed: Boolean(Number(r.subscribed)),
      };
    });
    out.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  /**
   * CREATE: makes the mailbox and any missing parents (as ordinary mailboxes). Creating a \Noselect name makes it
   * selectable (new UIDVALIDITY). ALREADYEXISTS when it exists (INBOX always does); BADNAME for invalid names.
   */
  async createMailbox(user: UserLike, name: string, opts: { specialUse?: string; subscribed?: boolean } = {}): Promise<void> {
    const norm = wrapNameError(() => normalizeMailboxName(name));
    await this.ensureUser(user);
    const u = this.userRef(user);
    await this.userLocks.run(u.key, () => this.createLocked(u, norm, opts));
  }

  private async createLocked(u: UserRef, name: string, opts: { specialUse?: string; subscribed?: boolean } = {}): Promise<void> {
    if (name === 'INBOX') throw new MailStoreError('ALREADYEXISTS', 'INBOX always exists');
    const rows = await this.mailboxRows(u.key);
    const byName = new Map(rows.map((r) => [r.name, r]));
    const existing = byName.get(name);
    if (existing && !Number(existing.noselect)) throw new MailStoreError('ALREADYEXISTS', `mailbox ${name} already exists`);
    for (const a of [...ancestors(name), name]) {
      const r = byName.get(a);
      if (r && !Number(r.noselect)) continue;
      const root = join(u.dir, encodeDir(a));
      await makeMaildir(root);
      await fsyncDir(u.dir);
      if (r) {
        const uv = await this.nextUidValidity(u.key);
        await this.db.updateTable('mail_mailboxes').set({ noselect: 0, uidvalidity: uv, uidnext: 1 }).where('id', '=', Number(r.id)).execute();
        this.states.delete(Number(r.id));
      } else {
        await this.insertMailboxRow(u, a, {
          noselect: false,
          specialUse: a === name ? (opts.specialUse ?? null) : null,
          subscribed: a === name ? opts.subscribed : false,
        });
      }
      this.emitUser(u.key, 'created', a);
    }
  }

  /**
   * DELETE (RFC 3501 §6.3.4): INBOX cannot be deleted (CANNOT). A mailbox with children loses its messages and
   * becomes \Noselect; a \Noselect mailbox with children cannot be deleted (CANNOT). Otherwise the mailbox, its
   * messages and its folder go; \Noselect parents left without children go too. Sessions that have it selected
   * get a 'deleted' event.
   */
  async deleteMailbox(user: UserLike, name: string): Promise<void> {
    const norm = wrapNameError(() => normalizeMailboxName(name));
    if (norm === 'INBOX') throw new MailStoreError('CANNOT', 'INBOX cannot be deleted');
    await this.ensureUser(user);
    const u = this.userRef(user);
    await this.userLocks.run(u.key, async () => {
      const rows = await this.mailboxRows(u.key);
      const r = rows.find((x) => x.name === norm);
      if (!r) throw new MailStoreError('NONEXISTENT', `mailbox ${norm} does not exist`);
      const hasChildren = rows.some((x) => x.name.startsWith(norm + HIERARCHY_SEPARATOR));
      const noselect = Boolean(Number(r.noselect));
      if (hasChildren && noselect) throw new MailStoreError('CANNOT', `mailbox ${norm} has children and is not selectable`);
      const id = Number(r.id);
      await this.mailboxLocks.run(id, async () => {
        if (!noselect) {
          const root = join(u.dir, r.dir);
          const trash = join(u.dir, TRASH_PREFIX + uniqueName().replace(/[^A-Za-z0-9]/g, '_'));
          try {
            await fsp.rename(root, trash);
            await fsyncDir(u.dir);
          } catch (err) {
            if (!isErr(err, 'ENOENT')) throw err;
          }
          await this.db.transaction().execute(async (trx) => {
            await trx.deleteFrom('mail_messages').where('mailbox_id', '=', id).execute();
            await trx.deleteFrom('mail_expunged').where('mailbox_id', '=', id).execute();
            if (hasChildren) await trx.updateTable('mail_mailboxes').set({ noselect: 1 }).where('id', '=', id).execute();
            else await trx.deleteFrom('mail_mailboxes').where('id', '=', id).execute();
          });
          await fsp.rm(trash, { recursive: true, force: true }).catch(() => {});
        } else {
          await this.db.deleteFrom('mail_mailboxes').where('id', '=', id).execute();
        }
        const st = this.states.get(id);
        if (st) this.forget(st);
        this.states.delete(id);
      });
      this.emit(id, u.key, 'deleted', 0, 0);
      this.emitUser(u.key, 'deleted', norm);
      if (!hasChildren) await this.pruneNoselectAncestors(u, norm);
    });
  }

  private async pruneNoselectAncestors(u: UserRef, name: string): Promise<void> {
    for (const a of ancestors(name).reverse()) {
      const rows = await this.mailboxRows(u.key);
      const r = rows.find((x) => x.name === a);
      if (!r || !Number(r.noselect)) return;
      if (rows.some((x) => x.name.startsWith(a + HIERARCHY_SEPARATOR))) return;
      await this.db.deleteFrom('mail_mailboxes').where('id', '=', Number(r.id)).execute();
      this.emitUser(u.key, 'deleted', a);
    }
  }

  /**
   * RENAME (RFC 3501 §6.3.5): renames the mailbox and all its children (folders renamed on disk, UIDVALIDITY and
   * UIDs kept), creating missing parents of the new name. Renaming INBOX creates the new mailbox, moves all INBOX
   * messages into it (same UIDs, new UIDVALIDITY) and leaves INBOX empty (its UIDs recorded as expunged); INBOX's
   * children stay. Errors: NONEXISTENT, ALREADYEXISTS (target exists), CANNOT (into itself), BADNAME.
   */
  async renameMailbox(user: UserLike, from: string, to: string): Promise<void> {
    const src = wrapNameError(() => normalizeMailboxName(from));
    const dst = wrapNameError(() => normalizeMailboxName(to));
    await this.ensureUser(user);
    const u = this.userRef(user);
    await this.userLocks.run(u.key, async () => {
      const rows = await this.mailboxRows(u.key);
      const byName = new Map(rows.map((r) => [r.name, r]));
      const srcRow = byName.get(src);
      if (!srcRow) throw new MailStoreError('NONEXISTENT', `mailbox ${src} does not exist`);
      if (byName.has(dst)) throw new MailStoreError('ALREADYEXISTS', `mailbox ${dst} already exists`);
      if (dst.startsWith(src + HIERARCHY_SEPARATOR)) throw new MailStoreError('CANNOT', 'cannot rename a mailbox into itself');
      if (src === 'INBOX') return this.renameInboxLocked(u, Number(srcRow.id), dst);

      const affected = rows.filter((r) => r.name === src || r.name.startsWith(src + HIERARCHY_SEPARATOR));
      const plan = affected.map((r) => {
        const newName = wrapNameError(() => normalizeMailboxName(dst + r.name.slice(src.length)));
        if (byName.has(newName)) throw new MailStoreError('ALREADYEXISTS', `mailbox ${newName} already exists`);
        return { id: Number(r.id), oldName: r.name, newName, oldDir: r.dir, newDir: encodeDir(newName), noselect: Boolean(Number(r.noselect)) };
      });
      // Parents of the new name first (they are not part of the renamed subtree).
      for (const a of ancestors(dst)) {
        if (!byName.has(a)) await this.createLocked(u, a);
        else if (Number(byName.get(a)!.noselect)) continue;
      }
      await this.mailboxLocks.runMany(
        plan.map((p) => p.id),
        async () => {
          const done: typeof plan = [];
          try {
            for (const p of plan) {
              if (p.noselect) continue;
              try {
                await fsp.rename(join(u.dir, p.oldDir), join(u.dir, p.newDir));
              } catch (err) {
                if (!isErr(err, 'ENOENT')) throw err;
                await makeMaildir(join(u.dir, p.newDir));
              }
              done.push(p);
            }
            await fsyncDir(u.dir);
          } catch (err) {
            for (const p of done.reverse()) await fsp.rename(join(u.dir, p.newDir), join(u.dir, p.oldDir)).catch(() => {});
            throw err;
          }
          await this.db.transaction().execute(async (trx) => {
            // Two steps so that the unique (user_key, dir) never sees a transient clash inside the subtree.
            for (const p of plan) {
              await trx.updateTable('mail_mailboxes').set({ dir: `${TRASH_PREFIX}${p.id}`, name: `${TRASH_PREFIX}${p.id}` }).where('id', '=', p.id).execute();
            }
            for (const p of plan) {
              await trx.updateTable('mail_mailboxes').set({ dir: p.newDir, name: p.newName }).where('id', '=', p.id).execute();
            }
          });
          for (const p of plan) {
            const st = this.states.get(p.id);
            if (st) {
              st.name = p.newName;
              st.dir = p.newDir;
              st.loc.root = join(u.dir, p.newDir);
              st.loc.curDir = join(st.loc.root, 'cur');
            }
          }
        },
      );
      for (const p of plan) {
        this.emit(p.id, u.key, 'renamed', 0, 0);
        this.emitUser(u.key, 'renamed', p.newName, p.oldName);
      }
      await this.pruneNoselectAncestors(u, src);
    });
  }

  private async renameInboxLocked(u: UserRef, inboxId: number, dst: string): Promise<void> {
    await this.createLocked(u, dst);
    const destRow = await this.db.selectFrom('mail_mailboxes').select('id').where('user_key', '=', u.key).where('name', '=', dst).executeTakeFirstOrThrow();
    const destId = Number(destRow.id);
    const inbox = await this.state(inboxId);
    const dest = await this.state(destId);
    await this.mailboxLocks.runMany([inboxId, destId], async () => {
      await this.syncLocked(inbox, { force: true });
      const rows = await this.db.selectFrom('mail_messages').select(['uid', 'base', 'mdflags']).where('mailbox_id', '=', inboxId).execute();
      await mapLimit(rows, STAT_PARALLEL, async (r) => {
        const name = `${r.base}:2,${r.mdflags}`;
        await fsp.rename(join(inbox.loc.curDir, name), join(dest.loc.curDir, name)).catch((err) => {
          if (!isErr(err, 'ENOENT')) throw err;
        });
      });
      await fsyncDir(dest.loc.curDir);
      await fsyncDir(inbox.loc.curDir);
      await this.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('mail_mailboxes')
          .set((eb) => ({ highestmodseq: eb('highestmodseq', '+', 1) }))
          .where('id', '=', inboxId)
          .execute();
        const ib = await trx.selectFrom('mail_mailboxes').select(['uidnext', 'highestmodseq']).where('id', '=', inboxId).executeTakeFirstOrThrow();
        const modseq = Number(ib.highestmodseq);
        await trx
          .insertInto('mail_expunged')
          .columns(['mailbox_id', 'uid', 'modseq'])
          .expression((eb) =>
            eb.selectFrom('mail_messages').select([sql.lit(inboxId).as('mailbox_id'), 'uid', sql.lit(modseq).as('modseq')]).where('mailbox_id', '=', inboxId),
          )
          .execute();
        await trx.updateTable('mail_messages').set({ mailbox_id: destId }).where('mailbox_id', '=', inboxId).execute();
        await trx
          .updateTable('mail_mailboxes')
          .set({ uidnext: Number(ib.uidnext), highestmodseq: modseq })
          .where('id', '=', destId)
          .execute();
      });
      inbox.curMtime = null;
      dest.curMtime = null;
      invalidateUids(inbox);
      invalidateUids(dest);
    });
    const ib = await this.mailboxCounters(inboxId);
    this.emit(inboxId, u.key, 'expunge', ib.highestModseq, ib.uidNext);
    const d = await this.mailboxCounters(destId);
    this.emit(destId, u.key, 'append', d.highestModseq, d.uidNext);
  }

  /** SUBSCRIBE / UNSUBSCRIBE. NONEXISTENT when the mailbox does not exist. */
  async setSubscribed(user: UserLike, name: string, subscribed: boolean): Promise<void> {
    const norm = wrapNameError(() => normalizeMailboxName(name));
    await this.ensureUser(user);
    const u = this.userRef(user);
    const res = await this.db
      .updateTable('mail_mailboxes')
      .set({ subscribed: subscribed ? 1 : 0 })
      .where('user_key', '=', u.key)
      .where('name', '=', norm)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw new MailStoreError('NONEXISTENT', `mailbox ${norm} does not exist`);
    this.emitUser(u.key, subscribed ? 'subscribed' : 'unsubscribed', norm);
  }

  /** Open a selectable mailbox (SELECT/EXAMINE/APPEND/COPY target/STATUS). NONEXISTENT, or CANNOT for \Noselect. */
  async openMailbox(user: UserLike, name: string): Promise<Mailbox> {
    const norm = wrapNameError(() => normalizeMailboxName(name));
    await this.ensureUser(user);
    const u = this.userRef(user);
    const r = await this.db.selectFrom('mail_mailboxes').select(['id', 'noselect']).where('user_key', '=', u.key).where('name', '=', norm).executeTakeFirst();
    if (!r) throw new MailStoreError('NONEXISTENT', `mailbox ${norm} does not exist`);
    if (Number(r.noselect)) throw new MailStoreError('CANNOT', `mailbox ${norm} is not selectable`);
    return new Mailbox(this, await this.state(Number(r.id)));
  }

  /** STATUS of a mailbox by name (syncs it first unless `sync: false`). */
  async status(user: UserLike, name: string, opts: { sync?: boolean } = {}): Promise<MailboxStatus> {
    const m = await this.openMailbox(user, name);
    if (opts.sync !== false) await m.sync();
    return m.status();
  }

  // ------------------------------------------------------------------------------------------------ quota

  /**
   * Bytes and messages the user's mailboxes hold (QUOTA STORAGE/MESSAGE usage): the index, plus mail delivered to
   * new/ that no session has indexed yet.
   */
  async quotaUsage(user: UserLike): Promise<{ bytes: number; messages: number }> {
    return this.quotaUsageOf(this.userRef(user));
  }

  private async quotaUsageOf(u: UserRef): Promise<{ bytes: number; messages: number }> {
    const [r, pending] = await Promise.all([
      this.db
        .selectFrom('mail_messages')
        .innerJoin('mail_mailboxes', 'mail_mailboxes.id', 'mail_messages.mailbox_id')
        .select(({ fn }) => [fn.sum<number>('mail_messages.size').as('bytes'), fn.countAll<number>().as('n')])
        .where('mail_mailboxes.user_key', '=', u.key)
        .executeTakeFirst(),
      pendingNewUsage(u.dir, { skipPrefix: TRASH_PREFIX }),
    ]);
    return { bytes: Number(r?.bytes ?? 0) + pending.bytes, messages: Number(r?.n ?? 0) + pending.messages };
  }

  /** Throws OVERQUOTA when adding `bytes` would exceed the user's quota (no-op without a quota hook). */
  async checkQuota(user: UserLike, bytes: number): Promise<void> {
    return this.checkQuotaOf(this.userRef(user), bytes);
  }

  /**
   * The user's quota in bytes and what is used, or null when the user has no quota (0 = unlimited). For SMTP
   * delivery, which decides per recipient (RCPT, and again at the end of DATA with the real size).
   */
  async quotaState(user: UserLike): Promise<{ limit: number; used: number } | null> {
    const u = this.userRef(user);
    const limit = this.opts.quota ? Number((await this.opts.quota(u.key)) ?? 0) : 0;
    if (!limit || limit <= 0) return null;
    return { limit, used: (await this.quotaUsageOf(u)).bytes };
  }

  private async checkQuotaOf(u: UserRef, bytes: number): Promise<void> {
    if (!this.opts.quota) return;
    const limit = Number((await this.opts.quota(u.key)) ?? 0);
    if (!limit || limit <= 0) return;
    const used = await this.quotaUsageOf(u);
    if (used.bytes + bytes > limit) throw new MailStoreError('OVERQUOTA', 'quota exceeded');
  }

  // ------------------------------------------------------------------------------------------------ delivery, reindex

  /**
   * SMTP fast path: call with each DeliveredEvent (RunningServer.deliveries). Syncs the INBOX of every target so
   * IDLE sessions hear of the new mail at once. Never throws (errors go to opts.log).
   */
  async onDelivered(e: { targets: ReadonlyArray<{ address: string; maildir?: string }> }): Promise<void> {
    // Like Dovecot, mail stays in new/ until a client looks: only an INBOX that a session has open is synced now
    // (or Junk, for mail classified as junk: IMAP NOTIFY INBOXES watches it).
    if (this.watchers.size === 0) return;
    await Promise.all(
      e.targets.map(async (t) => {
        try {
          const m = await this.openMailbox(t.address, t.maildir && /[/\\]\.Junk$/.test(t.maildir) ? 'Junk' : 'INBOX');
          if (!this.watchers.has(m.id)) return;
          await m.sync();
        } catch (err) {
          if (err instanceof MailStoreError && err.code === 'NONEXISTENT') return; // never logged in yet
          this.opts.log?.warn({ err, address: t.address }, 'mail store: sync after delivery failed');
        }
      }),
    );
  }

  /**
   * Rebuild a user's index from the Maildir (`mailwright reindex USER`).
   *  - mode 'keep' (default; use after a crash, after files were added/removed by hand, or after restoring a
   *    Maildir backup over a live index): folders on disk become mailboxes, rows of vanished folders are dropped,
   *    and every mailbox is fully rescanned: rows whose file exists keep UID, flags and keywords; unknown files get
   *    new UIDs; rows without files are expunged. Clients keep their caches.
   *  - mode 'full' (use when the index is untrustworthy, e.g. restored from a different backup than the Maildir, or
   *    UIDs were assigned wrongly): every mailbox gets a new UIDVALIDITY and UIDs 1..n in (mtime, name) order;
   *    keywords and cached parses are dropped. Clients resynchronise from scratch.
   */
  async reindex(user: UserLike, opts: { mode?: 'keep' | 'full' } = {}): Promise<ReindexResult> {
    await this.ensureUser(user);
    const u = this.userRef(user);
    const res: ReindexResult = { mailboxes: 0, messages: 0, added: 0, expunged: 0 };
    await this.userLocks.run(u.key, () => this.discoverLocked(u, true));
    const rows = (await this.mailboxRows(u.key)).filter((r) => !Number(r.noselect));
    for (const r of rows) {
      const st = await this.state(Number(r.id));
      await this.mailboxLocks.run(st.id, async () => {
        if (opts.mode === 'full') {
          const uv = await this.nextUidValidity(u.key);
          await this.db.transaction().execute(async (trx) => {
            await trx.deleteFrom('mail_messages').where('mailbox_id', '=', st.id).execute();
            await trx.deleteFrom('mail_expunged').where('mailbox_id', '=', st.id).execute();
            await trx
              .updateTable('mail_mailboxes')
              .set((eb) => ({ uidvalidity: uv, uidnext: 1, highestmodseq: eb('highestmodseq', '+', 1) }))
              .where('id', '=', st.id)
              .execute();
          });
          st.uidValidity = uv;
          invalidateUids(st);
          const c = await this.mailboxCounters(st.id);
          this.emit(st.id, u.key, 'uidvalidity', c.highestModseq, c.uidNext);
        }
        const s = await this.syncLocked(st, { force: true });
        res.added += s.added;
        res.expunged += s.expunged;
      });
      res.mailboxes++;
      res.messages += Number(
        (await this.db.selectFrom('mail_messages').select(({ fn }) => fn.countAll<number>().as('n')).where('mailbox_id', '=', st.id).executeTakeFirst())?.n ?? 0,
      );
    }
    return res;
  }

  // ------------------------------------------------------------------------------------------------ events

  /** Subscribe to changes of one mailbox. Returns the unsubscribe function. Listeners run after the commit. */
  watch(mailboxId: number, listener: (e: MailboxEvent) => void): () => void {
    let set = this.watchers.get(mailboxId);
    if (!set) this.watchers.set(mailboxId, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.watchers.get(mailboxId) === set) this.watchers.delete(mailboxId);
    };
  }

  /** Subscribe to mailbox-list changes of a user (created, deleted, renamed, (un)subscribed). */
  watchUser(user: UserLike, listener: (e: UserEvent) => void): () => void {
    const key = this.userRef(user).key;
    let set = this.userWatchers.get(key);
    if (!set) this.userWatchers.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.userWatchers.get(key) === set) this.userWatchers.delete(key);
    };
  }

  private emit(mailboxId: number, userKey: string, kind: MailboxEventKind, highestModseq: number, uidNext: number, origin?: unknown): void {
    const set = this.watchers.get(mailboxId);
    if (!set || set.size === 0) return;
    const e: MailboxEvent = { mailboxId, userKey, kind, highestModseq, uidNext, origin };
    for (const f of [...set]) {
      try {
        f(e);
      } catch (err) {
        this.opts.log?.warn({ err }, 'mail store: event listener threw');
      }
    }
  }

  private emitUser(userKey: string, kind: UserEventKind, name: string, oldName?: string): void {
    const set = this.userWatchers.get(userKey);
    if (!set) return;
    for (const f of [...set]) {
      try {
        f({ userKey, kind, name, oldName });
      } catch (err) {
        this.opts.log?.warn({ err }, 'mail store: event listener threw');
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ internals

  /** The shared state of a mailbox id (one per process, so renames and caches are seen by every handle). */
  private async state(id: number): Promise<MailboxState> {
    const cached = this.states.get(id);
    if (cached && !cached.deleted) return cached;
    const r = await this.db.selectFrom('mail_mailboxes').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new MailStoreError('NONEXISTENT', 'mailbox does not exist');
    const parsed = parseAddress(r.user_key);
    if (!parsed) throw new MailStoreError('SERVERBUG', `bad user key ${r.user_key}`);
    const user: UserRef = { key: r.user_key, dir: userMaildir(this.dataDir, parsed.domain, parsed.localPart) };
    const root = join(user.dir, r.dir);
    const st: MailboxState = {
      id,
      user,
      name: r.name,
      dir: r.dir,
      uidValidity: Number(r.uidvalidity),
      deleted: false,
      loc: { root, curDir: join(root, 'cur'), onDate: (uid, date) => this.noteDate(st, uid, date) },
      pendingDates: null,
      curMtime: null,
      curClean: false,
      uidList: null,
      uidGen: 0,
      recs: null,
      recGen: 0,
      recLoading: null,
    };
    const again = this.states.get(id);
    if (again && !again.deleted) return again;
    this.states.set(id, st);
    return st;
  }

  /** @internal */
  async mailboxCounters(id: number): Promise<{ uidNext: number; highestModseq: number; uidValidity: number }> {
    const r = await this.db.selectFrom('mail_mailboxes').select(['uidnext', 'highestmodseq', 'uidvalidity']).where('id', '=', id).executeTakeFirst();
    if (!r) throw new MailStoreError('NONEXISTENT', 'mailbox was deleted');
    return { uidNext: Number(r.uidnext), highestModseq: Number(r.highestmodseq), uidValidity: Number(r.uidvalidity) };
  }

  /** @internal Run fn under the mailbox's lock, refusing deleted mailboxes. */
  async locked<T>(st: MailboxState, fn: () => Promise<T>): Promise<T> {
    return this.mailboxLocks.run(st.id, async () => {
      if (st.deleted) throw new MailStoreError('NONEXISTENT', `mailbox ${st.name} was deleted`);
      return fn();
    });
  }

  /** @internal */
  async lockedMany<T>(sts: MailboxState[], fn: () => Promise<T>): Promise<T> {
    return this.mailboxLocks.runMany(
      sts.map((s) => s.id),
      async () => {
        for (const st of sts) if (st.deleted) throw new MailStoreError('NONEXISTENT', `mailbox ${st.name} was deleted`);
        return fn();
      },
    );
  }

  /**
   * @internal Run an operation that changes cur/ itself. If the cached mtime was valid before, it is updated to
   * the mtime after, so our own changes do not force a rescan.
   */
  async ownCurChange<T>(st: MailboxState, fn: () => Promise<T>): Promise<T> {
    const before = await statMtime(st.loc.curDir);
    const trusted = st.curMtime !== null && st.curClean && before === st.curMtime;
    try {
      return await fn();
    } finally {
      st.curMtime = trusted ? await statMtime(st.loc.curDir).catch(() => null) : null;
    }
  }

  /** @internal Commit index changes in one transaction with one new MODSEQ. */
  async commit(st: MailboxState, cs: ChangeSet): Promise<{ modseq: number; firstUid: number; uidNext: number }> {
    const inserts = cs.inserts ?? [];
    const n = inserts.length;
    const changesUids = n > 0 || (cs.expungeUids?.length ?? 0) > 0;
    if (changesUids) invalidateUidList(st);
    // Nobody reads the in-memory copy while the transaction runs (readers go to SQL); it is brought up to date
    // after, when it was current before.
    let recs = st.recs;
    dropRecords(st);
    try {
      const res = await this.commitTx(st, cs, inserts, n);
      const budget = this.opts.recordCacheMessages ?? DEFAULT_RECORD_CACHE;
      if (!recs && cs.wasEmpty && n <= budget) recs = new RecordCache(res.modseq - 1, res.firstUid, n, st.loc);
      if (recs && recs.highestModseq === res.modseq - 1 && !st.deleted) recs.apply(cs, res.modseq, res.firstUid, res.uidNext);
      else recs = null;
      return res;
    } catch (err) {
      recs = null;
      throw err;
    } finally {
      if (changesUids) invalidateUidList(st);
      dropRecords(st);
      if (recs) {
        st.recs = recs;
        if (!this.cached.has(st)) this.keepRecords(st, this.opts.recordCacheMessages ?? DEFAULT_RECORD_CACHE);
      } else this.cached.delete(st);
    }
  }

  /** A mailbox is gone (deleted, or its UIDVALIDITY changed): handles see `gone`, its copy of the rows is freed. */
  private forget(st: MailboxState): void {
    st.deleted = true;
    this.states.delete(st.id);
    dropRecords(st);
    this.cached.delete(st);
  }

  /**
   * @internal The mailbox's in-memory copy of its rows when it is current (checked against the counters in the
   * database, so changes by another process are noticed), else null. `build`: load it when absent.
   */
  async records(st: MailboxState, build: boolean): Promise<RecordCache | null> {
    const budget = this.opts.recordCacheMessages ?? DEFAULT_RECORD_CACHE;
    if (budget <= 0 || (!st.recs && !build)) return null;
    let c: { uidNext: number; highestModseq: number };
    try {
      c = await this.mailboxCounters(st.id);
    } catch {
      return null;
    }
    const have = st.recs;
    if (have && have.highestModseq === c.highestModseq && have.uidNext === c.uidNext) {
      this.cached.delete(st);
      this.cached.add(st);
      return have;
    }
    if (have) {
      dropRecords(st);
      this.cached.delete(st);
    }
    if (!build) return null;
    st.recLoading ??= this.loadRecords(st, c, budget).finally(() => {
      st.recLoading = null;
    });
    return st.recLoading;
  }

  /** An unknown INTERNALDATE was read from its file: keep it in the copy now, in the index soon (one transaction). */
  private noteDate(st: MailboxState, uid: number, date: number): void {
    st.recs?.setDate(uid, date);
    if (!st.pendingDates) {
      st.pendingDates = new Map();
      setTimeout(() => void this.flushDates(st), DATE_FLUSH_MS).unref();
    }
    st.pendingDates.set(uid, date);
  }

  private async flushDates(st: MailboxState): Promise<void> {
    const dates = st.pendingDates;
    st.pendingDates = null;
    if (!dates?.size || st.deleted) return;
    const rows = [...dates].map(([uid, d]) => [uid, [d]] as const);
    try {
      // Small transactions with event-loop turns between them: SQLite's commits block the loop.
      for (const part of chunks(rows, 500)) {
        await this.db.transaction().execute((trx) => updateRows(trx, st.id, ['internaldate'], part, 'internaldate = -1'));
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.opts.log?.warn({ err, mailbox: st.name }, 'could not store INTERNALDATEs read from message files');
    }
  }

  private async loadRecords(st: MailboxState, c: { uidNext: number; highestModseq: number }, budget: number): Promise<RecordCache | null> {
    const gen = st.recGen;
    // In pages: the row objects of one page are garbage before the next is read. (One query for 100,000 rows kept
    // them all alive at once, ~60 MB that every young-generation collection copied: ~0.5 s of GC in the SELECT and
    // in the first command after it.)
    const recs = new RecordCache(c.highestModseq, c.uidNext, LOAD_PAGE, st.loc);
    for (let last = 0; ; ) {
      const rows = (await this.db
        .selectFrom('mail_messages')
        .select([...MSG_COLUMNS])
        .where('mailbox_id', '=', st.id)
        .where('uid', '>', last)
        .orderBy('uid')
        .limit(LOAD_PAGE)
        .execute()) as CacheRow[];
      recs.addRows(rows);
      if (rows.length < LOAD_PAGE) break;
      last = Number(rows[rows.length - 1]!.uid);
    }
    const after = await this.mailboxCounters(st.id).catch(() => null);
    // Counters unchanged around the read (every commit bumps HIGHESTMODSEQ): the pages are the state they name.
    if (!after || after.highestModseq !== c.highestModseq || after.uidNext !== c.uidNext) return null;
    if (st.recGen !== gen || st.deleted || recs.length > budget) return recs;
    st.recs = recs;
    this.keepRecords(st, budget);
    return recs;
  }

  /** Register st's copy as the most recently used; drop the least recently used others beyond the budget. */
  private keepRecords(st: MailboxState, budget: number): void {
    this.cached.delete(st);
    this.cached.add(st);
    let total = 0;
    for (const x of this.cached) total += x.recs?.length ?? 0;
    for (const x of this.cached) {
      if (total <= budget) break;
      if (x === st) continue;
      total -= x.recs?.length ?? 0;
      this.cached.delete(x);
      dropRecords(x);
    }
  }

  private async commitTx(st: MailboxState, cs: ChangeSet, inserts: NewRow[], n: number): Promise<{ modseq: number; firstUid: number; uidNext: number }> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('mail_mailboxes')
        .set((eb) => ({ highestmodseq: eb('highestmodseq', '+', 1), uidnext: eb('uidnext', '+', n) }))
        .where('id', '=', st.id)
        .execute();
      const r = await trx.selectFrom('mail_mailboxes').select(['uidnext', 'highestmodseq']).where('id', '=', st.id).executeTakeFirst();
      if (!r) throw new MailStoreError('NONEXISTENT', 'mailbox was deleted');
      const modseq = Number(r.highestmodseq);
      const uidNext = Number(r.uidnext);
      const firstUid = uidNext - n;
      if (uidNext - 1 > MAX_UID) throw new MailStoreError('LIMIT', 'mailbox has run out of UIDs: run a full reindex');
      for (const part of chunks(cs.expungeUids ?? [], INSERT_CHUNK)) {
        await trx.deleteFrom('mail_messages').where('mailbox_id', '=', st.id).where('uid', 'in', part).execute();
        await trx
          .insertInto('mail_expunged')
          .values(part.map((uid) => ({ mailbox_id: st.id, uid, modseq })))
          .execute();
      }
      for (const g of cs.flagUpdates ?? []) {
        for (const part of chunks(g.uids, INSERT_CHUNK)) {
          await trx
            .updateTable('mail_messages')
            .set({ sysflags: g.sysflags, keywords: g.keywords, mdflags: g.mdflags, modseq })
            .where('mailbox_id', '=', st.id)
            .where('uid', 'in', part)
            .execute();
        }
      }
      let uid = firstUid;
      if (n <= 8) {
        for (const part of chunks(inserts, INSERT_CHUNK)) {
          await trx
            .insertInto('mail_messages')
            .values(part.map((x) => ({ mailbox_id: st.id, uid: uid++, modseq, ...x })))
            .execute();
        }
      } else {
        // Bulk (a first scan of a large Maildir): pre-compiled multi-row INSERTs. Kysely's per-row value parsing
        // was most of a 10,000-message scan's CPU time; this is the same portable SQL with the placeholders of
        // the database at hand.
        const ph = this.placeholders();
        for (const part of chunks(inserts, BULK_INSERT_CHUNK)) {
          const params: unknown[] = [];
          const tuples: string[] = [];
          // Rows with nothing cached yet (a first scan) leave the parse-cache and key columns out: fewer parameters.
          const bare = part.every((x) => x.envelope == null && x.bodystructure == null && x.envelope_imap == null && SORT_KEY_COLUMNS.every((c) => x[c] == null));
          for (const x of part) {
            const at = params.length;
            params.push(st.id, uid++, modseq, x.sysflags, x.keywords, x.base, x.mdflags, x.internaldate, x.size);
            if (bare) {
              tuples.push(`(${ph(at, BARE_ARITY)})`);
              continue;
            }
            params.push(x.envelope, x.bodystructure, x.envelope_imap ?? null);
            for (const col of SORT_KEY_COLUMNS) params.push(x[col] ?? null);
            tuples.push(`(${ph(at, INSERT_ARITY)})`);
          }
          const columns = bare ? BARE_COLUMNS : INSERT_COLUMNS;
          await trx.executeQuery(CompiledQuery.raw(`insert into mail_messages (${columns}) values ${tuples.join(', ')}`, params));
        }
      }
      return { modseq, firstUid, uidNext };
    });
  }

  private placeholderFn: ((at: number, n: number) => string) | null = null;

  /** Placeholders for n parameters starting at index `at` ("?, ?" or "$3, $4", as the dialect compiles them). */
  private placeholders(): (at: number, n: number) => string {
    if (!this.placeholderFn) {
      const probe = this.db.selectFrom('mail_users').select('user_key').where('user_key', '=', '').compile().sql;
      const dollar = probe.includes('$1');
      const q = Array.from({ length: INSERT_ARITY }, () => '?').join(', ');
      const bare = Array.from({ length: BARE_ARITY }, () => '?').join(', ');
      this.placeholderFn = dollar
        ? (at, n) => Array.from({ length: n }, (_, i) => `$${at + i + 1}`).join(', ')
        : (_at, n) => (n === INSERT_ARITY ? q : n === BARE_ARITY ? bare : Array.from({ length: n }, () => '?').join(', '));
    }
    return this.placeholderFn;
  }

  /** @internal Query builder filter for a set of UIDs given as ranges. */
  async selectByUids<T>(
    st: MailboxState,
    uids: readonly number[] | 'all',
    run: (ranges: Array<[number, number]> | null) => Promise<T[]>,
  ): Promise<T[]> {
    if (uids === 'all') return run(null);
    const ranges = toRanges(uids);
    const out: T[] = [];
    for (const part of chunks(ranges, RANGE_CHUNK)) out.push(...(await run(part)));
    return out;
  }

  /** @internal */
  toRecord(st: MailboxState, r: MsgRow): MessageRecord {
    return new MessageRecord(
      Number(r.uid),
      Number(r.modseq),
      Number(r.sysflags),
      r.keywords ? keywordsFromColumn(r.keywords) : EMPTY,
      Number(r.internaldate),
      Number(r.size),
      r.base,
      r.mdflags,
      st.loc,
    );
  }

  /** @internal */
  async queryMessages(
    st: MailboxState,
    o: { uids?: readonly number[]; changedSince?: number; afterUid?: number; limit?: number },
  ): Promise<MessageRecord[]> {
    // Whole-mailbox or large requests load the in-memory copy; small ones use it when it is there.
    const recs = await this.records(st, o.uids === undefined || o.uids.length >= BUILD_RECORDS_AT);
    if (recs) return recs.select(o);
    const rows = await this.selectByUids(st, o.uids ?? 'all', async (ranges) => {
      let q = this.db.selectFrom('mail_messages').select([...MSG_COLUMNS]).where('mailbox_id', '=', st.id);
      if (ranges) {
        q = q.where((eb) => eb.or(ranges.map(([a, b]) => (a === b ? eb('uid', '=', a) : eb.and([eb('uid', '>=', a), eb('uid', '<=', b)])))));
      }
      if (o.changedSince !== undefined) q = q.where('modseq', '>', o.changedSince);
      if (o.afterUid !== undefined) q = q.where('uid', '>', o.afterUid);
      q = q.orderBy('uid');
      if (o.limit !== undefined) q = q.limit(o.limit);
      return (await q.execute()) as MsgRow[];
    });
    return rows.map((r) => this.toRecord(st, r));
  }

  /**
   * The indexed files of a mailbox for a scan (UID, base name, info letters, keywords in column form): from the
   * in-memory copy, loaded if need be (a SELECT after a restart scans and then uses the copy: one read of the rows,
   * not two), else from SQL.
   */
  private async indexedFiles(st: MailboxState): Promise<{
    length: number;
    uids: ArrayLike<number>;
    bases: readonly string[];
    mdflags: readonly string[];
    keywords(i: number): string;
  }> {
    const recs = await this.records(st, true);
    if (recs) {
      const c = recs.columns();
      return { ...c, keywords: (i) => keywordsToColumn(recs.keywordsAt(i)) };
    }
    const rows = (await this.db
      .selectFrom('mail_messages')
      .select(['uid', 'base', 'mdflags', 'keywords'])
      .where('mailbox_id', '=', st.id)
      .execute()) as Array<{ uid: number | string; base: string; mdflags: string; keywords: string }>;
    return {
      length: rows.length,
      uids: rows.map((r) => Number(r.uid)),
      bases: rows.map((r) => r.base),
      mdflags: rows.map((r) => r.mdflags),
      keywords: (i) => rows[i]!.keywords,
    };
  }

  /** @internal Reconcile the index with the Maildir. Caller holds the mailbox lock. */
  async syncLocked(st: MailboxState, o: { force?: boolean; origin?: unknown } = {}): Promise<SyncResult> {
    const { root, curDir } = st.loc;
    const newDir = join(root, 'new');
    let newNames: string[] = [];
    try {
      newNames = (await fsp.readdir(newDir)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      if (!isErr(err, 'ENOENT')) throw err;
    }
    const scanStart = Date.now();
    let before = await statMtime(curDir);
    if (before === null) {
      await makeMaildir(root).catch(() => {});
      before = await statMtime(curDir);
      st.curMtime = null;
    }
    const scan = Boolean(o.force) || st.curMtime === null || !st.curClean || before !== st.curMtime;
    if (!scan && newNames.length === 0) return { added: 0, expunged: 0, flagsChanged: 0, scanned: false };

    interface Found {
      /** Where the file is now: dir + "/" + name (dir is curDir or newDir: no path string per file). */
      dir: string;
      /** Name it gets in cur/ (== basename of `from` when it is already right). */
      target: string;
      inNew: boolean;
      base: string;
      letters: string;
      /** Original name: orders files with equal mtime. */
      name: string;
      /** From stat (statMany); size -1: gone or not a file. */
      mtime: number;
      size: number;
      /** Delivery time from the name, µs (nameTimes). */
      time: number;
    }
    const found: Found[] = [];
    const expungeUids: number[] = [];
    const flagFix: Array<{ uid: number; sysflags: number; keywords: string; mdflags: string }> = [];
    const claimed = new Set<string>();
    /** Renames inside cur/ of files that are already indexed (a missing ":2,"). */
    const normalise: Array<{ from: string; to: string }> = [];
    /** Rows in the index before this sync, when the scan read them (-1: not known). */
    let indexedBefore = -1;

    if (scan) {
      const names = await fsp.readdir(curDir);
      const indexed = await this.indexedFiles(st);
      indexedBefore = indexed.length;
      /** Base name -> row in `indexed`; what is left at the end was not found in cur/. */
      const byBase = new Map<string, number>();
      for (let i = 0; i < indexed.length; i++) byBase.set(indexed.bases[i]!, i);
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const p = parseMaildirName(name);
        const letters = p.letters ?? '';
        if (claimed.has(p.base)) {
          // The same unique name twice (e.g. "x:2,S" and "x:2,RS"): give the second a name of its own.
          const base = uniqueName();
          claimed.add(base);
          found.push({ dir: curDir, target: `${base}:2,${letters}`, inNew: false, base, letters, name, mtime: 0, size: -1, time: 0 });
          continue;
        }
        claimed.add(p.base);
        const r = byBase.get(p.base);
        if (r !== undefined) {
          byBase.delete(p.base);
          if (p.letters === null) normalise.push({ from: name, to: `${p.base}:2,` });
          if (letters !== indexed.mdflags[r]) {
            flagFix.push({ uid: indexed.uids[r]!, sysflags: lettersToSysflags(letters), keywords: indexed.keywords(r), mdflags: letters });
          }
        } else {
          // With ":2," in the name, base + ":2," + letters is the name itself.
          const target = p.letters === null ? `${p.base}:2,` : name;
          found.push({ dir: curDir, target, inNew: false, base: p.base, letters, name, mtime: 0, size: -1, time: 0 });
        }
      }
      for (const r of byBase.values()) expungeUids.push(indexed.uids[r]!);
      st.curMtime = before;
      st.curClean = before !== null && scanStart - Number(before / 1000000n) > 1000;
    }

    if (newNames.length) {
      // Bases already used in cur/ (from the scan, or from the index when we did not scan).
      let taken: Set<string>;
      if (scan) taken = claimed;
      else {
        taken = new Set();
        for (const part of chunks(newNames.map((n) => parseMaildirName(n).base), INSERT_CHUNK)) {
          const hit = await this.db.selectFrom('mail_messages').select('base').where('mailbox_id', '=', st.id).where('base', 'in', part).execute();
          for (const h of hit) taken.add(h.base);
        }
      }
      for (const name of newNames) {
        const p = parseMaildirName(name);
        let base = p.base;
        if (taken.has(base)) base = uniqueName();
        taken.add(base);
        const letters = p.letters ?? '';
        found.push({ dir: newDir, target: `${base}:2,${letters}`, inNew: true, base, letters, name, mtime: 0, size: -1, time: 0 });
      }
    }

    // Order of UID assignment and RFC822.SIZE. Many files all named the Maildir way ("<secs>.M<usecs>...,S=<size>"):
    // by the delivery time in the name, the size from ",S=", and INTERNALDATE (the mtime) read when first asked
    // for, as Dovecot does: a stat per file was most of a large first scan. Otherwise stat them all: by mtime.
    const named = found.length >= LAZY_SCAN_AT && nameTimes(found);
    let items: Found[];
    if (named) {
      items = found;
      items.sort((a, b) => a.time - b.time || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } else {
      await statMany(found);
      items = found.filter((f) => f.size >= 0);
      items.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }

    // Files not yet at cur/<target>.
    const moves = items.filter((f) => f.inNew || f.target !== f.name);
    if (normalise.length || moves.length) {
      await this.ownCurChange(st, async () => {
        for (const x of normalise) {
          await fsp.rename(join(curDir, x.from), join(curDir, x.to)).catch((err) => {
            if (!isErr(err, 'ENOENT')) throw err;
          });
        }
        await mapLimit(moves, STAT_PARALLEL, async (f) => {
          try {
            await fsp.rename(`${f.dir}/${f.name}`, join(curDir, f.target));
          } catch (err) {
            if (!isErr(err, 'ENOENT')) throw err;
            f.size = -1; // vanished meanwhile
          }
        });
        await fsyncDir(curDir);
        if (moves.some((f) => f.inNew)) await fsyncDir(newDir);
      });
    }
    const adds = items.filter((f) => f.size >= 0);
    const inserts: NewRow[] = [];
    for (const f of adds) {
      let parsed: ParsedCache = {};
      if (this.opts.parse) parsed = await this.opts.parse(join(curDir, f.target)).catch(() => ({}));
      inserts.push({
        base: f.base,
        mdflags: f.letters,
        sysflags: lettersToSysflags(f.letters),
        keywords: '',
        internaldate: named ? UNKNOWN_DATE : Math.floor(f.mtime),
        size: f.size,
        envelope: parsed.envelope ?? null,
        bodystructure: parsed.bodystructure ?? null,
      });
    }
    // Flag changes from other programs: group by identical result.
    const groups = new Map<string, { uids: number[]; sysflags: number; keywords: string; mdflags: string }>();
    for (const f of flagFix) {
      const k = `${f.sysflags}\u0000${f.keywords}\u0000${f.mdflags}`;
      const g = groups.get(k);
      if (g) g.uids.push(f.uid);
      else groups.set(k, { uids: [f.uid], sysflags: f.sysflags, keywords: f.keywords, mdflags: f.mdflags });
    }
    if (!inserts.length && !expungeUids.length && !groups.size) return { added: 0, expunged: 0, flagsChanged: 0, scanned: scan };
    const c = await this.commit(st, { inserts, expungeUids, flagUpdates: [...groups.values()], wasEmpty: indexedBefore === 0 });
    const kinds = (inserts.length ? 1 : 0) + (expungeUids.length ? 1 : 0) + (groups.size ? 1 : 0);
    const kind: MailboxEventKind = kinds > 1 ? 'sync' : inserts.length ? 'append' : expungeUids.length ? 'expunge' : 'flags';
    this.emit(st.id, st.user.key, kind, c.modseq, c.uidNext, o.origin);
    return { added: inserts.length, expunged: expungeUids.length, flagsChanged: flagFix.length, scanned: scan };
  }

  /** @internal */
  emitFor(st: MailboxState, kind: MailboxEventKind, modseq: number, uidNext: number, origin?: unknown): void {
    this.emit(st.id, st.user.key, kind, modseq, uidNext, origin);
  }

  /** @internal */
  parser(): MailStoreOptions['parse'] {
    return this.opts.parse;
  }

  /** @internal */
  async quotaCheck(st: MailboxState, bytes: number): Promise<void> {
    await this.checkQuotaOf(st.user, bytes);
  }

  /** @internal */
  stateOf(m: Mailbox): Promise<MailboxState> {
    return this.state(m.id);
  }
}

/** The parse-cache columns of a setParsedMany signature (bits: 1 envelope, 2 bodystructure, 4 envelope_imap, 8 keys). */
function columnsOfSig(sig: number): string[] {
  const columns: string[] = [];
  if (sig & 1) columns.push('envelope');
  if (sig & 2) columns.push('bodystructure');
  if (sig & 4) columns.push('envelope_imap');
  if (sig & 8) columns.push(...SORT_KEY_COLUMNS);
  return columns;
}

/**
 * readSortKeys from the in-memory copy: the rows of `uids` that exist, when the copy knows every field asked for of
 * each of them; null sends the caller to the index.
 */
function keysFromCopy(recs: RecordCache, uids: readonly number[], fields: readonly SortKeyField[]): SortKeyRow[] | null {
  const out: SortKeyRow[] = [];
  let hint = 0;
  for (const uid of uids) {
    const i = recs.find(uid, hint);
    if (i < 0) continue;
    hint = i + 1;
    const keys = recs.keysOf(uid);
    if (!keys) return null;
    for (const f of fields) if (!(f in keys)) return null;
    out.push({ uid, arrival: recs.storedDateAt(i), size: recs.sizeAt(i), keys });
  }
  return out;
}

/**
 * A handle on one selectable mailbox. Cheap to create; several handles (sessions) on one mailbox share its state.
 * Methods that change the mailbox take its lock; all return after the index commit and after listeners were told.
 */
export class Mailbox {
  /** @internal */
  constructor(
    private readonly store: MailStore,
    private readonly st: MailboxState,
  ) {}

  get id(): number {
    return this.st.id;
  }
  /** Current name (follows renames). */
  get name(): string {
    return this.st.name;
  }
  get uidValidity(): number {
    return this.st.uidValidity;
  }
  get userKey(): string {
    return this.st.user.key;
  }
  /** The Maildir directory of this mailbox (tmp/new/cur inside). */
  get path(): string {
    return this.st.loc.root;
  }
  /** True once the mailbox was deleted (or its UIDVALIDITY changed): the session must stop using it. */
  get gone(): boolean {
    return this.st.deleted;
  }

  /** Bring the index up to date with the Maildir (see the file comment). Cheap when nothing changed. */
  async sync(opts: { force?: boolean; origin?: unknown } = {}): Promise<SyncResult> {
    return this.store.locked(this.st, () => this.store.syncLocked(this.st, opts));
  }

  /** UIDNEXT, HIGHESTMODSEQ, UIDVALIDITY from the index. */
  async counters(): Promise<{ uidNext: number; highestModseq: number; uidValidity: number }> {
    return this.store.mailboxCounters(this.st.id);
  }

  async status(): Promise<MailboxStatus> {
    const db = this.store.db;
    const recs = await this.store.records(this.st, false);
    if (recs) {
      const t = recs.totals(SEEN, DELETED);
      return {
        messages: t.messages,
        uidNext: recs.uidNext,
        uidValidity: this.st.uidValidity,
        unseen: t.unseen,
        size: t.bytes,
        highestModseq: recs.highestModseq,
        recent: 0,
        deleted: t.deleted,
      };
    }
    const [c, agg] = await Promise.all([
      this.store.mailboxCounters(this.st.id),
      db
        .selectFrom('mail_messages')
        .select(({ fn }) => [
          fn.countAll<number>().as('n'),
          fn.sum<number>('size').as('bytes'),
          fn.sum<number>(sql<number>`case when (sysflags & ${SEEN}) = 0 then 1 else 0 end`).as('unseen'),
          fn.sum<number>(sql<number>`case when (sysflags & ${DELETED}) <> 0 then 1 else 0 end`).as('deleted'),
        ])
        .where('mailbox_id', '=', this.st.id)
        .executeTakeFirst(),
    ]);
    return {
      messages: Number(agg?.n ?? 0),
      uidNext: c.uidNext,
      uidValidity: c.uidValidity,
      unseen: Number(agg?.unseen ?? 0),
      size: Number(agg?.bytes ?? 0),
      highestModseq: c.highestModseq,
      recent: 0,
      deleted: Number(agg?.deleted ?? 0),
    };
  }

  /** All UIDs in ascending order (4 bytes each): what SELECT needs for the sequence-number map. */
  async uids(): Promise<Uint32Array> {
    const st = this.st;
    if (st.uidList) return st.uidList;
    const gen = st.uidGen;
    const recs = await this.store.records(st, true);
    if (recs) {
      const list = recs.uidList();
      if (st.uidGen === gen) st.uidList = list;
      return list;
    }
    const rows = await this.store.db.selectFrom('mail_messages').select('uid').where('mailbox_id', '=', st.id).orderBy('uid').execute();
    const out = new Uint32Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = Number(rows[i]!.uid);
    if (st.uidGen === gen) st.uidList = out;
    return out;
  }

  /** The lowest UID without \Seen, or 0 when every message is seen (SELECT's OK [UNSEEN n]). */
  async firstUnseenUid(): Promise<number> {
    const recs = await this.store.records(this.st, false);
    if (recs) return recs.firstWithout(SEEN);
    const r = await this.store.db
      .selectFrom('mail_messages')
      .select(({ fn }) => fn.min<number>('uid').as('uid'))
      .where('mailbox_id', '=', this.st.id)
      .where(sql<boolean>`(sysflags & ${SEEN}) = 0`)
      .executeTakeFirst();
    return r?.uid == null ? 0 : Number(r.uid);
  }

  /**
   * Messages in UID order (one query per 200 UID ranges; all messages when `uids` is omitted). `changedSince`
   * keeps messages with modseq > N (FETCH CHANGEDSINCE); `afterUid`/`limit` page through a large mailbox.
   */
  async listMessages(opts: { uids?: readonly number[]; changedSince?: number; afterUid?: number; limit?: number } = {}): Promise<MessageRecord[]> {
    return this.store.queryMessages(this.st, opts);
  }

  /**
   * The in-memory copy of the rows, loaded if need be and checked current (null when the store keeps none, e.g.
   * over its budget). For tight loops over many messages (FETCH FLAGS): read it synchronously, ask again after
   * any await, since the store's commits change it in place.
   */
  async recordView(): Promise<RecordCache | null> {
    return this.store.records(this.st, true);
  }

  /** All messages in UID order as a columns snapshot (from the in-memory copy when the store keeps one). */
  async columns(): Promise<RecordColumns> {
    const recs = await this.store.records(this.st, true);
    return recs ? recs.columns() : columnsOf(await this.store.queryMessages(this.st, {}));
  }

  /** Path of the file with Maildir unique name `base` and info flags `mdflags` (as MessageRecord.path). */
  pathOf(base: string, mdflags: string): string {
    return `${this.st.loc.curDir}/${base}:2,${mdflags}`;
  }

  /** Pages through all messages (pageSize rows per query) without holding them all. */
  async *iterateMessages(opts: { pageSize?: number; uids?: readonly number[] } = {}): AsyncGenerator<MessageRecord> {
    const pageSize = opts.pageSize ?? 2000;
    let after = 0;
    for (;;) {
      const page = await this.store.queryMessages(this.st, { uids: opts.uids, afterUid: after, limit: pageSize });
      for (const m of page) yield m;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.uid;
    }
  }

  async getMessage(uid: number): Promise<MessageRecord | undefined> {
    return (await this.store.queryMessages(this.st, { uids: [uid] }))[0];
  }

  /** Everything that changed after MODSEQ `modseq` (one consistent snapshot). */
  async changesSince(modseq: number): Promise<ChangesSince> {
    const db = this.store.db;
    return db.transaction().execute(async (trx) => {
      const c = await trx.selectFrom('mail_mailboxes').select(['uidnext', 'highestmodseq']).where('id', '=', this.st.id).executeTakeFirst();
      if (!c) throw new MailStoreError('NONEXISTENT', 'mailbox was deleted');
      const rows = (await trx
        .selectFrom('mail_messages')
        .select([...MSG_COLUMNS])
        .where('mailbox_id', '=', this.st.id)
        .where('modseq', '>', modseq)
        .orderBy('uid')
        .execute()) as MsgRow[];
      const exp = await trx.selectFrom('mail_expunged').select('uid').where('mailbox_id', '=', this.st.id).where('modseq', '>', modseq).orderBy('uid').execute();
      return {
        highestModseq: Number(c.highestmodseq),
        uidNext: Number(c.uidnext),
        changed: rows.map((r) => this.store.toRecord(this.st, r)),
        expunged: exp.map((e) => Number(e.uid)),
      };
    });
  }

  /** Expunged UIDs with modseq > N (QRESYNC VANISHED (EARLIER)), optionally only within `uids`. */
  async expungedSince(modseq: number, uids?: readonly number[]): Promise<number[]> {
    const rows = await this.store.selectByUids(this.st, uids ?? 'all', async (ranges) => {
      let q = this.store.db.selectFrom('mail_expunged').select('uid').where('mailbox_id', '=', this.st.id).where('modseq', '>', modseq);
      if (ranges) q = q.where((eb) => eb.or(ranges.map(([a, b]) => eb.and([eb('uid', '>=', a), eb('uid', '<=', b)]))));
      return q.orderBy('uid').execute();
    });
    return rows.map((r) => Number(r.uid));
  }

  /** Path of a message file, or undefined when the UID is not (or no longer) in the mailbox. */
  async messagePath(uid: number): Promise<string | undefined> {
    const m = await this.getMessage(uid);
    if (!m) return undefined;
    try {
      await fsp.access(m.path);
      return m.path;
    } catch {
      // Renamed or removed by another program: heal the index, then look again.
      await this.sync({ force: true });
      return (await this.getMessage(uid))?.path;
    }
  }

  /** The whole message. undefined when the UID does not exist. */
  async readMessage(uid: number): Promise<Buffer | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const m = await this.getMessage(uid);
      if (!m) return undefined;
      try {
        return await fsp.readFile(m.path);
      } catch (err) {
        if (!isErr(err, 'ENOENT') || attempt > 0) throw err;
        await this.sync({ force: true });
      }
    }
    return undefined;
  }

  /**
   * The whole message of a record the caller already holds (no index query). Falls back to readMessage (which
   * heals the index) when the file was renamed or removed by another program. undefined when it is gone.
   */
  async readRecord(rec: MessageRecord): Promise<Buffer | undefined> {
    try {
      return await readKnownSize(rec.path, rec.size);
    } catch (err) {
      if (!isErr(err, 'ENOENT')) throw err;
    }
    return this.readMessage(rec.uid);
  }

  /**
   * readRecord without a thread-pool round trip, for bulk loops (FETCH/SEARCH over many messages): a blocking
   * open/read/close, which for a file in the page cache costs a few microseconds where the asynchronous form cost
   * ~5x more CPU (measured). Callers must give the event loop a turn every few milliseconds. Returns undefined
   * when the file is not where the record says (use readRecord then: it heals the index) or is large (over
   * SYNC_READ_MAX: read those asynchronously).
   */
  readRecordSync(rec: MessageRecord): Buffer | undefined {
    if (rec.size > SYNC_READ_MAX) return undefined;
    const buf = Buffer.allocUnsafe(Math.max(0, rec.size) + 1);
    const n = this.readRecordSyncInto(rec, buf, 0);
    return n < 0 ? undefined : buf.subarray(0, n);
  }

  /**
   * readRecordSync into the caller's buffer at `at` (room for rec.size + 1 bytes needed there), so a caller can put
   * its own bytes around the message without another copy (POP3 RETR). The bytes read, or -1 where readRecordSync
   * returns undefined (file not where the record says, larger than recorded, or over SYNC_READ_MAX).
   */
  readRecordSyncInto(rec: MessageRecord, buf: Buffer, at: number): number {
    return this.readPathSyncInto(rec.path, rec.size, buf, at);
  }

  /** readRecordSyncInto for a file given by its path and recorded size (a columns snapshot's row). */
  readPathSyncInto(path: string, recordedSize: number, buf: Buffer, at: number): number {
    const size = Math.max(0, recordedSize);
    if (size > SYNC_READ_MAX || buf.length < at + size + 1) return -1;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if (isErr(err, 'ENOENT')) return -1;
      throw err;
    }
    try {
      const room = size + 1;
      let n = 0;
      for (;;) {
        const want = room - n;
        const got = readSync(fd, buf, at + n, want, n);
        n += got;
        if (n === room) return -1; // larger than recorded: let readRecord handle it
        // A short read of a regular file is its end (no second read() just to see 0 bytes).
        if (got < want) break;
      }
      return n;
    } finally {
      closeSync(fd);
    }
  }

  /** readHeader without a thread-pool round trip (see readRecordSync); undefined = use readHeader. */
  readHeaderSync(rec: MessageRecord): Buffer | undefined {
    return readHeaderBlockSync(rec.path, rec.size, SYNC_READ_MAX);
  }

  /**
   * The header block of a message (up to and including the blank line; the whole file when there is none),
   * reading only the first bytes of the file in the usual case. Same fallback as readRecord.
   */
  async readHeader(rec: MessageRecord): Promise<Buffer | undefined> {
    let fh: import('node:fs/promises').FileHandle;
    try {
      fh = await fsp.open(rec.path, 'r');
    } catch (err) {
      if (!isErr(err, 'ENOENT')) throw err;
      const all = await this.readMessage(rec.uid);
      if (!all) return undefined;
      const end = headerEnd(all, 0, all.length);
      return end < 0 ? all : all.subarray(0, end);
    }
    try {
      let buf = Buffer.allocUnsafe(Math.min(HEAD_READ, Math.max(rec.size, 0) + 1) || 1);
      let len = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
        if (bytesRead === 0) return buf.subarray(0, len);
        const from = Math.max(0, len - 2);
        len += bytesRead;
        const end = headerEnd(buf, from, len);
        if (end >= 0) return buf.subarray(0, end);
        if (len === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 4);
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** A stream of the message (or of bytes start..end inclusive, as fs.createReadStream). */
  async openMessage(uid: number, range: { start?: number; end?: number } = {}): Promise<ReadStream | undefined> {
    const path = await this.messagePath(uid);
    if (!path) return undefined;
    const fh = await fsp.open(path, 'r');
    return createReadStream('', { fd: fh, start: range.start, end: range.end });
  }

  /**
   * Cached ENVELOPE/BODYSTRUCTURE JSON and ENVELOPE wire form per UID (null where not cached yet; each column is
   * filled on its own: a FETCH ENVELOPE caches no BODYSTRUCTURE).
   */
  async getParsed(
    uids: readonly number[],
    fields: readonly ParsedField[] = ['envelope', 'bodystructure', 'envelope_imap'],
  ): Promise<Map<number, ParsedRow>> {
    const rows = await this.store.selectByUids(this.st, uids, async (ranges) =>
      this.store.db
        .selectFrom('mail_messages')
        .select(['uid', ...fields])
        .where('mailbox_id', '=', this.st.id)
        .where((eb) => eb.or(ranges!.map(([a, b]) => eb.and([eb('uid', '>=', a), eb('uid', '<=', b)]))))
        .execute(),
    );
    type Row = { uid: number | string; envelope?: string | null; bodystructure?: string | null; envelope_imap?: string | null };
    return new Map(
      (rows as Row[]).map((r) => [Number(r.uid), { envelope: r.envelope ?? null, bodystructure: r.bodystructure ?? null, envelopeImap: r.envelope_imap ?? null }]),
    );
  }

  /** Cached ENVELOPE JSON per UID (only messages that have one). */
  async getEnvelopes(uids: readonly number[]): Promise<Map<number, string>> {
    const rows = await this.store.selectByUids(this.st, uids, async (ranges) =>
      this.store.db
        .selectFrom('mail_messages')
        .select(['uid', 'envelope'])
        .where('mailbox_id', '=', this.st.id)
        .where('envelope', 'is not', null)
        .where((eb) => eb.or(ranges!.map(([a, b]) => eb.and([eb('uid', '>=', a), eb('uid', '<=', b)]))))
        .execute(),
    );
    const out = new Map<number, string>();
    for (const r of rows) if (r.envelope) out.set(Number(r.uid), r.envelope);
    return out;
  }

  /** Store parse results for a message (no MODSEQ change: a cache, not a change of the message). */
  async setParsed(uid: number, p: ParsedCache): Promise<void> {
    const set: { envelope?: string | null; bodystructure?: string | null } & Partial<SortKeyColumns> = {};
    if (p.envelope !== undefined) set.envelope = p.envelope;
    if (p.bodystructure !== undefined) set.bodystructure = p.bodystructure;
    if (p.keys !== undefined) Object.assign(set, keyColumns(p.keys));
    if (!Object.keys(set).length) return;
    await this.store.db.updateTable('mail_messages').set(set).where('mailbox_id', '=', this.st.id).where('uid', '=', uid).execute();
  }

  /**
   * Store parse results (and SORT/THREAD/SEARCH keys) for many messages in one transaction (updateRows in
   * ./sort-keys.ts: a prepared UPDATE per row on SQLite, UPDATE ... CASE per 100 rows on MySQL/PostgreSQL). A cache:
   * no MODSEQ change; rows that vanished meanwhile are simply not updated.
   */
  async setParsedMany(entries: ReadonlyArray<readonly [number, ParsedEntry]>): Promise<void> {
    if (!entries.length) return;
    const id = this.st.id;
    // Entries may fill some columns only (FETCH ENVELOPE: no BODYSTRUCTURE): one updateRows per set of columns.
    const groups = new Map<number, { columns: string[]; rows: Array<readonly [number, unknown[]]> }>();
    for (const [uid, p] of entries) {
      // The columns set (a bit each) and their values, in this order; no closure or spread per entry (100,000
      // entries in a first FETCH ENVELOPE).
      const sig = (p.envelope !== undefined ? 1 : 0) | (p.bodystructure !== undefined ? 2 : 0) | (p.envelopeImap !== undefined ? 4 : 0) | (p.keys ? 8 : 0);
      if (!sig) continue;
      const values: unknown[] = [];
      if (sig & 1) values.push(p.envelope);
      if (sig & 2) values.push(p.bodystructure);
      // A wire form a backend cannot hold (NUL, lone surrogates, very long) stays NULL: formatted from the JSON.
      if (sig & 4) values.push(storable(p.envelopeImap!) ? p.envelopeImap : null);
      if (sig & 8) pushKeyValues(values, p.keys!);
      let g = groups.get(sig);
      if (!g) groups.set(sig, (g = { columns: columnsOfSig(sig), rows: [] }));
      g.rows.push([uid, values]);
    }
    await this.store.db.transaction().execute(async (trx) => {
      for (const g of groups.values()) await updateRows(trx, id, g.columns, g.rows);
    });
    this.noteKeys(entries.map(([uid, p]) => [uid, p.keys] as const));
  }

  /**
   * The SORT/THREAD/SEARCH keys `fields` of the given messages, in UID order, with INTERNALDATE and size
   * (./sort-keys.ts; keys: null where not computed yet). Vanished messages are left out.
   */
  async readSortKeys(uids: readonly number[], fields: readonly SortKeyField[], o: { arrival?: boolean } = {}): Promise<SortKeyRow[]> {
    const recs = await this.store.records(this.st, false);
    let rows = recs ? keysFromCopy(recs, uids, fields) : null;
    if (!rows) {
      rows = await this.store.selectByUids(this.st, uids, (ranges) => readSortKeys(this.store.db, this.st.id, ranges!, fields));
      // Kept in the in-memory copy: SORT, THREAD and SEARCH SUBJECT then need no query for them.
      if (recs) for (const r of rows) if (r.keys) recs.noteKeys(r.uid, r.keys);
    }
    // INTERNALDATEs not read from their files yet (a large first scan): from the records, which read them; only
    // when asked for (arrival: false leaves UNKNOWN_DATE, e.g. for SORT SUBJECT).
    const unknown = o.arrival === false ? [] : rows.filter((r) => r.arrival === UNKNOWN_DATE);
    if (unknown.length) {
      const recs = new Map((await this.store.queryMessages(this.st, { uids: unknown.map((r) => r.uid) })).map((r) => [r.uid, r]));
      for (const r of unknown) r.arrival = recs.get(r.uid)?.internalDate ?? r.arrival;
    }
    return rows;
  }

  /**
   * SORT's key values straight from the in-memory copy: one array per column, in `uids` order, with no object per
   * message (on 100,000 messages those objects and their collection were about half of a SORT). null when there is
   * no copy, a message is not in it, a key of one is not known there, or an INTERNALDATE was not read from its file
   * yet: readSortKeys then does the work.
   */
  async sortColumnsFromCopy(uids: readonly number[], columns: ReadonlyArray<SortKeyField | 'arrival' | 'size'>): Promise<Array<Array<number | string>> | null> {
    const recs = await this.store.records(this.st, false);
    if (!recs) return null;
    const out = columns.map(() => new Array<number | string>(uids.length));
    let hint = 0;
    for (let j = 0; j < uids.length; j++) {
      const uid = uids[j]!;
      const i = recs.find(uid, hint);
      if (i < 0) return null;
      hint = i + 1;
      let keys: Partial<SortKeys> | undefined;
      for (let c = 0; c < columns.length; c++) {
        const col = columns[c]!;
        let v: number | string;
        if (col === 'arrival') {
          v = recs.storedDateAt(i);
          if (v === UNKNOWN_DATE) return null;
        } else if (col === 'size') v = recs.sizeAt(i);
        else {
          keys ??= recs.keysOf(uid);
          if (!keys || !(col in keys)) return null;
          v = keys[col] as number | string;
        }
        out[c]![j] = v;
      }
    }
    return out;
  }

  /** Like readSortKeys, as a map of the messages that have keys. */
  async getSortKeys(uids: readonly number[], fields: readonly SortKeyField[]): Promise<Map<number, Partial<SortKeys>>> {
    const out = new Map<number, Partial<SortKeys>>();
    for (const r of await this.readSortKeys(uids, fields, { arrival: false })) if (r.keys) out.set(r.uid, r.keys);
    return out;
  }

  /** Store computed SORT/THREAD/SEARCH keys (a cache: no MODSEQ change). */
  async setSortKeys(entries: ReadonlyArray<readonly [number, SortKeys]>): Promise<void> {
    if (!entries.length) return;
    await this.store.db.transaction().execute((trx) => writeSortKeys(trx, this.st.id, entries));
    this.noteKeys(entries);
  }

  /** Keys just stored go into the in-memory copy too (those the index keeps: storable ones). */
  private noteKeys(entries: ReadonlyArray<readonly [number, SortKeys | undefined]>): void {
    const recs = this.st.recs;
    if (!recs) return;
    for (const [uid, keys] of entries) if (keys && keyColumns(keys).sort_date !== null) recs.noteKeys(uid, keys);
  }

  /**
   * APPEND: streams `input` into tmp/ (never held whole in memory), fsyncs it, checks the quota, sets the file's
   * mtime to INTERNALDATE, renames it into cur/ with the flag letters, fsyncs cur/, then commits the row.
   * Returns after the commit: OK may be sent. Throws OVERQUOTA, BADFLAG, NONEXISTENT; on error nothing remains.
   */
  async append(input: AppendInput, opts: { flags?: Iterable<string>; internalDate?: Date; origin?: unknown } = {}): Promise<AppendResult> {
    const fl = wrapFlags(opts.flags ?? []);
    const date = opts.internalDate && !Number.isNaN(opts.internalDate.getTime()) ? opts.internalDate : new Date();
    if (this.st.deleted) throw new MailStoreError('NONEXISTENT', `mailbox ${this.st.name} was deleted`);
    const file = await MaildirTmpFile.create(this.st.loc.root).catch(async (err) => {
      if (!isErr(err, 'ENOENT')) throw err;
      await makeMaildir(this.st.loc.root);
      return MaildirTmpFile.create(this.st.loc.root);
    });
    try {
      if (typeof input === 'string') await file.write(Buffer.from(input, 'utf8'));
      else if (input instanceof Uint8Array) await file.write(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
      else {
        for await (const chunk of input) await file.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      }
      await file.finish();
      await this.store.quotaCheck(this.st, file.size);
      await fsp.utimes(file.tmpPath, date, date);
    } catch (err) {
      await file.abort();
      throw err;
    }
    const base = file.finalName;
    const mdflags = sysflagsToLetters(fl.sysflags);
    const curName = `${base}:2,${mdflags}`;
    let parsed: ParsedCache = {};
    try {
      return await this.store.locked(this.st, async () => {
        const dest = join(this.st.loc.curDir, curName);
        await this.store.ownCurChange(this.st, async () => {
          await fsp.rename(file.tmpPath, dest);
          await fsyncDir(this.st.loc.curDir);
        });
        try {
          const parse = this.store.parser();
          if (parse) parsed = await parse(dest).catch(() => ({}));
          const c = await this.store.commit(this.st, {
            inserts: [
              {
                base,
                mdflags,
                sysflags: fl.sysflags,
                keywords: keywordsToColumn(fl.keywords),
                internaldate: date.getTime(),
                size: file.size,
                envelope: parsed.envelope ?? null,
                bodystructure: parsed.bodystructure ?? null,
                ...keyColumns(parsed.keys),
              },
            ],
          });
          this.store.emitFor(this.st, 'append', c.modseq, c.uidNext, opts.origin);
          return { uid: c.firstUid, uidValidity: this.st.uidValidity, modseq: c.modseq };
        } catch (err) {
          await this.store.ownCurChange(this.st, () => fsp.unlink(dest)).catch(() => {});
          throw err;
        }
      });
    } catch (err) {
      await fsp.unlink(file.tmpPath).catch(() => {});
      throw err;
    }
  }

  /**
   * MULTIAPPEND / CATENATE (RFC 3502, RFC 4469): an empty file in this mailbox's tmp/ to be filled by the caller and
   * committed with appendStaged (or removed with its abort()).
   */
  async stageFile(): Promise<MaildirTmpFile> {
    if (this.st.deleted) throw new MailStoreError('NONEXISTENT', `mailbox ${this.st.name} was deleted`);
    return MaildirTmpFile.create(this.st.loc.root).catch(async (err) => {
      if (!isErr(err, 'ENOENT')) throw err;
      await makeMaildir(this.st.loc.root);
      return MaildirTmpFile.create(this.st.loc.root);
    });
  }

  /**
   * Commit staged files as new messages, all or none (RFC 3502 §6.3.11): each file fsynced and given its
   * INTERNALDATE, the quota checked for the total, then under the mailbox lock every file renamed into cur/, cur/
   * fsynced, and one index transaction (consecutive UIDs, one MODSEQ). On any error nothing remains: renamed files
   * are unlinked and the tmp files removed. Throws OVERQUOTA, BADFLAG, NONEXISTENT.
   */
  async appendStaged(
    items: ReadonlyArray<{ file: MaildirTmpFile; flags?: Iterable<string>; internalDate?: Date }>,
    opts: { origin?: unknown } = {},
  ): Promise<AppendResult[]> {
    const renamed: string[] = [];
    try {
      const prepared = items.map((it) => {
        const fl = wrapFlags(it.flags ?? []);
        const date = it.internalDate && !Number.isNaN(it.internalDate.getTime()) ? it.internalDate : new Date();
        return { file: it.file, fl, date };
      });
      if (this.st.deleted) throw new MailStoreError('NONEXISTENT', `mailbox ${this.st.name} was deleted`);
      let total = 0;
      for (const p of prepared) {
        await p.file.finish();
        await fsp.utimes(p.file.tmpPath, p.date, p.date);
        total += p.file.size;
      }
      await this.store.quotaCheck(this.st, total);
      return await this.store.locked(this.st, async () => {
        try {
          const rows: NewRow[] = [];
          await this.store.ownCurChange(this.st, async () => {
            for (const p of prepared) {
              const base = p.file.finalName;
              const mdflags = sysflagsToLetters(p.fl.sysflags);
              const dest = join(this.st.loc.curDir, `${base}:2,${mdflags}`);
              await fsp.rename(p.file.tmpPath, dest);
              renamed.push(dest);
              rows.push({
                base, mdflags, sysflags: p.fl.sysflags, keywords: keywordsToColumn(p.fl.keywords), internaldate: p.date.getTime(),
                size: p.file.size, envelope: null, bodystructure: null,
              });
            }
            await fsyncDir(this.st.loc.curDir);
          });
          const parse = this.store.parser();
          if (parse) {
            for (let i = 0; i < rows.length; i++) {
              const parsed: ParsedCache = await parse(renamed[i]!).catch(() => ({}));
              rows[i]!.envelope = parsed.envelope ?? null;
              rows[i]!.bodystructure = parsed.bodystructure ?? null;
              Object.assign(rows[i]!, keyColumns(parsed.keys));
            }
          }
          const c = await this.store.commit(this.st, { inserts: rows });
          this.store.emitFor(this.st, 'append', c.modseq, c.uidNext, opts.origin);
          return rows.map((_, i) => ({ uid: c.firstUid + i, uidValidity: this.st.uidValidity, modseq: c.modseq }));
        } catch (err) {
          await this.store.ownCurChange(this.st, () => Promise.all(renamed.map((d) => fsp.unlink(d).catch(() => {})))).catch(() => {});
          throw err;
        }
      });
    } catch (err) {
      await Promise.all(items.map((it) => it.file.abort().catch(() => {})));
      throw err;
    }
  }

  /**
   * STORE: change flags of `uids` (mode add/remove/replace). With `unchangedSince` (CONDSTORE), messages whose
   * modseq is greater are left alone and reported in `modified`. Files are renamed to the new ":2," letters and the
   * index is updated in one transaction with one new MODSEQ. UIDs that do not exist are ignored.
   */
  async setFlags(
    uids: readonly number[],
    mode: 'add' | 'remove' | 'replace',
    flags: Iterable<string>,
    opts: { unchangedSince?: number; origin?: unknown } = {},
  ): Promise<SetFlagsResult> {
    const change = wrapFlags(flags);
    return this.store.locked(this.st, async () => {
      const msgs = await this.store.queryMessages(this.st, { uids });
      const res: SetFlagsResult = { updated: [], unchanged: [], modified: [], highestModseq: 0 };
      const todo: Array<{ m: MessageRecord; next: FlagSet; mdflags: string }> = [];
      for (const m of msgs) {
        if (opts.unchangedSince !== undefined && m.modseq > opts.unchangedSince) {
          res.modified.push(m.uid);
          continue;
        }
        const cur: FlagSet = { sysflags: m.sysflags, keywords: [...m.keywords] };
        let next: FlagSet;
        try {
          next = applyFlags(cur, mode, change);
        } catch (err) {
          if (err instanceof FlagError) throw new MailStoreError('BADFLAG', err.message);
          throw err;
        }
        if (sameFlags(cur, next)) {
          res.unchanged.push({ uid: m.uid, flags: m.flags, modseq: m.modseq });
          continue;
        }
        todo.push({ m, next, mdflags: sysflagsToLetters(next.sysflags, m.mdflags) });
      }
      if (todo.length) {
        const renamed: typeof todo = [];
        await this.store.ownCurChange(this.st, async () => {
          // Renames run synchronously in slices (a rename is microseconds of kernel work; a thread-pool round trip
          // per file costs far more), yielding to the event loop between slices so other sessions keep going.
          let listing: string[] | null = null;
          for (let i = 0; i < todo.length; i += RENAME_SLICE) {
            if (i) await new Promise((r) => setImmediate(r));
            const curDir = this.st.loc.curDir;
            for (const t of todo.slice(i, i + RENAME_SLICE)) {
              if (t.mdflags === t.m.mdflags) {
                renamed.push(t);
                continue;
              }
              try {
                renameSync(join(curDir, t.m.fileName), join(curDir, `${t.m.base}:2,${t.mdflags}`));
                renamed.push(t);
              } catch (err) {
                if (!isErr(err, 'ENOENT')) throw err;
                // Another program renamed it: find it by base name and keep its foreign letters.
                listing ??= readdirSync(curDir);
                const actual = listing.find((n) => parseMaildirName(n).base === t.m.base);
                if (!actual) continue; // gone: the next sync expunges it
                t.mdflags = sysflagsToLetters(t.next.sysflags, parseMaildirName(actual).letters ?? '');
                renameSync(join(curDir, actual), join(curDir, `${t.m.base}:2,${t.mdflags}`));
                renamed.push(t);
              }
            }
          }
        });
        const groups = new Map<string, { uids: number[]; sysflags: number; keywords: string; mdflags: string }>();
        for (const t of renamed) {
          const kw = keywordsToColumn(t.next.keywords);
          const k = `${t.next.sysflags}\u0000${kw}\u0000${t.mdflags}`;
          const g = groups.get(k);
          if (g) g.uids.push(t.m.uid);
          else groups.set(k, { uids: [t.m.uid], sysflags: t.next.sysflags, keywords: kw, mdflags: t.mdflags });
        }
        if (groups.size) {
          const c = await this.store.commit(this.st, { flagUpdates: [...groups.values()] });
          for (const t of renamed) res.updated.push({ uid: t.m.uid, flags: flagsToList(t.next.sysflags, t.next.keywords), modseq: c.modseq });
          res.updated.sort((a, b) => a.uid - b.uid);
          this.store.emitFor(this.st, 'flags', c.modseq, c.uidNext, opts.origin);
        }
      }
      res.highestModseq = (await this.store.mailboxCounters(this.st.id)).highestModseq;
      return res;
    });
  }

  /**
   * EXPUNGE / UID EXPUNGE / CLOSE: removes the messages flagged \Deleted (only those among `uids` when given).
   * Files are unlinked first (so a crash cannot resurrect them), then rows are removed and the UIDs recorded with a
   * new MODSEQ. Returns the expunged UIDs, ascending.
   */
  async expunge(opts: { uids?: readonly number[]; origin?: unknown } = {}): Promise<number[]> {
    return this.store.locked(this.st, async () => {
      const msgs = (await this.store.queryMessages(this.st, { uids: opts.uids })).filter((m) => m.sysflags & DELETED);
      return this.removeLocked(msgs, 'expunge', opts.origin);
    });
  }

  private async removeLocked(msgs: MessageRecord[], kind: MailboxEventKind, origin: unknown): Promise<number[]> {
    if (!msgs.length) return [];
    await this.store.ownCurChange(this.st, async () => {
      await mapLimit(msgs, STAT_PARALLEL, async (m) => {
        await fsp.unlink(m.path).catch(async (err) => {
          if (!isErr(err, 'ENOENT')) throw err;
          // Renamed by another program? Remove whatever carries its base name.
          const names = await fsp.readdir(this.st.loc.curDir);
          for (const n of names) if (parseMaildirName(n).base === m.base) await fsp.unlink(join(this.st.loc.curDir, n)).catch(() => {});
        });
      });
      await fsyncDir(this.st.loc.curDir);
    });
    const uids = msgs.map((m) => m.uid);
    const c = await this.store.commit(this.st, { expungeUids: uids });
    this.store.emitFor(this.st, kind, c.modseq, c.uidNext, origin);
    return uids;
  }

  /**
   * COPY (UIDPLUS COPYUID): hard-links the files into `dest` (new unique names; flags, keywords, INTERNALDATE and
   * cached parses kept) and indexes them with new UIDs. Same mailbox is allowed. Quota is checked.
   */
  async copyTo(dest: Mailbox, uids: readonly number[], opts: { origin?: unknown } = {}): Promise<CopyResult> {
    return this.transfer(dest, uids, false, opts.origin);
  }

  /**
   * MOVE (RFC 6851): copy, then remove from this mailbox (unlinks, expunge records). A crash in between leaves the
   * message in both mailboxes, never in neither. Returns the COPYUID mapping; the source UIDs are expunged.
   */
  async moveTo(dest: Mailbox, uids: readonly number[], opts: { origin?: unknown } = {}): Promise<CopyResult> {
    return this.transfer(dest, uids, true, opts.origin);
  }

  private async transfer(dest: Mailbox, uids: readonly number[], move: boolean, origin: unknown): Promise<CopyResult> {
    const dst = await this.store.stateOf(dest);
    return this.store.lockedMany([this.st, dst], async () => {
      const msgs = await this.store.queryMessages(this.st, { uids });
      if (!msgs.length) return { uidValidity: dst.uidValidity, mapping: [] };
      if (!move || dst.user.key !== this.st.user.key) await this.store.quotaCheck(dst, msgs.reduce((a, m) => a + m.size, 0));
      const parsed = await this.getParsed(msgs.map((m) => m.uid));
      const keys = await this.getSortKeys(msgs.map((m) => m.uid), SORT_KEY_FIELDS);
      const created: string[] = [];
      let committed = false;
      const rows: NewRow[] = [];
      const srcUids: number[] = [];
      const copied: MessageRecord[] = [];
      try {
        await this.store.ownCurChange(dst, async () => {
          await makeMaildir(dst.loc.root);
          for (const m of msgs) {
            const base = `${uniqueName()},S=${m.size}`;
            const to = join(dst.loc.curDir, `${base}:2,${m.mdflags}`);
            try {
              await fsp.link(m.path, to);
            } catch (err) {
              if (isErr(err, 'ENOENT')) continue; // vanished: the next sync expunges it here
              if (!isErr(err, 'EXDEV') && !isErr(err, 'EPERM')) throw err;
              const tmp = join(dst.loc.root, 'tmp', base);
              await fsp.copyFile(m.path, tmp);
              const fh = await fsp.open(tmp, 'r+');
              await fh.sync();
              await fh.close();
              await fsp.rename(tmp, to);
            }
            created.push(to);
            const p = parsed.get(m.uid);
            rows.push({
              base,
              mdflags: m.mdflags,
              sysflags: m.sysflags,
              keywords: keywordsToColumn(m.keywords),
              internaldate: m.internalDate,
              size: m.size,
              envelope: p?.envelope ?? null,
              bodystructure: p?.bodystructure ?? null,
              envelope_imap: p?.envelopeImap ?? null,
              ...keyColumns(keys.get(m.uid) as SortKeys | undefined),
            });
            srcUids.push(m.uid);
            copied.push(m);
          }
          await fsyncDir(dst.loc.curDir);
        });
        if (!rows.length) return { uidValidity: dst.uidValidity, mapping: [] };
        const c = await this.store.commit(dst, { inserts: rows });
        committed = true;
        this.store.emitFor(dst, 'append', c.modseq, c.uidNext, origin);
        const mapping = srcUids.map((u, i): [number, number] => [u, c.firstUid + i]);
        if (move) await this.removeLocked(copied, 'expunge', origin);
        return { uidValidity: dst.uidValidity, mapping };
      } catch (err) {
        // Nothing committed in dest: remove the links. If the commit happened, the error came from the source side
        // (move) and a duplicate is the safe outcome.
        if (!committed) await Promise.all(created.map((p) => fsp.unlink(p).catch(() => {})));
        throw err;
      }
    });
  }
}
