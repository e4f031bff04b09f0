/**
 * SELECT (RFC 3501 §6.3.1): FLAGS, OK [PERMANENTFLAGS], EXISTS, RECENT, OK [UNSEEN n], OK [UIDVALIDITY],
 * OK [UIDNEXT], then "OK [READ-WRITE]"; a second SELECT closes the first (OK [CLOSED], RFC 7162 §3.2.11); a failed
 * SELECT leaves the session in authenticated state; \Noselect and missing mailboxes are NO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });

test('SELECT INBOX on an empty mailbox', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'SELECT INBOX');
  assert.match(r.tagged, /^a1 OK \[READ-WRITE\] /);
  const u = r.untagged;
  assert.ok(u.some((l) => /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft( [^)]*)?\)$/.test(l)), u.join('\n'));
  assert.ok(u.some((l) => /^\* OK \[PERMANENTFLAGS \(.*\\Seen.*\\\*\)\] /.test(l)));
  assert.ok(u.includes('* 0 EXISTS'));
  assert.ok(u.includes('* 0 RECENT'));
  assert.ok(!u.some((l) => /\[UNSEEN /.test(l)), 'no UNSEEN on an empty mailbox');
  assert.ok(u.some((l) => /^\* OK \[UIDVALIDITY [1-9]\d*\] /.test(l)));
  assert.ok(u.some((l) => /^\* OK \[UIDNEXT 1\] /.test(l)));
  c.close();
});

test('SELECT with messages: EXISTS, UNSEEN is the first unseen sequence number, UIDNEXT, UIDVALIDITY stable', async () => {
  const c = await srv.authed('bob');
  const uids = await seed(c, 'INBOX', 4);
  const r1 = await c.send('a0', 'SELECT INBOX');
  const uv = /\[UIDVALIDITY (\d+)\]/.exec(r1.untagged.join('\n'))![1];
  await c.send('a1', 'STORE 1:2 +FLAGS.SILENT (\\Seen)');
  await c.send('a2', 'STORE 4 +FLAGS.SILENT (\\Seen)');
  const r = await c.send('a3', 'select "INBOX"');
  assert.match(r.tagged, /^a3 OK \[READ-WRITE\] /);
  assert.equal(r.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  assert.ok(r.untagged.includes('* 4 EXISTS'));
  assert.ok(r.untagged.some((l) => /^\* OK \[UNSEEN 3\] /.test(l)));
  assert.ok(r.untagged.includes(`* OK [UIDVALIDITY ${uv}] UIDs valid`));
  assert.ok(r.untagged.some((l) => l.startsWith(`* OK [UIDNEXT ${uids.at(-1)! + 1}] `)));
  c.close();
});

test('inbox in any case is INBOX; other mailboxes are case-sensitive', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', 'SELECT inbox')).tagged, /^a1 OK \[READ-WRITE\]/);
  assert.match((await c.send('a2', 'SELECT Sent')).tagged, /^a2 OK \[READ-WRITE\]/);
  assert.match((await c.send('a3', 'SELECT sent')).tagged, /^a3 NO /);
  c.close();
});

test('a failed SELECT leaves no mailbox selected', async () => {
  const c = await srv.selected('alice');
  const r = await c.send('a1', 'SELECT DoesNotExist');
  assert.match(r.tagged, /^a1 NO /);
  // RFC 3501 §6.3.1: "If the client is permitted to ... the server MUST NOT leave ... selected" on failure.
  assert.match((await c.send('a2', 'FETCH 1:* FLAGS')).tagged, /^a2 BAD /);
  c.close();
});

test('SELECT of a \\Noselect mailbox -> NO', async () => {
  const c = await srv.authed('alice');
  await c.send('a1', 'CREATE Parent/Child');
  assert.match((await c.send('a2', 'DELETE Parent')).tagged, /^a2 OK /); // Parent becomes \Noselect
  assert.match((await c.send('a3', 'SELECT Parent')).tagged, /^a3 NO /);
  assert.match((await c.send('a4', 'SELECT Parent/Child')).tagged, /^a4 OK /);
  c.close();
});

test('wrong state: SELECT before login -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'SELECT INBOX')).tagged, /^a1 BAD /);
  c.close();
});

test('bad syntax: no mailbox, two mailboxes, bad parameter list -> BAD', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', 'SELECT')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'SELECT INBOX Sent')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'SELECT INBOX (')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'SELECT "INBOX')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'SELECT INBOX')).tagged, /^a5 OK /);
  c.close();
});
