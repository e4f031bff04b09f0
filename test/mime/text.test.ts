// SEARCH text (RFC 3501 §6.4.4): decoded headers, decoded bodies, case-insensitive Unicode matching, bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyText, decodedHeaderValue, headerText, matchesText, parseStructure } from '../../src/mime/index.js';
import { fixture } from './helpers.js';

test('decodedHeaderValue: encoded words, all occurrences, 8-bit raw', () => {
  const raw = fixture('encoded-words');
  assert.deepEqual(decodedHeaderValue(raw, 'Subject'), ['Hello 🌍 und Grüße']);
  assert.deepEqual(decodedHeaderValue(raw, 'from'), ['Jürgen Müller <juergen@example.test>']);
  assert.deepEqual(decodedHeaderValue(raw, 'TO'), ['André <andre@example.test>, 山田 <yamada@example.test>']);
  assert.deepEqual(decodedHeaderValue(raw, 'X-Raw-8bit'), ['Grüße raw']);
  assert.deepEqual(decodedHeaderValue(Buffer.from('A: 1\r\nB: x\r\nA: 2\r\n  folded\r\n\r\nA: body'), 'a'), ['1', '2  folded']); // RFC 5322 §2.2.3: unfolding removes only the CRLF
  assert.deepEqual(decodedHeaderValue(fixture('plain'), 'x-missing'), []);
  assert.ok(headerText(raw).includes('Subject: Hello 🌍 und Grüße'));
});

test('bodyText: base64 utf-8, quoted-printable utf-8 and iso-8859-1, nested messages', () => {
  const ew = fixture('encoded-words');
  assert.equal(bodyText(ew, parseStructure(ew)), 'Grüße aus Köln. Das ist ein TEST.\nSecond line €.\n');
  const alt = fixture('alternative');
  const t = bodyText(alt, parseStructure(alt));
  assert.ok(t.includes('Café au lait, naïve résumé.'));
  assert.ok(t.includes('quoted-printable encoder right here.'));
  const nested = fixture('nested');
  assert.ok(bodyText(nested, parseStructure(nested)).includes('Grüße aus München'));
  assert.ok(!bodyText(nested, parseStructure(nested)).includes('iVBOR')); // image not searched
  const fwd = fixture('rfc822');
  const ft = bodyText(fwd, parseStructure(fwd));
  assert.ok(ft.includes('Inner plain text.') && ft.includes('Just text.') && ft.includes('<b>Inner html</b>'));
});

test('bodyText is capped', () => {
  const raw = Buffer.from('Content-Transfer-Encoding: base64\r\n\r\n' + Buffer.alloc(3_000_000, 'a').toString('base64'));
  const t = bodyText(raw, parseStructure(raw), 1000);
  assert.equal(t.length, 1000);
});

test('matchesText: case-insensitive substring on Unicode', () => {
  assert.ok(matchesText('Grüße aus MÜNCHEN', 'münchen'));
  assert.ok(matchesText('Hello 🌍 und Grüße', 'GRÜSSE') === false); // no full case folding (ß), documented
  assert.ok(matchesText('Cafe\u0301', 'CAFÉ')); // NFC
  assert.ok(matchesText('anything', ''));
  assert.ok(!matchesText('abc', 'abd'));
});

test('ASCII fast paths: unicodeCasemap and stripComments give what the general code gives', async () => {
  const { unicodeCasemap } = await import('../../src/mime/text.js');
  const { stripComments } = await import('../../src/mime/headers.js');
  let all = '';
  for (let c = 0; c < 128; c++) all += String.fromCharCode(c);
  // The general casemap: a-z upper-cased, nothing else changed (what the non-ASCII path does to ASCII).
  assert.equal(unicodeCasemap(all), all.replace(/[a-z]/g, (m) => m.toUpperCase()));
  assert.equal(unicodeCasemap('Re: caf\u00e9 x'), 'RE: CAFE\u0301 X');
  for (const s of ['Tue, 2 Jan 2024 "a\\"b" \\', '"\\', 'x ) y', '']) assert.equal(stripComments(s), s);
  assert.equal(stripComments('Tue, 2 Jan 2024 (EST) x'), 'Tue, 2 Jan 2024   x');
});
