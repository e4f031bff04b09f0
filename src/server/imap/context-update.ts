/**
 * CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): a SEARCH or SORT with RETURN (UPDATE) stays "live"; whenever the
 * mailbox changes (this session's own changes or others') the server re-evaluates it and tells the client what
 * entered or left the result, with unsolicited ESEARCH responses carrying the original tag:
 *
 *   * ESEARCH (TAG "a1") UID ADDTO (0 34:35)        SEARCH: position 0 (unordered; Dovecot does the same)
 *   * ESEARCH (TAG "b1") UID REMOVEFROM (3 12)      SORT: 1-based position in the sorted result
 *
 * Removals are listed from the highest position down and additions from the lowest up, so that a client applying
 * them one by one ends with the server's result. Expunged messages leave before their EXPUNGE/VANISHED response
 * (with the sequence numbers they still had). CANCELUPDATE "tag" (§4.3) ends a context; so do SELECT, EXAMINE,
 * CLOSE and UNSELECT (a new SelectedMailbox has none). At most MAX_CONTEXTS per session; more are refused with the
 * NOUPDATE response code (§4.2) while the search itself is still answered.
 * Cost: each re-evaluation runs the search again (and the sort); it happens only when HIGHESTMODSEQ moved.
 */
import type { SearchKey, SortKey } from '../../protocol/imap/index.js';
import { compressSequenceSet } from '../../protocol/imap/index.js';
import type { ImapSession } from './session.js';
import type { SelectedMailbox } from './selected.js';
import { runSearch } from './commands/search.js';
import { runSort } from './commands/sort.js';
import { correlator } from './commands/esearch.js';

export const MAX_CONTEXTS = 10;

export interface SearchContext {
  readonly tag: string;
  readonly uid: boolean;
  readonly criteria: SearchKey;
  /** Set for SORT contexts (CONTEXT=SORT). */
  readonly sort?: ReadonlyArray<{ readonly key: SortKey; readonly reverse: boolean }>;
  /** The current result as UIDs, in result order. */
  uids: number[];
  /** HIGHESTMODSEQ the result reflects. */
  modseq?: number;
}

/** Register an UPDATE context (RFC 5267 §4.2), or refuse it with NOUPDATE when there are too many. */
export async function addContext(s: ImapSession, sel: SelectedMailbox, ctx: SearchContext): Promise<void> {
  if (!sel.contexts.has(ctx.tag) && sel.contexts.size >= MAX_CONTEXTS) {
    s.write(`* NO [NOUPDATE "${ctx.tag.replace(/["\\]/g, '')}"] Too many active search contexts\r\n`);
    return;
  }
  ctx.modseq = (await sel.mailbox.counters()).highestModseq;
  sel.contexts.set(ctx.tag, ctx);
  sel.beforeExpunge = (sess, uids) => contextsBeforeExpunge(sess, sel, uids);
  sel.afterChanges = (sess) => refreshContexts(sess, sel);
}

function numberOf(sel: SelectedMailbox, ctx: SearchContext, uid: number): number {
  return ctx.uid ? uid : sel.seqOf(uid);
}

/** Messages about to be reported expunged: REMOVEFROM for those in a context, while their numbers still hold. */
export async function contextsBeforeExpunge(s: ImapSession, sel: SelectedMailbox, expunged: readonly number[]): Promise<void> {
  const gone = new Set(expunged);
  for (const ctx of sel.contexts.values()) {
    if (!ctx.uids.some((u) => gone.has(u))) continue;
    const removed: Array<[number, number]> = [];
    ctx.uids.forEach((u, i) => {
      if (gone.has(u)) removed.push([i + 1, u]);
    });
    writeRemovals(s, sel, ctx, removed);
    ctx.uids = ctx.uids.filter((u) => !gone.has(u));
  }
}

function writeRemovals(s: ImapSession, sel: SelectedMailbox, ctx: SearchContext, removed: Array<[number, number]>) {
  if (!removed.length) return;
  const head = `* ESEARCH ${correlator(ctx.tag)}${ctx.uid ? ' UID' : ''} REMOVEFROM (`;
  if (!ctx.sort) {
    const nums = removed.map(([, u]) => numberOf(sel, ctx, u)).filter((n) => n > 0);
    if (nums.length) s.write(`${head}0 ${compressSequenceSet(nums)})\r\n`);
    return;
  }
  const pairs = [...removed].sort((a, b) => b[0] - a[0]).map(([pos, u]) => `${pos} ${numberOf(sel, ctx, u)}`);
  s.write(`${head}${pairs.join(' ')})\r\n`);
}

/** Re-evaluate every context when the mailbox changed; send REMOVEFROM then ADDTO (RFC 5267 §4.3). */
export async function refreshContexts(s: ImapSession, sel: SelectedMailbox): Promise<void> {
  if (!sel.contexts.size) return;
  const highest = (await sel.mailbox.counters()).highestModseq;
  for (const ctx of sel.contexts.values()) {
    if (ctx.modseq === highest) continue;
    ctx.modseq = highest;
    let found = await runSearch(sel, ctx.criteria);
    if (ctx.sort) found = await runSort(sel, found, ctx.sort);
    const now = found.map(([, u]) => u);
    const nowSet = new Set(now);
    const oldSet = new Set(ctx.uids);
    const removed: Array<[number, number]> = [];
    ctx.uids.forEach((u, i) => {
      if (!nowSet.has(u)) removed.push([i + 1, u]);
    });
    writeRemovals(s, sel, ctx, removed);
    const added: Array<[number, number]> = [];
    now.forEach((u, i) => {
      if (!oldSet.has(u)) added.push([i + 1, u]);
    });
    if (added.length) {
      const head = `* ESEARCH ${correlator(ctx.tag)}${ctx.uid ? ' UID' : ''} ADDTO (`;
      if (!ctx.sort) s.write(`${head}0 ${compressSequenceSet(added.map(([, u]) => numberOf(sel, ctx, u)))})\r\n`);
      else s.write(`${head}${added.map(([pos, u]) => `${pos} ${numberOf(sel, ctx, u)}`).join(' ')})\r\n`);
    }
    ctx.uids = now;
  }
}
