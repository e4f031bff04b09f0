/**
 * CONDSTORE (RFC 7162 §3.1) over the wire: CAPABILITY, ENABLE CONDSTORE (with `* OK [HIGHESTMODSEQ n]` when a
 * mailbox is selected), HIGHESTMODSEQ on SELECT/EXAMINE, STATUS HIGHESTMODSEQ, the MODSEQ fetch item, FETCH
 * (CHANGEDSINCE n) with the implicit MODSEQ, STORE (UNCHANGEDSINCE n) with OK [MODIFIED set], MODSEQ in the FETCH
 * responses of STORE (also .SILENT), SEARCH MODSEQ with "(MODSEQ n)", and the errors (BAD, connection kept).
 * Response forms follow Dovecot 2.3 (see dovecot-compare.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, type ImapClient } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const setup = await srv.authed('alice');
await seed(setup, 'INBOX', 5);
setup.close();

const modseqOf = (line: string) => Number(/MODSEQ \((\d+)\)/.exec(line)?.[1]);
const highestOf = (lines: string[]) => Number(lines.map((l) => /\[HIGHESTMODSEQ (\d+)\]/.exec(l)?.[1]).find(Boolean));

async function selected(): Promise<ImapClient> {
  return srv.selected('alice');
}

test('CAPABILITY lists CONDSTORE and QRESYNC after login (not before)', async () => {
  const c = await srv.connect();
  assert.doesNotMatch((await c.send('a1', 'CAPABILITY')).untagged[0]!, /CONDSTORE/);
  await c.login('alice@example.test');
  const caps = (await c.send('a2', 'CAPABILITY')).untagged[0]!.split(' ');
  for (const cap of ['CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'ESORT', 'CONTEXT=SEARCH', 'CONTEXT=SORT']) assert.ok(caps.includes(cap), cap);
  c.close();
});

test('SELECT and EXAMINE send OK [HIGHESTMODSEQ n] after UIDNEXT; SELECT (CONDSTORE) too', async () => {
  const c = await srv.authed('alice');
  const r = await c.send('a1', 'SELECT INBOX');
  const i = r.untagged.findIndex((l) => /^\* OK \[HIGHESTMODSEQ \d+\] Highest$/.test(l));
  assert.ok(i > r.untagged.findIndex((l) => /UIDNEXT/.test(l)), r.untagged.join('\n'));
  const e = await c.send('a2', 'EXAMINE INBOX (CONDSTORE)');
  assert.match(e.tagged, /^a2 OK \[READ-ONLY\]/);
  assert.equal(e.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  assert.ok(highestOf(e.untagged) > 0);
  // Unknown select parameter list syntax errors are BAD, the connection stays.
  assert.match((await c.send('a3', 'SELECT INBOX (CONDSTORE')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'NOOP')).tagged, /^a4 OK/);
  c.close();
});

test('ENABLE CONDSTORE with a mailbox selected: * OK [HIGHESTMODSEQ n] then * ENABLED CONDSTORE', async () => {
  const c = await selected();
  const r = await c.send('a1', 'ENABLE CONDSTORE');
  assert.equal(r.untagged.length, 2, r.untagged.join('\n'));
  assert.match(r.untagged[0]!, /^\* OK \[HIGHESTMODSEQ \d+\] Highest$/);
  assert.equal(r.untagged[1], '* ENABLED CONDSTORE');
  // Enabled once: again lists nothing (RFC 5161 §3.1).
  assert.deepEqual((await c.send('a2', 'ENABLE CONDSTORE')).untagged, ['* ENABLED']);
  c.close();
});

test('STATUS (HIGHESTMODSEQ) equals SELECT\'s and grows with every change', async () => {
  const c = await srv.authed('alice');
  const st = await c.send('a1', 'STATUS INBOX (HIGHESTMODSEQ MESSAGES)');
  const m = /^\* STATUS INBOX \(HIGHESTMODSEQ (\d+) MESSAGES 5\)$/.exec(st.untagged[0]!);
  assert.ok(m, st.untagged[0]);
  const sel = await c.send('a2', 'SELECT INBOX');
  assert.equal(highestOf(sel.untagged), Number(m[1]));
  await c.send('a3', 'STORE 1 +FLAGS.SILENT ($X)');
  const st2 = await c.send('a4', 'STATUS INBOX (HIGHESTMODSEQ)');
  assert.equal(st2.untagged.find((l) => l.startsWith('* STATUS'))!, `* STATUS INBOX (HIGHESTMODSEQ ${Number(m[1]) + 1})`);
  c.close();
});

test('FETCH MODSEQ; FETCH (CHANGEDSINCE n) returns only later changes and adds MODSEQ at the end', async () => {
  const c = await selected();
  const all = await c.send('a1', 'FETCH 1:* (UID MODSEQ)');
  // The enabling FETCH first tells the HIGHESTMODSEQ of the selected mailbox (as Dovecot).
  assert.match(all.untagged[0]!, /^\* OK \[HIGHESTMODSEQ \d+\] Highest$/);
  assert.equal(all.untagged.length, 6);
  for (const l of all.untagged.slice(1)) assert.match(l, /^\* \d+ FETCH \(UID \d+ MODSEQ \(\d+\)\)$/);
  const base = Math.max(...all.untagged.slice(1).map(modseqOf));
  const st = await c.send('a2', 'STORE 2,4 +FLAGS (\\Flagged)');
  // CONDSTORE is on (FETCH MODSEQ enabled it): STORE answers with MODSEQ before FLAGS, no UID for plain STORE.
  assert.equal(st.untagged.length, 2);
  assert.match(st.untagged[0]!, /^\* 2 FETCH \(MODSEQ \((\d+)\) FLAGS \(\\Flagged\)\)$/);
  const ch = await c.send('a3', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${base})`);
  assert.deepEqual(
    ch.untagged.map((l) => l.replace(/MODSEQ \(\d+\)/, 'MODSEQ (n)')),
    ['* 2 FETCH (FLAGS (\\Flagged) MODSEQ (n))', '* 4 FETCH (FLAGS (\\Flagged) MODSEQ (n))'],
  );
  assert.ok(modseqOf(ch.untagged[0]!) > base);
  // UID FETCH adds UID first; CHANGEDSINCE 0 returns everything.
  const u = await c.send('a4', 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)');
  assert.equal(u.untagged.length, 5);
  assert.match(u.untagged[0]!, /^\* 1 FETCH \(UID 1 FLAGS \([^)]*\) MODSEQ \(\d+\)\)$/);
  // Nothing changed since the highest: no responses, OK.
  const none = await c.send('a5', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseqOf(st.untagged[1]!)})`);
  assert.deepEqual(none.untagged, []);
  assert.match(none.tagged, /^a5 OK /);
  c.close();
});

test('FETCH modifier errors are BAD and keep the connection: bad CHANGEDSINCE, unknown modifier, VANISHED misuse', async () => {
  const c = await selected();
  for (const [cmd, re] of [
    ['FETCH 1 (FLAGS) (CHANGEDSINCE x)', /BAD/],
    ['FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)', /BAD/],
    ['FETCH 1 (FLAGS) (CHANGEDSINCE -1)', /BAD/],
    ['FETCH 1 (FLAGS) (CHANGEDSINCE)', /BAD/],
    ['FETCH 1 (FLAGS) (FOO)', /BAD/],
    ['FETCH 1 (FLAGS) (VANISHED)', /BAD/],
    ['UID FETCH 1 (FLAGS) (VANISHED)', /BAD/],
    // VANISHED needs ENABLE QRESYNC (RFC 7162 §3.2.6).
    ['UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)', /BAD .*QRESYNC/],
  ] as const) {
    const r = await c.send('b1', cmd);
    assert.match(r.tagged, new RegExp(`^b1 ${re.source}`), cmd);
  }
  assert.match((await c.send('b2', 'NOOP')).tagged, /^b2 OK/);
  c.close();
});

test('STORE (UNCHANGEDSINCE n): messages changed after n are left alone and reported in OK [MODIFIED set]', async () => {
  const a = await selected();
  const b = await selected();
  const f = await a.send('a1', 'UID FETCH 1:3 (MODSEQ)');
  const ms = f.untagged.filter((l) => / FETCH /.test(l)).map(modseqOf);
  // b changes message 2 after a read the modseqs.
  await b.send('b1', 'STORE 2 +FLAGS.SILENT (\\Answered)');
  const r = await a.send('a2', `STORE 1:3 (UNCHANGEDSINCE ${Math.max(...ms)}) +FLAGS (\\Seen)`);
  assert.equal(r.tagged.replace(/\d+$/, ''), 'a2 OK [MODIFIED 2] Conditional STORE failed');
  // First b's change to message 2 (an update for a), then the two stored messages.
  assert.equal(r.untagged.length, 3, r.untagged.join('\n'));
  assert.match(r.untagged[0]!, /^\* 2 FETCH \(MODSEQ \(\d+\) FLAGS \([^)]*\\Answered[^)]*\)\)$/);
  assert.match(r.untagged[1]!, /^\* 1 FETCH \(MODSEQ \(\d+\) FLAGS \([^)]*\\Seen[^)]*\)\)$/);
  assert.match(r.untagged[2]!, /^\* 3 FETCH \(MODSEQ \(\d+\) FLAGS \([^)]*\\Seen[^)]*\)\)$/);
  // Message 2 kept its flags (no \Seen).
  assert.doesNotMatch((await a.send('a3', 'FETCH 2 FLAGS')).untagged.find((l) => l.startsWith('* 2 FETCH (FLAGS'))!, /\\Seen/);
  // UID STORE reports UIDs; UNCHANGEDSINCE 0 always fails (every message has a modseq > 0).
  const u = await a.send('a4', 'UID STORE 1:3 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)');
  assert.match(u.tagged, /^a4 OK \[MODIFIED 1:3\] /);
  assert.deepEqual(u.untagged.filter((l) => /FETCH/.test(l)), []);
  a.close();
  b.close();
});

test('STORE with CONDSTORE: UID STORE gives UID and MODSEQ; .SILENT still sends MODSEQ (no FLAGS)', async () => {
  const c = await selected();
  await c.send('a1', 'ENABLE CONDSTORE');
  const u = await c.send('a2', 'UID STORE 5 +FLAGS ($Y)');
  assert.match(u.untagged[0]!, /^\* 5 FETCH \(UID 5 MODSEQ \(\d+\) FLAGS \([^)]*\$Y[^)]*\)\)$/);
  const s = await c.send('a3', 'STORE 5 -FLAGS.SILENT ($Y)');
  assert.match(s.untagged[0]!, /^\* 5 FETCH \(MODSEQ \(\d+\)\)$/);
  assert.ok(modseqOf(s.untagged[0]!) > modseqOf(u.untagged[0]!));
  // Bad UNCHANGEDSINCE values are BAD.
  assert.match((await c.send('a4', 'STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'STORE 1 (FOO 1) +FLAGS (\\Seen)')).tagged, /^a5 BAD /);
  c.close();
});

test('Another session\'s flag change arrives with UID? no: with MODSEQ once CONDSTORE is on', async () => {
  const a = await selected();
  const b = await selected();
  await a.send('a1', 'ENABLE CONDSTORE');
  await b.send('b1', 'STORE 3 +FLAGS (\\Draft)');
  const n = await a.send('a2', 'NOOP');
  assert.equal(n.untagged.length, 1, n.untagged.join('\n'));
  assert.match(n.untagged[0]!, /^\* 3 FETCH \(MODSEQ \(\d+\) FLAGS \([^)]*\\Draft[^)]*\)\)$/);
  // During a UID command the update carries the UID too.
  await b.send('b2', 'STORE 3 -FLAGS (\\Draft)');
  const u = await a.send('a3', 'UID FETCH 1 UID');
  assert.ok(u.untagged.some((l) => /^\* 3 FETCH \(UID 3 MODSEQ \(\d+\) FLAGS \(/.test(l)), u.untagged.join('\n'));
  a.close();
  b.close();
});

test('SEARCH MODSEQ: results followed by (MODSEQ highest); none: bare * SEARCH; bad value: BAD', async () => {
  const c = await selected();
  const f = await c.send('a1', 'FETCH 1:* (MODSEQ)');
  const ms = f.untagged.filter((l) => / FETCH /.test(l)).map(modseqOf);
  const top = Math.max(...ms);
  const want = ms.map((m, i) => [m, i + 1] as const).filter(([m]) => m >= top).map(([, i]) => i);
  const r = await c.send('a2', `SEARCH MODSEQ ${top}`);
  assert.deepEqual(r.untagged, [`* SEARCH ${want.join(' ')} (MODSEQ ${top})`]);
  assert.deepEqual((await c.send('a3', `SEARCH MODSEQ ${top + 1000}`)).untagged, ['* SEARCH']);
  // With an entry name (RFC 7162 §3.1.5): same messages.
  assert.deepEqual((await c.send('a4', `SEARCH MODSEQ "/flags/\\\\Seen" all ${top}`)).untagged, [`* SEARCH ${want.join(' ')} (MODSEQ ${top})`]);
  assert.match((await c.send('a5', 'SEARCH MODSEQ x')).tagged, /^a5 BAD /);
  assert.match((await c.send('a6', 'SEARCH MODSEQ "/flags/x" bogus 1')).tagged, /^a6 BAD /);
  // ESEARCH form: MODSEQ item last.
  const e = await c.send('a7', `SEARCH RETURN (MIN MAX COUNT ALL) MODSEQ ${top}`);
  assert.match(e.untagged[0]!, new RegExp(`^\\* ESEARCH \\(TAG "a7"\\) MIN \\d+ MAX \\d+ ALL [\\d:,]+ COUNT ${want.length} MODSEQ ${top}$`));
  c.close();
});

test('SEARCH MODSEQ enables CONDSTORE: later STORE responses carry MODSEQ', async () => {
  const c = await selected();
  await c.send('a1', 'SEARCH MODSEQ 1');
  const s = await c.send('a2', 'STORE 1 +FLAGS ($Z)');
  assert.match(s.untagged[0]!, /^\* 1 FETCH \(MODSEQ \(\d+\) FLAGS/);
  c.close();
});

test('EXPUNGE with CONDSTORE: tagged OK [HIGHESTMODSEQ n]', async () => {
  const c = await srv.authed('bob');
  await seed(c, 'INBOX', 3);
  await c.send('a0', 'SELECT INBOX (CONDSTORE)');
  await c.send('a1', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', 'EXPUNGE');
  assert.deepEqual(r.untagged, ['* 2 EXPUNGE']);
  const hm = Number(/^a2 OK \[HIGHESTMODSEQ (\d+)\] /.exec(r.tagged)?.[1]);
  assert.ok(hm > 0, r.tagged);
  const st = await c.send('a3', 'STATUS INBOX (HIGHESTMODSEQ)');
  assert.equal(st.untagged[0], `* STATUS INBOX (HIGHESTMODSEQ ${hm})`);
  c.close();
});
