/** sortYielding (src/server/imap/prefetch.ts): the same order as a stable Array.prototype.sort, with event-loop turns. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sortYielding, TimeSlice } from '../../src/server/imap/prefetch.js';

class CountingSlice extends TimeSlice {
  yields = 0;
  override due(): boolean {
    return true; // every check yields: the most interleaving possible
  }
  override async yield(): Promise<void> {
    this.yields++;
    await super.yield();
  }
}

test('same result as a stable sort, for several sizes, with many equal keys; yields on large inputs', async () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const n of [0, 1, 5, 4096, 4097, 10_000, 50_001]) {
    const items = Array.from({ length: n }, (_, i) => ({ key: Math.floor(rnd() * 100), pos: i }));
    const cmp = (a: { key: number }, b: { key: number }) => a.key - b.key;
    const expected = items.slice().sort(cmp);
    const slice = new CountingSlice();
    const got = await sortYielding(items.slice(), cmp, slice);
    assert.deepEqual(got.map((x) => x.pos), expected.map((x) => x.pos), `n=${n}`);
    if (n > 4096) assert.ok(slice.yields >= Math.ceil(n / 4096), `n=${n}: ${slice.yields} yields`);
  }
});

test('another timer runs while a 200,000-element sort is in progress', async () => {
  const items = Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 200_000);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const out = await sortYielding(items, (a, b) => a - b, new TimeSlice(5));
  clearInterval(timer);
  assert.equal(out[0], 0);
  assert.equal(out[199_999], 199_999);
  assert.ok(ticks > 0, 'the timer never ran during the sort');
});
