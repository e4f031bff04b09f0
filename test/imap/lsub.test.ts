/**
 * LSUB (RFC 3501 §6.3.9): subscribed mailboxes matching the pattern; with "%", a subscribed child whose parent is
 * not listed makes the parent appear with \Noselect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE Lists/Node');
await c.cmd('CREATE Lists/Rust');
await c.cmd('SUBSCRIBE Lists/Node');

test('LSUB "" "*": only subscribed mailboxes', async () => {
  const r = await c.send('a1', 'LSUB "" "*"');
  assert.match(r.tagged, /^a1 OK /);
  assert.ok(r.untagged.every((l) => l.startsWith('* LSUB (')), r.untagged.join('\n'));
  assert.ok(r.untagged.some((l) => l.endsWith(' "/" Lists/Node')));
  assert.ok(!r.untagged.some((l) => l.endsWith(' "/" Lists/Rust')));
  assert.ok(!r.untagged.some((l) => l.endsWith(' "/" Lists')));
});

test('LSUB with "%": the unsubscribed parent of a subscribed child is listed \\Noselect', async () => {
  const r = await c.send('a1', 'LSUB "" "L%"');
  assert.deepEqual(r.untagged, ['* LSUB (\\Noselect) "/" Lists']);
  const s = await c.send('a2', 'LSUB "" "Lists/%"');
  assert.deepEqual(s.untagged, ['* LSUB (\\HasNoChildren) "/" Lists/Node']);
});

test('LSUB "" "" and a pattern matching nothing: OK, nothing listed', async () => {
  assert.match((await c.send('a1', 'LSUB "" ""')).tagged, /^a1 OK /);
  const r = await c.send('a2', 'LSUB "" Nothing');
  assert.deepEqual(r.untagged, []);
});

test('a subscription to a mailbox that is then deleted is forgotten', async () => {
  await c.cmd('CREATE Temp');
  await c.cmd('SUBSCRIBE Temp');
  await c.cmd('DELETE Temp');
  const r = await c.send('a1', 'LSUB "" Temp');
  assert.match(r.tagged, /^a1 OK /);
  // The subscription goes with the mailbox (RFC 3501 allows either; we forget it).
  assert.deepEqual(r.untagged, []);
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'LSUB "" *')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'LSUB')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'LSUB ""')).tagged, /^a3 BAD /);
});
