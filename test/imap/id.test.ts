/** ID (RFC 2971): allowed in any state; the server names itself; the client's list is bounded and only logged. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('ID with a parameter list and with NIL, before and after login', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', 'ID ("name" "Thunderbird" "version" "128.0")');
  assert.equal(r.untagged.length, 1);
  assert.match(r.untagged[0]!, /^\* ID \("name" "Mailwright"/);
  assert.match(r.tagged, /^a1 OK /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'ID NIL')).tagged, /^a2 OK /);
  await c.select('INBOX');
  assert.match((await c.send('a3', 'ID NIL')).tagged, /^a3 OK /);
  c.close();
});

test('a long client list is accepted without echoing it', async () => {
  const c = await srv.connect();
  const pairs = Array.from({ length: 30 }, (_, i) => `"k${i}" "${'v'.repeat(200)}"`).join(' ');
  const r = await c.send('a1', `ID (${pairs})`);
  assert.match(r.tagged, /^a1 (OK|BAD) /);
  assert.ok(!r.untagged.some((l) => l.includes('vvvv')));
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  c.close();
});

test('bad syntax -> BAD', async () => {
  const c = await srv.connect();
  for (const line of ['ID', 'ID (', 'ID ("name")', 'ID name', 'ID ("a" "b"']) {
    assert.match((await c.cmd(line)).tagged, /^t\d+ BAD /, line);
  }
  c.close();
});
