/** ENABLE (RFC 5161): authenticated state only; unknown extensions are ignored (an empty "* ENABLED"). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('ENABLE of something we do not implement: * ENABLED with nothing, OK', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'ENABLE X-UNKNOWN CONDSTORE-NOT');
  assert.deepEqual(r.untagged, ['* ENABLED']);
  assert.match(r.tagged, /^a1 OK /);
  c.close();
});

test('wrong state: ENABLE before login -> BAD; bad syntax: no argument -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'ENABLE UTF8=ACCEPT')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'ENABLE')).tagged, /^a2 BAD /);
  c.close();
});
