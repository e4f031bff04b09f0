// parseCommand: tags, every command's arguments, and bad syntax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, isIdleDone, continuationLine, rawTag } from '../../../src/protocol/imap/parser.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import { cmd, rawOf } from './helpers.js';

function bad(line: string, message?: RegExp, tag?: string | undefined): ImapParseError {
  let caught: unknown;
  try {
    cmd(line);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ImapParseError, `expected ImapParseError for ${JSON.stringify(line)}, got ${String(caught)}`);
  if (message) assert.match(caught.message, message);
  if (arguments.length >= 3) assert.equal(caught.tag, tag);
  return caught;
}

test('tags: any ASTRING-CHAR except "+" (RFC 3501 §9)', () => {
  assert.equal(cmd('a.b-c]1 NOOP').tag, 'a.b-c]1');
  bad('a+1 NOOP', /tag/, undefined);
  bad('* NOOP', /tag/, undefined);
  bad('"a" NOOP', /tag/, undefined);
  bad('a{1 NOOP', /tag/, undefined);
  bad('NOOP', /Missing command/, 'NOOP');
  bad('a1  NOOP', /extra space/, 'a1');
  assert.equal(rawTag(rawOf('x1 FOO')), 'x1');
});

test('simple commands, case-insensitive names; trailing garbage is BAD', () => {
  for (const name of ['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'IDLE', 'NAMESPACE', 'UNSELECT', 'EXPUNGE']) {
    const c = cmd(`t ${name.toLowerCase()}`);
    assert.equal(c.name, name);
    assert.equal(c.tag, 't');
  }
  bad('t NOOP x', /extra arguments/, 't');
  bad('t NOOP ', /Missing|extra/, 't');
  bad('t FROB', /Unknown command/, 't');
  bad('t UID NOOP', /not a valid command/, 't');
});

test('AUTHENTICATE with and without SASL-IR', () => {
  assert.deepEqual(cmd('a AUTHENTICATE plain'), { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN' });
  assert.deepEqual(cmd('a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0'), {
    tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: 'AGZyZWQAc2VjcmV0',
  });
  assert.equal((cmd('a AUTHENTICATE PLAIN =') as { initialResponse: string }).initialResponse, '=');
  bad('a AUTHENTICATE', /Missing/);
  bad('a AUTHENTICATE PLAIN a$b', /base64/);
});

test('LOGIN with atoms, quoted strings (with escapes) and literals', () => {
  assert.deepEqual(cmd('a LOGIN fred secret'), { tag: 'a', name: 'LOGIN', username: 'fred', password: 'secret' });
  assert.deepEqual(cmd('a LOGIN "fr\\"ed" "p\\\\w d"'), { tag: 'a', name: 'LOGIN', username: 'fr"ed', password: 'p\\w d' });
  assert.deepEqual(cmd('a LOGIN {4+}\r\nfred {3+}\r\np w\r\n'), { tag: 'a', name: 'LOGIN', username: 'fred', password: 'p w' });
  assert.deepEqual(cmd('a LOGIN "jürgen" x'), { tag: 'a', name: 'LOGIN', username: 'jürgen', password: 'x' });
  bad('a LOGIN fred', /Missing password/);
  bad('a LOGIN "fred x', /Unterminated/);
  bad('a LOGIN "fr\\ed" x', /escape/);
  bad('a LOGIN fred {3+}\r\na\0b\r\n', /NUL/);
});

test('SELECT / EXAMINE with INBOX normalization, modified UTF-7, CONDSTORE, QRESYNC', () => {
  assert.deepEqual(cmd('a SELECT inbox'), { tag: 'a', name: 'SELECT', mailbox: 'INBOX', condStore: false, parameters: [] });
  assert.equal((cmd('a EXAMINE "Entw&APw-rfe"') as { mailbox: string }).mailbox, 'Entwürfe');
  assert.equal((cmd('a SELECT Inbox (CONDSTORE)') as { condStore: boolean }).condStore, true);
  const q = cmd('a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:20 1:100)))');
  assert.ok(q.name === 'SELECT');
  assert.equal(q.qresync?.uidValidity, 67890007);
  assert.equal(q.qresync?.modSeq, 20050715194045000n);
  assert.deepEqual(q.qresync?.knownUids, { kind: 'set', ranges: [{ start: 41, end: 41 }, { start: 43, end: 211 }, { start: 214, end: 541 }] });
  assert.ok(q.qresync?.knownUidSet);
  bad('a SELECT', /Missing mailbox/);
  bad('a SELECT "a&Jjo"', /modified UTF-7/);
  bad('a SELECT INBOX (CONDSTORE', /Unbalanced|Expected/);
});

test('utf8Mailboxes: mailbox names taken as UTF-8', () => {
  assert.equal((cmd('a SELECT "Entwürfe"', { utf8Mailboxes: true }) as { mailbox: string }).mailbox, 'Entwürfe');
  bad('a SELECT "Entwürfe"', /modified UTF-7/);
});

test('CREATE (with SPECIAL-USE) DELETE RENAME SUBSCRIBE UNSUBSCRIBE', () => {
  assert.deepEqual(cmd('a CREATE owatagusiam/'), { tag: 'a', name: 'CREATE', mailbox: 'owatagusiam/', specialUse: [] });
  assert.deepEqual((cmd('a CREATE MySpecial (USE (\\Drafts \\Sent))') as { specialUse: string[] }).specialUse, ['\\Drafts', '\\Sent']);
  assert.deepEqual(cmd('a DELETE blurdybloop'), { tag: 'a', name: 'DELETE', mailbox: 'blurdybloop' });
  assert.deepEqual(cmd('a RENAME "a b" {3+}\r\nc d\r\n'), { tag: 'a', name: 'RENAME', mailbox: 'a b', newMailbox: 'c d' });
  assert.deepEqual(cmd('a SUBSCRIBE #news.comp.mail.mime'), { tag: 'a', name: 'SUBSCRIBE', mailbox: '#news.comp.mail.mime' });
  assert.deepEqual(cmd('a UNSUBSCRIBE "x"'), { tag: 'a', name: 'UNSUBSCRIBE', mailbox: 'x' });
  bad('a RENAME foo', /Missing new mailbox/);
  bad('a CREATE x (FOO)', /Unknown CREATE parameter/);
});

test('LIST / LSUB, including LIST-EXTENDED syntax', () => {
  assert.deepEqual(cmd('a LIST "" *'), {
    tag: 'a', name: 'LIST', reference: '', patterns: ['*'], selectionOptions: [], returnOptions: [], extended: false,
  });
  assert.deepEqual((cmd('a LIST ~/Mail/ %') as { reference: string; patterns: string[] }).patterns, ['%']);
  assert.deepEqual((cmd('a LIST "" foo]bar*') as { patterns: string[] }).patterns, ['foo]bar*']);
  assert.deepEqual((cmd('a LSUB "#news." "comp.mail.*"') as { patterns: string[] }).patterns, ['comp.mail.*']);
  assert.deepEqual((cmd('a LIST "" "&AOQ-*"') as { patterns: string[] }).patterns, ['ä*']);
  const x = cmd('a LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN SPECIAL-USE)');
  assert.deepEqual(x, {
    tag: 'a', name: 'LIST', reference: '', patterns: ['*'], selectionOptions: ['SUBSCRIBED'],
    returnOptions: ['CHILDREN', 'SPECIAL-USE'], extended: true,
  });
  const st = cmd('a LIST "" ("INBOX" "Sent") RETURN (STATUS (MESSAGES UNSEEN))');
  assert.ok(st.name === 'LIST');
  assert.deepEqual(st.patterns, ['INBOX', 'Sent']);
  assert.deepEqual(st.returnStatus, ['MESSAGES', 'UNSEEN']);
  assert.deepEqual((cmd('a LIST () "" %') as { selectionOptions: string[] }).selectionOptions, []);
  bad('a LIST ""', /Missing mailbox pattern/);
  bad('a LIST "" * FOO (X)', /Expected RETURN/);
  bad('a LSUB (SUBSCRIBED) "" *', /reference|Expected/);
});

test('STATUS', () => {
  assert.deepEqual(cmd('a STATUS blurdybloop (UIDNEXT MESSAGES size highestmodseq)'), {
    tag: 'a', name: 'STATUS', mailbox: 'blurdybloop', items: ['UIDNEXT', 'MESSAGES', 'SIZE', 'HIGHESTMODSEQ'],
  });
  bad('a STATUS x ()', /Empty/);
  bad('a STATUS x (FOO)', /Unknown status item/);
  bad('a STATUS x', /Missing status items/);
});

test('APPEND with buffered literal, flags and date-time', () => {
  // A hand-made raw (as if the literal were small and buffered) parses too.
  const c = parseCommand({
    segments: [Buffer.from('A003 APPEND saved-messages (\\Seen $Work) " 7-Feb-1994 21:52:25 -0800" {5}'), Buffer.alloc(0)],
    literals: [Buffer.from('hello')],
  });
  assert.ok(c.name === 'APPEND');
  assert.equal(c.mailbox, 'saved-messages');
  assert.deepEqual(c.messages[0]!.flags, ['\\Seen', '$Work']);
  assert.equal(c.messages[0]!.internalDate?.toISOString(), '1994-02-08T05:52:25.000Z');
  assert.deepEqual(c.messages[0]!.literal, Buffer.from('hello'));
  bad('a APPEND INBOX', /Missing message literal/);
  bad('a APPEND INBOX (\\Seen)', /Missing message literal/);
  assert.throws(
    () => parseCommand({ segments: [Buffer.from('a APPEND INBOX "bad-date" {1}'), Buffer.alloc(0)], literals: [Buffer.from('x')] }),
    (err: unknown) => err instanceof ImapParseError && /date-time/.test(err.message) && err.tag === 'a',
  );
  bad('a APPEND INBOX {1+}\r\nx garbage\r\n', /Expected message literal/);
});

test('EXPUNGE and UID EXPUNGE', () => {
  assert.deepEqual(cmd('a EXPUNGE'), { tag: 'a', name: 'EXPUNGE', uid: false });
  assert.deepEqual(cmd('a UID EXPUNGE 3000:3002'), {
    tag: 'a', name: 'EXPUNGE', uid: true, sequenceSet: { kind: 'set', ranges: [{ start: 3000, end: 3002 }] },
  });
  bad('a UID EXPUNGE', /Missing sequence set/);
  bad('a EXPUNGE 1', /extra/);
});

test('STORE forms', () => {
  assert.deepEqual(cmd('a STORE 2:4 +FLAGS (\\Deleted)'), {
    tag: 'a', name: 'STORE', uid: false, sequenceSet: { kind: 'set', ranges: [{ start: 2, end: 4 }] },
    action: 'add', silent: false, flags: ['\\Deleted'],
  });
  const s = cmd('a UID STORE 1:* -flags.silent \\seen $Junk');
  assert.ok(s.name === 'STORE');
  assert.deepEqual([s.uid, s.action, s.silent, s.flags], [true, 'remove', true, ['\\Seen', '$Junk']]);
  const u = cmd('a STORE 7 (UNCHANGEDSINCE 12345) FLAGS.SILENT ()');
  assert.ok(u.name === 'STORE');
  assert.deepEqual([u.action, u.flags, u.unchangedSince], ['set', [], 12345n]);
  bad('a STORE 1 +FLAGS', /Missing flags/);
  bad('a STORE 1 LABELS (x)', /Unknown store item/);
  bad('a STORE 1 FLAGS (\\Seen', /Unbalanced|Expected/);
  bad('a STORE x FLAGS (\\Seen)', /sequence set/);
});

test('COPY, MOVE, UID COPY, UID MOVE', () => {
  assert.deepEqual(cmd('a COPY 2:4 MEETING'), {
    tag: 'a', name: 'COPY', uid: false, sequenceSet: { kind: 'set', ranges: [{ start: 2, end: 4 }] }, mailbox: 'MEETING',
  });
  const m = cmd('a UID MOVE 42 "Archive/2024"');
  assert.ok(m.name === 'MOVE' && m.uid && m.mailbox === 'Archive/2024');
  bad('a COPY 1', /Missing mailbox/);
  bad('a MOVE', /Missing sequence set/);
});

test('ID, ENABLE, NAMESPACE, IDLE DONE', () => {
  assert.deepEqual(cmd('a ID NIL'), { tag: 'a', name: 'ID', parameters: null });
  assert.deepEqual(cmd('a ID ("name" "sodr" "version" "19.34" "vendor" NIL)'), {
    tag: 'a', name: 'ID', parameters: [['name', 'sodr'], ['version', '19.34'], ['vendor', null]],
  });
  bad('a ID ("name")', /Missing ID field value/);
  bad('a ID', /Missing/);
  assert.deepEqual(cmd('a ENABLE condstore UTF8=ACCEPT'), { tag: 'a', name: 'ENABLE', capabilities: ['CONDSTORE', 'UTF8=ACCEPT'] });
  bad('a ENABLE', /Missing capability/);
  assert.equal(cmd('a NAMESPACE').name, 'NAMESPACE');
  assert.equal(isIdleDone(rawOf('done')), true);
  assert.equal(isIdleDone(rawOf('a NOOP')), false);
  assert.equal(continuationLine(rawOf('dGVzdA==')), 'dGVzdA==');
});

test('nesting depth is bounded', () => {
  const deep = 'a SELECT INBOX (X ' + '('.repeat(20) + ')'.repeat(20) + ')';
  bad(deep, /Too deeply nested/, 'a');
  const ok = 'a SELECT INBOX (X ' + '('.repeat(10) + ')'.repeat(10) + ')';
  assert.equal(cmd(ok).name, 'SELECT');
  bad('a SEARCH ' + '('.repeat(40) + 'ALL' + ')'.repeat(40), /Too deeply nested/);
  bad('a SEARCH ' + 'NOT '.repeat(200) + 'ALL', /too deeply nested/);
});

test('unbalanced parentheses', () => {
  bad('a FETCH 1 (FLAGS UID', /Unbalanced|Expected/);
  bad('a FETCH 1 FLAGS)', /Unexpected/);
  bad('a SEARCH (ALL', /Unbalanced|Expected/);
  bad('a SEARCH ALL)', /Unexpected/);
});
