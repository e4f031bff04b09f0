// Sequence sets (RFC 3501 §9), expansion with "*", the COPYUID compressor (RFC 4315).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSequenceSet, resolveSequenceSet, expandSequenceSet, sequenceSetHas, sequenceSetExceeds,
  formatSequenceSet, compressSequenceSet,
} from '../../../src/protocol/imap/sequence.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';

test('parse and format', () => {
  assert.deepEqual(parseSequenceSet('1:*'), { kind: 'set', ranges: [{ start: 1, end: '*' }] });
  assert.deepEqual(parseSequenceSet('2,4:7,9'), {
    kind: 'set', ranges: [{ start: 2, end: 2 }, { start: 4, end: 7 }, { start: 9, end: 9 }],
  });
  assert.deepEqual(parseSequenceSet('$'), { kind: 'saved' });
  assert.equal(formatSequenceSet(parseSequenceSet('7:3,*,1')), '7:3,*,1');
  for (const bad of ['', '0', '1:', ':1', '1,,2', 'a', '1:2:3', '4294967296', '01', '$,1', '1 2']) {
    assert.throws(() => parseSequenceSet(bad, 't'), (e: unknown) => e instanceof ImapParseError && e.tag === 't', bad);
  }
  assert.deepEqual(parseSequenceSet('4294967295'), { kind: 'set', ranges: [{ start: 4294967295, end: 4294967295 }] });
});

test('expansion, membership and "*"', () => {
  const s = parseSequenceSet('2,4:7,9,12:*');
  assert.deepEqual(expandSequenceSet(s, 14), [2, 4, 5, 6, 7, 9, 12, 13, 14]);
  assert.deepEqual(resolveSequenceSet(s, 14), [[2, 2], [4, 7], [9, 9], [12, 14]]);
  assert.equal(sequenceSetHas(s, 13, 14), true);
  assert.equal(sequenceSetHas(s, 8, 14), false);
  // Reversed ranges and overlaps are normalized and merged.
  assert.deepEqual(resolveSequenceSet(parseSequenceSet('7:3,4,8,1:2'), 100), [[1, 8]]);
  // RFC 3501 §6.4.8: "559:*" includes the largest UID even when 559 is higher.
  assert.deepEqual(expandSequenceSet(parseSequenceSet('559:*'), 500), [500]);
  assert.equal(sequenceSetHas(parseSequenceSet('559:*'), 500, 500), true);
  // Huge explicit ranges are clamped, never materialized.
  assert.deepEqual(expandSequenceSet(parseSequenceSet('1:4294967295'), 3), [1, 2, 3]);
  assert.deepEqual(expandSequenceSet(parseSequenceSet('1:*'), 0), []);
  assert.deepEqual(expandSequenceSet(parseSequenceSet('600:700'), 500), []);
  assert.equal(sequenceSetExceeds(parseSequenceSet('1:5'), 4), true);
  assert.equal(sequenceSetExceeds(parseSequenceSet('1:*'), 4), false);
  assert.throws(() => expandSequenceSet({ kind: 'saved' }, 5));
});

test('compressSequenceSet', () => {
  assert.equal(compressSequenceSet([1, 2, 3, 4, 5, 7, 9, 10]), '1:5,7,9:10');
  assert.equal(compressSequenceSet([10, 9, 7, 5, 4, 3, 2, 1, 1]), '1:5,7,9:10');
  assert.equal(compressSequenceSet([]), '');
  assert.equal(compressSequenceSet([42]), '42');
  // COPYUID halves keep their order.
  assert.equal(compressSequenceSet([5, 6, 7, 1, 2], { sort: false }), '5:7,1:2');
});
