/**
 * SORT and UID SORT (RFC 5256 §3) with the RFC 5957 DISPLAYFROM/DISPLAYTO keys. The search criteria are run by
 * runSearch (search.ts); the keys come from the index: ARRIVAL and SIZE from the record, the others from the
 * per-message key columns (../sort-keys.ts; computed from the header and stored for rows that have none yet).
 * Strings compare with i;unicode-casemap (RFC 5051, I18NLEVEL=1; the keys are stored casemapped, so by octets);
 * ties, and equal keys for all criteria, are broken by sequence number (RFC 5256 §3). Loading and sorting give the
 * event loop a turn every 10 ms, so a large sort does not block other sessions.
 */
import type { SortCommand, SortKey } from '../../../protocol/imap/index.js';
import { TimeSlice } from '../prefetch.js';
import { rankOrder, type KeyValue } from '../rank-sort.js';
import { loadSortKeys, type KeyedMessage } from '../sort-keys.js';
import { runSearch, usesModseq } from './search.js';
import { esearchLine, saveResult } from './esearch.js';
import { addContext } from '../context-update.js';
import { enableCondstore } from '../qresync.js';
import { SELECTED, type Handler } from './types.js';
import { bad } from '../errors.js';
import type { SelectedMailbox } from '../selected.js';
import type { SortKeyField } from '../../../store/mail/index.js';

export { sentDate } from '../sort-keys.js';

/** The stored key of each SORT key (ARRIVAL and SIZE are the record's). */
const FIELD: Record<SortKey, SortKeyField | null> = {
  ARRIVAL: null,
  SIZE: null,
  DATE: 'date',
  SUBJECT: 'subject',
  FROM: 'from',
  TO: 'to',
  CC: 'cc',
  DISPLAYFROM: 'displayFrom',
  DISPLAYTO: 'displayTo',
};

function keyOf(m: KeyedMessage, key: SortKey): KeyValue {
  if (key === 'ARRIVAL') return m.arrival;
  if (key === 'SIZE') return m.size;
  return m.keys[FIELD[key]!] as KeyValue;
}

/** Sort [seq, uid] pairs by the criteria; returns them in sorted order. */
export async function runSort(
  sel: SelectedMailbox,
  found: ReadonlyArray<readonly [number, number]>,
  criteria: ReadonlyArray<{ readonly key: SortKey; readonly reverse: boolean }>,
): Promise<Array<[number, number]>> {
  const slice = new TimeSlice();
  const reverse = criteria.map((c) => c.reverse);
  // Every key already in the in-memory copy (after a FETCH ENVELOPE or an earlier SORT): its values per criterion,
  // without an object per message. Ties go by position, so the messages must be in sequence order (as found).
  if (found.every((f, i) => i === 0 || f[0] > found[i - 1]![0])) {
    const columns = criteria.map((c) => (c.key === 'ARRIVAL' ? 'arrival' : c.key === 'SIZE' ? 'size' : FIELD[c.key]!));
    const values = await sel.mailbox.sortColumnsFromCopy(
      found.map((f) => f[1]),
      columns,
    );
    if (values) {
      const order = await rankOrder(values, reverse, found.length, slice);
      const out: Array<[number, number]> = new Array(order.length);
      for (let i = 0; i < order.length; i++) {
        const f = found[order[i]!]!;
        out[i] = [f[0], f[1]];
      }
      return out;
    }
  }
  const fields = [...new Set(criteria.map((c) => FIELD[c.key]).filter((f): f is SortKeyField => f !== null))];
  const loaded = await loadSortKeys(sel, found, fields, slice, { arrival: criteria.some((c) => c.key === 'ARRIVAL') });
  // Ties go by sequence number (RFC 5256 §3): rankOrder breaks them by position, so put the messages in that order.
  if (loaded.some((m, i) => i > 0 && m.seq < loaded[i - 1]!.seq)) loaded.sort((a, b) => a.seq - b.seq);
  const keys = criteria.map((c) => loaded.map((m) => keyOf(m, c.key)));
  const order = await rankOrder(keys, reverse, loaded.length, slice);
  const out: Array<[number, number]> = new Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const m = loaded[order[i]!]!;
    out[i] = [m.seq, m.uid];
  }
  return out;
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
    const found = await runSearch(sel, cmd.criteria, { modseq: mod, pool: s.ctx.parsePool });
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
