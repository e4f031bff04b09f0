/**
 * SORT and UID SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957): every sort key, REVERSE, several keys, ties by
 * sequence number, sent date with fallback to INTERNALDATE (RFC 5256 §2.2), base subjects (§2.1), search
 * criteria, UIDs that differ from sequence numbers, the empty result, and the errors (syntax, charset, state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, lit } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE S');

function raw(headers: string[], body: string): Buffer {
  return Buffer.from([...headers, '', body, ''].join('\r\n'), 'utf8');
}
// [message, internal date]; a throwaway first message is expunged so that UID = sequence number + 1.
const msgs: Array<[Buffer, string]> = [
  [raw(['Subject: throwaway'], 'x'), '01-Jan-2026 00:00:00 +0000'],
  [raw(['Date: Mon, 2 Nov 2026 10:00:00 +0000', 'From: Zoe <zoe@x.org>', 'To: Xavier <bob@y.org>', 'Subject: Re: beta'], 'a'.repeat(1000)), '05-Nov-2026 10:00:00 +0000'],
  [raw(['Date: Mon, 2 Nov 2026 09:00:00 -0500 (EST)', 'From: adam@x.org', 'To: Carl <carl@y.org>', 'Cc: dan@z.org', 'Subject: alpha'], 'b'.repeat(3000)), '01-Nov-2026 10:00:00 +0000'],
  [raw(['From: Mike <mike@x.org>', 'To: alice@y.org', 'Cc: Bea <bea@z.org>, aaron@z.org', 'Subject: [list] Fwd: Alpha'], 'c'.repeat(10)), '03-Nov-2026 10:00:00 +0000'],
  [raw(['Date: Sun, 1 Nov 2026 08:00:00 +0000', 'From: =?utf-8?q?=C3=89mile?= <emile@x.org>', 'To: Yann <yann@y.org>', 'Subject: Gamma (fwd)'], 'd'.repeat(2000)), '02-Nov-2026 10:00:00 +0000'],
];
for (const [m, date] of msgs) {
  const r = await c.sendParts(c.tag(), [`APPEND S () "${date}" `, lit(m)], { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
}
await c.select('S');
assert.match((await c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')).tagged, /OK/);
assert.match((await c.cmd('EXPUNGE')).tagged, /OK/);
// Now: seq 1 "Re: beta" (uid 2), 2 "alpha" (3), 3 "[list] Fwd: Alpha" (4, no Date), 4 "Gamma (fwd)" (5).

const sort = async (args: string, uid = false) => {
  const r = await c.cmd(`${uid ? 'UID ' : ''}SORT ${args}`);
  assert.match(r.tagged, /^t\d+ OK SORT completed/, `SORT ${args}: ${r.tagged}`);
  const lines = r.untagged.filter((l) => l.startsWith('* SORT'));
  assert.equal(lines.length, 1, r.untagged.join('\n'));
  return lines[0]!.slice('* SORT'.length).trim().split(' ').filter(Boolean).map(Number);
};

test('CAPABILITY advertises SORT and SORT=DISPLAY', async () => {
  const r = await c.cmd('CAPABILITY');
  const caps = r.untagged.find((l) => l.startsWith('* CAPABILITY'))!.split(' ');
  assert.ok(caps.includes('SORT'));
  assert.ok(caps.includes('SORT=DISPLAY'));
});

test('ARRIVAL (INTERNALDATE) and SIZE', async () => {
  assert.deepEqual(await sort('(ARRIVAL) UTF-8 ALL'), [2, 4, 3, 1]);
  assert.deepEqual(await sort('(REVERSE ARRIVAL) UTF-8 ALL'), [1, 3, 4, 2]);
  assert.deepEqual(await sort('(SIZE) UTF-8 ALL'), [3, 1, 4, 2]);
});

test('DATE: the Date header in UTC, INTERNALDATE when there is none', async () => {
  // 4: 1 Nov 08:00Z; 1: 2 Nov 10:00Z; 2: 2 Nov 14:00Z (09:00 -0500); 3: no Date -> INTERNALDATE 3 Nov.
  assert.deepEqual(await sort('(DATE) UTF-8 ALL'), [4, 1, 2, 3]);
  assert.deepEqual(await sort('(REVERSE DATE) UTF-8 ALL'), [3, 2, 1, 4]);
});

test('SUBJECT on base subjects, ties by sequence number (also under REVERSE)', async () => {
  // BETA, ALPHA, ALPHA, GAMMA
  assert.deepEqual(await sort('(SUBJECT) UTF-8 ALL'), [2, 3, 1, 4]);
  assert.deepEqual(await sort('(REVERSE SUBJECT) UTF-8 ALL'), [4, 1, 2, 3]);
  assert.deepEqual(await sort('(SUBJECT REVERSE DATE) UTF-8 ALL'), [3, 2, 1, 4]);
});

test('FROM, TO, CC: the addr-mailbox of the first address, "" when none', async () => {
  assert.deepEqual(await sort('(FROM) UTF-8 ALL'), [2, 4, 3, 1]); // adam emile mike zoe
  assert.deepEqual(await sort('(TO) UTF-8 ALL'), [3, 1, 2, 4]); // alice bob carl yann
  assert.deepEqual(await sort('(CC) UTF-8 ALL'), [1, 4, 3, 2]); // "" "" bea dan (first address only)
  assert.deepEqual(await sort('(CC REVERSE SIZE) UTF-8 ALL'), [4, 1, 3, 2]);
});

test('DISPLAYFROM, DISPLAYTO (RFC 5957): decoded display name, else the address', async () => {
  // ADAM@X.ORG, ÉMILE, MIKE, ZOE (i;unicode-casemap: É is E + U+0301, so it sorts with the Es, as in Dovecot)
  assert.deepEqual(await sort('(DISPLAYFROM) UTF-8 ALL'), [2, 4, 3, 1]);
  // ALICE@Y.ORG, CARL, XAVIER, YANN
  assert.deepEqual(await sort('(DISPLAYTO) UTF-8 ALL'), [3, 2, 1, 4]);
  assert.deepEqual(await sort('(REVERSE DISPLAYTO) US-ASCII ALL'), [4, 1, 2, 3]);
});

test('search criteria select what is sorted; empty result is "* SORT"', async () => {
  assert.deepEqual(await sort('(ARRIVAL) UTF-8 NOT FROM zoe'), [2, 4, 3]);
  assert.deepEqual(await sort('(SUBJECT) UTF-8 SUBJECT alpha'), [2, 3]);
  assert.deepEqual(await sort('(DATE) UTF-8 SINCE 1-Feb-2027'), []);
  const r = await c.cmd('SORT (DATE) UTF-8 SUBJECT nothing-matches');
  assert.deepEqual(r.untagged, ['* SORT']);
});

test('UID SORT returns UIDs; UID criteria', async () => {
  assert.deepEqual(await sort('(ARRIVAL) UTF-8 ALL', true), [3, 5, 4, 2]);
  assert.deepEqual(await sort('(SUBJECT) UTF-8 UID 2:4', true), [3, 4, 2]);
});

test('errors: syntax is BAD, unknown charset NO [BADCHARSET], not selected BAD', async () => {
  for (const bad of ['SORT', 'SORT () UTF-8 ALL', 'SORT (FOO) UTF-8 ALL', 'SORT (REVERSE) UTF-8 ALL',
    'SORT (DATE) UTF-8', 'SORT DATE UTF-8 ALL', 'SORT (DATE) UTF-8 RETURN (ALL) ALL', 'UID SORT (DATE)']) {
    const r = await c.cmd(bad);
    assert.match(r.tagged, /^t\d+ BAD /, `${bad}: ${r.tagged}`);
  }
  // The charset is required: a missing one reads the first search key as a charset.
  for (const no of ['SORT (DATE) KOI8-R ALL', 'SORT (DATE) ALL']) {
    assert.match((await c.cmd(no)).tagged, /^t\d+ NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/, no);
  }
  const d = await srv.authed('alice');
  assert.match((await d.cmd('SORT (DATE) UTF-8 ALL')).tagged, /^t\d+ BAD /);
  d.close();
});
