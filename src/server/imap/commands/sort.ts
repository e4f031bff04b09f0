/**
 * SORT and UID SORT (RFC 5256 §3) with the RFC 5957 DISPLAYFROM/DISPLAYTO keys. The search criteria are run by
 * runSearch (search.ts); the keys come from the index (ARRIVAL, SIZE) and the cached ENVELOPE (or the header
 * block when no ENVELOPE is cached). Strings compare with i;unicode-casemap (RFC 5051, I18NLEVEL=1); ties, and equal keys for all criteria,
 * are broken by sequence number (RFC 5256 §3). Key loading gives the event loop a turn every 1000 messages and
 * every 10 ms, so a large sort does not block other sessions.
 */
import type { SortCommand, SortKey } from '../../../protocol/imap/index.js';
import { buildEnvelope, type Envelope, type Address } from '../../../mime/index.js';
import { decodeEncodedWords, stripComments } from '../../../mime/headers.js';
import { TimeSlice, sortYielding } from '../prefetch.js';
import { baseSubject, compareOctets } from '../base-subject.js';
import { unicodeCasemap } from '../../../mime/text.js';
import { runSearch, usesModseq } from './search.js';
import { esearchLine, saveResult } from './esearch.js';
import { addContext } from '../context-update.js';
import { enableCondstore } from '../qresync.js';
import { SELECTED, type Handler } from './types.js';
import { bad } from '../errors.js';
import type { SelectedMailbox } from '../selected.js';
import type { MessageRecord } from '../../../store/mail/index.js';

const PAGE = 1000;

export interface LoadedMessage {
  seq: number;
  uid: number;
  rec: MessageRecord;
  env: Envelope;
  /** The header block, when `withHeader` was asked for. */
  header?: Buffer;
}

/**
 * Load the index record and ENVELOPE of the given [seq, uid] pairs (in pages of 1000), in the given order.
 * Messages that vanished meanwhile are left out.
 */
export async function loadMessages(
  sel: SelectedMailbox,
  found: ReadonlyArray<readonly [number, number]>,
  o: { withHeader?: boolean } = {},
): Promise<LoadedMessage[]> {
  const mbx = sel.mailbox;
  const out: LoadedMessage[] = [];
  const slice = new TimeSlice();
  for (let i = 0; i < found.length; i += PAGE) {
    const page = found.slice(i, i + PAGE);
    const uids = page.map((p) => p[1]);
    const recs = new Map((await mbx.listMessages({ uids })).map((r) => [r.uid, r]));
    const envs = await mbx.getEnvelopes(uids);
    for (const [seq, uid] of page) {
      const rec = recs.get(uid);
      if (!rec) continue;
      let env: Envelope | null = null;
      const json = envs?.get(uid);
      if (json !== undefined) {
        try {
          env = JSON.parse(json) as Envelope;
        } catch {
          env = null;
        }
      }
      let header: Buffer | undefined;
      if (!env || o.withHeader) {
        header = mbx.readHeaderSync(rec) ?? (await mbx.readHeader(rec)) ?? Buffer.alloc(0);
        env ??= buildEnvelope(header);
      }
      out.push({ seq, uid, rec, env, ...(o.withHeader ? { header } : {}) });
      if (slice.due()) await slice.yield();
    }
    await slice.yield(); // at least one turn per page of 1000
  }
  return out;
}

/** RFC 5256 §2.2 sent date: the Date header in UTC, or INTERNALDATE when missing or unparseable. */
export function sentDate(env: Envelope, internalDate: number): number {
  if (env.date) {
    const t = Date.parse(stripComments(env.date).replace(/\s+/g, ' ').trim());
    if (!Number.isNaN(t)) return t;
  }
  return internalDate;
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
function mailboxOf(list: Address[] | null): string {
  const a = firstAddress(list);
  return a?.[2] ? unicodeCasemap(decodeEncodedWords(a[2])) : '';
}

/** RFC 5957 §3 DISPLAYFROM/DISPLAYTO: the decoded display name, else the addr-spec (a group: its name). */
function displayOf(list: Address[] | null): string {
  const a = firstAddress(list);
  if (!a) return '';
  const name = a[0] === null ? '' : decodeEncodedWords(a[0]).trim();
  if (name) return unicodeCasemap(name);
  return unicodeCasemap(a[3] === null ? (a[2] ?? '') : `${a[2] ?? ''}@${a[3]}`);
}

type KeyValue = number | string;

function keyOf(m: LoadedMessage, key: SortKey): KeyValue {
  switch (key) {
    case 'ARRIVAL':
      return m.rec.internalDate;
    case 'SIZE':
      return m.rec.size;
    case 'DATE':
      return sentDate(m.env, m.rec.internalDate);
    case 'SUBJECT':
      return baseSubject(m.env.subject).base;
    case 'FROM':
      return mailboxOf(m.env.from);
    case 'TO':
      return mailboxOf(m.env.to);
    case 'CC':
      return mailboxOf(m.env.cc);
    case 'DISPLAYFROM':
      return displayOf(m.env.from);
    case 'DISPLAYTO':
      return displayOf(m.env.to);
  }
}

/** Sort [seq, uid] pairs by the criteria; returns them in sorted order. */
export async function runSort(
  sel: SelectedMailbox,
  found: ReadonlyArray<readonly [number, number]>,
  criteria: ReadonlyArray<{ readonly key: SortKey; readonly reverse: boolean }>,
): Promise<Array<[number, number]>> {
  const loaded = await loadMessages(sel, found);
  const rows: Array<{ seq: number; uid: number; keys: KeyValue[] }> = [];
  const slice = new TimeSlice();
  for (let i = 0; i < loaded.length; i++) {
    const m = loaded[i]!;
    rows.push({ seq: m.seq, uid: m.uid, keys: criteria.map((c) => keyOf(m, c.key)) });
    if (i % PAGE === PAGE - 1 || slice.due()) await slice.yield();
  }
  const sorted = await sortYielding(
    rows,
    (a, b) => {
      for (let k = 0; k < criteria.length; k++) {
        const x = a.keys[k]!;
        const y = b.keys[k]!;
        const c = typeof x === 'number' ? x - (y as number) : compareOctets(x, y as string);
        if (c !== 0) return criteria[k]!.reverse ? -c : c;
      }
      return a.seq - b.seq;
    },
    slice,
  );
  return sorted.map((r) => [r.seq, r.uid]);
}

/**
 * SORT / UID SORT (RFC 5256 §3); with RETURN (...) the ESORT form (RFC 5267 §3): one ESEARCH response whose ALL
 * keeps the sort order, MIN/MAX are the first/last message in that order; PARTIAL (§4.4); UPDATE (CONTEXT=SORT,
 * §4); SAVE (RFC 5182, the sorted messages become "$").
 */
export const SORT: Handler<SortCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    // RFC 5267 §4.3: UPDATE under a tag that already names a live context is BAD.
    if (cmd.returnOptions?.includes('UPDATE') && sel.contexts.has(cmd.tag)) throw bad(`Tag ${cmd.tag} is already in use by an updating search`);
    const modseqKey = usesModseq(cmd.criteria);
    if (modseqKey) await enableCondstore(s);
    await sel.reportChanges(s, { expunges: cmd.uid, uid: cmd.uid });
    const mod = { max: 0 };
    const found = await runSearch(sel, cmd.criteria, { modseq: mod });
    const sorted = await runSort(sel, found, cmd.sortCriteria);
    const nums = sorted.map(([seq, uid]) => (cmd.uid ? uid : seq));
    if (cmd.returnOptions) {
      const req = { tag: cmd.tag, uid: cmd.uid, returnOptions: cmd.returnOptions, partial: cmd.partial };
      saveResult(sel, req, sorted.map(([, uid]) => uid));
      const line = esearchLine(req, nums, { sorted: true, modseq: modseqKey && found.length ? mod.max : undefined });
      if (line) s.write(line);
      if (cmd.returnOptions.includes('UPDATE')) {
        await addContext(s, sel, { tag: cmd.tag, uid: cmd.uid, criteria: cmd.criteria, sort: cmd.sortCriteria, uids: sorted.map(([, u]) => u) });
      }
      return 'SORT completed';
    }
    let line = '* SORT';
    for (let i = 0; i < nums.length; i++) {
      line += ' ' + nums[i];
      if (line.length > 64 * 1024) {
        s.write(line);
        line = '';
        await s.flush();
      }
    }
    s.write(line + '\r\n');
    return 'SORT completed';
  },
};
