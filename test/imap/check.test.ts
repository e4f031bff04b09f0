/** CHECK (RFC 3501 §6.4.1): a checkpoint; OK in selected state, BAD elsewhere; new mail found on disk is reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('CHECK in selected state -> OK', async () => {
  const c = await srv.selected('alice');
  const r = await c.send('a1', 'CHECK');
  assert.match(r.tagged, /^a1 OK /);
  c.close();
});

test('wrong state: CHECK before SELECT and before login -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'CHECK')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'CHECK')).tagged, /^a2 BAD /);
  c.close();
});

test('bad syntax: CHECK with an argument -> BAD', async () => {
  const c = await srv.selected('alice');
  assert.match((await c.send('a1', 'CHECK INBOX')).tagged, /^a1 BAD /);
  c.close();
});
