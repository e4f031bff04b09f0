/**
 * EXAMINE (RFC 3501 §6.3.2): like SELECT but "OK [READ-ONLY]", empty PERMANENTFLAGS; STORE, EXPUNGE and MOVE are
 * refused, a body FETCH does not set \Seen, CLOSE does not expunge.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const setup = await srv.authed('alice');
await seed(setup, 'INBOX', 3);
await setup.select('INBOX');
await setup.send('s1', 'STORE 2 +FLAGS.SILENT (\\Deleted)');

test('EXAMINE: the SELECT responses with READ-ONLY and no permanent flags', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'EXAMINE INBOX');
  assert.match(r.tagged, /^a1 OK \[READ-ONLY\] /);
  assert.ok(r.untagged.includes('* 3 EXISTS'));
  assert.ok(r.untagged.some((l) => l.startsWith('* FLAGS (')));
  assert.ok(r.untagged.some((l) => /^\* OK \[PERMANENTFLAGS \(\)\] /.test(l)));
  assert.ok(r.untagged.some((l) => /^\* OK \[UIDVALIDITY \d+\]/.test(l)));
  assert.ok(r.untagged.some((l) => /^\* OK \[UIDNEXT 4\]/.test(l)));
  c.close();
});

test('read-only: STORE, EXPUNGE, UID EXPUNGE and MOVE are refused; COPY is allowed', async () => {
  const c = await srv.authed('alice');
  await c.send('a1', 'EXAMINE INBOX');
  assert.match((await c.send('a2', 'STORE 1 +FLAGS (\\Seen)')).tagged, /^a2 NO /);
  assert.match((await c.send('a3', 'EXPUNGE')).tagged, /^a3 NO /);
  assert.match((await c.send('a4', 'UID EXPUNGE 1:*')).tagged, /^a4 NO /);
  assert.match((await c.send('a5', 'MOVE 1 Trash')).tagged, /^a5 NO /);
  assert.match((await c.send('a6', 'COPY 1 Archive')).tagged, /^a6 OK /);
  const f = await c.send('a7', 'FETCH 1:3 FLAGS');
  assert.deepEqual(f.untagged, ['* 1 FETCH (FLAGS ())', '* 2 FETCH (FLAGS (\\Deleted))', '* 3 FETCH (FLAGS ())']);
  c.close();
});

test('read-only: FETCH BODY[] does not set \\Seen; CLOSE does not expunge', async () => {
  const c = await srv.authed('alice');
  await c.send('a1', 'EXAMINE INBOX');
  const f = await c.send('a2', 'FETCH 1 BODY[]');
  assert.equal(f.untagged.length, 1);
  assert.doesNotMatch(f.untagged[0]!, /\\Seen/);
  assert.match((await c.send('a3', 'CLOSE')).tagged, /^a3 OK /);
  await c.send('a4', 'EXAMINE INBOX');
  const g = await c.send('a5', 'FETCH 1:* FLAGS');
  assert.equal(g.untagged.length, 3);
  assert.equal(g.untagged[0], '* 1 FETCH (FLAGS ())');
  c.close();
});

test('EXAMINE then SELECT: READ-WRITE again', async () => {
  const c = await srv.authed('alice');
  await c.send('a1', 'EXAMINE INBOX');
  assert.match((await c.send('a2', 'SELECT INBOX')).tagged, /^a2 OK \[READ-WRITE\]/);
  assert.match((await c.send('a3', 'STORE 1 -FLAGS.SILENT (\\Seen)')).tagged, /^a3 OK /);
  c.close();
});

test('wrong state and bad syntax', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'EXAMINE INBOX')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'EXAMINE')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'EXAMINE Nope')).tagged, /^a3 NO /);
  c.close();
});
