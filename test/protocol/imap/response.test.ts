// Response formatting: quoting, literals, lists, FETCH, status responses, parse errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatString, formatAString, formatNString, serializeValue, serializeParts, atom, literal, deferredLiteral,
  formatFlags, formatInternalDate, fetchResponse, fetchResponseParts, taggedResponse, untaggedStatus, untagged,
  continuationResponse, parseErrorResponse,
} from '../../../src/protocol/imap/response.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import { encodeMailboxName } from '../../../src/protocol/imap/utf7.js';
import { cmd } from './helpers.js';

const s = (b: Buffer): string => b.toString('latin1');

test('strings: quoted when safe, literal otherwise', () => {
  assert.equal(s(formatString('hello world')), '"hello world"');
  assert.equal(s(formatString('a "b" \\c')), '"a \\"b\\" \\\\c"');
  assert.equal(s(formatString('')), '""');
  assert.equal(s(formatString('line1\r\nline2')), '{12}\r\nline1\r\nline2');
  assert.equal(s(formatString('bare\nlf')), '{7}\r\nbare\nlf');
  assert.equal(formatString('Jürgen').toString('utf8'), '{7}\r\nJürgen');
  assert.equal(formatString('Jürgen', { utf8: true }).toString('utf8'), '"Jürgen"');
  assert.equal(s(formatString(Buffer.from([0x61, 0x00]))), '{2}\r\na\0');
  assert.equal(s(formatString('x'.repeat(2000))).slice(0, 8), '{2000}\r\n');
  assert.equal(s(formatString('x'.repeat(10), { maxQuoted: 5 })).slice(0, 6), '{10}\r\n');
  assert.equal(s(formatAString('INBOX')), 'INBOX');
  assert.equal(s(formatAString('nil')), '"nil"');
  assert.equal(s(formatAString('a b')), '"a b"');
  assert.equal(s(formatNString(null)), 'NIL');
});

test('quoted output parses back to the same value', () => {
  for (const v of ['simple', 'with "quotes"', 'back\\slash', 'a\r\nb', 'ünï', '', ')(']) {
    const wire = Buffer.concat([Buffer.from('t LOGIN '), formatString(v), Buffer.from(' '), formatString(v), Buffer.from('\r\n')]);
    assert.deepEqual(cmd(wire), { tag: 't', name: 'LOGIN', username: v, password: v });
  }
});

test('values: NIL, numbers, lists, atoms, forced literals', () => {
  assert.equal(s(serializeValue([null, 1, 2n, 'x', atom('\\Seen'), [atom('A'), []]])), '(NIL 1 2 "x" \\Seen (A ()))');
  assert.equal(s(serializeValue(literal('hi'))), '{2}\r\nhi');
  assert.equal(s(serializeValue(literal(Buffer.from([0, 1]), true))), '~{2}\r\n\0\x01');
  assert.throws(() => atom('a\r\nb'));
});

test('FLAGS and INTERNALDATE', () => {
  assert.equal(serializeValue(formatFlags(['\\Seen', '$Forwarded'])).toString(), '(\\Seen $Forwarded)');
  assert.equal(serializeValue(formatFlags([])).toString(), '()');
  const d = new Date('1996-07-17T09:44:25Z');
  assert.equal(serializeValue(formatInternalDate(d, -420)).toString(), '"17-Jul-1996 02:44:25 -0700"');
  assert.equal(serializeValue(formatInternalDate(new Date('2024-02-05T01:02:03Z'))).toString(), '" 5-Feb-2024 01:02:03 +0000"');
});

test('FETCH response with literal body', () => {
  const body = Buffer.from('Subject: hi\r\n\r\n');
  const out = fetchResponse(12, [
    ['UID', 4827313],
    ['FLAGS', formatFlags(['\\Seen'])],
    ['INTERNALDATE', formatInternalDate(new Date('1996-07-17T09:44:25Z'), -420)],
    ['BODY[HEADER]', body],
    ['ENVELOPE', [null, 'hi', null]],
  ]);
  assert.equal(
    s(out),
    '* 12 FETCH (UID 4827313 FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" BODY[HEADER] {15}\r\nSubject: hi\r\n\r\n ENVELOPE (NIL "hi" NIL))\r\n',
  );
});

test('FETCH response with a deferred (streamed) literal', () => {
  const parts = fetchResponseParts(3, [['UID', 9], ['BODY[]', deferredLiteral(1000, 'file-handle')], ['FLAGS', formatFlags([])]]);
  assert.equal(parts.length, 3);
  assert.equal(s(parts[0] as Buffer), '* 3 FETCH (UID 9 BODY[] {1000}\r\n');
  assert.deepEqual(parts[1], { kind: 'deferred', size: 1000, binary: false, source: 'file-handle' });
  assert.equal(s(parts[2] as Buffer), ' FLAGS ())\r\n');
  assert.throws(() => fetchResponse(3, [['BODY[]', deferredLiteral(1, null)]]));
  assert.equal(serializeParts('x').length, 1);
});

test('status responses, untagged data, continuation', () => {
  assert.equal(s(taggedResponse('a1', 'OK', 'LOGIN completed')), 'a1 OK LOGIN completed\r\n');
  assert.equal(s(taggedResponse('a1', 'OK', 'APPEND completed', 'APPENDUID 38505 3955')), 'a1 OK [APPENDUID 38505 3955] APPEND completed\r\n');
  assert.equal(s(taggedResponse('a1', 'NO', 'evil\r\n* OK injected')), 'a1 NO evil * OK injected\r\n');
  assert.equal(s(untaggedStatus('OK', 'Predicted next UID', 'UIDNEXT 5')), '* OK [UIDNEXT 5] Predicted next UID\r\n');
  assert.equal(s(untaggedStatus('BYE', 'Logging out')), '* BYE Logging out\r\n');
  assert.equal(s(untagged(23, atom('EXISTS'))), '* 23 EXISTS\r\n');
  assert.equal(
    s(untagged(atom('LIST'), [atom('\\HasNoChildren')], '/', encodeMailboxName('Entwürfe'))),
    '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n',
  );
  assert.equal(s(continuationResponse()), '+ Ready for literal data\r\n');
  assert.equal(s(continuationResponse('')), '+ \r\n');
});

test('parse errors become tagged or untagged BAD', () => {
  assert.equal(s(parseErrorResponse(new ImapParseError('Unknown command', { tag: 'x1' }))), 'x1 BAD Unknown command\r\n');
  assert.equal(s(parseErrorResponse(new ImapParseError('Invalid tag'))), '* BAD Invalid tag\r\n');
  assert.equal(s(parseErrorResponse(new ImapParseError('Literal too large', { tag: 'x', code: 'TOOBIG' }))), 'x BAD [TOOBIG] Literal too large\r\n');
});
