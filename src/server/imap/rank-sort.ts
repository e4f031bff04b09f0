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

/** Rank of each value (0 = smallest; equal values, equal ranks) and the highest rank. */
export async function ranksOf(values: readonly KeyValue[], slice: Yielding): Promise<{ ranks: Int32Array; max: number }> {
  const seen = new Set<KeyValue>();
  for (let i = 0; i < values.length; i++) {
    seen.add(values[i]!);
    if ((i & 4095) === 4095 && slice.due()) await slice.yield();
  }
  const distinct = [...seen];
  let sorted: readonly KeyValue[];
  if (distinct.every((v) => typeof v === 'number')) {
    sorted = Float64Array.from(distinct as number[]).sort() as unknown as number[]; // native numeric sort
  } else {
    const cmp = distinct.some((v) => typeof v === 'string' && WIDE.test(v))
      ? (a: KeyValue, b: KeyValue) => compareOctets(a as string, b as string)
      : (a: KeyValue, b: KeyValue) => (a < b ? -1 : a > b ? 1 : 0); // UTF-16 order is octet order here (RFC 5256 §3, i;octet after casemap)
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
