/**
 * SEARCH (RFC 3501 §6.4.4): flag keys, header keys (FROM/TO/SUBJECT/HEADER) on decoded values (encoded words),
 * BODY/TEXT on decoded content (quoted-printable, base64), dates (BEFORE/ON/SINCE on INTERNALDATE, SENT* on the
 * Date header), sizes, sequence and UID sets, NOT, OR, nested parentheses, CHARSET UTF-8 with a literal, unknown
 * charset -> NO [BADCHARSET]; UID SEARCH returns UIDs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, lit, searchResult, message } from '../helpers/imap.js';
import { fixture } from '../mime/helpers.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE S');
// 1 plain (Mon, 2 Nov 2026), 2 alternative (QP "Café au lait"), 3 encoded-words (base64 body, encoded subject),
// 4 nested, 5 a small message with keyword and date 2026-01-15, 6 a large one.
const msgs: Array<[Buffer, string, string]> = [
  [fixture('plain'), '\\Seen', '02-Nov-2026 10:00:00 +0000'],
  [fixture('alternative'), '\\Flagged', '03-Nov-2026 10:00:00 +0000'],
  [fixture('encoded-words'), '\\Seen \\Answered', '08-Nov-2026 10:00:00 +0000'],
  [fixture('nested'), '\\Deleted', '05-Nov-2026 10:00:00 +0000'],
  [message({ subject: 'keyword one', date: 'Thu, 15 Jan 2026 08:00:00 +0000', from: 'Zed <zed@example.net>' }), '$Work \\Draft', '15-Jan-2026 08:00:00 +0000'],
  [message({ subject: 'large', body: 'y'.repeat(5000) }), '', '20-Jan-2026 08:00:00 +0000'],
];
for (const [raw, flags, date] of msgs) {
  const r = await c.sendParts(c.tag(), [`APPEND S (${flags}) "${date}" `, lit(raw)], { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
}
await c.select('S');
// A fresh mailbox: UIDs are 1..6, equal to the sequence numbers until something is expunged.

const search = async (criteria: string) => {
  const r = await c.cmd(`SEARCH ${criteria}`);
  assert.match(r.tagged, /^t\d+ OK /, `SEARCH ${criteria}: ${r.tagged}`);
  return searchResult(r);
};

test('ALL, and an empty result is "* SEARCH"', async () => {
  assert.deepEqual(await search('ALL'), [1, 2, 3, 4, 5, 6]);
  const r = await c.send('a1', 'SEARCH SUBJECT nothing-matches-this');
  assert.deepEqual(r.untagged, ['* SEARCH']);
});

test('flag keys', async () => {
  assert.deepEqual(await search('SEEN'), [1, 3]);
  assert.deepEqual(await search('UNSEEN'), [2, 4, 5, 6]);
  assert.deepEqual(await search('FLAGGED'), [2]);
  assert.deepEqual(await search('UNFLAGGED'), [1, 3, 4, 5, 6]);
  assert.deepEqual(await search('ANSWERED'), [3]);
  assert.deepEqual(await search('UNANSWERED'), [1, 2, 4, 5, 6]);
  assert.deepEqual(await search('DELETED'), [4]);
  assert.deepEqual(await search('UNDELETED'), [1, 2, 3, 5, 6]);
  assert.deepEqual(await search('DRAFT'), [5]);
  assert.deepEqual(await search('UNDRAFT'), [1, 2, 3, 4, 6]);
  assert.deepEqual(await search('KEYWORD $Work'), [5]);
  assert.deepEqual(await search('UNKEYWORD $Work'), [1, 2, 3, 4, 6]);
  assert.deepEqual(await search('NEW'), []);
  assert.deepEqual(await search('OLD'), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(await search('RECENT'), []);
});

test('header keys: FROM, TO, CC, BCC, SUBJECT, HEADER (substring, case-insensitive)', async () => {
  assert.deepEqual(await search('FROM alice'), [1]);
  assert.deepEqual(await search('FROM "Bob Builder"'), [2]);
  assert.deepEqual(await search('TO alice@example.org'), [2, 4]);
  assert.deepEqual(await search('CC dave'), [1]);
  assert.deepEqual(await search('BCC hidden'), []);
  assert.deepEqual(await search('SUBJECT "plain TEXT"'), [1]);
  assert.deepEqual(await search('HEADER Message-ID nested-1'), [4]);
  assert.deepEqual(await search('HEADER X-Folded "second part"'), [1]);
  // An empty HEADER value matches every message that has the field.
  assert.deepEqual(await search('HEADER In-Reply-To ""'), [1]);
});

test('encoded words are decoded before matching (FROM, SUBJECT)', async () => {
  assert.deepEqual(await search('FROM "Jurgen"'), []);
  const r = await c.sendParts('a1', ['SEARCH CHARSET UTF-8 FROM ', lit('Jürgen')]);
  assert.deepEqual(searchResult(r), [3]);
  const s = await c.sendParts('a2', ['SEARCH CHARSET UTF-8 SUBJECT ', lit('Grüße')]);
  assert.deepEqual(searchResult(s), [3]);
  assert.deepEqual(await search('SUBJECT "Hello"'), [3]);
});

test('BODY and TEXT match decoded content: quoted-printable, base64', async () => {
  const qp = await c.sendParts('a1', ['SEARCH CHARSET UTF-8 BODY ', lit('Café au lait')]);
  assert.deepEqual(searchResult(qp), [2]);
  const b64 = await c.sendParts('a2', ['SEARCH CHARSET UTF-8 BODY ', lit('Grüße aus Köln')]);
  assert.deepEqual(searchResult(b64), [3]);
  assert.deepEqual(await search('BODY "soft wrapped by the quoted-printable encoder"'), [2]);
  assert.deepEqual(await search('BODY "four lines"'), [1]);
  // A header word is not in BODY, but is in TEXT.
  assert.deepEqual(await search('BODY "Nested multiparts"'), []);
  assert.deepEqual(await search('TEXT "Nested multiparts"'), [4]);
  assert.deepEqual(await search('TEXT "four lines"'), [1]);
});

test('dates: BEFORE/ON/SINCE on INTERNALDATE, SENTBEFORE/SENTON/SENTSINCE on the Date header', async () => {
  assert.deepEqual(await search('ON 3-Nov-2026'), [2]);
  assert.deepEqual(await search('BEFORE 3-Nov-2026'), [1, 5, 6]);
  assert.deepEqual(await search('SINCE 5-Nov-2026'), [3, 4]);
  assert.deepEqual(await search('SENTON 2-Nov-2026'), [1, 6]); // message() uses Mon, 2 Nov 2026
  assert.deepEqual(await search('SENTBEFORE 1-Feb-2026'), [5]);
  assert.deepEqual(await search('SENTSINCE 8-Nov-2026'), [3]);
  assert.deepEqual(await search('SENTON "15-Jan-2026"'), [5]);
});

test('sizes: LARGER and SMALLER', async () => {
  assert.deepEqual(await search('LARGER 4000'), [6]);
  assert.deepEqual(await search('SMALLER 600'), [1, 3, 5]);
});

test('sequence sets, UID sets, NOT, OR, nested parentheses, implicit AND', async () => {
  assert.deepEqual(await search('2:4'), [2, 3, 4]);
  assert.deepEqual(await search('1,3,5:*'), [1, 3, 5, 6]);
  assert.deepEqual(await search('UID 2:3'), [2, 3]);
  assert.deepEqual(await search('UID 5:*'), [5, 6]);
  assert.deepEqual(await search('NOT SEEN'), [2, 4, 5, 6]);
  assert.deepEqual(await search('OR FLAGGED DELETED'), [2, 4]);
  assert.deepEqual(await search('OR (SEEN ANSWERED) (DRAFT KEYWORD $Work)'), [3, 5]);
  assert.deepEqual(await search('NOT (OR SEEN (OR FLAGGED DELETED))'), [5, 6]);
  assert.deepEqual(await search('((((UNSEEN))) SMALLER 1000) NOT 5'), [2, 4]);
  assert.deepEqual(await search('UNSEEN UNDELETED 1:5'), [2, 5]);
});

test('UID SEARCH returns UIDs, not sequence numbers', async () => {
  // Make UIDs and sequence numbers differ: append one more and expunge message 4 (\Deleted).
  await c.sendParts('a0', ['APPEND S ', lit(message({ subject: 'seventh' }))], { literalPlus: true });
  await c.send('a00', 'EXPUNGE');
  assert.deepEqual(await search('SUBJECT seventh'), [6]);
  const r = await c.send('a1', 'UID SEARCH SUBJECT seventh');
  assert.deepEqual(r.untagged, ['* SEARCH 7']);
  const r2 = await c.send('a2', 'UID SEARCH 4:6');
  assert.deepEqual(searchResult(r2), [5, 6, 7]);
  const r3 = await c.send('a3', 'UID SEARCH UID 4:5');
  assert.deepEqual(searchResult(r3), [5]);
});

test('CHARSET: US-ASCII and UTF-8 accepted; unknown -> NO [BADCHARSET]', async () => {
  assert.ok((await search('CHARSET US-ASCII SUBJECT plain')).includes(1));
  assert.ok((await search('CHARSET utf-8 SUBJECT plain')).includes(1));
  const r = await c.send('a1', 'SEARCH CHARSET KOI8-X SUBJECT plain');
  assert.match(r.tagged, /^a1 NO \[BADCHARSET( \([^)]*\))?\] /);
});

test('wrong state: SEARCH without a selected mailbox -> BAD', async () => {
  const d = await srv.authed('alice');
  assert.match((await d.send('a1', 'SEARCH ALL')).tagged, /^a1 BAD /);
  assert.match((await d.send('a2', 'UID SEARCH ALL')).tagged, /^a2 BAD /);
  d.close();
});

test('bad syntax -> BAD with the tag', async () => {
  for (const line of ['SEARCH', 'SEARCH BOGUS', 'SEARCH (SEEN', 'SEARCH SEEN)', 'SEARCH OR SEEN', 'SEARCH NOT', 'SEARCH BEFORE 32-Foo-2026', 'SEARCH LARGER x', 'SEARCH HEADER Subject', 'SEARCH UID', 'SEARCH FROM']) {
    const r = await c.cmd(line);
    assert.match(r.tagged, /^t\d+ BAD /, `${line} -> ${r.tagged}`);
  }
});

test('I18NLEVEL=1 (RFC 5255): matching uses i;unicode-casemap: case and composition do not matter', async () => {
  const cap = await c.cmd('CAPABILITY');
  assert.match(cap.untagged.join(' '), / I18NLEVEL=1( |$)/);
  for (const [tag, needle] of [['u1', 'CAFÉ AU LAIT'], ['u2', 'cafe\u0301 au lait'], ['u3', 'café AU lait']] as const) {
    const r = await c.sendParts(tag, ['SEARCH CHARSET UTF-8 BODY ', lit(needle)]);
    assert.deepEqual(searchResult(r), [2], needle);
  }
  const r = await c.sendParts('u4', ['SEARCH CHARSET UTF-8 BODY ', lit('GRÜSSE')]);
  assert.deepEqual(searchResult(r), [], '"ß" has no simple titlecase "SS": no match, as in Dovecot');
  const k = await c.sendParts('u5', ['SEARCH CHARSET UTF-8 BODY ', lit('GRÜßE AUS KÖLN')]);
  assert.deepEqual(searchResult(k), [3]);
});
