/** UNSELECT (RFC 3691): leaves the mailbox without expunging anything. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('UNSELECT does not expunge \\Deleted messages', async () => {
  const c = await srv.authed('alice');
  await seed(c, 'INBOX', 3);
  await c.select('INBOX');
  await c.send('a1', 'STORE 1:2 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', 'UNSELECT');
  assert.deepEqual(r.lines, []);
  assert.match(r.tagged, /^a2 OK /);
  assert.match((await c.send('a3', 'FETCH 1 FLAGS')).tagged, /^a3 BAD /);
  assert.deepEqual((await c.send('a4', 'STATUS INBOX (MESSAGES)')).untagged, ['* STATUS INBOX (MESSAGES 3)']);
  await c.select('INBOX');
  assert.deepEqual((await c.send('a5', 'FETCH 1:2 FLAGS')).untagged, ['* 1 FETCH (FLAGS (\\Deleted))', '* 2 FETCH (FLAGS (\\Deleted))']);
  c.close();
});

test('wrong state: UNSELECT when nothing is selected -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'UNSELECT')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'UNSELECT')).tagged, /^a2 BAD /);
  c.close();
});

test('bad syntax: UNSELECT with an argument -> BAD', async () => {
  const c = await srv.selected('alice');
  assert.match((await c.send('a1', 'UNSELECT INBOX')).tagged, /^a1 BAD /);
  c.close();
});
