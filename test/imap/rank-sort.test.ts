/**
 * rank-sort.ts against the plain comparator it replaces (RFC 5256 §3: keys in order, REVERSE per key, ties by
 * sequence number; strings by octets, where UTF-16 order differs for astral characters and U+E000..U+FFFF).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankOrder, type KeyValue } from '../../src/server/imap/rank-sort.js';
import { compareOctets } from '../../src/server/imap/base-subject.js';
import { TimeSlice } from '../../src/server/imap/prefetch.js';
import { mulberry32 } from '../../bench/lib/maildir-gen.mjs';

function reference(keys: KeyValue[][], reverse: boolean[], count: number): number[] {
  const idx = Array.from({ length: count }, (_, i) => i);
  return idx.sort((a, b) => {
    for (let k = 0; k < keys.length; k++) {
      const x = keys[k]![a]!;
      const y = keys[k]![b]!;
      const c = typeof x === 'number' ? x - (y as number) : compareOctets(x, y as string);
      if (c !== 0) return reverse[k] ? -c : c;
    }
    return a - b;
  });
}

test('rankOrder gives the comparator sort on random keys: numbers (small and date-sized), ASCII, astral and private-use strings, 1-3 criteria', async () => {
  const rnd = mulberry32(7);
  const alphabet = ['a', 'b', 'Z', ' ', 'é', /* narrow: the first five */ '\u{1F600}', '\uE000', '\uFFFD', 're: '];
  const str = (wide: boolean) => Array.from({ length: Math.floor(rnd() * 4) }, () => alphabet[Math.floor(rnd() * (wide ? alphabet.length : 5))]).join('');
  for (let round = 0; round < 40; round++) {
    const count = 1 + Math.floor(rnd() * (round < 30 ? 300 : 9000)); // the large ones exceed a sort run (4096)
    const nk = 1 + Math.floor(rnd() * 3);
    const wide = round % 2 === 0;
    const keys: KeyValue[][] = [];
    const reverse: boolean[] = [];
    for (let k = 0; k < nk; k++) {
      const numeric = rnd() < 0.4;
      // Numbers: small integers (many equal) or dates in ms (mostly distinct, like SORT DATE's keys).
      const dates = rnd() < 0.5;
      keys.push(Array.from({ length: count }, () => (numeric ? (dates ? 1.7e12 + Math.floor(rnd() * 1e9) : Math.floor(rnd() * 20) - 5) : str(wide))));
      reverse.push(rnd() < 0.5);
    }
    const got = [...(await rankOrder(keys, reverse, count, new TimeSlice()))];
    assert.deepEqual(got, reference(keys, reverse, count), `round ${round}`);
  }
});
