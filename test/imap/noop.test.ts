/**
 * NOOP (RFC 3501 §6.1.2): OK in every state, and the polling point for mailbox updates: another session's new
 * message (EXISTS), flag change (FETCH FLAGS) and expunge (EXPUNGE) show up at NOOP (RFC 3501 §5.2, §7.4.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });

test('NOOP in not-authenticated, authenticated and selected state', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'NOOP')).tagged, /^a1 OK /);
  await c.login('alice@example.test');
  const r = await c.send('a2', 'noop');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a2 OK /);
  await c.select('INBOX');
  const r3 = await c.send('a3', 'NOOP');
  assert.deepEqual(r3.untagged, []);
  assert.match(r3.tagged, /^a3 OK /);
  c.close();
});

test('bad syntax: NOOP with an argument -> BAD with the tag', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'NOOP now')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  c.close();
});

test('two sessions: APPEND, STORE and EXPUNGE in one are reported to the other at NOOP', async () => {
  const a = await srv.authed('bob');
  await a.send('c0', 'CREATE Shared');
  await seed(a, 'Shared', 3);
  await a.select('Shared');
  const b = await srv.selected('bob', 'Shared');

  // A new message.
  await seed(a, 'Shared', 1);
  const r1 = await b.send('b1', 'NOOP');
  assert.deepEqual(r1.untagged, ['* 4 EXISTS']);
  assert.match(r1.tagged, /^b1 OK /);
  // a sees its own append as EXISTS too (at the APPEND or at the next command).
  const a1 = await a.send('a1', 'NOOP');
  assert.ok(a1.untagged.length === 0 || a1.untagged.includes('* 4 EXISTS'));

  // A flag change.
  const st = await a.send('a2', 'STORE 2 +FLAGS (\\Flagged)');
  assert.match(st.tagged, /^a2 OK /);
  const r2 = await b.send('b2', 'NOOP');
  assert.deepEqual(r2.untagged, ['* 2 FETCH (FLAGS (\\Flagged))']);

  // An expunge: 1 and 3 are deleted; b learns about them in descending (shift-safe) order.
  await a.send('a3', 'STORE 1,3 +FLAGS.SILENT (\\Deleted)');
  const ex = await a.send('a4', 'EXPUNGE');
  assert.deepEqual(ex.untagged, ['* 3 EXPUNGE', '* 1 EXPUNGE']);
  const r3 = await b.send('b3', 'NOOP');
  const expunges = r3.untagged.filter((l) => / EXPUNGE$/.test(l));
  assert.deepEqual(expunges, ['* 3 EXPUNGE', '* 1 EXPUNGE']);
  // Now both agree: 2 messages.
  const s = await b.send('b4', 'SEARCH ALL');
  assert.deepEqual(s.untagged, ['* SEARCH 1 2']);
  // Nothing is reported twice.
  const r4 = await b.send('b5', 'NOOP');
  assert.deepEqual(r4.untagged, []);
  a.close();
  b.close();
});
