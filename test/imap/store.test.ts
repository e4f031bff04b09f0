/**
 * STORE (RFC 3501 §6.4.6): FLAGS, +FLAGS, -FLAGS and their .SILENT forms; untagged FETCH FLAGS for every message
 * named (not for .SILENT); keywords; \Recent cannot be stored; UID STORE includes UID in the FETCH responses
 * (RFC 3501 §6.4.8); sequence numbers beyond the mailbox are BAD; read-only mailboxes refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
const uids = await seed(c, 'INBOX', 4);
await c.select('INBOX');

test('+FLAGS: FETCH FLAGS for each message', async () => {
  const r = await c.send('a1', 'STORE 1:2 +FLAGS (\\Seen $Label1)');
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual(r.untagged, ['* 1 FETCH (FLAGS (\\Seen $Label1))', '* 2 FETCH (FLAGS (\\Seen $Label1))']);
});

test('-FLAGS removes only the named flags', async () => {
  const r = await c.send('a1', 'STORE 2 -FLAGS ($Label1)');
  assert.deepEqual(r.untagged, ['* 2 FETCH (FLAGS (\\Seen))']);
});

test('FLAGS replaces; an empty list clears', async () => {
  assert.deepEqual((await c.send('a1', 'STORE 1 FLAGS (\\Answered \\Draft)')).untagged, ['* 1 FETCH (FLAGS (\\Answered \\Draft))']);
  assert.deepEqual((await c.send('a2', 'STORE 1 FLAGS ()')).untagged, ['* 1 FETCH (FLAGS ())']);
});

test('.SILENT: no FETCH responses, the change is made', async () => {
  const r = await c.send('a1', 'STORE 3:4 +FLAGS.SILENT (\\Flagged)');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual((await c.send('a2', 'FETCH 3:4 FLAGS')).untagged, ['* 3 FETCH (FLAGS (\\Flagged))', '* 4 FETCH (FLAGS (\\Flagged))']);
  assert.deepEqual((await c.send('a3', 'STORE 3 FLAGS.SILENT ()')).untagged, []);
  assert.deepEqual((await c.send('a4', 'STORE 4 -FLAGS.SILENT (\\Flagged)')).untagged, []);
  assert.deepEqual((await c.send('a5', 'FETCH 3:4 FLAGS')).untagged, ['* 3 FETCH (FLAGS ())', '* 4 FETCH (FLAGS ())']);
});

test('flags without parentheses, and a single flag, are accepted (RFC 3501 §9 store-att-flags)', async () => {
  assert.deepEqual((await c.send('a1', 'STORE 4 +FLAGS \\Seen')).untagged, ['* 4 FETCH (FLAGS (\\Seen))']);
  assert.deepEqual((await c.send('a2', 'STORE 4 -FLAGS \\Seen \\Flagged')).untagged, ['* 4 FETCH (FLAGS ())']);
});

test('UID STORE: the FETCH responses include UID', async () => {
  const r = await c.send('a1', `UID STORE ${uids[1]}:${uids[2]} +FLAGS (\\Answered)`);
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual(r.untagged, [
    `* 2 FETCH (FLAGS (\\Seen \\Answered) UID ${uids[1]})`,
    `* 3 FETCH (FLAGS (\\Answered) UID ${uids[2]})`,
  ]);
  // A UID that does not exist: OK, nothing.
  const n = await c.send('a2', 'UID STORE 9999 +FLAGS (\\Seen)');
  assert.match(n.tagged, /^a2 OK /);
  assert.deepEqual(n.untagged, []);
});

test('another session sees the flag change at its next command', async () => {
  const other = await srv.selected('alice');
  await c.send('a1', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  const r = await other.send('b1', 'NOOP');
  assert.deepEqual(r.untagged, ['* 1 FETCH (FLAGS (\\Deleted))']);
  await c.send('a2', 'STORE 1 -FLAGS.SILENT (\\Deleted)');
  other.close();
});

test('\\Recent cannot be stored; unknown system flags are BAD', async () => {
  assert.match((await c.send('a1', 'STORE 1 +FLAGS (\\Recent)')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'STORE 1 +FLAGS (\\Bogus)')).tagged, /^a2 BAD /);
});

test('sequence numbers beyond the mailbox -> BAD; * is the last message', async () => {
  assert.match((await c.send('a1', 'STORE 5 +FLAGS (\\Seen)')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'STORE 0 +FLAGS (\\Seen)')).tagged, /^a2 BAD /);
  const r = await c.send('a3', 'STORE * +FLAGS (\\Seen)');
  assert.deepEqual(r.untagged, ['* 4 FETCH (FLAGS (\\Seen))']);
});

test('wrong state: STORE without a selected mailbox -> BAD; read-only -> NO', async () => {
  const d = await srv.authed('alice');
  assert.match((await d.send('a1', 'STORE 1 +FLAGS (\\Seen)')).tagged, /^a1 BAD /);
  await d.send('a2', 'EXAMINE INBOX');
  assert.match((await d.send('a3', 'STORE 1 +FLAGS (\\Seen)')).tagged, /^a3 NO /);
  d.close();
});

test('bad syntax -> BAD with the tag', async () => {
  for (const line of ['STORE', 'STORE 1', 'STORE 1 FLAGS', 'STORE 1 +FLAG (\\Seen)', 'STORE 1 +FLAGS (\\Seen', 'STORE x +FLAGS (\\Seen)', 'STORE 1 +FLAGS ("quoted")']) {
    const r = await c.cmd(line);
    assert.match(r.tagged, /^t\d+ BAD /, `${line}: ${r.tagged}`);
  }
});
