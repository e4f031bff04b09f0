// Parsing of the RFC 4731/5182/5267 return options (SEARCH and SORT RETURN, PARTIAL, UPDATE), CANCELUPDATE, and the
// RFC 7162 QRESYNC select parameter and modifiers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import { cmd } from './helpers.js';

function bad(line: string, re?: RegExp): ImapParseError {
  try {
    cmd(line);
  } catch (err) {
    assert.ok(err instanceof ImapParseError, String(err));
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected ImapParseError for ${line}`);
}

test('SEARCH RETURN: options upper-cased, PARTIAL range, () allowed', () => {
  const c = cmd('a SEARCH RETURN (min Partial 5:3 save update context) ALL') as { returnOptions: string[]; partial: unknown };
  assert.deepEqual(c.returnOptions, ['MIN', 'PARTIAL', 'SAVE', 'UPDATE', 'CONTEXT']);
  assert.deepEqual(c.partial, { low: 3, high: 5 });
  assert.deepEqual((cmd('a SEARCH RETURN () ALL') as { returnOptions: string[] }).returnOptions, []);
  bad('a SEARCH RETURN (PARTIAL 0:3) ALL', /PARTIAL range/);
  bad('a SEARCH RETURN (PARTIAL 1:2 ALL) ALL', /conflicts/);
  bad('a SEARCH RETURN (PARTIAL) ALL');
  bad('a SEARCH RETURN (FOO) ALL', /Unknown search return option/);
});

test('SORT RETURN (ESORT) before the sort criteria; plain SORT has no returnOptions', () => {
  const c = cmd('a UID SORT RETURN (ALL COUNT) (REVERSE DATE) UTF-8 ALL') as { returnOptions: string[]; uid: boolean; sortCriteria: unknown[] };
  assert.deepEqual(c.returnOptions, ['ALL', 'COUNT']);
  assert.equal(c.uid, true);
  assert.equal(c.sortCriteria.length, 1);
  assert.equal((cmd('a SORT (DATE) UTF-8 ALL') as { returnOptions?: unknown }).returnOptions, undefined);
  bad('a SORT RETURN (ALL) UTF-8 ALL');
});

test('CANCELUPDATE takes one or more tag strings', () => {
  assert.deepEqual((cmd('a CANCELUPDATE "x1" "x2"') as { tags: string[] }).tags, ['x1', 'x2']);
  bad('a CANCELUPDATE');
  bad('a CANCELUPDATE x1');
});

test('SEARCH (SAVE) with an unknown charset: NO BADCHARSET that resets $; without SAVE it does not', () => {
  const e = bad('a SEARCH RETURN (SAVE) CHARSET KOI8-R ALL');
  assert.equal(e.status, 'NO');
  assert.equal(e.resetsSearchResult, true);
  assert.equal(bad('a SEARCH CHARSET KOI8-R ALL').resetsSearchResult, false);
});

test('SELECT (QRESYNC (...)) with known UIDs and seq-match-data; FETCH modifiers', () => {
  const s = cmd('a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 5:7)))') as { qresync: Record<string, unknown> };
  assert.equal(s.qresync.uidValidity, 67890007);
  assert.equal(s.qresync.modSeq, 20050715194045000n);
  assert.ok(s.qresync.knownUids && s.qresync.knownSequenceSet && s.qresync.knownUidSet);
  bad('a SELECT INBOX (QRESYNC (0 1))');
  bad('a SELECT INBOX (QRESYNC (1))');
  const f = cmd('a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)') as { changedSince: bigint; vanished: boolean };
  assert.equal(f.changedSince, 12345n);
  assert.equal(f.vanished, true);
  bad('a FETCH 1 (FLAGS) (CHANGEDSINCE 12345 VANISHED)', /VANISHED/);
  bad('a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)');
});
