/**
 * The SORT/THREAD/SEARCH keys and the ENVELOPE of a message from its header block (RFC 5256 §2-3, RFC 5957 §3,
 * RFC 3501 §7.4.2): pure functions of the header bytes, without the store, so that the envelope workers
 * (parse-pool.ts) can run them too. ./sort-keys.ts stores and loads the keys.
 */
import { scanHeader, lastField, unfold, decodeEncodedWords, stripComments } from '../../mime/headers.js';
import { buildEnvelope, buildEnvelopeFromBlock, formatEnvelope, type Envelope, type Address } from '../../mime/envelope.js';
import { unicodeCasemap } from '../../mime/text.js';
import { baseSubject } from './base-subject.js';
import { messageIds } from './thread.js';
import type { SortKeys } from '../../store/mail/sort-keys.js';

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

/** What a first FETCH ENVELOPE stores for a message (the index's parse-cache columns for it). */
export interface EnvelopeEntry {
  /** The Envelope as JSON. */
  envelope: string;
  /** Its RFC 3501 §7.4.2 wire form, sent as it is by later fetches. */
  envelopeImap: string;
  keys: SortKeys;
}

/**
 * The ENVELOPE (JSON and wire form) and the keys of a message from its header block (or the whole message), from one
 * scan of the header. `internalDate` gives the sent date when the Date header cannot (RFC 5256 §2.2); NaN there
 * leaves keys.date NaN for the caller to fill in (a worker has no record to ask).
 */
export function envelopeEntry(header: Buffer, internalDate: number | (() => number)): EnvelopeEntry {
  const { envelope, references } = envelopeOfHeader(header);
  return {
    envelope: JSON.stringify(envelope),
    envelopeImap: formatEnvelope(envelope),
    keys: sortKeysOf(envelope, references, internalDate),
  };
}
