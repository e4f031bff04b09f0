/**
 * LOGOUT (RFC 3501 §6.1.3): untagged BYE, then the tagged OK, then the server closes the connection; in every state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('LOGOUT before login: BYE, OK, close', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', 'LOGOUT');
  assert.equal(r.untagged.length, 1);
  assert.match(r.untagged[0]!, /^\* BYE /);
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual(await c.untilClosed(), []);
});

test('LOGOUT when authenticated and when selected', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'logout');
  assert.match(r.untagged[0]!, /^\* BYE /);
  assert.match(r.tagged, /^a1 OK /);
  await c.untilClosed();

  const d = await srv.selected('alice');
  const r2 = await d.send('b1', 'LOGOUT');
  assert.match(r2.untagged.at(-1)!, /^\* BYE /);
  assert.match(r2.tagged, /^b1 OK /);
  await d.untilClosed();
});

test('commands pipelined after LOGOUT are not answered', async () => {
  const c = await srv.authed('alice');
  c.write('a1 LOGOUT\r\na2 NOOP\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 OK /);
  const rest = await c.untilClosed();
  assert.deepEqual(rest.filter((l) => l.startsWith('a2')), []);
});

test('bad syntax: LOGOUT with an argument -> BAD, connection stays', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'LOGOUT now')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  c.close();
});
