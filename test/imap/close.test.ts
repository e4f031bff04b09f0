/**
 * CLOSE (RFC 3501 §6.4.2): expunges \Deleted messages without sending EXPUNGE responses and returns to
 * authenticated state; after EXAMINE nothing is expunged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('CLOSE expunges silently and leaves selected state', async () => {
  const c = await srv.authed('alice');
  await c.cmd('CREATE C1');
  await seed(c, 'C1', 4);
  await c.select('C1');
  await c.send('a1', 'STORE 2:3 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', 'CLOSE');
  assert.deepEqual(r.lines, []);
  assert.match(r.tagged, /^a2 OK /);
  assert.match((await c.send('a3', 'FETCH 1 FLAGS')).tagged, /^a3 BAD /);
  assert.deepEqual((await c.send('a4', 'STATUS C1 (MESSAGES)')).untagged, ['* STATUS C1 (MESSAGES 2)']);
  await c.select('C1');
  assert.deepEqual((await c.send('a5', 'FETCH 1:* (UID)')).untagged, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 4)']);
  c.close();
});

test('another session sees the expunges made by CLOSE', async () => {
  const c = await srv.authed('alice');
  await c.cmd('CREATE C2');
  await seed(c, 'C2', 2);
  await c.select('C2');
  const other = await srv.selected('alice', 'C2');
  await c.send('a1', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  await c.send('a2', 'CLOSE');
  const n = await other.send('b1', 'NOOP');
  assert.ok(n.untagged.includes('* 1 EXPUNGE'), n.untagged.join('\n'));
  c.close();
  other.close();
});

test('wrong state: CLOSE when nothing is selected -> BAD', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', 'CLOSE')).tagged, /^a1 BAD /);
  c.close();
});

test('bad syntax: CLOSE with an argument -> BAD, mailbox still selected', async () => {
  const c = await srv.selected('alice');
  assert.match((await c.send('a1', 'CLOSE now')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  assert.match((await c.send('a3', 'CLOSE')).tagged, /^a3 OK /);
  c.close();
});
