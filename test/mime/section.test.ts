// BODY[section]<partial> (RFC 3501 §6.4.5): every section kind on every nesting shape, section text parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractSection, parseSection, parseStructure, partial, findPart } from '../../src/mime/index.js';
import { fixture } from './helpers.js';

const get = (name: string, section: string) => {
  const raw = fixture(name);
  return extractSection(raw, parseStructure(raw), section).toString('utf8');
};

test('parseSection: grammar', () => {
  assert.deepEqual(parseSection(''), { part: [], text: null });
  assert.deepEqual(parseSection('1.2.MIME'), { part: [1, 2], text: 'MIME' });
  assert.deepEqual(parseSection('header.fields (From "To" x-a)'), {
    part: [],
    text: 'HEADER.FIELDS',
    fields: ['From', 'To', 'x-a'],
  });
  assert.deepEqual(parseSection('2.HEADER.FIELDS.NOT (Subject)'), {
    part: [2],
    text: 'HEADER.FIELDS.NOT',
    fields: ['Subject'],
  });
  for (const bad of ['0', '1.0', '1.', '.1', 'MIME', 'HEADER.FIELDS', 'HEADER.FIELDS ()', 'BODY', '1.X', '01', '1..2']) {
    assert.equal(parseSection(bad), null, bad);
  }
});

test('whole message, HEADER, TEXT', () => {
  const raw = fixture('alternative');
  const t = parseStructure(raw);
  assert.equal(extractSection(raw, t, ''), raw);
  assert.ok(get('alternative', 'HEADER').endsWith('boundary="=_alt_boundary"\r\n\r\n'));
  assert.ok(get('alternative', 'TEXT').startsWith('This is a preamble.\r\n--=_alt_boundary\r\n'));
});

test('HEADER.FIELDS keeps folding, message order, final blank line; .NOT the rest', () => {
  assert.equal(
    get('plain', 'HEADER.FIELDS (x-folded SUBJECT from)'),
    'From: Alice Example <alice@example.org>\r\nSubject: Plain text message\r\nX-Folded: first part\r\n second part\r\n\r\n',
  );
  assert.equal(get('plain', 'HEADER.FIELDS (NO-SUCH)'), '\r\n');
  const not = get('plain', 'HEADER.FIELDS.NOT (RECEIVED SUBJECT X-Folded)');
  assert.ok(not.startsWith('Return-Path: <alice@example.org>\r\nDate:'));
  assert.ok(!/Received|Subject|X-Folded|second part/.test(not));
  assert.ok(not.endsWith('MIME-Version: 1.0\r\n\r\n'));
});

test('non-multipart message: 1 is the body, 1.MIME the header, 2 missing', () => {
  assert.equal(get('plain', '1'), 'Hello Bob,\r\n\r\nThis is a plain text message\r\nwith four lines.\r\n');
  assert.ok(get('plain', '1.MIME').startsWith('Return-Path:'));
  assert.equal(get('plain', '1.HEADER'), '');
  assert.equal(get('plain', '2'), '');
});

test('multipart parts, MIME headers, nested numbers', () => {
  assert.equal(get('nested', '1.1'), 'Gr=FC=DFe aus M=FCnchen');
  assert.equal(
    get('nested', '1.2.MIME'),
    'Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
  );
  assert.equal(get('nested', '1.MIME'), 'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n');
  assert.ok(get('nested', '1').startsWith('--inner\r\n'));
  assert.ok(get('nested', '1').endsWith('--inner--\r\n'));
  assert.ok(get('nested', '2').startsWith('iVBORw0KGgo'));
  assert.equal(get('nested', '1.3'), '');
  assert.equal(get('nested', '3'), '');
  // A leaf's part 1 is the leaf itself (as Dovecot).
  assert.equal(get('nested', '1.1.1'), get('nested', '1.1'));
});

test('message/rfc822 parts: HEADER, TEXT, HEADER.FIELDS, sub-parts and MIME', () => {
  assert.ok(get('rfc822', '2').startsWith('Date: Thu, 5 Nov 2026 07:00:00 +0000\r\n'));
  assert.ok(get('rfc822', '2').endsWith('--in--\r\n'));
  assert.ok(get('rfc822', '2.HEADER').endsWith('boundary="in"\r\n\r\n'));
  assert.ok(get('rfc822', '2.TEXT').startsWith('--in\r\n'));
  assert.equal(get('rfc822', '2.HEADER.FIELDS (SUBJECT)'), 'Subject: Inner message\r\n\r\n');
  assert.ok(!get('rfc822', '2.HEADER.FIELDS.NOT (SUBJECT)').includes('Subject'));
  assert.equal(get('rfc822', '2.1'), 'Inner plain text.\r\nSecond line.');
  assert.equal(get('rfc822', '2.2.MIME'), 'Content-Type: text/html; charset=utf-8\r\n\r\n');
  assert.equal(get('rfc822', '2.MIME'), 'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="inner.eml"\r\n\r\n');
  // Encapsulated non-multipart message: 3.1 is its body, 3.1.MIME its header.
  assert.equal(get('rfc822', '3.1'), 'Just text.');
  assert.equal(get('rfc822', '3.TEXT'), 'Just text.');
  assert.equal(get('rfc822', '3.1.MIME'), 'From: grace@example.test\r\nSubject: Simple inner\r\n\r\n');
  assert.equal(get('rfc822', '1.HEADER'), '');
  assert.equal(get('rfc822', '1.TEXT'), '');
});

test('LF-only message: sections are byte ranges of the stored message', () => {
  assert.equal(get('malformed-lf', '1'), 'first part');
  // The line break before a delimiter belongs to the delimiter, so this header has none (Dovecot agrees).
  assert.equal(get('malformed-lf', '2.MIME'), 'Content-Type: text/plain; charset=utf-8');
  assert.equal(get('malformed-lf', '2'), '');
  assert.equal(get('malformed-lf', '3'), '<p>no closing boundary</p>\n');
  assert.equal(get('malformed-lf', 'HEADER.FIELDS (Subject)'), 'Subject: Broken Ünïcode message\n\r\n');
});

test('header-only message: HEADER without blank line, empty TEXT', () => {
  assert.equal(get('header-only', 'TEXT'), '');
  assert.ok(get('header-only', 'HEADER').endsWith('format=flowed\r\n'));
});

test('partial <origin.count>', () => {
  const b = Buffer.from('0123456789');
  assert.equal(partial(b, 2, 3).toString(), '234');
  assert.equal(partial(b, 8, 100).toString(), '89');
  assert.equal(partial(b, 10, 1).length, 0);
  assert.equal(partial(b, 0).toString(), '0123456789');
  assert.equal(partial(b, -1, 2).length, 0);
});

test('findPart returns null for missing parts, never throws on bad input', () => {
  const t = parseStructure(fixture('nested'));
  assert.equal(findPart(t, [9]), null);
  assert.equal(findPart(t, [2, 2]), null);
  assert.equal(extractSection(Buffer.from('x'), t, '1.1').length, 0); // tree/raw mismatch: empty, no throw
  assert.equal(extractSection(fixture('nested'), t, 'garbage').length, 0);
});
