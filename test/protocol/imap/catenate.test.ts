// CATENATE (RFC 4469) and MULTIAPPEND (RFC 3502) parsing, the reader's APPEND heads for TEXT parts, COMPRESS
// (RFC 4978) parsing, and IMAP URLs (RFC 5092) as CATENATE uses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseImapUrl } from '../../../src/protocol/imap/url.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import { cmd, readEvents } from './helpers.js';

test('CATENATE parts: TEXT literals (streamed), URLs as quoted strings, atoms or literals', () => {
  const events = readEvents('a APPEND Dst (\\Seen) CATENATE (TEXT {3}\r\nabc URL "/INBOX/;UID=1" URL {13}\r\n/INBOX/;UID=2 TEXT ~{1+}\r\nx)\r\n');
  const starts = events.filter((e) => e.type === 'append-start');
  assert.equal(starts.length, 2);
  const h0 = (starts[0] as { head: { catenate?: { index: number; before: unknown[] }; messageIndex: number; flags: string[] } }).head;
  assert.deepEqual(h0.catenate, { index: 0, before: [] });
  assert.deepEqual(h0.flags, ['\\Seen']);
  const h1 = (starts[1] as { head: { catenate?: { index: number; before: Array<{ type: string; url?: string }> }; binary: boolean } }).head;
  assert.equal(h1.catenate?.index, 3);
  assert.deepEqual(h1.catenate?.before.slice(1), [{ type: 'URL', url: '/INBOX/;UID=1' }, { type: 'URL', url: '/INBOX/;UID=2' }]);
  assert.equal(h1.binary, true);
  const c = events.find((e) => e.type === 'command') as { raw: never };
  assert.ok(c);
});

test('MULTIAPPEND: the head of message n carries the messages before it', () => {
  const events = readEvents('a APPEND Box {1+}\r\nx CATENATE (URL "/a/;UID=1") (\\Flagged) {1+}\r\ny\r\n');
  const starts = events.filter((e) => e.type === 'append-start') as Array<{ head: { messageIndex: number; previous?: unknown[] } }>;
  assert.deepEqual(starts.map((s) => s.head.messageIndex), [0, 2]);
  assert.equal(starts[1]!.head.previous?.length, 2);
  assert.deepEqual((starts[1]!.head.previous![1] as { catenate: unknown }).catenate, [{ type: 'URL', url: '/a/;UID=1' }]);
});

test('a parsed CATENATE APPEND', () => {
  const c = cmd('a APPEND Dst CATENATE (URL "/INBOX;UIDVALIDITY=5/;UID=1/;SECTION=1" URL /INBOX/;UID=2) {2+}\r\nhi');
  assert.ok(c.name === 'APPEND');
  assert.equal(c.messages.length, 2);
  assert.equal(c.messages[0]!.literal, null);
  assert.deepEqual(c.messages[0]!.catenate, [{ type: 'URL', url: '/INBOX;UIDVALIDITY=5/;UID=1/;SECTION=1' }, { type: 'URL', url: '/INBOX/;UID=2' }]);
});

test('bad CATENATE syntax is BAD', () => {
  for (const line of ['a APPEND Dst CATENATE ()', 'a APPEND Dst CATENATE (FOO "x")', 'a APPEND Dst CATENATE (TEXT "x")', 'a APPEND Dst CATENATE (URL)',
    'a APPEND Dst CATENATE (URL "x"', 'a APPEND Dst CATENATE', `a APPEND Dst CATENATE (${Array.from({ length: 257 }, () => 'URL x').join(' ')})`]) {
    assert.throws(() => cmd(line), (e) => e instanceof ImapParseError && e.status === 'BAD', line);
  }
});

test('COMPRESS parses its algorithm; anything else is BAD', () => {
  assert.deepEqual(cmd('z COMPRESS deflate'), { tag: 'z', name: 'COMPRESS', algorithm: 'DEFLATE' });
  assert.throws(() => cmd('z COMPRESS'), ImapParseError);
  assert.throws(() => cmd('z COMPRESS DEFLATE X'), ImapParseError);
});

test('IMAP URLs: relative and absolute forms, parameters, %-encoding', () => {
  assert.deepEqual(parseImapUrl('/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2;PARTIAL=0.1024'), {
    mailbox: 'INBOX', uidValidity: 385759045, uid: 20, section: '1.2', partial: { start: 0, length: 1024 },
  });
  assert.deepEqual(parseImapUrl('/Work/Reports/;uid=3'), { mailbox: 'Work/Reports', uid: 3 });
  assert.deepEqual(parseImapUrl('/Entw%C3%BCrfe/;UID=1/;SECTION=HEADER.FIELDS%20(From)'), { mailbox: 'Entwürfe', uid: 1, section: 'HEADER.FIELDS (From)' });
  assert.deepEqual(parseImapUrl('imap://alice%40example.test;AUTH=*@Mail.Example.Test:143/INBOX/;UID=7'), {
    user: 'alice@example.test', host: 'mail.example.test', mailbox: 'INBOX', uid: 7,
  });
  for (const bad of ['', 'INBOX/;UID=1', '/INBOX', '/INBOX/;UID=0', '/INBOX/;UID=1/;UID=2', '/INBOX/;UID=1;URLAUTH=x', '/INBOX?SUBJECT%20x',
    'imap://host/INBOX/;UID=1', '/IN%ZZ/;UID=1', '/IN%00/;UID=1', '/INBOX/;UID=99999999999', '/INBOX/;UID=1/;PARTIAL=x', '/INBOX/;UID=1/;SECTION=%FF',
    'x'.repeat(3000)]) {
    assert.equal(parseImapUrl(bad), null, bad);
  }
});
