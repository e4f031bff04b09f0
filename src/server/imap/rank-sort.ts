/**
 * Sorting many messages by SORT keys (RFC 5256 §3) through ranks: the distinct values of each key are sorted once
 * (far fewer than the messages when senders repeat; cheap comparisons when no string needs the octet rule), every
 * message gets its value's rank, and messages are ordered by ranks, then by position (= sequence number, the RFC's
 * tie-break). With one key the (rank, position) pairs are packed into doubles and sorted natively.
 */
import { compareOctets } from './base-subject.js';
import { sortYielding, type Yielding } from './prefetch.js';

export type KeyValue = number | string;

/** A character whose UTF-16 order differs from its UTF-8 octet order against some other (surrogates, U+E000+). */
const WIDE = /[\uD800-\uFFFF]/;

/**
 * ranksOf for numbers without hashing them: the values sorted natively in a Float64Array, duplicates dropped in
 * place, then each value's rank by binary search (a Set and a Map of 100,000 doubles cost ~5x more). null: some
 * value is not a number (or is NaN, which has no order).
 */
async function numberRanks(values: readonly KeyValue[], slice: Yielding): Promise<{ ranks: Int32Array; max: number } | null> {
  const n = values.length;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number' || v !== v) return null;
    sorted[i] = v;
  }
  sorted.sort();
  let distinct = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[distinct - 1]) sorted[distinct++] = sorted[i]!;
  const ranks = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    ranks[i] = lo;
    if ((i & 16383) === 16383 && slice.due()) await slice.yield();
  }
  return { ranks, max: distinct - 1 };
}

/** Rank of each value (0 = smallest; equal values, equal ranks) and the highest rank. */
export async function ranksOf(values: readonly KeyValue[], slice: Yielding): Promise<{ ranks: Int32Array; max: number }> {
  if (values.length > 0 && typeof values[0] === 'number') {
    const r = await numberRanks(values, slice);
    if (r) return r;
  }
  const seen = new Set<KeyValue>();
  for (let i = 0; i < values.length; i++) {
    seen.add(values[i]!);
    if ((i & 4095) === 4095 && slice.due()) await slice.yield();
  }
  const distinct = [...seen];
  let sorted: readonly KeyValue[];
  if (distinct.every((v) => typeof v === 'number')) {
    sorted = Float64Array.from(distinct as number[]).sort() as unknown as number[]; // native numeric sort
  } else if (distinct.every((v) => typeof v === 'string' && !WIDE.test(v))) {
    // UTF-16 order is octet order here (RFC 5256 §3, i;octet after casemap), and it is what the default sort of
    // an array of strings compares: native, without a comparator call per comparison (100,000 distinct subjects:
    // ~50 ms against ~70-100 ms; it does not yield meanwhile).
    sorted = distinct.sort();
  } else {
    const cmp = distinct.some((v) => typeof v === 'string' && WIDE.test(v))
      ? (a: KeyValue, b: KeyValue) => compareOctets(a as string, b as string)
      : (a: KeyValue, b: KeyValue) => (a < b ? -1 : a > b ? 1 : 0);
    sorted = await sortYielding(distinct, cmp, slice);
  }
  const rankOf = new Map<KeyValue, number>();
  for (let i = 0; i < sorted.length; i++) {
    rankOf.set(sorted[i]!, i);
    if ((i & 4095) === 4095 && slice.due()) await slice.yield();
  }
  const ranks = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    ranks[i] = rankOf.get(values[i]!)!;
    if ((i & 4095) === 4095 && slice.due()) await slice.yield();
  }
  if (slice.due()) await slice.yield();
  return { ranks, max: sorted.length - 1 };
}

const POS = 2 ** 32;

/**
 * The order (indices into the message list) by the keys' ranks, REVERSE per key, ties by index. `keys[k][i]` is
 * message i's value of criterion k.
 */
export async function rankOrder(keys: ReadonlyArray<readonly KeyValue[]>, reverse: readonly boolean[], count: number, slice: Yielding): Promise<Uint32Array> {
  const ranked: Int32Array[] = [];
  for (let k = 0; k < keys.length; k++) {
    const { ranks, max } = await ranksOf(keys[k]!, slice);
    if (reverse[k]) for (let i = 0; i < ranks.length; i++) ranks[i] = max - ranks[i]!;
    ranked.push(ranks);
  }
  const order = new Uint32Array(count);
  if (ranked.length === 1) {
    // rank * 2^32 + index: exact in a double (ranks < 2^20 in practice, always < 2^21), sorted natively.
    const r = ranked[0]!;
    const packed = new Float64Array(count);
    for (let i = 0; i < count; i++) packed[i] = r[i]! * POS + i;
    packed.sort();
    for (let i = 0; i < count; i++) order[i] = packed[i]! % POS;
    return order;
  }
  const idx = Array.from({ length: count }, (_, i) => i);
  const sorted = await sortYielding(
    idx,
    (a, b) => {
      for (let k = 0; k < ranked.length; k++) {
        const d = ranked[k]![a]! - ranked[k]![b]!;
        if (d !== 0) return d;
      }
      return a - b;
    },
    slice,
  );
  for (let i = 0; i < count; i++) order[i] = sorted[i]!;
  return order;
}
