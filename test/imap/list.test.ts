/**
 * LIST (RFC 3501 §6.3.8): "*" and "%" wildcards, reference names, LIST "" "" (delimiter and root), INBOX
 * case-insensitive, CHILDREN attributes (RFC 3348), SPECIAL-USE attributes (RFC 6154), modified UTF-7 names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
for (const name of ['Work', 'Work/Reports', 'Work/Reports/2026', 'Work/Misc', 'Personal', 'Entw&APw-rfe']) await c.cmd(`CREATE "${name}"`);

const names = (untagged: string[]) => untagged.map((l) => l.replace(/^\* LIST \([^)]*\) "\/" /, ''));

test('LIST "" "": the hierarchy delimiter and root', async () => {
  const r = await c.send('a1', 'LIST "" ""');
  assert.deepEqual(r.untagged, ['* LIST (\\Noselect) "/" ""']);
  assert.match(r.tagged, /^a1 OK /);
});

test('LIST "" "*": every mailbox, INBOX first, with CHILDREN and SPECIAL-USE attributes', async () => {
  const r = await c.send('a1', 'LIST "" "*"');
  assert.equal(r.untagged[0], '* LIST (\\HasNoChildren) "/" INBOX');
  const want = [
    '* LIST (\\HasNoChildren \\Archive) "/" Archive',
    '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
    '* LIST (\\HasNoChildren \\Junk) "/" Junk',
    '* LIST (\\HasNoChildren \\Sent) "/" Sent',
    '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    '* LIST (\\HasChildren) "/" Work',
    '* LIST (\\HasChildren) "/" Work/Reports',
    '* LIST (\\HasNoChildren) "/" Work/Reports/2026',
    '* LIST (\\HasNoChildren) "/" Work/Misc',
    '* LIST (\\HasNoChildren) "/" Personal',
    '* LIST (\\HasNoChildren) "/" Entw&APw-rfe',
  ];
  for (const w of want) assert.ok(r.untagged.includes(w), `${w} in\n${r.untagged.join('\n')}`);
  assert.equal(r.untagged.length, want.length + 1);
});

test('"%" stops at the delimiter; "*" does not', async () => {
  assert.deepEqual(names((await c.send('a1', 'LIST "" %')).untagged).sort(), ['Archive', 'Drafts', 'Entw&APw-rfe', 'INBOX', 'Junk', 'Personal', 'Sent', 'Trash', 'Work']);
  assert.deepEqual(names((await c.send('a2', 'LIST "" Work/%')).untagged).sort(), ['Work/Misc', 'Work/Reports']);
  assert.deepEqual(names((await c.send('a3', 'LIST "" Work/*')).untagged).sort(), ['Work/Misc', 'Work/Reports', 'Work/Reports/2026']);
  assert.deepEqual(names((await c.send('a4', 'LIST "" W%/%/%')).untagged), ['Work/Reports/2026']);
  assert.deepEqual(names((await c.send('a5', 'LIST "" *Re*')).untagged).sort(), ['Work/Reports', 'Work/Reports/2026']);
});

test('reference names are prefixed to the pattern', async () => {
  assert.deepEqual(names((await c.send('a1', 'LIST Work/ %')).untagged).sort(), ['Work/Misc', 'Work/Reports']);
  assert.deepEqual(names((await c.send('a2', 'LIST Work %')).untagged).sort(), ['Work/Misc', 'Work/Reports']);
  assert.deepEqual(names((await c.send('a3', 'LIST "Work/Reports" "*"')).untagged), ['Work/Reports/2026']);
});

test('INBOX matches in any case; other names are case-sensitive', async () => {
  assert.deepEqual((await c.send('a1', 'LIST "" inbox')).untagged, ['* LIST (\\HasNoChildren) "/" INBOX']);
  assert.deepEqual((await c.send('a2', 'LIST "" InBoX')).untagged, ['* LIST (\\HasNoChildren) "/" INBOX']);
  assert.deepEqual((await c.send('a3', 'LIST "" work')).untagged, []);
});

test('a pattern that matches nothing: OK with no untagged LIST', async () => {
  const r = await c.send('a1', 'LIST "" Nothing*');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a1 OK /);
});

test('\\Noselect parents after deleting a mailbox with children', async () => {
  await c.cmd('CREATE Gone/Kid');
  await c.cmd('DELETE Gone');
  assert.deepEqual((await c.send('a1', 'LIST "" Gone*')).untagged, ['* LIST (\\Noselect \\HasChildren) "/" Gone', '* LIST (\\HasNoChildren) "/" Gone/Kid']);
});

test('LIST (SUBSCRIBED): only subscribed mailboxes, marked \\Subscribed', async () => {
  const r = await c.send('a1', 'LIST (SUBSCRIBED) "" "*"');
  assert.match(r.tagged, /^a1 OK/);
  assert.ok(r.untagged.every((l) => /\\Subscribed/.test(l)), r.untagged.join('\n'));
  assert.ok(r.untagged.some((l) => l.endsWith(' INBOX')));
  assert.ok(!r.untagged.some((l) => l.endsWith(' Personal')));
});

test('wrong state and bad syntax', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'LIST "" *')).tagged, /^a1 BAD /);
  d.close();
  assert.match((await c.send('a2', 'LIST')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'LIST ""')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'LIST "" "*" extra')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'LIST "" (')).tagged, /^a5 BAD /);
});
