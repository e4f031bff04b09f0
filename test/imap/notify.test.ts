/**
 * NOTIFY (RFC 5465): syntax and its BAD / NO [BADEVENT] answers; notifications pushed between commands (not only
 * in IDLE) from a second session's changes and from SMTP delivery: EXISTS / FETCH with fetch-att / EXPUNGE / FETCH
 * FLAGS for the selected mailbox, STATUS for other mailboxes, LIST for MailboxName and SubscriptionChange;
 * SELECTED-DELAYED; the STATUS indicator; own changes not echoed; NOTIFY surviving SELECT; NOTIFICATIONOVERFLOW.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, message, type ImapClient } from '../helpers/imap.js';
import { WireClient } from '../helpers/smtp-client.js';
import { NOTIFY_LIMITS } from '../../src/server/imap/notify.js';

const srv = await startImapServer({ users: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] });

/** No line arrives within `ms`. */
async function quiet(c: ImapClient, ms = 300): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(c.hasLine(), false, 'unexpected unsolicited response');
}

test('CAPABILITY lists NOTIFY after login', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'CAPABILITY');
  assert.match(r.untagged[0]!, / NOTIFY( |$)/);
  c.close();
});

test('NOTIFY syntax: OK forms; BAD for the RFC 5465 §5/§6.1 rules; NO [BADEVENT] for unsupported events', async () => {
  const c = await srv.authed('alice');
  const ok = [
    'NOTIFY NONE',
    'NOTIFY SET (SELECTED (MessageNew MessageExpunge))',
    'notify set (selected-delayed (messagenew messageexpunge flagchange))',
    'NOTIFY SET (PERSONAL NONE)',
    'NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From Subject)]) MessageExpunge)) (INBOXES (MessageNew MessageExpunge))',
    'NOTIFY SET STATUS (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))',
    'NOTIFY SET (SUBTREE INBOX (MailboxName)) (MAILBOXES (INBOX "a b") (MessageNew MessageExpunge))',
    'NOTIFY SET (SUBSCRIBED (SubscriptionChange))',
  ];
  for (const line of ok) assert.match((await c.send('a', line)).tagged, /^a OK /, line);
  const bad = [
    'NOTIFY',
    'NOTIFY SET',
    'NOTIFY BOGUS',
    'NOTIFY NONE extra',
    'NOTIFY SET (SELECTED (MessageNew))', // §5: MessageNew needs MessageExpunge
    'NOTIFY SET (PERSONAL (MessageExpunge))',
    'NOTIFY SET (PERSONAL (FlagChange))', // §5: FlagChange needs both
    'NOTIFY SET (SELECTED (MailboxName))', // §6.1: only message events with SELECTED
    'NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED (MessageNew MessageExpunge))',
    'NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))', // fetch-att only for SELECTED
    'NOTIFY SET (BOGUS (MessageNew MessageExpunge))',
    'NOTIFY SET (SUBTREE (MessageNew MessageExpunge))',
    'NOTIFY SET (PERSONAL ())',
    'NOTIFY SET STATUX (PERSONAL NONE)',
    'NOTIFY SET (SELECTED (MessageNew (BOGUS) MessageExpunge))',
  ];
  for (const line of bad) assert.match((await c.send('b', line)).tagged, /^b BAD /, line);
  const unsupported = [
    'NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))',
    'NOTIFY SET (PERSONAL (MailboxMetadataChange))',
    'NOTIFY SET (PERSONAL (ServerMetadataChange))',
    'NOTIFY SET (PERSONAL (NoSuchEvent))',
  ];
  for (const line of unsupported) {
    assert.equal((await c.send('n', line)).tagged.split('] ')[0], 'n NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)', line);
  }
  assert.match((await c.send('z', 'NOOP')).tagged, /^z OK /);
  c.close();
});

test('NOTIFY before login is BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a', 'NOTIFY NONE')).tagged, /^a BAD /);
  c.close();
});

test('SELECTED: EXISTS + FETCH (fetch-att), FETCH FLAGS and EXPUNGE are pushed between commands', async () => {
  const c = await srv.selected('bob');
  const other = await srv.selected('bob');
  const r = await c.send('a1', 'NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge FlagChange))');
  assert.match(r.tagged, /^a1 OK /);
  const [uid] = await seed(other, 'INBOX', 1, () => message({ subject: 'pushed' }));
  assert.equal(await c.next(), '* 1 EXISTS');
  const f = await c.next();
  assert.match(f, new RegExp(`^\\* 1 FETCH \\(UID ${uid} BODY\\[HEADER\\.FIELDS \\(SUBJECT\\)\\] \\{\\d+\\}`, 'i'), f);
  assert.match(f, /Subject: pushed/);
  // The FETCH did not set \Seen (fetch-att are fetched as PEEK).
  assert.match((await other.send('b0', 'NOOP')).tagged, /^b0 OK/);
  await other.send('b1', `UID STORE ${uid} +FLAGS.SILENT (\\Flagged \\Deleted)`);
  assert.equal(await c.next(), `* 1 FETCH (FLAGS (\\Flagged \\Deleted))`);
  await other.send('b2', 'EXPUNGE');
  assert.equal(await c.next(), '* 1 EXPUNGE');
  await quiet(c);
  c.close();
  other.close();
});

test('SELECTED MessageExpunge: EXPUNGE is also sent at the end of FETCH with sequence numbers (RFC 5465 §5.3)', async () => {
  const c = await srv.selected('carol');
  const other = await srv.selected('carol');
  await seed(other, 'INBOX', 3);
  await c.send('a0', 'NOOP');
  // Without NOTIFY: RFC 3501 §7.4.1 holds the EXPUNGE back during FETCH.
  await other.send('b1', 'STORE 3 +FLAGS.SILENT (\\Deleted)');
  await other.send('b2', 'EXPUNGE');
  let r = await c.send('a1', 'FETCH 1 (FLAGS)');
  assert.ok(!r.untagged.some((l) => / EXPUNGE$/.test(l)), r.untagged.join('\n'));
  r = await c.send('a2', 'NOOP');
  assert.ok(r.untagged.includes('* 3 EXPUNGE'));
  r = await c.send('a3', 'NOTIFY SET (SELECTED (MessageNew MessageExpunge))');
  assert.match(r.tagged, /^a3 OK/);
  c.write('a4 FETCH 1 (FLAGS)\r\n');
  await other.send('b3', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
  await other.send('b4', 'EXPUNGE');
  r = await c.collect('a4');
  // Either pushed before/after the FETCH; it arrives without waiting for a NOOP.
  const all = [...r.untagged];
  if (!all.includes('* 2 EXPUNGE')) all.push(await c.next());
  assert.ok(all.includes('* 2 EXPUNGE'), all.join('\n'));
  c.close();
  other.close();
});

test('SELECTED-DELAYED: expunges wait for a command that may report them; new messages are pushed', async () => {
  const c = await srv.selected('dave');
  const other = await srv.selected('dave');
  await seed(other, 'INBOX', 2);
  await c.send('a0', 'NOOP');
  assert.match((await c.send('a1', 'NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge FlagChange))')).tagged, /^a1 OK/);
  await other.send('b1', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  assert.equal(await c.next(), '* 1 FETCH (FLAGS (\\Deleted))');
  await other.send('b2', 'EXPUNGE');
  await quiet(c);
  // New mail is still pushed while the expunge waits (the expunged message keeps its number until then).
  await seed(other, 'INBOX', 1);
  assert.equal(await c.next(), '* 3 EXISTS');
  let r = await c.send('a2', 'FETCH 1 (UID)');
  assert.ok(!r.untagged.some((l) => / EXPUNGE$/.test(l)), r.untagged.join('\n'));
  r = await c.send('a3', 'NOOP');
  assert.ok(r.untagged.includes('* 1 EXPUNGE'), r.untagged.join('\n'));
  await seed(other, 'INBOX', 1);
  assert.equal(await c.next(), '* 3 EXISTS');
  c.close();
  other.close();
});

test('other mailboxes: STATUS pushed for a change by another session and for SMTP delivery into INBOX', async () => {
  const c = await srv.authed('erin');
  const other = await srv.authed('erin');
  await other.send('b0', 'CREATE Lists');
  await quiet(c, 50);
  assert.match((await c.send('a1', 'NOTIFY SET (INBOXES (MessageNew MessageExpunge)) (MAILBOXES Lists (MessageNew MessageExpunge FlagChange))')).tagged, /^a1 OK/);
  await seed(other, 'Lists', 1);
  assert.equal(await c.next(), '* STATUS Lists (MESSAGES 1 UIDNEXT 2 UNSEEN 1)');
  await other.send('b1', 'SELECT Lists');
  await other.send('b2', 'STORE 1 +FLAGS.SILENT (\\Seen)');
  assert.equal(await c.next(), '* STATUS Lists (MESSAGES 1 UIDNEXT 2 UNSEEN 0)');
  // SMTP delivery into INBOX.
  const s = await WireClient.open(srv.ts.port);
  await s.cmd('MAIL FROM:<sender@example.org>');
  await s.cmd('RCPT TO:<erin@example.test>');
  await s.cmd('DATA');
  assert.equal((await s.cmd(message({ subject: 'via smtp' }).toString('latin1') + '.')).code, 250);
  await s.cmd('QUIT');
  assert.equal(await c.next(10_000), '* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1)');
  // Own changes are not echoed (RFC 5465 §5).
  await seed(c, 'Lists', 1);
  await quiet(c);
  // NOTIFY NONE: nothing more.
  assert.match((await c.send('a2', 'NOTIFY NONE')).tagged, /^a2 OK/);
  await seed(other, 'Lists', 1);
  await quiet(c);
  c.close();
  other.close();
});

test('NOTIFY SET STATUS: a STATUS for every watched mailbox other than the selected one, before the OK', async () => {
  const c = await srv.authed('frank');
  await c.send('a0', 'CREATE Work');
  await c.send('a1', 'CREATE Work/Sub');
  await c.send('a2', 'CREATE Other');
  await c.send('a3', 'SELECT INBOX');
  const r = await c.send('a4', 'NOTIFY SET STATUS (SELECTED (MessageNew MessageExpunge)) (SUBTREE Work (MessageNew MessageExpunge)) (INBOXES (MessageNew MessageExpunge))');
  assert.match(r.tagged, /^a4 OK/);
  const st = r.untagged.filter((l) => l.startsWith('* STATUS ')).map((l) => l.replace(/ UIDVALIDITY \d+/, '')).sort();
  // INBOXES: INBOX (selected, so not here) and Junk, where junk mail is delivered.
  assert.deepEqual(st, ['* STATUS Junk (MESSAGES 0 UIDNEXT 1 UNSEEN 0)', '* STATUS Work (MESSAGES 0 UIDNEXT 1 UNSEEN 0)', '* STATUS Work/Sub (MESSAGES 0 UIDNEXT 1 UNSEEN 0)']);
  assert.ok(r.untagged.every((l) => !l.startsWith('* STATUS') || / UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN /.test(l)), r.untagged.join('\n'));
  c.close();
});

test('MailboxName and SubscriptionChange: LIST for create, delete (\\NonExistent), rename (OLDNAME), (un)subscribe', async () => {
  const c = await srv.authed('alice');
  const other = await srv.authed('alice');
  assert.match((await c.send('a1', 'NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))')).tagged, /^a1 OK/);
  await other.send('b1', 'CREATE Projects');
  assert.equal(await c.next(), '* LIST (\\HasNoChildren) "/" Projects');
  await other.send('b2', 'SUBSCRIBE Projects');
  assert.equal(await c.next(), '* LIST (\\HasNoChildren \\Subscribed) "/" Projects');
  await other.send('b3', 'UNSUBSCRIBE Projects');
  assert.equal(await c.next(), '* LIST (\\HasNoChildren) "/" Projects');
  await other.send('b4', 'RENAME Projects Done');
  assert.equal(await c.next(), '* LIST (\\HasNoChildren) "/" Done ("OLDNAME" (Projects))');
  await other.send('b5', 'DELETE Done');
  assert.equal(await c.next(), '* LIST (\\NonExistent) "/" Done');
  // A deleted parent of other mailboxes stays as \Noselect (RFC 3501 §6.3.4): its LIST says so.
  await other.send('b6', 'CREATE Parent/Child');
  // (\HasNoChildren when it was written before the child existed: the LIST tells the state at that moment)
  assert.match(await c.next(), /^\* LIST \(\\Has(No)?Children\) "\/" Parent$/);
  assert.equal(await c.next(), '* LIST (\\HasNoChildren) "/" Parent/Child');
  await other.send('b7', 'DELETE Parent');
  assert.equal(await c.next(), '* LIST (\\Noselect \\HasChildren) "/" Parent');
  // The session's own changes are not echoed.
  const r = await c.send('a2', 'CREATE Mine');
  assert.deepEqual(r.untagged, []);
  await c.send('a3', 'DELETE Mine');
  await quiet(c);
  c.close();
  other.close();
});

test('NOTIFY survives SELECT and UNSELECT; SELECTED follows the newly selected mailbox', async () => {
  const c = await srv.authed('bob');
  const other = await srv.authed('bob');
  await other.send('b0', 'CREATE Box2');
  assert.match((await c.send('a1', 'NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))')).tagged, /^a1 OK/);
  await c.send('a2', 'SELECT Box2');
  await seed(other, 'Box2', 1);
  assert.equal(await c.next(), '* 1 EXISTS');
  await c.send('a3', 'UNSELECT');
  await seed(other, 'Box2', 1);
  assert.equal(await c.next(), '* STATUS Box2 (MESSAGES 2 UIDNEXT 3 UNSEEN 2)');
  c.close();
  other.close();
});

test('NOTIFICATIONOVERFLOW: a session too far behind gets the untagged OK and behaves as after NOTIFY NONE', async () => {
  const saved = NOTIFY_LIMITS.maxPending;
  NOTIFY_LIMITS.maxPending = 3;
  try {
    const c = await srv.authed('carol');
    const other = await srv.authed('carol');
    assert.match((await c.send('a1', 'NOTIFY SET (PERSONAL (MailboxName))')).tagged, /^a1 OK/);
    // Keep c busy (an APPEND waiting for its literal) while changes pile up.
    c.write('a2 APPEND INBOX {20+}\r\n0123456789');
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 5; i++) await other.send(`b${i}`, `CREATE Flood${i}`);
    c.write('0123456789\r\n');
    const r = await c.collect('a2');
    assert.match(r.tagged, /^a2 OK/);
    assert.ok(r.untagged.some((l) => l.startsWith('* OK [NOTIFICATIONOVERFLOW]')), r.untagged.join('\n'));
    await other.send('b9', 'CREATE After');
    await quiet(c);
    assert.match((await c.send('a3', 'NOTIFY SET (PERSONAL (MailboxName))')).tagged, /^a3 OK/);
    await other.send('b10', 'DELETE After');
    assert.equal(await c.next(), '* LIST (\\NonExistent) "/" After');
    c.close();
    other.close();
  } finally {
    NOTIFY_LIMITS.maxPending = saved;
  }
});

test('NOTIFY SET watching too many mailboxes is NO [NOTIFICATIONOVERFLOW]; the connection stays usable', async () => {
  const saved = NOTIFY_LIMITS.maxMailboxes;
  NOTIFY_LIMITS.maxMailboxes = 1;
  try {
    const c = await srv.authed('dave');
    await c.send('a0', 'CREATE X1');
    const r = await c.send('a1', 'NOTIFY SET (PERSONAL (MessageNew MessageExpunge))');
    assert.match(r.tagged, /^a1 NO \[NOTIFICATIONOVERFLOW\]/);
    assert.match((await c.send('a2', 'NOTIFY SET (MAILBOXES X1 (MessageNew MessageExpunge))')).tagged, /^a2 OK/);
    c.close();
  } finally {
    NOTIFY_LIMITS.maxMailboxes = saved;
  }
});

test('own APPEND into the selected mailbox: EXISTS, but no MessageNew FETCH (RFC 5465 §5.2); own STORE not echoed', async () => {
  const c = await srv.selected('frank');
  assert.match((await c.send('a1', 'NOTIFY SET (SELECTED (MessageNew (UID ENVELOPE) MessageExpunge FlagChange))')).tagged, /^a1 OK/);
  const tag = c.tag();
  const r = await c.append(tag, 'INBOX', message({ subject: 'mine' }), { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
  assert.ok(r.untagged.some((l) => / EXISTS$/.test(l)), r.untagged.join('\n'));
  assert.ok(!r.untagged.some((l) => /ENVELOPE/.test(l)), r.untagged.join('\n'));
  const n = Number(/\* (\d+) EXISTS/.exec(r.untagged.join('\n'))![1]);
  const st = await c.send('a2', `STORE ${n} +FLAGS (\\Flagged)`);
  assert.deepEqual(st.untagged, [`* ${n} FETCH (FLAGS (\\Flagged))`]);
  await quiet(c);
  c.close();
});

test('SELECTED MessageExpunge: STORE and SEARCH with sequence numbers also end with the pending EXPUNGE', async () => {
  const c = await srv.selected('erin');
  const other = await srv.selected('erin');
  const before = Number(/\* (\d+) EXISTS/.exec((await c.send('a0', 'SELECT INBOX')).untagged.join('\n'))![1]);
  await seed(other, 'INBOX', 2);
  await c.send('a1', 'NOOP');
  assert.match((await c.send('a2', 'NOTIFY SET (SELECTED (MessageNew MessageExpunge))')).tagged, /^a2 OK/);
  // Hold c in a command so the expunge cannot be pushed before it: a STORE right behind the EXPUNGE.
  await other.send('b0', 'NOOP');
  await other.send('b1', `STORE ${before + 2} +FLAGS.SILENT (\\Deleted)`);
  await other.send('b2', 'EXPUNGE');
  const lines = [...(await c.send('a3', `STORE ${before + 1} +FLAGS.SILENT (\\Seen)`)).untagged];
  lines.push(...(await c.send('a4', 'SEARCH ALL')).untagged);
  while (c.hasLine()) lines.push(await c.next());
  assert.ok(lines.includes(`* ${before + 2} EXPUNGE`), lines.join('\n'));
  c.close();
  other.close();
});

test('SUBSCRIBED is re-evaluated when subscriptions change (RFC 5465 §6.4); STATUS arrives in IDLE too', async () => {
  const c = await srv.authed('dave');
  const other = await srv.authed('dave');
  await other.send('b0', 'CREATE Later');
  assert.match((await c.send('a1', 'NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge))')).tagged, /^a1 OK/);
  await seed(other, 'Later', 1);
  await quiet(c);
  await other.send('b1', 'SUBSCRIBE Later');
  await new Promise((r) => setTimeout(r, 100));
  c.write('a2 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  await seed(other, 'Later', 1);
  assert.equal(await c.next(), '* STATUS Later (MESSAGES 2 UIDNEXT 3 UNSEEN 2)');
  c.write('DONE\r\n');
  assert.match((await c.collect('a2')).tagged, /^a2 OK/);
  c.close();
  other.close();
});

test('hostile NOTIFY input: BAD, bounded, and the connection stays up', async () => {
  const c = await srv.authed('bob');
  const many = Array.from({ length: 70 }, () => '(PERSONAL NONE)').join(' ');
  assert.match((await c.send('a1', `NOTIFY SET ${many}`)).tagged, /^a1 BAD .*Too many event groups/);
  assert.match((await c.send('a2', 'NOTIFY SET (SELECTED (MessageNew ((((UID)))) MessageExpunge))')).tagged, /^a2 BAD/);
  assert.match((await c.send('a3', 'NOTIFY SET (MAILBOXES () (MessageNew MessageExpunge))')).tagged, /^a3 BAD/);
  assert.match((await c.send('a4', 'NOTIFY SET (PERSONAL (MessageNew MessageNew MessageExpunge))')).tagged, /^a4 BAD/);
  assert.match((await c.send('a5', 'NOTIFY SET (PERSONAL (MessageNew MessageExpunge)')).tagged, /^a5 BAD/);
  assert.match((await c.send('a6', 'NOTIFY SET (MAILBOXES "&Jjo" (MailboxName))')).tagged, /^a6 BAD/);
  assert.match((await c.send('a7', 'NOTIFY SET (MAILBOXES NoSuchBox (MessageNew MessageExpunge MailboxName))')).tagged, /^a7 OK/);
  assert.match((await c.send('a8', 'NOOP')).tagged, /^a8 OK/);
  c.close();
});

test('IDLE after NOTIFY without SELECTED: no events for the selected mailbox (RFC 5465 §4); the next command reports them', async () => {
  const c = await srv.selected('alice');
  const other = await srv.authed('alice');
  assert.match((await c.send('a1', 'NOTIFY SET (PERSONAL (MailboxName))')).tagged, /^a1 OK/);
  const n = Number(/\* (\d+) EXISTS/.exec((await c.send('a0', 'SELECT INBOX')).untagged.join('\n'))![1]);
  c.write('a2 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  await seed(other, 'INBOX', 1);
  await quiet(c);
  await other.send('b1', 'CREATE IdleBox');
  assert.equal(await c.next(), '* LIST (\\HasNoChildren) "/" IdleBox');
  c.write('DONE\r\n');
  assert.match((await c.collect('a2')).tagged, /^a2 OK/);
  const r = await c.send('a3', 'NOOP');
  assert.ok(r.untagged.includes(`* ${n + 1} EXISTS`), r.untagged.join('\n'));
  c.close();
  other.close();
});
