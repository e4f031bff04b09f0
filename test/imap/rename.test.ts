/**
 * RENAME (RFC 3501 §6.3.5): the mailbox and all its children are renamed (messages, UIDs and UIDVALIDITY kept);
 * missing parents of the new name are created; renaming INBOX moves its messages to the new mailbox and leaves
 * INBOX empty; target exists -> NO [ALREADYEXISTS]; source missing -> NO [NONEXISTENT].
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const c = await srv.authed('alice');

const uidValidity = async (name: string) => {
  const r = await c.cmd(`STATUS ${name} (UIDVALIDITY MESSAGES UIDNEXT)`);
  return r.untagged[0]!.replace(/^\* STATUS \S+ /, '');
};

test('RENAME with children: everything moves, messages and UIDVALIDITY kept', async () => {
  await c.send('a1', 'CREATE Proj/Alpha/Notes');
  await seed(c, 'Proj/Alpha', 2);
  const before = await uidValidity('Proj/Alpha');
  const r = await c.send('a2', 'RENAME Proj Projects');
  assert.match(r.tagged, /^a2 OK /);
  const l = await c.send('a3', 'LIST "" Proj*');
  assert.deepEqual(l.untagged, [
    '* LIST (\\HasChildren) "/" Projects',
    '* LIST (\\HasChildren) "/" Projects/Alpha',
    '* LIST (\\HasNoChildren) "/" Projects/Alpha/Notes',
  ]);
  assert.equal(await uidValidity('Projects/Alpha'), before);
  assert.ok(existsSync(join(srv.maildir('alice'), '.Projects.Alpha.Notes', 'cur')));
  assert.ok(!existsSync(join(srv.maildir('alice'), '.Proj')));
  await c.send('a4', 'SELECT Projects/Alpha');
  assert.deepEqual((await c.send('a5', 'FETCH 1:* (UID)')).untagged, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)']);
  await c.send('a6', 'UNSELECT');
});

test('RENAME into a new hierarchy creates the parents', async () => {
  await c.send('a1', 'CREATE Loose');
  assert.match((await c.send('a2', 'RENAME Loose Deep/Er/Loose')).tagged, /^a2 OK /);
  const l = await c.send('a3', 'LIST "" Deep*');
  assert.equal(l.untagged.length, 3);
  assert.ok(l.untagged.includes('* LIST (\\HasNoChildren) "/" Deep/Er/Loose'));
});

test('RENAME INBOX: messages move to the new mailbox, INBOX stays and is empty', async () => {
  const b = await srv.authed('bob');
  await seed(b, 'INBOX', 3);
  const r = await b.send('a1', 'RENAME INBOX Old-Inbox');
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual((await b.send('a2', 'STATUS INBOX (MESSAGES)')).untagged, ['* STATUS INBOX (MESSAGES 0)']);
  assert.deepEqual((await b.send('a3', 'STATUS Old-Inbox (MESSAGES)')).untagged, ['* STATUS Old-Inbox (MESSAGES 3)']);
  // New mail still goes to INBOX.
  await seed(b, 'INBOX', 1);
  assert.deepEqual((await b.send('a4', 'STATUS INBOX (MESSAGES)')).untagged, ['* STATUS INBOX (MESSAGES 1)']);
  b.close();
});

test('RENAME errors: target exists, source missing, into itself, to INBOX', async () => {
  await c.send('a1', 'CREATE One');
  await c.send('a2', 'CREATE Two');
  assert.match((await c.send('a3', 'RENAME One Two')).tagged, /^a3 NO \[ALREADYEXISTS\] /);
  assert.match((await c.send('a4', 'RENAME Nothing Else')).tagged, /^a4 NO \[NONEXISTENT\] /);
  assert.match((await c.send('a5', 'RENAME One One/Child')).tagged, /^a5 NO /);
  assert.match((await c.send('a6', 'RENAME One INBOX')).tagged, /^a6 NO /);
  assert.match((await c.send('a7', 'RENAME One "../../escape"')).tagged, /^a7 (OK|NO) /);
  assert.ok(!existsSync(join(srv.maildir('alice'), '..', '..', 'escape')));
});

test('RENAME of the selected mailbox: the session keeps working on it', async () => {
  await c.send('a1', 'CREATE Sel');
  await seed(c, 'Sel', 1);
  await c.send('a2', 'SELECT Sel');
  assert.match((await c.send('a3', 'RENAME Sel Sel2')).tagged, /^a3 OK /);
  const f = await c.send('a4', 'FETCH 1 (UID FLAGS)');
  assert.match(f.tagged, /^a4 OK /);
  assert.deepEqual(f.untagged, ['* 1 FETCH (UID 1 FLAGS ())']);
  await c.send('a5', 'UNSELECT');
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'RENAME A B')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'RENAME A')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'RENAME')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'RENAME A B C')).tagged, /^a4 BAD /);
});
