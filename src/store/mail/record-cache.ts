/**
 * An in-memory copy of a mailbox's message rows (what Dovecot keeps in its mapped dovecot.index): UID, MODSEQ,
 * flags, INTERNALDATE, size and file name per message, in columns (typed arrays and interned strings, ~120 bytes a
 * message), so FETCH FLAGS, SEARCH on flags/sizes/dates, STORE, SELECT, STATUS and POP3's snapshot of a 100,000-
 * message mailbox need no query per page and no row objects.
 *
 * The copy is exact or absent. It records the mailbox's HIGHESTMODSEQ and UIDNEXT at the time it was made; every
 * committed change bumps HIGHESTMODSEQ by one (store.ts invariants), so the store applies each of its own commits
 * to the copy (when the copy was current just before) and a reader that finds other counters in the database (a
 * change from another process, a commit in flight) drops it and asks SQL.
 */
import { MessageRecord, UNKNOWN_DATE, dateOfFile, type RecordLocation } from './record.js';
import { keywordsFromColumn } from './flags.js';
import type { SortKeys } from './sort-keys.js';

const EMPTY: readonly string[] = Object.freeze([]);

/** `to` (larger) with the contents of `from` at its start. */
function grown<T extends Uint32Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

export interface CacheRow {
  uid: number | string;
  modseq: number | string;
  sysflags: number | string;
  keywords: string;
  internaldate: number | string;
  size: number | string;
  base: string;
  mdflags: string;
}

/** What a commit changed (store.ts ChangeSet, with the values it was committed with). */
export interface CommittedChange {
  inserts?: ReadonlyArray<{ base: string; mdflags: string; sysflags: number; keywords: string; internaldate: number; size: number }>;
  expungeUids?: readonly number[];
  flagUpdates?: ReadonlyArray<{ uids: readonly number[]; sysflags: number; keywords: string; mdflags: string }>;
}

/**
 * The rows of a mailbox in columns, as a snapshot that later commits do not change (POP3's maildrop): no object per
 * message, so a login's snapshot of 10,000 messages leaves a few arrays, not 10,000 records, for the collector.
 */
export interface RecordColumns {
  readonly length: number;
  readonly uids: Uint32Array;
  readonly sysflags: Int32Array;
  /** RFC822.SIZE (the stored size). */
  readonly sizes: Float64Array;
  /** Maildir unique names (shared with the copy: strings are immutable). */
  readonly bases: readonly string[];
  readonly mdflags: readonly string[];
}

/** RecordColumns of records from the SQL path (when the store keeps no copy). */
export function columnsOf(recs: readonly MessageRecord[]): RecordColumns {
  const n = recs.length;
  const c = { length: n, uids: new Uint32Array(n), sysflags: new Int32Array(n), sizes: new Float64Array(n), bases: new Array<string>(n), mdflags: new Array<string>(n) };
  for (let i = 0; i < n; i++) {
    const r = recs[i]!;
    c.uids[i] = r.uid;
    c.sysflags[i] = r.sysflags;
    c.sizes[i] = r.size;
    c.bases[i] = r.base;
    c.mdflags[i] = r.mdflags;
  }
  return c;
}

export interface RecordFilter {
  uids?: readonly number[];
  changedSince?: number;
  afterUid?: number;
  limit?: number;
}

export class RecordCache {
  length = 0;
  private uids: Uint32Array;
  private modseqs: Float64Array;
  private sysflags: Int32Array;
  private dates: Float64Array;
  private sizes: Float64Array;
  private bases: string[];
  private mdflags: string[];
  private keywords: Array<readonly string[]>;
  private readonly interned = new Map<string, string>();
  /**
   * SORT/THREAD/SEARCH keys known for messages (as the index holds them: sort-keys.ts), filled as they are written
   * or read; a message's keys never change, so they stay until its row goes.
   */
  private readonly sortKeys = new Map<number, Partial<SortKeys>>();

  constructor(
    /** The mailbox's HIGHESTMODSEQ and UIDNEXT that this copy reflects. */
    public highestModseq: number,
    public uidNext: number,
    capacity: number,
    private readonly where: RecordLocation,
  ) {
    const n = Math.max(16, capacity);
    this.uids = new Uint32Array(n);
    this.modseqs = new Float64Array(n);
    this.sysflags = new Int32Array(n);
    this.dates = new Float64Array(n);
    this.sizes = new Float64Array(n);
    this.bases = new Array<string>(n);
    this.mdflags = new Array<string>(n);
    this.keywords = new Array<readonly string[]>(n);
  }

  /** Rows in ascending UID order. */
  static fromRows(rows: readonly CacheRow[], highestModseq: number, uidNext: number, where: RecordLocation): RecordCache {
    const c = new RecordCache(highestModseq, uidNext, rows.length, where);
    c.addRows(rows);
    return c;
  }

  /** Append rows (ascending UIDs, all above the last one held): loading the copy page by page. */
  addRows(rows: readonly CacheRow[]): void {
    for (const r of rows) {
      this.push(Number(r.uid), Number(r.modseq), Number(r.sysflags), r.keywords, Number(r.internaldate), Number(r.size), r.base, r.mdflags);
    }
  }

  /** Approximate bytes held (for the store's memory budget). */
  get bytes(): number {
    return this.uids.length * 64 + this.length * 64 + this.sortKeys.size * 256;
  }

  private intern(s: string): string {
    let v = this.interned.get(s);
    if (v === undefined) {
      if (this.interned.size < 4096) this.interned.set(s, s);
      v = s;
    }
    return v;
  }

  private grow(): void {
    const n = this.uids.length * 2;
    this.uids = grown(this.uids, new Uint32Array(n));
    this.modseqs = grown(this.modseqs, new Float64Array(n));
    this.sysflags = grown(this.sysflags, new Int32Array(n));
    this.dates = grown(this.dates, new Float64Array(n));
    this.sizes = grown(this.sizes, new Float64Array(n));
  }

  private push(uid: number, modseq: number, sysflags: number, keywords: string, date: number, size: number, base: string, mdflags: string): void {
    if (this.length === this.uids.length) this.grow();
    const i = this.length++;
    this.uids[i] = uid;
    this.modseqs[i] = modseq;
    this.sysflags[i] = sysflags;
    this.dates[i] = date;
    this.sizes[i] = size;
    this.bases[i] = base;
    this.mdflags[i] = this.intern(mdflags);
    this.keywords[i] = keywords ? Object.freeze(keywordsFromColumn(keywords)) : EMPTY;
  }

  /** The keys known for `uid` (not to be changed by the caller). */
  keysOf(uid: number): Partial<SortKeys> | undefined {
    return this.sortKeys.get(uid);
  }

  /** Keys stored in or read from the index for `uid`, merged with those known. */
  noteKeys(uid: number, keys: Partial<SortKeys>): void {
    const have = this.sortKeys.get(uid);
    this.sortKeys.set(uid, have ? { ...have, ...keys } : keys);
  }

  /** Index of `uid`, or -1. */
  indexOf(uid: number): number {
    let lo = 0;
    let hi = this.length - 1;
    const u = this.uids;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = u[mid]!;
      if (v === uid) return mid;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** First index whose UID is >= uid. */
  private lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.length;
    const u = this.uids;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (u[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Index of `uid` when it is at `hint` (the slot after the previous hit: walks over consecutive UIDs cost no
   * search), else by binary search; -1 when absent.
   */
  find(uid: number, hint: number): number {
    if (hint < this.length && this.uids[hint] === uid) return hint;
    return this.indexOf(uid);
  }

  // Column reads by index (0 <= i < length). The copy changes in place at the store's commits: use an index only
  // in the same synchronous stretch of code that found it.
  uidAt(i: number): number {
    return this.uids[i]!;
  }
  modseqAt(i: number): number {
    return this.modseqs[i]!;
  }
  sysflagsAt(i: number): number {
    return this.sysflags[i]!;
  }
  keywordsAt(i: number): readonly string[] {
    return this.keywords[i]!;
  }
  /** INTERNALDATE as held, UNKNOWN_DATE when not read from the file yet (internalDateAt reads it). */
  storedDateAt(i: number): number {
    return this.dates[i]!;
  }
  internalDateAt(i: number): number {
    const d = this.dates[i]!;
    if (d !== UNKNOWN_DATE) return d;
    return (this.dates[i] = dateOfFile(this.where, this.uids[i]!, `${this.where.curDir}/${this.bases[i]!}:2,${this.mdflags[i]!}`));
  }

  /** An INTERNALDATE read from a file for a row that had none (UNKNOWN_DATE). */
  setDate(uid: number, date: number): void {
    const i = this.indexOf(uid);
    if (i >= 0 && this.dates[i] === UNKNOWN_DATE) this.dates[i] = date;
  }
  sizeAt(i: number): number {
    return this.sizes[i]!;
  }

  record(i: number): MessageRecord {
    return new MessageRecord(this.uids[i]!, this.modseqs[i]!, this.sysflags[i]!, this.keywords[i]!, this.dates[i]!, this.sizes[i]!, this.bases[i]!, this.mdflags[i]!, this.where);
  }

  /** A snapshot of all rows in columns (copies: the copy's own columns change in place at commits). */
  columns(): RecordColumns {
    const n = this.length;
    return {
      length: n,
      uids: this.uids.slice(0, n),
      sysflags: this.sysflags.slice(0, n),
      sizes: this.sizes.slice(0, n),
      bases: this.bases.slice(0, n),
      mdflags: this.mdflags.slice(0, n),
    };
  }

  /** All UIDs, ascending (a copy). */
  uidList(): Uint32Array {
    return this.uids.slice(0, this.length);
  }

  /** Records matching the filter, ascending by UID (as the SQL query returns them). */
  select(f: RecordFilter): MessageRecord[] {
    const out: MessageRecord[] = [];
    const limit = f.limit ?? Infinity;
    const since = f.changedSince;
    const after = f.afterUid ?? 0;
    const take = (i: number): boolean => {
      if (since !== undefined && !(this.modseqs[i]! > since)) return true;
      out.push(this.record(i));
      return out.length < limit;
    };
    if (f.uids === undefined) {
      for (let i = after > 0 ? this.lowerBound(after + 1) : 0; i < this.length; i++) if (!take(i)) break;
      return out;
    }
    // UIDs as given may be unsorted or repeated: walk them in order, once each.
    let sorted = true;
    for (let k = 1; k < f.uids.length; k++) {
      if (f.uids[k - 1]! >= f.uids[k]!) {
        sorted = false;
        break;
      }
    }
    const uids = sorted ? f.uids : [...new Set(f.uids)].sort((a, b) => a - b);
    let i = 0;
    for (const uid of uids) {
      if (!Number.isInteger(uid) || uid <= after) continue;
      // Consecutive UIDs are usually neighbours: look at the next slot before searching.
      if (!(i < this.length && this.uids[i] === uid)) {
        i = this.lowerBound(uid);
        if (i >= this.length) break;
        if (this.uids[i] !== uid) continue;
      }
      if (!take(i)) break;
      i++;
    }
    return out;
  }

  /** Message count, total size, and counts without \Seen and with \Deleted (masks from flags.ts). */
  totals(seenMask: number, deletedMask: number): { messages: number; bytes: number; unseen: number; deleted: number } {
    let bytes = 0;
    let unseen = 0;
    let deleted = 0;
    for (let i = 0; i < this.length; i++) {
      bytes += this.sizes[i]!;
      const f = this.sysflags[i]!;
      if (!(f & seenMask)) unseen++;
      if (f & deletedMask) deleted++;
    }
    return { messages: this.length, bytes, unseen, deleted };
  }

  /** The lowest UID whose flags lack `mask`, or 0. */
  firstWithout(mask: number): number {
    for (let i = 0; i < this.length; i++) if (!(this.sysflags[i]! & mask)) return this.uids[i]!;
    return 0;
  }

  /** Apply a change committed with `modseq`; the new messages got UIDs firstUid.. in order. */
  apply(cs: CommittedChange, modseq: number, firstUid: number, uidNext: number): void {
    if (cs.expungeUids?.length) {
      const gone = new Set(cs.expungeUids);
      for (const uid of cs.expungeUids) this.sortKeys.delete(uid);
      let w = 0;
      for (let r = 0; r < this.length; r++) {
        if (gone.has(this.uids[r]!)) continue;
        if (w !== r) {
          this.uids[w] = this.uids[r]!;
          this.modseqs[w] = this.modseqs[r]!;
          this.sysflags[w] = this.sysflags[r]!;
          this.dates[w] = this.dates[r]!;
          this.sizes[w] = this.sizes[r]!;
          this.bases[w] = this.bases[r]!;
          this.mdflags[w] = this.mdflags[r]!;
          this.keywords[w] = this.keywords[r]!;
        }
        w++;
      }
      this.bases.fill(undefined as unknown as string, w, this.length);
      this.length = w;
    }
    for (const g of cs.flagUpdates ?? []) {
      const kw = g.keywords ? Object.freeze(keywordsFromColumn(g.keywords)) : EMPTY;
      const md = this.intern(g.mdflags);
      for (const uid of g.uids) {
        const i = this.indexOf(uid);
        if (i < 0) continue;
        this.sysflags[i] = g.sysflags;
        this.keywords[i] = kw;
        this.mdflags[i] = md;
        this.modseqs[i] = modseq;
      }
    }
    let uid = firstUid;
    for (const x of cs.inserts ?? []) this.push(uid++, modseq, x.sysflags, x.keywords, x.internaldate, x.size, x.base, x.mdflags);
    this.highestModseq = modseq;
    this.uidNext = uidNext;
  }
}
