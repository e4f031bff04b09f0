// ENVELOPE (RFC 3501 §7.4.2): address structures, groups, defaults, quoting/literals in the wire form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEnvelope, formatEnvelope, parseAddressList } from '../../src/mime/index.js';
import { fixture } from './helpers.js';

test('addresses: name-addr, addr-spec, quoted names with escapes', () => {
  const env = buildEnvelope(fixture('plain'));
  assert.deepEqual(env.from, [['Alice Example', null, 'alice', 'example.org']]);
  assert.deepEqual(env.to, [
    [null, null, 'bob', 'example.test'],
    ['Carol "C" Smith', null, 'carol', 'example.test'],
  ]);
  assert.deepEqual(env.sender, env.from);
  assert.deepEqual(env.replyTo, env.from);
  assert.equal(env.bcc, null);
  assert.equal(env.inReplyTo, '<orig-0@example.test>');
  assert.equal(env.messageId, '<plain-1@example.org>');
});

test('group syntax: start with NIL host, end marker, empty group', () => {
  const env = buildEnvelope(fixture('groups'));
  assert.deepEqual(env.to, [
    [null, null, 'undisclosed-recipients', null],
    [null, null, null, null],
  ]);
  assert.deepEqual(env.cc, [
    [null, null, 'Team', null],
    [null, null, 'judy', 'example.test'],
    ['Ken K', null, 'ken', 'example.test'],
    [null, null, null, null],
    [null, null, 'mallory', 'example.test'],
  ]);
});

test('encoded-word names are kept raw; Sender and Reply-To present', () => {
  const env = buildEnvelope(fixture('encoded-words'));
  assert.equal(env.from?.[0]?.[0], '=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=');
  assert.equal(env.subject, '=?UTF-8?B?SGVsbG8g8J+MjQ==?= =?UTF-8?Q?_und_Gr=C3=BC=C3=9Fe?=');
  const mixed = buildEnvelope(fixture('mixed-attachment'));
  assert.deepEqual(mixed.sender, [[null, null, 'secretary', 'example.test']]);
  assert.deepEqual(mixed.bcc, [[null, null, 'hidden', 'example.test']]);
});

test('source routes, comments as names, missing parts', () => {
  assert.deepEqual(parseAddressList('<@r1.example,@r2.example:joe@x.example>'), [
    [null, '@r1.example,@r2.example', 'joe', 'x.example'],
  ]);
  assert.deepEqual(parseAddressList('c@d (Real Name)'), [['Real Name', null, 'c', 'd']]);
  assert.deepEqual(parseAddressList('"A  B" <a@b.c> (comment)'), [['A  B', null, 'a', 'b.c']]);
  assert.deepEqual(parseAddressList('nodomain'), [[null, null, 'nodomain', 'MISSING_DOMAIN']]);
  assert.deepEqual(parseAddressList('"john doe"@example.test'), [[null, null, 'john doe', 'example.test']]);
  assert.deepEqual(parseAddressList('x@[192.0.2.1]'), [[null, null, 'x', '[192.0.2.1]']]);
  assert.deepEqual(parseAddressList(''), []);
  assert.deepEqual(parseAddressList(',,, ;'), []);
});

test('wire form: NIL, quoting, literals for quotes/8-bit, whitespace cleanup for humans', () => {
  const raw = Buffer.from(
    'Subject: \tfolded\r\n\tsubject  two   spaces \r\nFrom: "x\\\\y" <q@r>, Jörg <j@x>\r\nDate: Mon,\r\n 2 Nov 2026\r\n\r\n',
  );
  const s = formatEnvelope(buildEnvelope(raw));
  assert.equal(
    s,
    '("Mon, 2 Nov 2026" {25}\r\nfolded subject two spaces (({3}\r\nx\\y NIL "q" "r")({5}\r\nJörg NIL "j" "x")) ' +
      '(({3}\r\nx\\y NIL "q" "r")({5}\r\nJörg NIL "j" "x")) (({3}\r\nx\\y NIL "q" "r")({5}\r\nJörg NIL "j" "x")) NIL NIL NIL NIL NIL)',
  );
  assert.equal(formatEnvelope(buildEnvelope(Buffer.alloc(0))), '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
});

test('last occurrence of a repeated field wins (as Dovecot); empty address header is NIL', () => {
  const env = buildEnvelope(Buffer.from('Subject: first\r\nSubject: second\r\nTo:   \r\nSender:\r\nFrom: a@b\r\n\r\n'));
  assert.equal(env.subject, 'second');
  assert.equal(env.to, null);
  assert.deepEqual(env.sender, [[null, null, 'a', 'b']]);
});
