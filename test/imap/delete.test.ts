/**
 * DELETE (RFC 3501 §6.3.4): a mailbox and its messages go; INBOX cannot be deleted; a mailbox with children loses
 * its messages and becomes \Noselect; a \Noselect mailbox with children cannot be deleted; missing -> NO
 * [NONEXISTENT]; a session that has the mailbox selected is told (BYE) at its next command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');

test('DELETE a mailbox with messages: gone from LIST and from disk', async () => {
  await c.send('a1', 'CREATE Old');
  await seed(c, 'Old', 2);
  assert.ok(existsSync(join(srv.maildir('alice'), '.Old')));
  const r = await c.send('a2', 'DELETE Old');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a2 OK /);
  assert.deepEqual((await c.send('a3', 'LIST "" Old')).untagged, []);
  assert.ok(!existsSync(join(srv.maildir('alice'), '.Old')));
  assert.match((await c.send('a4', 'SELECT Old')).tagged, /^a4 NO /);
  // A new mailbox of the same name starts empty.
  await c.send('a5', 'CREATE Old');
  assert.deepEqual((await c.send('a6', 'STATUS Old (MESSAGES)')).untagged, ['* STATUS Old (MESSAGES 0)']);
});

test('DELETE INBOX -> NO; DELETE of a missing mailbox -> NO [NONEXISTENT]', async () => {
  assert.match((await c.send('a1', 'DELETE INBOX')).tagged, /^a1 NO /);
  assert.match((await c.send('a2', 'DELETE inbox')).tagged, /^a2 NO /);
  assert.match((await c.send('a3', 'DELETE Missing')).tagged, /^a3 NO \[NONEXISTENT\] /);
});

test('DELETE a mailbox with children: it becomes \\Noselect, children stay; then DELETE of it -> NO', async () => {
  await c.send('a1', 'CREATE Top/Sub');
  await seed(c, 'Top', 1);
  assert.match((await c.send('a2', 'DELETE Top')).tagged, /^a2 OK /);
  const l = await c.send('a3', 'LIST "" Top*');
  assert.deepEqual(l.untagged, ['* LIST (\\Noselect \\HasChildren) "/" Top', '* LIST (\\HasNoChildren) "/" Top/Sub']);
  assert.match((await c.send('a4', 'DELETE Top')).tagged, /^a4 NO /);
  // Deleting the last child takes the \Noselect parent with it.
  assert.match((await c.send('a5', 'DELETE Top/Sub')).tagged, /^a5 OK /);
  assert.deepEqual((await c.send('a6', 'LIST "" Top*')).untagged, []);
});

test('DELETE the mailbox another session has selected: that session is told and leaves', async () => {
  await c.send('a1', 'CREATE Doomed');
  await seed(c, 'Doomed', 1);
  const other = await srv.selected('alice', 'Doomed');
  assert.match((await c.send('a2', 'DELETE Doomed')).tagged, /^a2 OK /);
  const r = await other.cmd('NOOP').catch(() => null);
  // Either BYE and close (what we do) or a NO; never a crash or a stale FETCH.
  const lines = r ? [...r.lines, r.tagged] : [];
  assert.ok(other.closed || lines.some((l) => /^\* BYE /.test(l)) || /NO/.test(r!.tagged), other.transcript);
  other.close();
});

test('DELETE the mailbox this session has selected: OK, and it is no longer selected', async () => {
  await c.send('a1', 'CREATE Mine');
  await c.send('a2', 'SELECT Mine');
  assert.match((await c.send('a3', 'DELETE Mine')).tagged, /^a3 OK /);
  assert.match((await c.send('a4', 'FETCH 1 FLAGS')).tagged, /^a4 BAD /);
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'DELETE Foo')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'DELETE')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'DELETE a b')).tagged, /^a3 BAD /);
});
