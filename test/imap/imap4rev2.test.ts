/**
 * IMAP4rev2 (RFC 9051) beside IMAP4rev1: CAPABILITY lists both, `ENABLE IMAP4rev2` switches the session, and each
 * difference of RFC 9051 Appendix E (see the list in src/server/imap/commands/any-state.ts) is checked before and
 * after ENABLE (a rev1 session is unchanged). Dovecot 2.3 has no IMAP4rev2; it is compared where the behaviour is
 * the same in both versions (STATUS SIZE / DELETED). imapflow enables IMAP4rev2 by itself and is run against it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, message, addr, utf8, ImapClient } from '../helpers/imap.js';
import { startReferenceDovecot } from '../helpers/dovecot.js';
import { flowClient } from '../helpers/flow.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const setup = await srv.authed('alice');
await seed(setup, 'INBOX', 3);
setup.close();

async function rev2(user = 'alice'): Promise<ImapClient> {
  const c = await srv.authed(user);
  const r = await c.send('e1', 'ENABLE IMAP4rev2');
  assert.deepEqual(r.untagged, ['* ENABLED IMAP4rev2']);
  assert.match(r.tagged, /^e1 OK/);
  return c;
}

test('CAPABILITY lists IMAP4rev1 and IMAP4rev2 (and STATUS=SIZE once authenticated)', async () => {
  const c = await srv.connect();
  const pre = (await c.send('c1', 'CAPABILITY')).untagged[0]!.split(' ');
  assert.ok(pre.includes('IMAP4rev1') && pre.includes('IMAP4rev2'), pre.join(' '));
  c.close();
  const a = await srv.authed('alice');
  const caps = (await a.send('c2', 'CAPABILITY')).untagged[0]!.split(' ');
  for (const cap of ['IMAP4rev1', 'IMAP4rev2', 'STATUS=SIZE', 'ESEARCH', 'SEARCHRES', 'LIST-EXTENDED', 'LIST-STATUS', 'MOVE', 'UIDPLUS', 'UNSELECT', 'NAMESPACE', 'ID', 'ENABLE', 'IDLE', 'SASL-IR', 'SPECIAL-USE', 'BINARY']) {
    assert.ok(caps.includes(cap), cap);
  }
  a.close();
});

test('ENABLE IMAP4rev2: answered `* ENABLED IMAP4rev2` once; any case; not before LOGIN', async () => {
  const c = await srv.authed('alice');
  assert.deepEqual((await c.send('e1', 'ENABLE imap4REV2 CONDSTORE')).untagged, ['* ENABLED IMAP4rev2 CONDSTORE']);
  assert.deepEqual((await c.send('e2', 'ENABLE IMAP4rev2')).untagged, ['* ENABLED']);
  c.close();
  const n = await srv.connect();
  assert.match((await n.send('e3', 'ENABLE IMAP4rev2')).tagged, /^e3 BAD/);
  assert.match((await n.send('e4', 'NOOP')).tagged, /^e4 OK/);
  n.close();
});

test('SELECT: rev1 sends RECENT and [UNSEEN n]; rev2 neither but a LIST response, [CLOSED] on reselect', async () => {
  const v1 = await srv.authed('alice');
  const s1 = await v1.send('s1', 'SELECT inbox');
  assert.ok(s1.untagged.includes('* 0 RECENT'));
  assert.ok(s1.untagged.some((l) => /^\* OK \[UNSEEN 1\]/.test(l)));
  assert.ok(!s1.untagged.some((l) => l.startsWith('* LIST')));
  v1.close();
  const c = await rev2();
  const s2 = await c.send('s2', 'SELECT inbox');
  assert.match(s2.tagged, /^s2 OK \[READ-WRITE\]/);
  assert.ok(!s2.untagged.some((l) => /RECENT|UNSEEN/.test(l)), s2.untagged.join('\n'));
  assert.ok(s2.untagged.includes('* LIST () "/" INBOX'), s2.untagged.join('\n'));
  for (const want of ['* 3 EXISTS', /^\* FLAGS /, /^\* OK \[PERMANENTFLAGS /, /^\* OK \[UIDVALIDITY \d+\]/, /^\* OK \[UIDNEXT 4\]/]) {
    assert.ok(s2.untagged.some((l) => (typeof want === 'string' ? l === want : want.test(l))), String(want));
  }
  // Every rev2 SELECT/EXAMINE has the LIST response, with the server's spelling (UTF-8 names too).
  const s3 = await c.send('s3', 'EXAMINE INBOX');
  assert.ok(s3.untagged.some((l) => l.startsWith('* OK [CLOSED]')));
  assert.ok(s3.untagged.includes('* LIST () "/" INBOX'), s3.untagged.join('\n'));
  assert.ok(!s3.untagged.some((l) => /RECENT|UNSEEN/.test(l)));
  c.close();
});

test('STATUS: RECENT is BAD in rev2 (connection stays), fine in rev1; SIZE and DELETED in both', async () => {
  const v1 = await srv.authed('alice');
  assert.match((await v1.send('t1', 'STATUS INBOX (MESSAGES RECENT)')).untagged[0]!, /^\* STATUS INBOX \(MESSAGES 3 RECENT 0\)$/);
  v1.close();
  const c = await rev2();
  const r = await c.send('t2', 'STATUS INBOX (MESSAGES RECENT)');
  assert.match(r.tagged, /^t2 BAD/);
  assert.deepEqual(r.untagged, []);
  assert.match((await c.send('t3', 'NOOP')).tagged, /^t3 OK/);
  await c.send('t4', 'SELECT INBOX');
  const sizes = (await c.send('t5', 'FETCH 1:* RFC822.SIZE')).untagged.map((l) => Number(/RFC822\.SIZE (\d+)/.exec(l)![1]));
  assert.equal(sizes.length, 3);
  await c.send('t6', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.deepEqual((await c.send('t7', 'STATUS INBOX (MESSAGES SIZE DELETED)')).untagged, [`* STATUS INBOX (MESSAGES 3 SIZE ${total} DELETED 1)`]);
  // LIST-STATUS with the rev2 items.
  const l = await c.send('t8', 'LIST "" "INBOX" RETURN (STATUS (SIZE DELETED))');
  assert.ok(l.untagged.includes(`* STATUS INBOX (SIZE ${total} DELETED 1)`), l.untagged.join('\n'));
  const lr = await c.send('t8b', 'LIST "" "*" RETURN (STATUS (MESSAGES RECENT))');
  assert.match(lr.tagged, /^t8b BAD/);
  assert.deepEqual(lr.untagged, []);
  await c.send('t9', 'STORE 2 -FLAGS.SILENT (\\Deleted)');
  c.close();
});

test('SEARCH: rev1 `* SEARCH`; rev2 ESEARCH (ALL) without RETURN; RECENT/NEW/OLD are BAD in rev2', async () => {
  const v1 = await srv.selected('alice');
  assert.deepEqual((await v1.send('q1', 'SEARCH ALL')).untagged, ['* SEARCH 1 2 3']);
  assert.deepEqual((await v1.send('q2', 'SEARCH NEW')).untagged, ['* SEARCH']);
  v1.close();
  const c = await rev2();
  await c.send('q0', 'SELECT INBOX');
  assert.deepEqual((await c.send('q1', 'SEARCH ALL')).untagged, ['* ESEARCH (TAG "q1") ALL 1:3']);
  assert.deepEqual((await c.send('q2', 'UID SEARCH 2:*')).untagged, ['* ESEARCH (TAG "q2") UID ALL 2:3']);
  assert.deepEqual((await c.send('q3', 'SEARCH SUBJECT nothing-matches')).untagged, ['* ESEARCH (TAG "q3")']);
  assert.deepEqual((await c.send('q4', 'SEARCH RETURN (COUNT MIN) ALL')).untagged, ['* ESEARCH (TAG "q4") MIN 1 COUNT 3']);
  // SEARCHRES ($) in rev2.
  assert.deepEqual((await c.send('q5', 'SEARCH RETURN (SAVE) 2')).untagged, []);
  assert.deepEqual((await c.send('q6', 'UID SEARCH $')).untagged, ['* ESEARCH (TAG "q6") UID ALL 2']);
  for (const key of ['RECENT', 'NEW', 'OLD', 'NOT RECENT', 'OR SEEN NEW']) {
    const r = await c.send('q7', `SEARCH ${key}`);
    assert.match(r.tagged, /^q7 BAD/, key);
    assert.deepEqual(r.untagged, []);
  }
  assert.match((await c.send('q8', 'NOOP')).tagged, /^q8 OK/);
  c.close();
});

test('Mailbox names in UTF-8 both ways in rev2; a rev1 session sees modified UTF-7', async () => {
  const c = await rev2('bob');
  assert.match((await c.send('u1', 'CREATE "Entwürfe"')).tagged, /^u1 OK/);
  assert.match((await c.send('u2', 'CREATE "A&B"')).tagged, /^u2 OK/); // "&" is just a character in rev2
  const l = (await c.send('u3', 'LIST "" "*"')).untagged.map(utf8);
  assert.ok(l.some((x) => x.endsWith(' "/" "Entwürfe"')), l.join('\n'));
  assert.ok(l.some((x) => x.endsWith(' "/" A&B')), l.join('\n'));
  assert.deepEqual((await c.send('u4', 'STATUS "Entwürfe" (MESSAGES)')).untagged.map(utf8), ['* STATUS "Entwürfe" (MESSAGES 0)']);
  const ext = (await c.send('u5', 'LIST (SUBSCRIBED) "" "Entw*" RETURN (STATUS (MESSAGES))')).untagged;
  assert.deepEqual(ext, []); // not subscribed yet
  await c.send('u6', 'SUBSCRIBE "Entwürfe"');
  assert.deepEqual((await c.send('u7', 'LSUB "" "Entw*"')).untagged.map(utf8), ['* LSUB (\\HasNoChildren) "/" "Entwürfe"']);
  // APPEND heads are parsed by the reader: UTF-8 there too.
  assert.match((await c.send('u7b', 'APPEND "Entwürfe" {3+}\r\nabc')).tagged, /^u7b OK \[APPENDUID \d+ 1\]/);
  assert.match((await c.send('u7c', 'COPY 1 "Entwürfe"')).tagged, /^u7c BAD/); // nothing selected
  const sel = await c.send('u8', 'SELECT "Entwürfe"');
  assert.match(sel.tagged, /^u8 OK/);
  assert.ok(sel.untagged.map(utf8).includes('* LIST () "/" "Entwürfe"'), sel.untagged.join('\n'));
  assert.match((await c.send('u8b', 'COPY 1 "Entwürfe"')).tagged, /^u8b OK \[COPYUID/);
  // Modified UTF-7 is not decoded in rev2: "Entw&APw-rfe" is another (new) name.
  assert.match((await c.send('u9', 'STATUS "Entw&APw-rfe" (MESSAGES)')).tagged, /^u9 NO \[NONEXISTENT\]/);
  c.close();
  const v1 = await srv.authed('bob');
  const l1 = (await v1.send('v1', 'LIST "" "*"')).untagged;
  assert.ok(l1.some((x) => x.endsWith(' "/" Entw&APw-rfe')), l1.join('\n'));
  assert.ok(l1.some((x) => x.endsWith(' "/" A&-B')), l1.join('\n'));
  assert.match((await v1.send('v2', 'CREATE Entw&APw-rfe')).tagged, /^v2 NO \[ALREADYEXISTS\]/);
  assert.match((await v1.send('v3', 'CREATE "A&B"')).tagged, /^v3 BAD/); // invalid modified UTF-7 in rev1
  assert.match((await v1.send('v4', 'NOOP')).tagged, /^v4 OK/);
  v1.close();
});

test('rev2 response codes: [ALREADYEXISTS], [NONEXISTENT], [TRYCREATE]; base extensions work', async () => {
  const c = await rev2();
  assert.match((await c.send('r1', 'CREATE INBOX')).tagged, /^r1 NO \[ALREADYEXISTS\]/);
  await c.send('r2', 'CREATE Twice');
  assert.match((await c.send('r3', 'CREATE Twice')).tagged, /^r3 NO \[ALREADYEXISTS\]/);
  assert.match((await c.send('r4', 'SELECT Missing')).tagged, /^r4 NO \[NONEXISTENT\]/);
  assert.match((await c.send('r5', 'APPEND Missing {3+}\r\nabc')).tagged, /^r5 NO \[TRYCREATE\]/);
  await c.send('r6', 'SELECT INBOX');
  assert.match((await c.send('r7', 'COPY 1 Missing')).tagged, /^r7 NO \[TRYCREATE\]/);
  assert.match((await c.send('r8', 'MOVE 1 Missing')).tagged, /^r8 NO \[TRYCREATE\]/);
  // Deprecated FETCH items still answered; no \Recent anywhere; STORE \Recent is BAD.
  const f = await c.send('r9', 'FETCH 1 (FLAGS RFC822.SIZE RFC822.HEADER)');
  assert.match(f.untagged[0]!, /^\* 1 FETCH \(FLAGS \([^)]*\) RFC822\.SIZE \d+ RFC822\.HEADER \{\d+\}/);
  assert.ok(!f.untagged.join('').includes('\\Recent'));
  assert.match((await c.send('r10', 'STORE 1 +FLAGS (\\Recent)')).tagged, /^r10 BAD/);
  assert.deepEqual((await c.send('r11', 'NAMESPACE')).untagged, ['* NAMESPACE (("" "/")) NIL NIL']);
  assert.deepEqual((await c.send('r12', 'LIST "" ""')).untagged, ['* LIST (\\Noselect) "/" ""']);
  const mv = await c.send('r13', 'UID MOVE 3 Twice');
  assert.match(mv.untagged.join('\n'), /\* OK \[COPYUID \d+ 3 1\]/);
  assert.match((await c.send('r14', 'UID EXPUNGE 1')).tagged, /^r14 OK/);
  assert.match((await c.send('r15', 'UNSELECT')).tagged, /^r15 OK/);
  // Put the message back for the other tests' counts.
  await c.send('r16', 'SELECT Twice');
  await c.send('r17', 'MOVE 1 INBOX');
  c.close();
});

test('Dovecot 2.3 gives the same STATUS SIZE for the same messages', async (t) => {
  const dove = await startReferenceDovecot([addr('alice')]).catch(() => null);
  if (!dove) return t.skip('dovecot not installed');
  t.after(() => dove.stop());
  const d = await ImapClient.connect(dove.port);
  await d.login(addr('alice'));
  const c = await rev2('bob');
  const run = async (cl: ImapClient) => {
    await cl.send('d1', 'CREATE Cmp');
    // Fixed bytes (message() has a random Message-ID of varying length).
    await seed(cl, 'Cmp', 4, (i) => Buffer.from(`Subject: cmp ${i}\r\nMessage-ID: <cmp${i}@example.org>\r\n\r\n${'x'.repeat(i * 100)}\r\n`));
    await cl.send('d2', 'SELECT Cmp');
    await cl.send('d3', 'STORE 1,3 +FLAGS.SILENT (\\Deleted)');
    await cl.send('d4', 'UNSELECT');
    // Dovecot 2.3.19 has STATUS SIZE but not DELETED (BAD "Invalid status item DELETED"): DELETED is checked above.
    return (await cl.send('d5', 'STATUS Cmp (MESSAGES SIZE)')).untagged;
  };
  assert.deepEqual(await run(c), await run(d));
  d.close();
  c.close();
});

test('imapflow enables IMAP4rev2 and works with it: search, UTF-8 names, status size', async () => {
  const { client } = flowClient(srv.port, addr('alice'));
  await client.connect();
  try {
    assert.ok(client.enabled.has('IMAP4REV2'), [...client.enabled].join(' ')); // imapflow keeps names upper-case
    await client.mailboxCreate('Gelöscht');
    const list = await client.list();
    assert.ok(list.some((m) => m.path === 'Gelöscht'), list.map((m) => m.path).join(', '));
    const st = await client.status('INBOX', { messages: true, size: true } as never);
    assert.equal(st.messages, 3);
    assert.ok(Number((st as { size?: number }).size) > 0, JSON.stringify(st));
    const lock = await client.getMailboxLock('INBOX');
    try {
      const uids = await client.search({ all: true }, { uid: true });
      assert.ok(Array.isArray(uids) && uids.length === 3, String(uids));
      assert.deepEqual(await client.search({ seq: '2:3' }), [2, 3]);
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
});
