/**
 * IMAP sequence sets: parsing, membership, expansion and compact formatting.
 *
 * Standards: RFC 3501 §9 `sequence-set`, `seq-number`, `seq-range` (and §6.4.8 for "*" with UIDs:
 * a UID range "559:*" always includes the largest UID in use, even if 559 is larger);
 * RFC 5182 "$" (the saved SEARCH result) ; RFC 4315 §3 uid-set for COPYUID/APPENDUID.
 * Untrusted input: `parseSequenceSet` takes client text; numbers are bounded to 1..2^32-1 and the
 * number of ranges to `MAX_RANGES`. Expansion is always clamped to 1..max so `1:4294967295` cannot
 * blow up memory.
 */
import { ImapParseError } from './errors.js';

/** A seq-number: a number in 1..4294967295, or "*" (the largest number in use). */
export type SeqNumber = number | '*';

/** One seq-range; a single number has start === end. Order as written by the client (3:1 allowed). */
export interface SequenceRange {
  readonly start: SeqNumber;
  readonly end: SeqNumber;
}

/** A parsed sequence set: explicit ranges, or "$" (RFC 5182 SEARCHRES), which the session substitutes. */
export type SequenceSet =
  | { readonly kind: 'set'; readonly ranges: readonly SequenceRange[] }
  | { readonly kind: 'saved' };

export const MAX_NUMBER = 4294967295;
export const MAX_RANGES = 10000;

function parseSeqNumber(text: string, tag: string | undefined): SeqNumber {
  if (text === '*') return '*';
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new ImapParseError(`Invalid sequence number "${text.slice(0, 20)}"`, { tag });
  const n = Number(text);
  if (n > MAX_NUMBER) throw new ImapParseError('Sequence number out of range', { tag });
  return n;
}

/** RFC 3501 §9 sequence-set (or RFC 5182 "$"). Throws ImapParseError (BAD). */
export function parseSequenceSet(text: string, tag?: string): SequenceSet {
  if (text === '$') return { kind: 'saved' };
  if (text === '') throw new ImapParseError('Missing sequence set', { tag });
  const parts = text.split(',');
  if (parts.length > MAX_RANGES) throw new ImapParseError('Sequence set too long', { tag });
  const ranges: SequenceRange[] = [];
  for (const part of parts) {
    const colon = part.indexOf(':');
    if (colon < 0) {
      const n = parseSeqNumber(part, tag);
      ranges.push({ start: n, end: n });
    } else {
      ranges.push({ start: parseSeqNumber(part.slice(0, colon), tag), end: parseSeqNumber(part.slice(colon + 1), tag) });
    }
  }
  return { kind: 'set', ranges };
}

function resolveNumber(n: SeqNumber, max: number): number {
  return n === '*' ? max : n;
}

/**
 * The set as sorted, merged, inclusive [lo, hi] intervals clamped to 1..max, where "*" means max.
 * `max` is the highest sequence number (message count) or the highest UID in use; 0 gives [].
 * Throws a plain Error for "$" (a bug: the session must substitute the saved result first).
 */
export function resolveSequenceSet(set: SequenceSet, max: number): Array<[number, number]> {
  if (set.kind === 'saved') throw new Error('resolveSequenceSet: "$" must be substituted by the session');
  if (max <= 0) return [];
  const spans: Array<[number, number]> = [];
  for (const r of set.ranges) {
    let a = resolveNumber(r.start, max);
    let b = resolveNumber(r.end, max);
    if (a > b) [a, b] = [b, a];
    if (a > max) continue;
    spans.push([a, Math.min(b, max)]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s[0] <= last[1] + 1) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  return merged;
}

/** Is `n` in the set (with "*" = max)? Same clamping rules as resolveSequenceSet. */
export function sequenceSetHas(set: SequenceSet, n: number, max: number): boolean {
  if (set.kind === 'saved') throw new Error('sequenceSetHas: "$" must be substituted by the session');
  for (const r of set.ranges) {
    let a = resolveNumber(r.start, max);
    let b = resolveNumber(r.end, max);
    if (a > b) [a, b] = [b, a];
    if (a > max) continue;
    if (n >= a && n <= Math.min(b, max)) return true;
  }
  return false;
}

/** All numbers of the set in ascending order, clamped to 1..max. */
export function expandSequenceSet(set: SequenceSet, max: number): number[] {
  const out: number[] = [];
  for (const [lo, hi] of resolveSequenceSet(set, max)) for (let n = lo; n <= hi; n++) out.push(n);
  return out;
}

/**
 * True if the set names an explicit number above `max`. For message sequence numbers RFC 3501 §9
 * makes that a client error (answer BAD); for UIDs it is fine and simply matches nothing.
 */
export function sequenceSetExceeds(set: SequenceSet, max: number): boolean {
  if (set.kind === 'saved') return false;
  return set.ranges.some((r) => (r.start !== '*' && r.start > max) || (r.end !== '*' && r.end > max));
}

/** The set in wire form, as parsed (no sorting or merging). */
export function formatSequenceSet(set: SequenceSet): string {
  if (set.kind === 'saved') return '$';
  return set.ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}:${r.end}`)).join(',');
}

/**
 * Compress numbers into a sequence set string, e.g. [1,2,3,4,5,7,9,10] -> "1:5,7,9:10".
 * By default numbers are sorted and de-duplicated. With `{ sort: false }` the order is kept and only
 * ascending consecutive runs are joined — use that for the two halves of COPYUID (RFC 4315 §3), whose
 * source and destination UIDs must correspond position by position.
 */
export function compressSequenceSet(numbers: readonly number[], options: { sort?: boolean } = {}): string {
  const nums = options.sort === false ? [...numbers] : [...new Set(numbers)].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < nums.length) {
    const start = nums[i]!;
    let end = start;
    while (i + 1 < nums.length && nums[i + 1] === end + 1) end = nums[++i]!;
    parts.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return parts.join(',');
}
