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
import { scanHeader, lastField, unfold, decodeEncodedWords, stripComments } from '../../mime/headers.js';
import { buildEnvelope, type Envelope, type Address } from '../../mime/index.js';
import { buildEnvelopeFromBlock } from '../../mime/envelope.js';
import { unicodeCasemap } from '../../mime/text.js';
import { baseSubject } from './base-subject.js';
import { messageIds } from './thread.js';
import { TimeSlice } from './prefetch.js';
import type { SelectedMailbox } from './selected.js';
import { UNKNOWN_DATE, type SortKeys, type SortKeyField } from '../../store/mail/index.js';

/** RFC 5256 §2.2 sent date: the Date header in UTC, or INTERNALDATE when missing or unparseable. */
export function sentDate(env: Envelope, internalDate: number | (() => number)): number {
  if (env.date) {
    const t = Date.parse(stripComments(env.date).replace(/\s+/g, ' ').trim());
    if (!Number.isNaN(t)) return t;
  }
  return typeof internalDate === 'number' ? internalDate : internalDate();
}

/**
 * The first address of a list as ENVELOPE gives it: for a group ("undisclosed-recipients:;") that is the group
 * start marker, whose mailbox field is the group name (as Dovecot sorts it).
 */
function firstAddress(list: Address[] | null): Address | null {
  for (const a of list ?? []) if (a[2] !== null) return a;
  return null;
}

/** RFC 5256 §3 CC/FROM/TO: the addr-mailbox of the first address, "" when none. */
export function mailboxOf(list: Address[] | null): string {
  const a = firstAddress(list);
  return a?.[2] ? unicodeCasemap(decodeEncodedWords(a[2])) : '';
}

/** RFC 5957 §3 DISPLAYFROM/DISPLAYTO: the decoded display name, else the addr-spec (a group: its name). */
export function displayOf(list: Address[] | null): string {
  const a = firstAddress(list);
  if (!a) return '';
  const name = a[0] === null ? '' : decodeEncodedWords(a[0]).trim();
  if (name) return unicodeCasemap(name);
  return unicodeCasemap(a[3] === null ? (a[2] ?? '') : `${a[2] ?? ''}@${a[3]}`);
}

/** The References field of a header block, unfolded (null when absent or unreadable). */
export function referencesOf(header: Buffer): string | null {
  try {
    const v = lastField(header, scanHeader(header, 0, header.length), 'references');
    return v === null ? null : unfold(v);
  } catch {
    return null;
  }
}

function idList(ids: readonly string[]): string | null {
  return ids.length ? ids.map((id) => `<${id}>`).join(' ') : null;
}

/**
 * Every key of a message from its ENVELOPE and raw References value. `messageId` and `references` are normalised
 * so that messageIds() of them gives what THREAD REFERENCES (thread.ts, step 1) takes from the raw fields.
 */
/** `internalDate` may be a function: it is called only when the Date header cannot give the sent date. */
export function sortKeysOf(env: Envelope, references: string | null, internalDate: number | (() => number)): SortKeys {
  const b = baseSubject(env.subject);
  let refs = messageIds(references);
  if (!refs.length) refs = messageIds(env.inReplyTo).slice(0, 1);
  const own = messageIds(env.messageId)[0];
  return {
    date: sentDate(env, internalDate),
    subject: b.base,
    refwd: b.replyOrForward,
    from: mailboxOf(env.from),
    to: mailboxOf(env.to),
    cc: mailboxOf(env.cc),
    displayFrom: displayOf(env.from),
    displayTo: displayOf(env.to),
    messageId: own === undefined ? null : `<${own}>`,
    references: idList(refs),
    searchSubject: env.subject === null ? null : decodeEncodedWords(env.subject.replace(/[ \t]+$/, '')),
  };
}

/**
 * The ENVELOPE and the unfolded References value of a header block (or a whole message) from one header scan:
 * the same as buildEnvelope(header) and referencesOf(header).
 */
export function envelopeOfHeader(header: Buffer): { envelope: Envelope; references: string | null } {
  let block;
  try {
    block = scanHeader(header, 0, header.length);
  } catch {
    return { envelope: buildEnvelope(header), references: referencesOf(header) };
  }
  let envelope: Envelope;
  try {
    envelope = buildEnvelopeFromBlock(header, block);
  } catch {
    envelope = buildEnvelope(Buffer.alloc(0));
  }
  let references: string | null;
  try {
    const v = lastField(header, block, 'references');
    references = v === null ? null : unfold(v);
  } catch {
    references = null;
  }
  return { envelope, references };
}

/** The keys of a message from its header block alone. */
export function sortKeysOfHeader(header: Buffer, internalDate: number | (() => number)): SortKeys {
  const { envelope, references } = envelopeOfHeader(header);
  return sortKeysOf(envelope, references, internalDate);
}

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
