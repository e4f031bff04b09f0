/**
 * STATUS (RFC 3501 §6.3.10): MESSAGES, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN (and RFC 8438 SIZE, RFC 9051 DELETED if
 * asked); in the order asked; of the selected mailbox too; missing -> NO; unknown item -> BAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE Box');
const uids = await seed(c, 'Box', 3);
await c.cmd('SELECT Box');
await c.cmd('STORE 1 +FLAGS.SILENT (\\Seen)');
await c.cmd('UNSELECT');

test('STATUS with every RFC 3501 item', async () => {
  const sel = await c.send('a0', 'EXAMINE Box');
  const uv = /\[UIDVALIDITY (\d+)\]/.exec(sel.untagged.join('\n'))![1];
  await c.send('a00', 'UNSELECT');
  const r = await c.send('a1', 'STATUS Box (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)');
  assert.deepEqual(r.untagged, [`* STATUS Box (MESSAGES 3 RECENT 0 UIDNEXT ${uids.at(-1)! + 1} UIDVALIDITY ${uv} UNSEEN 2)`]);
  assert.match(r.tagged, /^a1 OK /);
});

test('items come back in the order asked; a single item', async () => {
  assert.deepEqual((await c.send('a1', 'STATUS Box (UNSEEN MESSAGES)')).untagged, ['* STATUS Box (UNSEEN 2 MESSAGES 3)']);
  assert.deepEqual((await c.send('a2', 'status inbox (messages)')).untagged, ['* STATUS INBOX (MESSAGES 0)']);
});

test('STATUS SIZE (RFC 8438) when supported', async () => {
  const r = await c.send('a1', 'STATUS Box (SIZE)');
  if (r.tagged.startsWith('a1 OK')) assert.match(r.untagged[0]!, /^\* STATUS Box \(SIZE \d+\)$/);
  else assert.match(r.tagged, /^a1 BAD /);
});

test('STATUS of the selected mailbox after changes', async () => {
  await c.send('a1', 'SELECT Box');
  await seed(c, 'Box', 1);
  const r = await c.send('a2', 'STATUS Box (MESSAGES UNSEEN)');
  assert.ok(r.untagged.includes('* STATUS Box (MESSAGES 4 UNSEEN 3)'), r.untagged.join('\n'));
  await c.send('a3', 'UNSELECT');
});

test('STATUS of a missing or \\Noselect mailbox -> NO', async () => {
  assert.match((await c.send('a1', 'STATUS Missing (MESSAGES)')).tagged, /^a1 NO /);
  await c.cmd('CREATE P/C');
  await c.cmd('DELETE P');
  assert.match((await c.send('a2', 'STATUS P (MESSAGES)')).tagged, /^a2 NO /);
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'STATUS INBOX (MESSAGES)')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'STATUS INBOX')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'STATUS INBOX ()')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'STATUS INBOX (BOGUS)')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'STATUS INBOX MESSAGES')).tagged, /^a5 BAD /);
  assert.match((await c.send('a6', 'STATUS (MESSAGES)')).tagged, /^a6 BAD /);
});
