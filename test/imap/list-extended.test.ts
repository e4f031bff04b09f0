/**
 * LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and the SPECIAL-USE LIST options (RFC 6154 §5): selection
 * options, return options, several patterns, CHILDINFO, errors; imapflow's list({ statusQuery }); and the same
 * commands sent to a private Dovecot, whose answers must match ours.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, addr, seed, ImapClient } from '../helpers/imap.js';
import { startReferenceDovecot } from '../helpers/dovecot.js';
import { flowClient, sentText } from '../helpers/flow.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');

/** The same tree on any server: Work (unsubscribed) with subscribed Work/Reports and Work/Reports/2026. */
async function setup(cl: ImapClient) {
  for (const name of ['Work', 'Work/Reports', 'Work/Reports/2026', 'Work/Misc', 'Personal']) await cl.cmd(`CREATE "${name}"`);
  for (const name of ['INBOX', 'Work/Reports', 'Work/Reports/2026', 'Personal']) await cl.cmd(`SUBSCRIBE "${name}"`);
  for (const name of ['Archive', 'Drafts', 'Junk', 'Sent', 'Trash', 'Work', 'Work/Misc']) await cl.cmd(`UNSUBSCRIBE "${name}"`);
}
await setup(c);
await seed(c, 'Personal', 3);
await c.cmd('STORE 1 +FLAGS (\\Seen)'); // BAD (not selected): harmless
await c.select('Personal');
await c.cmd('STORE 1 +FLAGS (\\Seen)');
await c.cmd('UNSELECT');

const sorted = (lines: string[]) => [...lines].sort();

test('CAPABILITY lists LIST-EXTENDED and LIST-STATUS once authenticated', async () => {
  const r = await c.cmd('CAPABILITY');
  assert.match(r.untagged[0]!, / LIST-EXTENDED /);
  assert.match(r.untagged[0]!, / LIST-STATUS/);
});

test('LIST (SUBSCRIBED): subscribed mailboxes with \\Subscribed, no child info unless asked', async () => {
  const r = await c.send('a1', 'LIST (SUBSCRIBED) "" "*"');
  assert.deepEqual(sorted(r.untagged), sorted([
    '* LIST (\\Subscribed) "/" INBOX',
    '* LIST (\\Subscribed) "/" Work/Reports',
    '* LIST (\\Subscribed) "/" Work/Reports/2026',
    '* LIST (\\Subscribed) "/" Personal',
  ]));
  assert.match(r.tagged, /^a1 OK LIST completed/);
});

test('RECURSIVEMATCH: parents of subscribed mailboxes get CHILDINFO ("SUBSCRIBED")', async () => {
  const r = await c.send('a1', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
  assert.deepEqual(sorted(r.untagged), sorted([
    '* LIST (\\Subscribed) "/" INBOX',
    '* LIST () "/" Work (CHILDINFO ("SUBSCRIBED"))',
    '* LIST (\\Subscribed) "/" Personal',
  ]));
  const r2 = await c.send('a2', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*" RETURN (CHILDREN)');
  assert.ok(r2.untagged.includes('* LIST (\\Subscribed \\HasChildren) "/" Work/Reports (CHILDINFO ("SUBSCRIBED"))'), r2.untagged.join('\n'));
  assert.ok(r2.untagged.includes('* LIST (\\Subscribed \\HasNoChildren) "/" Work/Reports/2026'));
});

test('RECURSIVEMATCH alone or with only REMOTE is BAD; unknown options are BAD', async () => {
  assert.match((await c.send('a1', 'LIST (RECURSIVEMATCH) "" "%"')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'LIST (REMOTE RECURSIVEMATCH) "" "%"')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'LIST (FOO) "" "%"')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'LIST "" "%" RETURN (FOO)')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'LIST "" "%" RETURN (MYRIGHTS)')).tagged, /^a5 BAD /);
  assert.match((await c.send('a6', 'LIST "" "%" RETURN (STATUS ())')).tagged, /^a6 BAD /);
  assert.match((await c.send('a7', 'LIST "" "%" RETURN (STATUS (MESSAGES FOO))')).tagged, /^a7 BAD /);
  assert.match((await c.send('a8', 'LIST "" "%" RETURN STATUS')).tagged, /^a8 BAD /);
  assert.match((await c.send('a9', 'LIST (SUBSCRIBED "" "%"')).tagged, /^a9 BAD /);
  // The connection is still usable.
  assert.match((await c.send('b1', 'NOOP')).tagged, /^b1 OK/);
});

test('REMOTE selects nothing more (no remote mailboxes); () and RETURN () are the extended syntax', async () => {
  const r = await c.send('a1', 'LIST (REMOTE) "" "%"');
  assert.ok(r.untagged.includes('* LIST () "/" Work'));
  assert.ok(r.untagged.includes('* LIST () "/" INBOX'));
  const r2 = await c.send('a2', 'LIST () "" "%" RETURN ()');
  assert.deepEqual(r2.untagged, r.untagged);
});

test('RETURN (SUBSCRIBED CHILDREN)', async () => {
  const r = await c.send('a1', 'LIST "" "%" RETURN (SUBSCRIBED CHILDREN)');
  assert.ok(r.untagged.includes('* LIST (\\HasChildren) "/" Work'));
  assert.ok(r.untagged.includes('* LIST (\\Subscribed \\HasNoChildren) "/" Personal'));
  assert.ok(r.untagged.includes('* LIST (\\Subscribed \\HasNoChildren) "/" INBOX'));
});

test('SPECIAL-USE selection option and return option (RFC 6154 §5.1-5.2)', async () => {
  const r = await c.send('a1', 'LIST (SPECIAL-USE) "" "*"');
  assert.deepEqual(sorted(r.untagged), sorted([
    '* LIST (\\Archive) "/" Archive',
    '* LIST (\\Drafts) "/" Drafts',
    '* LIST (\\Junk) "/" Junk',
    '* LIST (\\Sent) "/" Sent',
    '* LIST (\\Trash) "/" Trash',
  ]));
  const r2 = await c.send('a2', 'LIST "" "S*" RETURN (SPECIAL-USE)');
  assert.deepEqual(r2.untagged, ['* LIST (\\Sent) "/" Sent']);
  const r3 = await c.send('a3', 'LIST (SPECIAL-USE) "" "*" RETURN (CHILDREN SUBSCRIBED)');
  assert.ok(r3.untagged.includes('* LIST (\\HasNoChildren \\Sent) "/" Sent'), r3.untagged.join('\n'));
});

test('several patterns: each mailbox once, in mailbox order', async () => {
  const r = await c.send('a1', 'LIST "" ("INBOX" "Work/*" "Personal" "Work/Reports")');
  assert.deepEqual(sorted(r.untagged), sorted([
    '* LIST () "/" INBOX',
    '* LIST () "/" Work/Reports',
    '* LIST () "/" Work/Reports/2026',
    '* LIST () "/" Work/Misc',
    '* LIST () "/" Personal',
  ]));
  assert.equal(new Set(r.untagged).size, r.untagged.length);
});

test('an empty pattern in the extended syntax matches nothing; plain LIST "" "" still gives the delimiter', async () => {
  assert.deepEqual((await c.send('a1', 'LIST "" "" RETURN (CHILDREN)')).untagged, []);
  assert.deepEqual((await c.send('a2', 'LIST "" ""')).untagged, ['* LIST (\\Noselect) "/" ""']);
});

test('LIST-STATUS: a STATUS after each LIST of a selectable mailbox (RFC 5819 §2)', async () => {
  const r = await c.send('a1', 'LIST "" "P%" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))');
  assert.deepEqual(r.untagged, ['* LIST () "/" Personal', '* STATUS Personal (MESSAGES 3 UNSEEN 2 UIDNEXT 4)']);
  const r2 = await c.send('a2', 'LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))');
  for (let i = 0; i < r2.untagged.length; i += 2) {
    const name = r2.untagged[i]!.replace(/^\* LIST \([^)]*\) "\/" /, '');
    assert.match(r2.untagged[i + 1]!, new RegExp(`^\\* STATUS ${name.replace(/\//g, '\\/')} \\(MESSAGES \\d+\\)$`));
  }
  // A \Noselect mailbox gets no STATUS.
  await c.cmd('CREATE Gone/Child');
  await c.cmd('DELETE Gone');
  const r3 = await c.send('a3', 'LIST "" "Gone*" RETURN (STATUS (MESSAGES) CHILDREN)');
  assert.deepEqual(r3.untagged, ['* LIST (\\Noselect \\HasChildren) "/" Gone', '* LIST (\\HasNoChildren) "/" Gone/Child', '* STATUS Gone/Child (MESSAGES 0)']);
  await c.cmd('DELETE Gone/Child');
});

test('LSUB keeps the RFC 3501 behaviour', async () => {
  const r = await c.send('a1', 'LSUB "" "%"');
  assert.deepEqual(sorted(r.untagged), sorted(['* LSUB (\\HasNoChildren) "/" INBOX', '* LSUB (\\Noselect) "/" Work', '* LSUB (\\HasNoChildren) "/" Personal']));
});

test('imapflow: list({ statusQuery }) uses LIST-STATUS', async () => {
  const { client, log } = flowClient(srv.port, addr('alice'), { disableCompression: true });
  after(() => client.close());
  await client.connect();
  const list = await client.list({ statusQuery: { messages: true, unseen: true } });
  const personal = list.find((m) => m.path === 'Personal');
  assert.ok(personal);
  assert.deepEqual({ messages: personal.status?.messages, unseen: personal.status?.unseen }, { messages: 3, unseen: 2 });
  assert.equal(personal.subscribed, true);
  assert.equal(list.find((m) => m.path === 'Sent')?.specialUse, '\\Sent');
  assert.ok(!list.find((m) => m.path === 'Work')?.subscribed);
  const sent = sentText(log);
  assert.match(sent, /LIST "" "\*" RETURN \(STATUS \(MESSAGES UNSEEN\)/, sent);
  assert.doesNotMatch(sent, / STATUS Personal/);
  await client.logout();
});

test('the same LIST-EXTENDED commands give the same answers from Dovecot', async (t) => {
  const dove = await startReferenceDovecot([addr('alice')]).catch(() => null);
  if (!dove) return t.skip('dovecot not installed');
  t.after(() => dove.stop());
  const d = await ImapClient.connect(dove.port);
  await d.login(addr('alice'));
  await setup(d);
  await seed(d, 'Personal', 3);
  await d.select('Personal');
  await d.cmd('STORE 1 +FLAGS (\\Seen)');
  await d.cmd('UNSELECT');
  const commands = [
    'LIST (SUBSCRIBED) "" "*"',
    'LIST (SUBSCRIBED) "" "%"',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Work/%"',
    'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*" RETURN (CHILDREN)',
    'LIST "" "%" RETURN (SUBSCRIBED CHILDREN)',
    'LIST "" "*" RETURN (CHILDREN)',
    'LIST (SPECIAL-USE) "" "*"',
    'LIST "" "*" RETURN (SPECIAL-USE)',
    'LIST "" ("INBOX" "Work/*" "Personal" "Work/Reports")',
    'LIST "" "%" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY))',
    'LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))',
    'LIST "" "" RETURN (CHILDREN)',
    'LIST "" "%"',
    'LIST "" "*"',
    'LIST (RECURSIVEMATCH) "" "%"',
    'LIST (FOO) "" "%"',
    'LIST "" "%" RETURN (FOO)',
  ];
  // Dovecot marks mailboxes \Marked / \UnMarked (recent messages); UIDVALIDITY values differ by server.
  const norm = (lines: string[]) =>
    sorted(lines.map((l) => l.replace(/ ?\\(Un)?Marked/g, '').replace(/\( /, '(').replace(/UIDVALIDITY \d+/, 'UIDVALIDITY x').replace(/^(\* STATUS \S+ )\((.*)\)$/, (_m, head: string, items: string) => `${head}(${(items.match(/\S+ \S+/g) ?? []).sort().join(' ')})`)));
  for (const cmd of commands) {
    const ours = await c.send('x', cmd);
    const theirs = await d.send('x', cmd);
    assert.equal(ours.tagged.split(' ')[1], theirs.tagged.split(' ')[1], `${cmd}: ${ours.tagged} vs ${theirs.tagged}`);
    // LIST/STATUS pairs must stay adjacent: compare pairs, not only the sorted set.
    assert.deepEqual(norm(ours.untagged), norm(theirs.untagged), cmd);
    if (cmd.includes('STATUS')) {
      for (let i = 0; i < ours.untagged.length; i++) if (ours.untagged[i]!.startsWith('* STATUS')) assert.match(ours.untagged[i - 1]!, /^\* LIST /);
    }
  }
  d.close();
});
