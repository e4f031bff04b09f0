/**
 * The SORT/THREAD/SEARCH keys of a message (RFC 5256 §2-3, RFC 5957 §3), computed once from its header and
 * ENVELOPE and kept in the index (src/store/mail/sort-keys.ts), as Dovecot keeps them in its cache file:
 *
 *   const keys = sortKeysOf(envelope, header, rec.internalDate);   // FETCH ENVELOPE stores them with the JSON
 *   const rows = await loadSortKeys(sel, found, ['date']);         // SORT / THREAD: index columns, no file reads
 *
 * loadSortKeys computes and stores the keys of rows that have none yet (old rows, new mail not fetched yet) from
 * their header, once. Same values as computing them from the ENVELOPE each time (test/imap/sort-keys.test.ts).
 */
import { sortKeysOfHeader } from './message-keys.js';
import { TimeSlice } from './prefetch.js';
import type { SelectedMailbox } from './selected.js';
import { UNKNOWN_DATE, type SortKeys, type SortKeyField } from '../../store/mail/index.js';

export { sentDate, mailboxOf, displayOf, referencesOf, sortKeysOf, envelopeOfHeader, sortKeysOfHeader, envelopeEntry, type EnvelopeEntry } from './message-keys.js';

export interface KeyedMessage {
  seq: number;
  uid: number;
  arrival: number;
  size: number;
  keys: Partial<SortKeys>;
}

/** UIDs per index query; the event loop gets a turn after each page and every 10 ms. */
const PAGE = 5000;

/**
 * The keys `fields` of the given [seq, uid] pairs (ascending), in that order, from the index. Rows without keys
 * get them from their header (read once), and they are stored. Messages that vanished meanwhile are left out.
 */
export async function loadSortKeys(
  sel: SelectedMailbox,
  found: ReadonlyArray<readonly [number, number]>,
  fields: readonly SortKeyField[],
  slice: TimeSlice = new TimeSlice(),
  /** SORT ARRIVAL: every message's INTERNALDATE (after a lazy first scan, each costs a stat the first time). */
  o: { arrival?: boolean } = {},
): Promise<KeyedMessage[]> {
  const mbx = sel.mailbox;
  const out: KeyedMessage[] = [];
  const computed: Array<[number, SortKeys]> = [];
  for (let i = 0; i < found.length; i += PAGE) {
    const page = found.slice(i, i + PAGE);
    const rows = await mbx.readSortKeys(
      page.map((p) => p[1]),
      fields,
      { arrival: Boolean(o.arrival) },
    );
    const missing: KeyedMessage[] = [];
    // Both in ascending UID order: merge.
    let j = 0;
    for (const [seq, uid] of page) {
      while (j < rows.length && rows[j]!.uid < uid) j++;
      const r = rows[j];
      if (!r || r.uid !== uid) continue;
      const m: KeyedMessage = { seq, uid, arrival: r.arrival, size: r.size, keys: r.keys ?? {} };
      if (!r.keys) missing.push(m);
      out.push(m);
    }
    if (missing.length) {
      const recs = new Map((await mbx.listMessages({ uids: missing.map((m) => m.uid) })).map((r) => [r.uid, r]));
      for (const m of missing) {
        const rec = recs.get(m.uid);
        const header = rec ? (mbx.readHeaderSync(rec) ?? (await mbx.readHeader(rec))) : undefined;
        const keys = sortKeysOfHeader(header ?? Buffer.alloc(0), () => (m.arrival === UNKNOWN_DATE && rec ? rec.internalDate : m.arrival));
        m.keys = keys;
        if (header) computed.push([m.uid, keys]); // a vanished file: answer, but do not cache
        if (slice.due()) await slice.yield();
      }
    }
    await slice.yield();
  }
  if (computed.length) await mbx.setSortKeys(computed).catch(() => {});
  return out;
}
