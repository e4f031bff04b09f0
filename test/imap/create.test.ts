/**
 * CREATE (RFC 3501 §6.3.3): missing parents are created; a trailing separator is allowed; INBOX and existing
 * names are NO [ALREADYEXISTS] (RFC 5530); CREATE-SPECIAL-USE (RFC 6154 §3); non-ASCII names round-trip in
 * modified UTF-7 (RFC 3501 §5.1.3); names that look like path traversal never create anything outside the user's
 * Maildir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { existsSync } from 'node:fs';
import { startImapServer, walk } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const c = await srv.authed('alice');

const listed = async (pattern = '*') => (await c.cmd(`LIST "" "${pattern}"`)).untagged;

test('CREATE a top-level mailbox: LIST shows it, SELECT works, folder on disk', async () => {
  const r = await c.send('a1', 'CREATE Projects');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a1 OK /);
  assert.ok((await listed('Projects')).includes('* LIST (\\HasNoChildren) "/" Projects'));
  assert.match((await c.send('a2', 'SELECT Projects')).tagged, /^a2 OK \[READ-WRITE\]/);
  assert.ok(existsSync(join(srv.maildir('alice'), '.Projects', 'cur')));
  await c.send('a3', 'UNSELECT');
});

test('CREATE with hierarchy creates the parents; a trailing separator is accepted', async () => {
  assert.match((await c.send('a1', 'CREATE Work/2026/Q1')).tagged, /^a1 OK /);
  const l = await listed('Work*');
  assert.deepEqual(l, ['* LIST (\\HasChildren) "/" Work', '* LIST (\\HasChildren) "/" Work/2026', '* LIST (\\HasNoChildren) "/" Work/2026/Q1']);
  assert.match((await c.send('a2', 'SELECT Work/2026')).tagged, /^a2 OK/); // parents are real mailboxes
  assert.match((await c.send('a3', 'CREATE Trailing/')).tagged, /^a3 OK /);
  assert.ok((await listed('Trailing')).length === 1);
  await c.send('a4', 'UNSELECT');
});

test('CREATE INBOX and an existing name -> NO [ALREADYEXISTS]', async () => {
  assert.match((await c.send('a1', 'CREATE INBOX')).tagged, /^a1 NO \[ALREADYEXISTS\] /);
  assert.match((await c.send('a2', 'CREATE inbox')).tagged, /^a2 NO \[ALREADYEXISTS\] /);
  await c.send('a3', 'CREATE Dup');
  assert.match((await c.send('a4', 'CREATE Dup')).tagged, /^a4 NO \[ALREADYEXISTS\] /);
  assert.match((await c.send('a5', 'CREATE Sent')).tagged, /^a5 NO \[ALREADYEXISTS\] /);
});

test('CREATE with USE (\\Archive): the special-use attribute shows in LIST', async () => {
  assert.match((await c.send('a1', 'CREATE Old-Stuff (USE (\\archive))')).tagged, /^a1 OK /);
  const l = await listed('Old-Stuff');
  assert.equal(l.length, 1);
  assert.match(l[0]!, /^\* LIST \([^)]*\\Archive[^)]*\) "\/" Old-Stuff$/);
});

test('non-ASCII names round-trip in modified UTF-7 (and on disk as Dovecot writes them)', async () => {
  // "Entwürfe" and "日本語" and "a&b".
  assert.match((await c.send('a1', 'CREATE Entw&APw-rfe')).tagged, /^a1 OK /);
  assert.match((await c.send('a2', 'CREATE "&ZeVnLIqe-/a&-b"')).tagged, /^a2 OK /);
  const l = await listed();
  assert.ok(l.includes('* LIST (\\HasNoChildren) "/" Entw&APw-rfe'), l.join('\n'));
  assert.ok(l.includes('* LIST (\\HasChildren) "/" &ZeVnLIqe-'));
  assert.ok(l.includes('* LIST (\\HasNoChildren) "/" &ZeVnLIqe-/a&-b'));
  assert.match((await c.send('a3', 'SELECT "Entw&APw-rfe"')).tagged, /^a3 OK /);
  const st = await c.send('a4', 'STATUS &ZeVnLIqe-/a&-b (MESSAGES)');
  assert.deepEqual(st.untagged, ['* STATUS &ZeVnLIqe-/a&-b (MESSAGES 0)']);
  assert.ok(existsSync(join(srv.maildir('alice'), '.Entw&APw-rfe')));
  await c.send('a5', 'UNSELECT');
});

test('invalid modified UTF-7 and invalid names -> NO or BAD, nothing created', async () => {
  const before = walk(srv.maildir('alice'));
  const bad = ['"&Jjo!"', '"a//b"', '"/lead"', '""', '"&AGEAYgBj-"' /* ASCII encoded in UTF-7: not canonical */];
  for (const name of bad) {
    const r = await c.cmd(`CREATE ${name}`);
    assert.match(r.tagged, /^t\d+ (NO|BAD) /, `CREATE ${name}: ${r.tagged}`);
  }
  const ctl = await c.sendParts('z1', ['CREATE ', Buffer.from('{5+}\r\nab\x01cd')]);
  assert.match(ctl.tagged, /^z1 (NO|BAD) /);
  assert.deepEqual(walk(srv.maildir('alice')), before);
});

test('path traversal: "../x", "a/../../b", ".." stay inside the Maildir', async () => {
  const root = srv.maildir('alice');
  const outside = dirname(root); // <dataDir>/mail/example.test: other users live here
  const siblingsBefore = walk(outside).filter((p) => !p.startsWith('alice'));
  for (const name of ['"../x"', '"a/../../b"', '".."', '"../../../../tmp/evil"', '"..\\\\evil"', '"./hidden"', '"~/x"']) {
    const r = await c.cmd(`CREATE ${name}`);
    assert.match(r.tagged, /^t\d+ (OK|NO|BAD)/, r.tagged);
  }
  // Nothing new beside the user's directory, nothing in the data directory root or /tmp.
  assert.deepEqual(walk(outside).filter((p) => !p.startsWith('alice')), siblingsBefore);
  assert.ok(!existsSync(join(outside, 'x')) && !existsSync(join(outside, 'b')) && !existsSync('/tmp/evil'));
  // Every new directory is a Maildir++ folder directly in the root (one path component starting with ".").
  for (const p of walk(root)) {
    const top = p.split('/')[0]!;
    assert.ok(['cur', 'new', 'tmp'].includes(top) || /^\.[^./][^/]*$/.test(top), p);
  }
  // The names round-trip as they were given.
  const l = await listed('*');
  assert.ok(l.some((x) => x.endsWith(' "../x"') || x.endsWith(' ../x')), l.join('\n'));
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'CREATE Foo')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'CREATE')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'CREATE a b')).tagged, /^a3 BAD /);
  // RFC 6154 §3: a use the server cannot give -> NO [USEATTR], nothing created.
  assert.match((await c.send('a4', 'CREATE Foo (USE (\\Bogus))')).tagged, /^a4 NO \[USEATTR\] /);
  assert.match((await c.send('a4b', 'CREATE Foo (USE (\\All))')).tagged, /^a4b NO \[USEATTR\] /);
  assert.deepEqual(await listed('Foo'), []);
  assert.match((await c.send('a5', 'CREATE Foo (FOO)')).tagged, /^a5 BAD /);
});
