/** NAMESPACE (RFC 2342): one personal namespace "" with "/"; no shared or other users' namespaces. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('NAMESPACE', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'NAMESPACE');
  assert.deepEqual(r.untagged, ['* NAMESPACE (("" "/")) NIL NIL']);
  assert.match(r.tagged, /^a1 OK /);
  await c.select('INBOX');
  assert.match((await c.send('a2', 'namespace')).tagged, /^a2 OK /);
  c.close();
});

test('wrong state: NAMESPACE before login -> BAD; bad syntax -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'NAMESPACE')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'NAMESPACE x')).tagged, /^a2 BAD /);
  c.close();
});
