/**
 * QRESYNC (RFC 7162 §3.2) over the wire: ENABLE QRESYNC, SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids
 * [seq-match-data]])) with VANISHED (EARLIER) and FETCH of the changed messages, BAD without ENABLE and for broken
 * parameters, UID FETCH (CHANGEDSINCE n VANISHED), VANISHED instead of EXPUNGE for EXPUNGE, UID EXPUNGE, MOVE and
 * other sessions' expunges (never during FETCH/STORE/SEARCH), [CLOSED] when a SELECT replaces a mailbox (§3.2.11),
 * and that expunged UIDs are remembered (a resync long after still reports them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, type ImapClient } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob', 'carol'] });

const highestOf = (lines: string[]) => Number(lines.map((l) => /\[HIGHESTMODSEQ (\d+)\]/.exec(l)?.[1]).find(Boolean));
const uidValidityOf = (lines: string[]) => Number(lines.map((l) => /\[UIDVALIDITY (\d+)\]/.exec(l)?.[1]).find(Boolean));

async function qresyncClient(user: string): Promise<ImapClient> {
  const c = await srv.authed(user);
  const e = await c.send('e1', 'ENABLE QRESYNC');
  assert.deepEqual(e.untagged, ['* ENABLED QRESYNC']);
  return c;
}

/** Alice: 8 messages; remember state, then flags on 2 and 6, expunge 3 and 7. */
const a0 = await srv.authed('alice');
await seed(a0, 'INBOX', 8);
const sel0 = await a0.send('s', 'SELECT INBOX');
const UV = uidValidityOf(sel0.untagged);
const M0 = highestOf(sel0.untagged);
await a0.send('s1', 'STORE 2,6 +FLAGS.SILENT (\\Flagged)');
await a0.send('s2', 'STORE 3,7 +FLAGS.SILENT (\\Deleted)');
await a0.send('s3', 'EXPUNGE');
a0.close();

test('SELECT (QRESYNC ...) without ENABLE QRESYNC is BAD and leaves the selected mailbox alone', async () => {
  const c = await srv.authed('alice');
  await c.send('a0', 'SELECT INBOX');
  const r = await c.send('a1', `SELECT INBOX (QRESYNC (${UV} ${M0}))`);
  assert.match(r.tagged, /^a1 BAD .*QRESYNC/);
  assert.deepEqual(r.untagged, []);
  assert.match((await c.send('a2', 'FETCH 1 UID')).tagged, /^a2 OK/, 'still selected');
  c.close();
});

test('SELECT (QRESYNC (uidvalidity modseq)): HIGHESTMODSEQ, VANISHED (EARLIER) of expunged UIDs, FETCH of changed ones', async () => {
  const c = await qresyncClient('alice');
  const r = await c.send('a1', `SELECT INBOX (QRESYNC (${UV} ${M0}))`);
  assert.match(r.tagged, /^a1 OK \[READ-WRITE\]/);
  const i = r.untagged.findIndex((l) => l.startsWith('* OK [HIGHESTMODSEQ'));
  const tail = r.untagged.slice(i + 1).map((l) => l.replace(/MODSEQ \(\d+\)/, 'MODSEQ (n)'));
  assert.deepEqual(tail, [
    '* VANISHED (EARLIER) 3,7',
    '* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n))',
    '* 5 FETCH (UID 6 FLAGS (\\Flagged) MODSEQ (n))',
  ]);
  assert.equal(r.untagged.filter((l) => /EXISTS/.test(l))[0], '* 6 EXISTS');
  c.close();
});

test('QRESYNC known-uids limits both VANISHED and FETCH; seq-match-data is checked; wrong UIDVALIDITY = plain SELECT', async () => {
  const c = await qresyncClient('alice');
  const k = await c.send('a1', `EXAMINE INBOX (QRESYNC (${UV} ${M0} 1:4))`);
  assert.match(k.tagged, /^a1 OK \[READ-ONLY\]/);
  const i = k.untagged.findIndex((l) => l.startsWith('* OK [HIGHESTMODSEQ'));
  assert.deepEqual(k.untagged.slice(i + 1).map((l) => l.replace(/MODSEQ \(\d+\)/, 'MODSEQ (n)')), [
    '* VANISHED (EARLIER) 3',
    '* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n))',
  ]);
  // Matching seq-match-data: accepted (we keep every expunged UID, so it changes nothing).
  const m = await c.send('a2', `EXAMINE INBOX (QRESYNC (${UV} ${M0} 1:10 (1:3 1:3)))`);
  assert.match(m.tagged, /^a2 OK /);
  assert.equal(m.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  assert.ok(m.untagged.includes('* VANISHED (EARLIER) 3,7'));
  // Different counts of sequence numbers and UIDs: BAD.
  assert.match((await c.send('a3', `EXAMINE INBOX (QRESYNC (${UV} ${M0} 1:10 (1:3 1:2)))`)).tagged, /^a3 BAD /);
  // Syntax errors: BAD.
  for (const bad of [`(QRESYNC (${UV}))`, `(QRESYNC (0 1))`, `(QRESYNC (${UV} x))`, `(QRESYNC ${UV} 1)`, `(QRESYNC (${UV} 1 $))`]) {
    assert.match((await c.send('a4', `EXAMINE INBOX ${bad}`)).tagged, /^a4 BAD /, bad);
  }
  // Another UIDVALIDITY: the client must start over; nothing but the normal responses.
  const w = await c.send('a5', `SELECT INBOX (QRESYNC (${UV + 1} ${M0}))`);
  assert.match(w.tagged, /^a5 OK /);
  assert.ok(!w.untagged.some((l) => /VANISHED|FETCH/.test(l)), w.untagged.join('\n'));
  // modseq 0: everything known is reported.
  const z = await c.send('a6', `SELECT INBOX (QRESYNC (${UV} 0))`);
  assert.equal(z.untagged.filter((l) => / FETCH /.test(l)).length, 6);
  c.close();
});

test('VANISHED replaces EXPUNGE once QRESYNC is on: EXPUNGE, UID EXPUNGE, MOVE; tagged OK [HIGHESTMODSEQ n]', async () => {
  const c = await qresyncClient('bob');
  await seed(c, 'INBOX', 6);
  await c.send('a0', 'CREATE Archive');
  await c.send('a1', 'SELECT INBOX');
  const st = await c.send('a2', 'STORE 2 +FLAGS (\\Deleted)');
  // QRESYNC implies CONDSTORE, and STORE responses carry UID.
  assert.match(st.untagged[0]!, /^\* 2 FETCH \(UID 2 MODSEQ \(\d+\) FLAGS \(\\Deleted\)\)$/);
  const ex = await c.send('a3', 'EXPUNGE');
  assert.deepEqual(ex.untagged, ['* VANISHED 2']);
  assert.match(ex.tagged, /^a3 OK \[HIGHESTMODSEQ \d+\] /);
  // Sequence numbers 3:4 are now UIDs 4 and 5; UID EXPUNGE names 5:6, so only 5 goes.
  await c.send('a4', 'STORE 3:4 +FLAGS.SILENT (\\Deleted)');
  const ue = await c.send('a5', 'UID EXPUNGE 5:6');
  assert.deepEqual(ue.untagged, ['* VANISHED 5']);
  const mv = await c.send('a6', 'UID MOVE 3,6 Archive');
  assert.match(mv.untagged[0]!, /^\* OK \[COPYUID \d+ 3,6 1:2\] /);
  assert.deepEqual(mv.untagged.slice(1), ['* VANISHED 3,6']);
  assert.match(mv.tagged, /^a6 OK \[HIGHESTMODSEQ \d+\] /);
  const rest = await c.send('a7', 'UID SEARCH ALL');
  assert.deepEqual(rest.untagged, ['* SEARCH 1 4']);
  c.close();
});

test('two sessions: B expunges, A (QRESYNC) sees VANISHED at NOOP, not during FETCH; A\'s numbers stay right', async () => {
  const setup = await srv.authed('carol');
  await seed(setup, 'INBOX', 5);
  setup.close();
  const a = await qresyncClient('carol');
  const b = await srv.selected('carol');
  await a.send('a1', 'SELECT INBOX');
  await b.send('b1', 'STORE 2,4 +FLAGS.SILENT (\\Deleted)');
  await b.send('b2', 'EXPUNGE');
  const f = await a.send('a2', 'FETCH 1:5 (UID)');
  assert.ok(!f.untagged.some((l) => /VANISHED|EXPUNGE/.test(l)), f.untagged.join('\n'));
  assert.match(f.tagged, /^a2 OK /);
  const n = await a.send('a3', 'NOOP');
  assert.ok(n.untagged.includes('* VANISHED 2,4'), n.untagged.join('\n'));
  assert.ok(!n.untagged.some((l) => / EXPUNGE$/.test(l)));
  assert.deepEqual((await a.send('a4', 'FETCH 1:* (UID)')).untagged, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 3)', '* 3 FETCH (UID 5)']);
  // A flag change from B: FETCH with UID and MODSEQ.
  await b.send('b3', 'STORE 1 +FLAGS (\\Seen)');
  const u = await a.send('a5', 'NOOP');
  assert.match(u.untagged[0]!, /^\* 1 FETCH \(UID 1 MODSEQ \(\d+\) FLAGS \(\\Seen\)\)$/);
  // During IDLE, VANISHED comes at once.
  a.write('i1 IDLE\r\n');
  await a.waitFor(/^\+ /);
  await b.send('b4', 'STORE 3 +FLAGS.SILENT (\\Deleted)');
  await b.send('b5', 'EXPUNGE');
  await a.waitFor(/^\* VANISHED 5$/);
  a.write('DONE\r\n');
  await a.waitFor(/^i1 OK /);
  a.close();
  b.close();
});

test('UID FETCH (CHANGEDSINCE n VANISHED): VANISHED (EARLIER) limited to the UID set, then the changes', async () => {
  const c = await qresyncClient('alice');
  await c.send('a1', 'SELECT INBOX');
  const r = await c.send('a2', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${M0} VANISHED)`);
  assert.deepEqual(r.untagged.map((l) => l.replace(/MODSEQ \(\d+\)/, 'MODSEQ (n)')), [
    '* VANISHED (EARLIER) 3,7',
    '* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n))',
    '* 5 FETCH (UID 6 FLAGS (\\Flagged) MODSEQ (n))',
  ]);
  const p = await c.send('a3', `UID FETCH 1:2 (FLAGS) (CHANGEDSINCE ${M0} VANISHED)`);
  assert.deepEqual(p.untagged.map((l) => l.replace(/MODSEQ \(\d+\)/, 'MODSEQ (n)')), ['* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (n))']);
  c.close();
});

test('[CLOSED] comes before the new mailbox\'s responses on SELECT and EXAMINE, not on the first SELECT', async () => {
  const c = await srv.authed('alice');
  const first = await c.send('a1', 'SELECT INBOX');
  assert.ok(!first.untagged.some((l) => /CLOSED/.test(l)));
  const second = await c.send('a2', 'EXAMINE INBOX');
  assert.equal(second.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  // A SELECT of a missing mailbox still closes the old one (RFC 3501 §6.3.1).
  const missing = await c.send('a3', 'SELECT Nope');
  assert.equal(missing.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  assert.match(missing.tagged, /^a3 NO /);
  assert.match((await c.send('a4', 'FETCH 1 UID')).tagged, /^a4 BAD /);
  c.close();
});

test('expunged UIDs are remembered: a resync from the very first modseq still lists them', async () => {
  const c = await qresyncClient('alice');
  const r = await c.send('a1', `EXAMINE INBOX (QRESYNC (${UV} 1))`);
  assert.ok(r.untagged.includes('* VANISHED (EARLIER) 3,7'), r.untagged.join('\n'));
  c.close();
});
