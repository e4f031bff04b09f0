/**
 * ESEARCH (RFC 4731), SEARCHRES (RFC 5182), ESORT and CONTEXT=SEARCH/SORT (RFC 5267) over the wire, with the
 * response forms Dovecot 2.3 gives: "* ESEARCH (TAG "x") [UID] MIN MAX ALL|PARTIAL COUNT [MODSEQ]", RETURN () = ALL,
 * SAVE alone = no ESEARCH, "$" in FETCH/STORE/COPY/MOVE/SEARCH and UID commands, "$" reset by SELECT and by a
 * SEARCH (SAVE) that fails with NO (not by BAD), ESORT's ALL in sort order, PARTIAL ranges, UPDATE with ADDTO and
 * REMOVEFROM, CANCELUPDATE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, message, type ImapClient } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const setup = await srv.authed('alice');
// Subjects out of UID order so SORT differs from SEARCH: m1=d, m2=b, m3=e, m4=a, m5=c, m6=f.
const subjects = ['d', 'b', 'e', 'a', 'c', 'f'];
await seed(setup, 'INBOX', 6, (i) => message({ subject: subjects[i - 1]! }));
await setup.send('c1', 'CREATE Other');
setup.close();

async function sel(): Promise<ImapClient> {
  return srv.selected('alice');
}

test('ESEARCH: MIN MAX ALL COUNT in Dovecot\'s order; UID; RETURN () = ALL; empty results', async () => {
  const c = await sel();
  assert.deepEqual((await c.send('a1', 'SEARCH RETURN (COUNT ALL MAX MIN) ALL')).untagged, ['* ESEARCH (TAG "a1") MIN 1 MAX 6 ALL 1:6 COUNT 6']);
  assert.deepEqual((await c.send('a2', 'UID SEARCH RETURN () 2:4')).untagged, ['* ESEARCH (TAG "a2") UID ALL 2:4']);
  assert.deepEqual((await c.send('a3', 'SEARCH RETURN (MIN MAX ALL) SUBJECT zzz')).untagged, ['* ESEARCH (TAG "a3")']);
  assert.deepEqual((await c.send('a4', 'SEARCH RETURN (COUNT) SUBJECT zzz')).untagged, ['* ESEARCH (TAG "a4") COUNT 0']);
  assert.match((await c.send('a5', 'SEARCH RETURN (BOGUS) ALL')).tagged, /^a5 BAD /);
  assert.match((await c.send('a6', 'SEARCH RETURN (MIN ALL')).tagged, /^a6 BAD /);
  c.close();
});

test('PARTIAL (RFC 5267 §4.4): a window of the result; NIL when empty; 0 or ALL with PARTIAL is BAD', async () => {
  const c = await sel();
  assert.deepEqual((await c.send('a1', 'SEARCH RETURN (PARTIAL 1:2) ALL')).untagged, ['* ESEARCH (TAG "a1") PARTIAL (1:2 1:2)']);
  assert.deepEqual((await c.send('a2', 'UID SEARCH RETURN (PARTIAL 2:10 COUNT) 2:6')).untagged, ['* ESEARCH (TAG "a2") UID PARTIAL (2:10 3:6) COUNT 5']);
  assert.deepEqual((await c.send('a3', 'SEARCH RETURN (PARTIAL 7:9) ALL')).untagged, ['* ESEARCH (TAG "a3") PARTIAL (7:9 NIL)']);
  for (const bad of ['PARTIAL 0:6', 'PARTIAL -1:-2', 'PARTIAL 1:2 ALL', 'PARTIAL', 'PARTIAL x']) {
    assert.match((await c.send('a4', `SEARCH RETURN (${bad}) ALL`)).tagged, /^a4 BAD /, bad);
  }
  c.close();
});

test('SEARCHRES: $ before any SAVE is the empty set (OK, no responses); SAVE alone gives no ESEARCH', async () => {
  const c = await sel();
  const f = await c.send('a1', 'FETCH $ UID');
  assert.deepEqual(f.untagged, []);
  assert.match(f.tagged, /^a1 OK /);
  assert.deepEqual((await c.send('a2', 'SEARCH $')).untagged, ['* SEARCH']);
  const s = await c.send('a3', 'SEARCH RETURN (SAVE) 2:3');
  assert.deepEqual(s.untagged, []);
  assert.deepEqual((await c.send('a4', 'FETCH $ UID')).untagged, ['* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)']);
  assert.deepEqual((await c.send('a5', 'UID FETCH $ UID')).untagged, ['* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)']);
  assert.deepEqual((await c.send('a6', 'SEARCH UID $')).untagged, ['* SEARCH 2 3']);
  assert.deepEqual((await c.send('a7', 'UID SEARCH OR $ 6')).untagged, ['* SEARCH 2 3 6']);
  c.close();
});

test('SEARCHRES: SAVE with MIN/MAX keeps only those; STORE/COPY/MOVE $; $ survives expunge of others', async () => {
  const c = await srv.authed('bob');
  await seed(c, 'INBOX', 5);
  await c.send('a0', 'CREATE Keep');
  await c.send('a1', 'SELECT INBOX');
  assert.deepEqual((await c.send('a2', 'SEARCH RETURN (SAVE MIN MAX) 2:4')).untagged, ['* ESEARCH (TAG "a2") MIN 2 MAX 4']);
  assert.deepEqual((await c.send('a3', 'FETCH $ UID')).untagged, ['* 2 FETCH (UID 2)', '* 4 FETCH (UID 4)']);
  const st = await c.send('a4', 'STORE $ +FLAGS (\\Flagged)');
  assert.deepEqual(st.untagged, ['* 2 FETCH (FLAGS (\\Flagged))', '* 4 FETCH (FLAGS (\\Flagged))']);
  assert.match((await c.send('a5', 'COPY $ Keep')).tagged, /^a5 OK \[COPYUID \d+ 2,4 1:2\]/);
  // Expunge message 1: $ still names UIDs 2 and 4, now sequence numbers 1 and 3.
  await c.send('a6', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  await c.send('a7', 'EXPUNGE');
  assert.deepEqual((await c.send('a8', 'FETCH $ UID')).untagged, ['* 1 FETCH (UID 2)', '* 3 FETCH (UID 4)']);
  const mv = await c.send('a9', 'UID MOVE $ Keep');
  assert.deepEqual(mv.untagged.slice(1), ['* 3 EXPUNGE', '* 1 EXPUNGE']);
  // Moved away: $ is empty now.
  assert.deepEqual((await c.send('b1', 'FETCH $ UID')).untagged, []);
  c.close();
});

test('SEARCHRES: a failed SEARCH (SAVE) with NO empties $, a BAD one keeps it; SELECT resets it', async () => {
  const c = await sel();
  await c.send('a1', 'SEARCH RETURN (SAVE) 1');
  assert.match((await c.send('a2', 'SEARCH RETURN (SAVE) BADKEY')).tagged, /^a2 BAD /);
  assert.deepEqual((await c.send('a3', 'FETCH $ UID')).untagged, ['* 1 FETCH (UID 1)']);
  assert.match((await c.send('a4', 'SEARCH RETURN (SAVE) CHARSET KOI8-R ALL')).tagged, /^a4 NO \[BADCHARSET/);
  assert.deepEqual((await c.send('a5', 'FETCH $ UID')).untagged, []);
  await c.send('a6', 'SEARCH RETURN (SAVE) 1:2');
  await c.send('a7', 'SELECT INBOX');
  assert.deepEqual((await c.send('a8', 'FETCH $ UID')).untagged, []);
  // "$" mixed into a set is not a sequence set: BAD.
  assert.match((await c.send('a9', 'FETCH $,1 UID')).tagged, /^a9 BAD /);
  c.close();
});

test('ESORT: ALL in sort order, MIN/MAX first/last in that order, PARTIAL, UID, SAVE', async () => {
  const c = await sel();
  // Subjects: a=4, b=2, c=5, d=1, e=3, f=6.
  assert.deepEqual((await c.send('a1', 'SORT RETURN (ALL MIN MAX COUNT) (SUBJECT) UTF-8 ALL')).untagged, [
    '* ESEARCH (TAG "a1") MIN 4 MAX 6 ALL 4,2,5,1,3,6 COUNT 6',
  ]);
  assert.deepEqual((await c.send('a2', 'UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL')).untagged, ['* ESEARCH (TAG "a2") UID ALL 6,3,1,5,2,4']);
  assert.deepEqual((await c.send('a3', 'SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL')).untagged, ['* ESEARCH (TAG "a3") PARTIAL (2:3 2,5)']);
  assert.deepEqual((await c.send('a4', 'SORT RETURN (SAVE) (SUBJECT) UTF-8 1:3')).untagged, []);
  assert.deepEqual((await c.send('a5', 'FETCH $ UID')).untagged, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)']);
  // Plain SORT is unchanged.
  assert.deepEqual((await c.send('a6', 'SORT (SUBJECT) UTF-8 ALL')).untagged, ['* SORT 4 2 5 1 3 6']);
  assert.match((await c.send('a7', 'SORT RETURN (ALL) UTF-8 ALL')).tagged, /^a7 BAD /);
  c.close();
});

test('CONTEXT=SEARCH: UPDATE sends ADDTO/REMOVEFROM for own and other sessions\' changes; CANCELUPDATE stops them', async () => {
  const c = await sel();
  const other = await sel();
  await c.send('a0', 'STORE 1:* -FLAGS.SILENT (\\Flagged)');
  const r = await c.send('a1', 'UID SEARCH RETURN (UPDATE COUNT) FLAGGED');
  assert.deepEqual(r.untagged, ['* ESEARCH (TAG "a1") UID COUNT 0']);
  // Own change.
  const s1 = await c.send('a2', 'STORE 2 +FLAGS (\\Flagged)');
  assert.ok(s1.untagged.includes('* ESEARCH (TAG "a1") UID ADDTO (0 2)'), s1.untagged.join('\n'));
  // Another session's changes.
  await other.send('b1', 'STORE 4:5 +FLAGS (\\Flagged)');
  const n = await c.send('a3', 'NOOP');
  assert.ok(n.untagged.includes('* ESEARCH (TAG "a1") UID ADDTO (0 4:5)'), n.untagged.join('\n'));
  await other.send('b2', 'STORE 2 -FLAGS (\\Flagged)');
  const n2 = await c.send('a4', 'NOOP');
  assert.ok(n2.untagged.includes('* ESEARCH (TAG "a1") UID REMOVEFROM (0 2)'), n2.untagged.join('\n'));
  // The tag of a live context cannot start another one.
  assert.match((await c.send('a1', 'SEARCH RETURN (UPDATE) ALL')).tagged, /^a1 BAD /);
  assert.match((await c.send('a5', 'CANCELUPDATE "a1"')).tagged, /^a5 OK /);
  await other.send('b3', 'STORE 6 +FLAGS (\\Flagged)');
  const n3 = await c.send('a6', 'NOOP');
  assert.ok(!n3.untagged.some((l) => /ESEARCH/.test(l)), n3.untagged.join('\n'));
  assert.match((await c.send('a7', 'CANCELUPDATE "zz"')).tagged, /^a7 NO /);
  assert.match((await c.send('a8', 'CANCELUPDATE')).tagged, /^a8 BAD /);
  await c.send('a9', 'STORE 1:* -FLAGS.SILENT (\\Flagged)');
  c.close();
  other.close();
});

test('CONTEXT=SORT: ADDTO/REMOVEFROM carry positions in the sorted result; expunge removes first', async () => {
  const c = await srv.authed('alice');
  await c.send('a0', 'SELECT Other');
  await seed(c, 'Other', 3, (i) => message({ subject: ['m', 'c', 'x'][i - 1]! }));
  const r = await c.send('a1', 'UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL');
  assert.deepEqual(r.untagged.filter((l) => /ESEARCH/.test(l)), ['* ESEARCH (TAG "a1") UID ALL 2,1,3']);
  // A new message with subject "d" goes to position 2 (c, d, m, x).
  const ap = await c.append('a2', 'Other', message({ subject: 'd' }));
  assert.match(ap.tagged, /^a2 OK/);
  const n = await c.send('a3', 'NOOP');
  const seen = [...ap.untagged, ...n.untagged];
  assert.deepEqual(seen.filter((l) => /ESEARCH/.test(l)), ['* ESEARCH (TAG "a1") UID ADDTO (2 4)']);
  await c.send('a4', 'UID STORE 1 +FLAGS.SILENT (\\Deleted)');
  const ex = await c.send('a5', 'EXPUNGE');
  assert.deepEqual(ex.untagged, ['* ESEARCH (TAG "a1") UID REMOVEFROM (3 1)', '* 1 EXPUNGE']);
  c.close();
});
