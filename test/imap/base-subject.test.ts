/**
 * RFC 5256 §2.1 base subject extraction (pure function) and the i;ascii-casemap comparator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseSubject, compareCasemap, compareOctets } from '../../src/server/imap/base-subject.js';

const base = (s: string | null) => baseSubject(s).base;

test('plain subjects are in i;unicode-casemap form (titlecase, NFD), whitespace collapsed', () => {
  assert.equal(base('Hello world'), 'HELLO WORLD');
  assert.equal(base('  Hello \t  world  '), 'HELLO WORLD');
  assert.equal(base('Hello\r\n world'), 'HELLO WORLD');
  assert.equal(base('café'), 'CAFE\u0301');
  assert.equal(base('Cafe\u0301'), 'CAFE\u0301');
  assert.equal(base(null), '');
  assert.equal(base(''), '');
  assert.equal(baseSubject('Hello').replyOrForward, false);
});

test('step 2: trailers "(fwd)" and whitespace, repeatedly', () => {
  assert.equal(base('Hello (fwd)'), 'HELLO');
  assert.equal(base('Hello (FWD) (fwd)  '), 'HELLO');
  assert.equal(baseSubject('Hello (fwd)').replyOrForward, true);
});

test('step 3: subj-leader re / fw / fwd with blobs, any case, repeatedly', () => {
  assert.equal(base('Re: Hello'), 'HELLO');
  assert.equal(base('RE:Hello'), 'HELLO');
  assert.equal(base('re : Hello'), 'HELLO');
  assert.equal(base('Fw: Hello'), 'HELLO');
  assert.equal(base('FWD: Hello'), 'HELLO');
  assert.equal(base('Re: Re: Fwd: Hello'), 'HELLO');
  assert.equal(base('Re[2]: Hello'), 'HELLO');
  assert.equal(base('[list] Re: Hello'), 'HELLO');
  assert.equal(base('[a][b] Re [c]: Hello'), 'HELLO');
  assert.equal(baseSubject('Re: Hello').replyOrForward, true);
  // Not leaders: "Regarding:", "Ref:", no colon
  assert.equal(base('Regarding: x'), 'REGARDING: X');
  assert.equal(base('Re Hello'), 'RE HELLO');
});

test('step 4: a leading blob is removed only when something non-blank is left', () => {
  assert.equal(base('[list] Hello'), 'HELLO');
  assert.equal(base('[list] [other] Hello'), 'HELLO');
  assert.equal(base('[list]'), '[LIST]');
  assert.equal(base('[list] [other]'), '[OTHER]');
  assert.equal(baseSubject('[list] Hello').replyOrForward, false);
});

test('step 5: (3) and (4) repeat until nothing matches', () => {
  assert.equal(base('[list] Re: [other] Fwd: Hello'), 'HELLO');
  assert.equal(base('Re: [list] Re: Hello (fwd)'), 'HELLO');
});

test('step 6: [fwd: ...] wrapper, then back to step 2', () => {
  assert.equal(base('[Fwd: Hello]'), 'HELLO');
  assert.equal(base('[fwd: Re: Hello (fwd)]'), 'HELLO');
  assert.equal(base('[Fwd: [Fwd: Re: Hello]]'), 'HELLO');
  assert.equal(baseSubject('[Fwd: Hello]').replyOrForward, true);
  assert.equal(base('[Fwd: Hello'), 'HELLO'.replace('HELLO', '[FWD: HELLO'));
});

test('step 1: encoded words are decoded first', () => {
  assert.equal(base('=?utf-8?q?Re=3A_Caf=C3=A9?='), 'CAFE\u0301');
  assert.equal(base('Re: =?iso-8859-1?q?caf=E9?= time'), 'CAFE\u0301 TIME');
});

test('i;unicode-casemap comparison (RFC 5051)', () => {
  assert.equal(compareCasemap('abc', 'ABC'), 0);
  assert.ok(compareCasemap('a', 'B') < 0);
  assert.ok(compareCasemap('b', 'A') > 0);
  assert.ok(compareCasemap('', 'a') < 0);
  // non-ASCII is case-mapped and decomposed: é = É = E + U+0301, which sorts after "EZ" and before "F"
  assert.equal(compareCasemap('é', 'É'), 0);
  assert.equal(compareCasemap('e\u0301', 'É'), 0);
  assert.ok(compareCasemap('émile', 'ezra') > 0); // U+0301 sorts after every ASCII letter
  assert.ok(compareCasemap('émile', 'fred') < 0);
  // "ß" has no one-character titlecase: it stays, and sorts after ASCII
  assert.ok(compareCasemap('ß', 'z') > 0);
  // code point (UTF-8 octet) order, not UTF-16 unit order: U+1F600 > U+FFFD
  assert.ok(compareOctets('\u{1F600}', '\uFFFD') > 0);
  assert.ok(compareOctets('\uFFFD', '\u{1F600}') < 0);
});
