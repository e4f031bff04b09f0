/**
 * The ESEARCH response (RFC 4731 §3.1, RFC 5267 §3 for SORT, §4.4 PARTIAL) and the saved result of RFC 5182
 * SEARCHRES, shared by SEARCH and SORT. Items in Dovecot's order: MIN MAX ALL|PARTIAL COUNT MODSEQ.
 *
 *   * ESEARCH (TAG "a1") UID MIN 4 MAX 9 ALL 4:9 COUNT 6 MODSEQ 917
 */
import { compressSequenceSet } from '../../../protocol/imap/index.js';
import type { SelectedMailbox } from '../selected.js';

export interface ReturnRequest {
  readonly tag: string;
  readonly uid: boolean;
  readonly returnOptions: readonly string[];
  readonly partial?: { readonly low: number; readonly high: number } | undefined;
}

/** The result items asked for: RETURN () and RETURN (CONTEXT) mean ALL (RFC 4731 §3.1, RFC 5267 §4). */
export function resultOptions(opts: readonly string[]): Set<string> {
  const out = new Set(opts.filter((o) => o !== 'SAVE' && o !== 'CONTEXT' && o !== 'UPDATE'));
  if (!out.size && !opts.includes('SAVE') && !opts.includes('UPDATE')) out.add('ALL');
  return out;
}

/** RFC 4466 §2.6.2 search-correlator: (TAG "tag"). */
export function correlator(tag: string): string {
  return `(TAG "${tag.replace(/["\\]/g, '')}")`;
}

/**
 * One ESEARCH line, or null when only SAVE was asked for (RFC 5182 §2.1: no ESEARCH then). `nums` are the UIDs or
 * sequence numbers in result order (ascending for SEARCH, sort order for SORT, where MIN is the first and MAX the
 * last; RFC 5267 §3). `modseq` is given when a MODSEQ search key was used and something matched (RFC 7162 §3.1.5).
 */
export function esearchLine(req: ReturnRequest, nums: readonly number[], o: { sorted?: boolean; modseq?: number } = {}): string | null {
  const opts = resultOptions(req.returnOptions);
  if (!opts.size && !req.returnOptions.includes('UPDATE')) return null;
  let line = `* ESEARCH ${correlator(req.tag)}${req.uid ? ' UID' : ''}`;
  if (nums.length) {
    if (opts.has('MIN')) line += ` MIN ${nums[0]}`;
    if (opts.has('MAX')) line += ` MAX ${nums[nums.length - 1]}`;
    if (opts.has('ALL')) line += ` ALL ${compressSequenceSet(nums, { sort: !o.sorted })}`;
  }
  if (opts.has('PARTIAL') && req.partial) {
    const part = nums.slice(req.partial.low - 1, req.partial.high);
    line += ` PARTIAL (${req.partial.low}:${req.partial.high} ${part.length ? compressSequenceSet(part, { sort: !o.sorted }) : 'NIL'})`;
  }
  if (opts.has('COUNT')) line += ` COUNT ${nums.length}`;
  if (o.modseq !== undefined && nums.length) line += ` MODSEQ ${o.modseq}`;
  return line + '\r\n';
}

/**
 * RFC 5182 §2.1: RETURN (SAVE) stores the result as "$". With MIN and/or MAX but neither ALL nor COUNT only those
 * messages are saved. `uids` in result order.
 */
export function saveResult(sel: SelectedMailbox, req: ReturnRequest, uids: readonly number[]): void {
  if (!req.returnOptions.includes('SAVE')) return;
  const o = req.returnOptions;
  const minMaxOnly = (o.includes('MIN') || o.includes('MAX')) && !o.includes('ALL') && !o.includes('COUNT') && !o.includes('PARTIAL');
  if (minMaxOnly && uids.length) {
    const keep = new Set<number>();
    if (o.includes('MIN')) keep.add(uids[0]!);
    if (o.includes('MAX')) keep.add(uids[uids.length - 1]!);
    sel.saved = keep;
  } else {
    sel.saved = new Set(uids);
  }
}
