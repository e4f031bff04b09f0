/**
 * SEARCH and UID SEARCH (RFC 3501 §6.4.4) with every RFC 3501 key, CHARSET UTF-8/US-ASCII, matching on decoded
 * content (RFC 2047 encoded words, quoted-printable, base64, charsets), and the ESEARCH result form (RFC 4731)
 * when RETURN is given. Messages are visited in pages and the event loop is given a turn every 10 ms, so a
 * search over 100,000 messages does not block other sessions. Only the parts a key needs are read: flags, sizes
 * and dates come from the index; Subject from the index's decoded-Subject key column when the row has its keys
 * (../sort-keys.ts), Subject, Date, Message-ID and In-Reply-To else from the cached ENVELOPE when there is one
 * (its raw encoded words decoded here); other header keys read only the header block; BODY/TEXT read
 * and decode the message (short blocking reads of files up to 256 KiB, see Mailbox.readRecordSync).
 */
import type { SearchCommand, SearchKey } from '../../../protocol/imap/index.js';
import { sequenceSetHas } from '../../../protocol/imap/index.js';
import type { Mailbox, MessageRecord } from '../../../store/mail/index.js';
import { parseStructure, decodedHeaderValue, headerText, bodyText, type MimeNode, type Envelope } from '../../../mime/index.js';
import { matchesText } from '../content-match.js';
import { UNREAD, type ParsePool } from '../parse-pool.js';
import { decodeEncodedWords } from '../../../mime/headers.js';
import { TimeSlice, pagesAhead } from '../prefetch.js';
import { SELECTED, type Handler } from './types.js';
import { ImapCommandError, bad } from '../errors.js';
import { enableCondstore } from '../qresync.js';
import { esearchLine, saveResult } from './esearch.js';
import { addContext } from '../context-update.js';
import type { SelectedMailbox } from '../selected.js';

const PAGE = 1000;
/** UIDs per query of the decoded-Subject column (SUBJECT search). */
const SUBJECT_PAGE = 5000;
/** SEARCH BODY/TEXT uses the parse workers from this many messages on. */
const WORKER_MIN_MESSAGES = 2000;
const DAY = 86_400_000;

/** Header fields answered from the cached ENVELOPE when there is one (RFC 5322 §3.6: at most one of each). */
const ENVELOPE_FIELDS: Record<string, keyof Envelope> = {
  subject: 'subject',
  date: 'date',
  'message-id': 'messageId',
  'in-reply-to': 'inReplyTo',
};

interface Needs {
  /** Some key needs the raw header block. */
  header: boolean;
  /** Some key needs a field the cached ENVELOPE holds. */
  envelope: boolean;
  /** ...and it is only Subject (answered from the index's search_subject key when the row has it). */
  subjectOnly: boolean;
  body: boolean;
}

function needsOf(k: SearchKey, n: Needs = { header: false, envelope: false, subjectOnly: true, body: false }): Needs {
  switch (k.type) {
    case 'AND':
      k.keys.forEach((x) => needsOf(x, n));
      break;
    case 'OR':
      needsOf(k.left, n);
      needsOf(k.right, n);
      break;
    case 'NOT':
      needsOf(k.key, n);
      break;
    case 'HEADER': {
      const f = k.field.toLowerCase();
      if (ENVELOPE_FIELDS[f]) {
        n.envelope = true;
        if (f !== 'subject') n.subjectOnly = false;
      } else n.header = true;
      break;
    }
    case 'DATE':
      if (k.field === 'sent') {
        n.envelope = true;
        n.subjectOnly = false;
      }
      break;
    case 'BODY':
      n.body = true;
      break;
    case 'TEXT':
      n.header = true;
      n.body = true;
      break;
    default:
      break;
  }
  return n;
}

class MessageView {
  private raw: Buffer | null = null;
  private head: Buffer | null = null;
  private tree: MimeNode | null = null;
  private bodyCache: string | null = null;
  private env: Envelope | null | undefined;
  constructor(
    readonly rec: MessageRecord,
    readonly seq: number,
    private readonly mbx: Mailbox,
    /** What the prefetch read: the whole file or the header block. */
    loaded: { data: Buffer | null; whole: boolean },
    private envJson: string | undefined,
    /** The index's decoded Subject (search_subject; null: no Subject), undefined when the row has no keys. */
    private readonly subjectKey?: string | null,
    /** Answers to BODY/TEXT keys a parse worker already gave (by key). */
    readonly content?: Map<SearchKey, boolean>,
  ) {
    if (loaded.data) {
      if (loaded.whole) this.raw = loaded.data;
      else this.head = loaded.data;
    }
  }
  private async file(): Promise<Buffer> {
    if (!this.raw) this.raw = (await this.mbx.readRecord(this.rec)) ?? Buffer.alloc(0);
    return this.raw;
  }
  private parsedTree(raw: Buffer): MimeNode {
    return (this.tree ??= parseStructure(raw, { envelope: false }));
  }
  async header(): Promise<Buffer> {
    if (this.head) return this.head;
    if (this.raw) {
      const t = this.parsedTree(this.raw);
      this.head = this.raw.subarray(t.headerStart, t.bodyStart);
    } else {
      this.head = (await this.mbx.readHeader(this.rec)) ?? Buffer.alloc(0);
    }
    return this.head;
  }
  /** Decoded values of a header field: from the cached ENVELOPE when it holds the field, else from the header. */
  async headerValues(field: string): Promise<string[]> {
    const key = ENVELOPE_FIELDS[field.toLowerCase()];
    if (key === 'subject' && this.subjectKey !== undefined) return this.subjectKey === null ? [] : [this.subjectKey];
    if (key && this.envJson !== undefined) {
      if (this.env === undefined) {
        try {
          this.env = JSON.parse(this.envJson) as Envelope;
        } catch {
          this.env = null;
        }
      }
      if (this.env) {
        const v = this.env[key] as string | null;
        return v === null ? [] : [decodeEncodedWords(v.replace(/[ \t]+$/, ''))];
      }
    }
    return decodedHeaderValue(await this.header(), field);
  }
  async body(): Promise<string> {
    if (this.bodyCache === null) {
      const raw = await this.file();
      this.bodyCache = bodyText(raw, this.parsedTree(raw));
    }
    return this.bodyCache;
  }
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** The calendar day of a Date: header as written (RFC 3501: "disregarding time and timezone"), at UTC midnight. */
export function sentDay(value: string): number | null {
  const m = /(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+(\d{2,4})/i.exec(value);
  if (!m) return null;
  let year = Number(m[3]);
  if (year < 50) year += 2000;
  else if (year < 1000) year += 1900;
  return Date.UTC(year, MONTHS[m[2]!.toLowerCase()]!, Number(m[1]));
}

function compareDay(day: number | null, comparison: 'before' | 'on' | 'since', date: Date): boolean {
  if (day === null) return false;
  const d = date.getTime();
  return comparison === 'before' ? day < d : comparison === 'on' ? day === d : day >= d;
}

async function matches(k: SearchKey, m: MessageView, sel: SelectedMailbox, maxUid: number): Promise<boolean> {
  const r = m.rec;
  switch (k.type) {
    case 'ALL':
      return true;
    case 'AND':
      for (const x of k.keys) if (!(await matches(x, m, sel, maxUid))) return false;
      return true;
    case 'OR':
      return (await matches(k.left, m, sel, maxUid)) || (await matches(k.right, m, sel, maxUid));
    case 'NOT':
      return !(await matches(k.key, m, sel, maxUid));
    case 'FLAG': {
      if (k.flag.toLowerCase() === '\\recent') return !k.present; // \Recent is not tracked: never set
      const has = r.flags.some((f) => f.toLowerCase() === k.flag.toLowerCase());
      return has === k.present;
    }
    case 'HEADER': {
      const values = await m.headerValues(k.field);
      if (!values.length) return false;
      return values.some((v) => matchesText(v, k.value));
    }
    case 'BODY':
      return m.content?.get(k) ?? matchesText(await m.body(), k.value);
    case 'TEXT':
      return m.content?.get(k) ?? (matchesText(headerText(await m.header()), k.value) || matchesText(await m.body(), k.value));
    case 'DATE':
      if (k.field === 'internal') return compareDay(Math.floor(r.internalDate / DAY) * DAY, k.comparison, k.date);
      {
        const v = (await m.headerValues('Date'))[0];
        return compareDay(v === undefined ? null : sentDay(v), k.comparison, k.date);
      }
    case 'SIZE':
      return k.comparison === 'larger' ? r.size > k.size : r.size < k.size;
    case 'AGE': {
      const age = (Date.now() - r.internalDate) / 1000;
      return k.comparison === 'older' ? age > k.seconds : age <= k.seconds;
    }
    case 'SEQUENCE':
    case 'UID':
      // RFC 5182 §2.1: "$" (as a sequence set or after UID) is the saved result, whichever form.
      if (k.set.kind === 'saved') return sel.saved.has(r.uid);
      return k.type === 'SEQUENCE' ? sequenceSetHas(k.set, m.seq, sel.exists) : sequenceSetHas(k.set, r.uid, maxUid);
    case 'MODSEQ':
      // RFC 7162 §3.1.5: messages with a mod-sequence >= the value. Only one kind of metadata here (flags), so
      // an entry name/type restricts nothing.
      return BigInt(r.modseq) >= k.modSeq;
  }
}

/** True when the criteria use the MODSEQ key (RFC 7162 §3.1.5: a CONDSTORE enabling command). */
export function usesModseq(k: SearchKey): boolean {
  switch (k.type) {
    case 'MODSEQ':
      return true;
    case 'AND':
      return k.keys.some(usesModseq);
    case 'OR':
      return usesModseq(k.left) || usesModseq(k.right);
    case 'NOT':
      return usesModseq(k.key);
    default:
      return false;
  }
}

/**
 * Runs a search; returns matching messages as [seq, uid] pairs in ascending order. With `o.modseq`, its `max`
 * becomes the highest MODSEQ among the matches (RFC 7162 §3.1.5).
 */
export async function runSearch(
  sel: SelectedMailbox,
  criteria: SearchKey,
  /** pool: parse workers that answer BODY/TEXT keys of large searches (../parse-pool.ts). */
  o: { modseq?: { max: number }; pool?: ParsePool } = {},
): Promise<Array<[number, number]>> {
  const needs = needsOf(criteria);
  const out: Array<[number, number]> = [];
  // ALL (what SORT and THREAD are mostly asked with): every message of the session's view that still exists,
  // straight from the in-memory copy of the index rows.
  if (isAll(criteria)) {
    const view = await sel.mailbox.recordView();
    if (view) {
      const uids = sel.uids;
      let hint = 0;
      for (let i = 0; i < uids.length; i++) {
        const at = view.find(uids[i]!, hint);
        if (at < 0) continue;
        hint = at + 1;
        out.push([i + 1, uids[i]!]);
        if (o.modseq && view.modseqAt(at) > o.modseq.max) o.modseq.max = view.modseqAt(at);
      }
      return out;
    }
  }
  // SUBJECT x / HEADER Subject x alone: the index's decoded-Subject column in one pass, when every row has one.
  const subject = subjectOnlyValue(criteria);
  if (subject !== null) {
    const hits = await searchSubjectKeys(sel, subject, o);
    if (hits) return hits;
  }
  const all = sel.uids;
  const maxUid = all.length ? all[all.length - 1]! : 0;
  const mbx = sel.mailbox;
  const slice = new TimeSlice();
  // BODY/TEXT over many messages: parse workers read the files and answer those keys, pages ahead of the
  // evaluation here (which still applies every other key, and searches itself what a worker could not read).
  const contentKeys = needs.body ? contentKeysOf(criteria) : [];
  const pool = o.pool;
  const viaWorkers = pool !== undefined && pool.enabled && contentKeys.length > 0 && all.length >= WORKER_MIN_MESSAGES;
  const loadPage = async (i: number) => {
    const uids = Array.from(all.subarray(i, i + PAGE));
    const recs = await mbx.listMessages({ uids });
    const answers = viaWorkers
      ? pool!
          .search(recs.map((r) => r.path), recs.map((r) => r.size), contentKeys.map((k) => ({ type: k.type, value: k.value })))
          .catch(() => null)
      : null;
    return { uids, recs, answers };
  };
  for await (const page of pagesAhead(all.length, PAGE, viaWorkers ? pool!.size + 1 : 0, loadPage)) {
    const { uids, recs } = page;
    const hits = page.answers ? await page.answers : null;
    // Subject alone: the index's key column; ENVELOPE JSON only for rows without keys (or for other fields).
    const subjects = needs.envelope && needs.subjectOnly && !needs.body ? await mbx.getSortKeys(uids, ['searchSubject']) : null;
    const envUids = subjects ? uids.filter((u) => !subjects.has(u)) : uids;
    const envs = needs.envelope && !needs.body && envUids.length ? await mbx.getEnvelopes(envUids) : null;
    let r = -1;
    for (const rec of recs) {
      r++;
      const seq = sel.seqOf(rec.uid);
      if (!seq) continue;
      // The workers' answers for this message, unless it could not read the file.
      let content: Map<SearchKey, boolean> | undefined;
      if (hits && hits[r * contentKeys.length] !== UNREAD) {
        content = new Map(contentKeys.map((k, j) => [k, hits[r * contentKeys.length + j] === 1]));
      }
      // Read what the keys will need: the whole file for BODY/TEXT (unless answered), else the header block where
      // the ENVELOPE cache cannot answer.
      let data: Buffer | null = null;
      let whole = false;
      if (needs.body && content) {
        // Other keys read the header or the file themselves if they need them.
      } else if (needs.body) {
        data = mbx.readRecordSync(rec) ?? (await mbx.readRecord(rec)) ?? null;
        whole = true;
      } else if (needs.header || (needs.envelope && !subjects?.has(rec.uid) && !envs?.has(rec.uid))) {
        data = mbx.readHeaderSync(rec) ?? (await mbx.readHeader(rec)) ?? null;
      }
      const view = new MessageView(rec, seq, mbx, { data, whole }, envs?.get(rec.uid), subjects?.get(rec.uid)?.searchSubject, content);
      if (await matches(criteria, view, sel, maxUid)) {
        out.push([seq, rec.uid]);
        if (o.modseq && rec.modseq > o.modseq.max) o.modseq.max = rec.modseq;
      }
      if (slice.due()) await slice.yield();
    }
  }
  return out;
}

/** The BODY and TEXT keys of a search program (for the parse workers). */
function contentKeysOf(k: SearchKey, out: Array<Extract<SearchKey, { type: 'BODY' | 'TEXT' }>> = []): Array<Extract<SearchKey, { type: 'BODY' | 'TEXT' }>> {
  if (k.type === 'BODY' || k.type === 'TEXT') out.push(k);
  else if (k.type === 'AND') for (const x of k.keys) contentKeysOf(x, out);
  else if (k.type === 'OR') {
    contentKeysOf(k.left, out);
    contentKeysOf(k.right, out);
  } else if (k.type === 'NOT') contentKeysOf(k.key, out);
  return out;
}

/** The value of a lone SUBJECT / HEADER Subject key (possibly inside an AND with ALLs), else null. */
function subjectOnlyValue(k: SearchKey): string | null {
  if (k.type === 'HEADER') return k.field.toLowerCase() === 'subject' ? k.value : null;
  if (k.type !== 'AND') return null;
  const rest = k.keys.filter((x) => !isAll(x));
  return rest.length === 1 ? subjectOnlyValue(rest[0]!) : null;
}

/**
 * A Subject search from the stored decoded Subjects (the same values and matching as MessageView.headerValues +
 * matchesText), without a record or a promise per message. null when some row has no keys yet (the general path
 * reads those headers) or the store keeps no copy of the rows (MODSEQ of the matches).
 */
async function searchSubjectKeys(sel: SelectedMailbox, value: string, o: { modseq?: { max: number } }): Promise<Array<[number, number]> | null> {
  const uids = Array.from(sel.uids);
  const out: Array<[number, number]> = [];
  const slice = new TimeSlice();
  for (let start = 0; start < uids.length; start += SUBJECT_PAGE) {
    const page = uids.slice(start, start + SUBJECT_PAGE);
    const rows = await sel.mailbox.readSortKeys(page, ['searchSubject'], { arrival: false });
    if (rows.some((r) => !r.keys)) return null;
    const view = o.modseq ? await sel.mailbox.recordView() : null;
    if (o.modseq && !view) return null;
    // Both ascending by UID: walk them together.
    let j = 0;
    for (let i = 0; i < page.length; i++) {
      const uid = page[i]!;
      while (j < rows.length && rows[j]!.uid < uid) j++;
      const r = rows[j];
      if (!r || r.uid !== uid) continue; // expunged meanwhile
      const subj = r.keys!.searchSubject;
      if (subj === null || subj === undefined || !matchesText(subj, value)) continue;
      out.push([start + i + 1, uid]);
      if (view) {
        const at = view.indexOf(uid);
        if (at >= 0 && view.modseqAt(at) > o.modseq!.max) o.modseq!.max = view.modseqAt(at);
      }
    }
    await slice.yield();
  }
  return out;
}

/** Criteria that match every message: ALL, or an AND of only ALLs. */
function isAll(k: SearchKey): boolean {
  return k.type === 'ALL' || (k.type === 'AND' && k.keys.every(isAll));
}

/** A \Recent flag test anywhere in the criteria (the RECENT, NEW and OLD keys). */
function usesRecent(k: SearchKey): boolean {
  switch (k.type) {
    case 'AND':
      return k.keys.some(usesRecent);
    case 'OR':
      return usesRecent(k.left) || usesRecent(k.right);
    case 'NOT':
      return usesRecent(k.key);
    case 'FLAG':
      return k.flag.toLowerCase() === '\\recent';
    default:
      return false;
  }
}

/**
 * RFC 3501 §6.4.4 SEARCH; RFC 4731 ESEARCH when RETURN is given; RFC 5182 SAVE; RFC 7162 §3.1.5 MODSEQ (the
 * highest modseq of the matches after the numbers); RFC 5267 §4 UPDATE (CONTEXT=SEARCH) and PARTIAL.
 */
export const SEARCH: Handler<SearchCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    // RFC 5267 §4.3: UPDATE under a tag that already names a live context is BAD.
    if (cmd.returnOptions?.includes('UPDATE') && sel.contexts.has(cmd.tag)) throw bad(`Tag ${cmd.tag} is already in use by an updating search`);
    // RFC 9051 §6.4.4 / Appendix E: RECENT, NEW and OLD are not rev2 search keys.
    if (s.rev2 && usesRecent(cmd.criteria)) throw bad('RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)');
    const modseqKey = usesModseq(cmd.criteria);
    if (modseqKey) await enableCondstore(s);
    await sel.reportChanges(s, { expunges: cmd.uid, uid: cmd.uid });
    const mod = { max: 0 };
    let found: Array<[number, number]>;
    try {
      found = await runSearch(sel, cmd.criteria, { modseq: mod, pool: s.ctx.parsePool });
    } catch (err) {
      // RFC 5182 §2.1: a SEARCH (SAVE) that fails with NO leaves "$" empty; BAD leaves it as it was.
      if (cmd.returnOptions?.includes('SAVE') && !(err instanceof ImapCommandError && err.status === 'BAD')) sel.saved = new Set();
      throw err;
    }
    const nums = found.map(([seq, uid]) => (cmd.uid ? uid : seq));
    const modseq = modseqKey && found.length ? mod.max : undefined;
    // RFC 9051 §6.4.4: in rev2 a SEARCH without RETURN is RETURN (ALL), answered by ESEARCH (§7.3.4).
    const returnOptions = cmd.returnOptions ?? (s.rev2 ? [] : undefined);
    if (returnOptions) {
      const req = { tag: cmd.tag, uid: cmd.uid, returnOptions, partial: cmd.partial };
      saveResult(sel, req, found.map(([, uid]) => uid));
      const line = esearchLine(req, nums, { modseq });
      if (line) s.write(line);
      if (returnOptions.includes('UPDATE')) await addContext(s, sel, { tag: cmd.tag, uid: cmd.uid, criteria: cmd.criteria, uids: found.map(([, u]) => u) });
    } else {
      s.write(`* SEARCH${nums.map((n) => ' ' + n).join('')}${modseq !== undefined ? ` (MODSEQ ${modseq})` : ''}\r\n`);
    }
    return 'SEARCH completed';
  },
};
