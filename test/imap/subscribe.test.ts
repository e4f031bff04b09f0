/**
 * SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6-7): change what LSUB (and LIST (SUBSCRIBED)) returns; the special-use
 * mailboxes and INBOX start subscribed; a missing mailbox is NO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');

test('SUBSCRIBE then LSUB shows it; UNSUBSCRIBE removes it', async () => {
  await c.send('a1', 'CREATE News');
  assert.deepEqual((await c.send('a2', 'LSUB "" News')).untagged, []);
  const r = await c.send('a3', 'SUBSCRIBE News');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a3 OK /);
  assert.deepEqual((await c.send('a4', 'LSUB "" News')).untagged, ['* LSUB (\\HasNoChildren) "/" News']);
  assert.match((await c.send('a5', 'unsubscribe News')).tagged, /^a5 OK /);
  assert.deepEqual((await c.send('a6', 'LSUB "" News')).untagged, []);
});

test('INBOX and the special-use mailboxes are subscribed from the start', async () => {
  const l = await c.send('a1', 'LSUB "" *');
  for (const name of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) {
    assert.ok(l.untagged.some((x) => x.endsWith(`"/" ${name}`)), `${name} in ${l.untagged.join('\n')}`);
  }
});

test('SUBSCRIBE / UNSUBSCRIBE of a missing mailbox -> NO', async () => {
  assert.match((await c.send('a1', 'SUBSCRIBE Ghost')).tagged, /^a1 NO /);
  assert.match((await c.send('a2', 'UNSUBSCRIBE Ghost')).tagged, /^a2 NO /);
});

test('SUBSCRIBE a mailbox with a UTF-7 name', async () => {
  await c.send('a1', 'CREATE "Entw&APw-rfe"');
  assert.match((await c.send('a2', 'SUBSCRIBE "Entw&APw-rfe"')).tagged, /^a2 OK /);
  assert.deepEqual((await c.send('a3', 'LSUB "" Entw*')).untagged, ['* LSUB (\\HasNoChildren) "/" Entw&APw-rfe']);
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'SUBSCRIBE INBOX')).tagged, /^a1 BAD /);
  assert.match((await d.send('a2', 'UNSUBSCRIBE INBOX')).tagged, /^a2 BAD /);
  d.close();
  assert.match((await c.send('a3', 'SUBSCRIBE')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'UNSUBSCRIBE a b')).tagged, /^a4 BAD /);
});
