/**
 * IDLE (RFC 2177): "+ idling", then changes are reported as they happen: an APPEND from a second session shows as
 * "* n EXISTS", a flag change as FETCH, an expunge as EXPUNGE; mail delivered over SMTP shows up too; DONE ends it
 * with the tagged OK; anything but DONE is BAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, message } from '../helpers/imap.js';
import { WireClient } from '../helpers/smtp-client.js';

const srv = await startImapServer({ users: ['alice'] });

test('IDLE: "+ idling", EXISTS for another session\'s APPEND, FETCH for a flag change, EXPUNGE, then DONE -> OK', async () => {
  const c = await srv.selected('alice');
  const other = await srv.authed('alice');
  c.write('a1 IDLE\r\n');
  assert.match(await c.next(), /^\+ idling/);
  await seed(other, 'INBOX', 1);
  assert.equal(await c.next(), '* 1 EXISTS');
  await other.select('INBOX');
  await other.send('b1', 'STORE 1 +FLAGS.SILENT (\\Flagged \\Deleted)');
  assert.equal(await c.next(), '* 1 FETCH (FLAGS (\\Flagged \\Deleted))');
  await other.send('b2', 'EXPUNGE');
  assert.equal(await c.next(), '* 1 EXPUNGE');
  c.write('DONE\r\n');
  const r = await c.collect('a1');
  assert.deepEqual(r.lines, []);
  assert.match(r.tagged, /^a1 OK /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  c.close();
  other.close();
});

test('IDLE: mail delivered over SMTP appears as EXISTS', async () => {
  const c = await srv.selected('alice');
  const before = Number(/^\* (\d+) EXISTS/m.exec((await c.send('a0', 'SELECT INBOX')).untagged.join('\n'))![1]);
  c.write('a1 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  const s = await WireClient.open(srv.ts.port);
  await s.cmd('MAIL FROM:<sender@example.org>');
  await s.cmd('RCPT TO:<alice@example.test>');
  await s.cmd('DATA');
  const r = await s.cmd(message({ subject: 'via smtp' }).toString('latin1') + '.');
  assert.equal(r.code, 250);
  await s.cmd('QUIT');
  // Pushed by the delivery event, not found by the 15 s poll (tests do not assert on timings otherwise).
  assert.equal(await c.next(10_000), `* ${before + 1} EXISTS`);
  c.write('DONE\r\n');
  assert.match((await c.collect('a1')).tagged, /^a1 OK /);
  c.close();
});

test('IDLE in authenticated state (nothing selected) is allowed; DONE is case-insensitive', async () => {
  const c = await srv.authed('alice');
  c.write('a1 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  c.write('done\r\n');
  assert.match((await c.collect('a1')).tagged, /^a1 OK /);
  c.close();
});

test('anything but DONE ends IDLE with BAD', async () => {
  const c = await srv.selected('alice');
  c.write('a1 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  c.write('a2 NOOP\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 BAD /);
  assert.match((await c.send('a3', 'NOOP')).tagged, /^a3 OK /);
  c.close();
});

test('wrong state: IDLE before login -> BAD; bad syntax: IDLE with an argument -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'IDLE')).tagged, /^a1 BAD /);
  await c.login('alice@example.test');
  assert.match((await c.send('a2', 'IDLE now')).tagged, /^a2 BAD /);
  c.close();
});
