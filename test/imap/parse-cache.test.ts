/**
 * The FETCH parse cache (src/server/imap/commands/fetch.ts): a first FETCH ENVELOPE reads only the header and
 * stores the ENVELOPE (JSON and wire form) and the sort keys, not BODYSTRUCTURE; a later BODYSTRUCTURE computes
 * and stores that; a row cached before the wire form existed (JSON only) is answered from the JSON and gets its
 * wire form stored; every answer is the same as computing from the file each time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { startImapServer, lit } from '../helpers/imap.js';
import { buildEnvelope, formatEnvelope } from '../../src/mime/index.js';

const srv = await startImapServer({ users: ['alice'] });
const db = srv.ts.server.mail.db as Kysely<any>;
const c = await srv.authed('alice');

const MSG = Buffer.from(
  [
    'Date: Tue, 2 Jan 2024 09:00:00 -0500',
    'From: =?utf-8?q?=C3=89mile?= <emile@example.org>',
    'To: "A \\"quoted\\" name" <a@x.org>, group: b@x.org, c@x.org;',
    'Subject: caf\u00e9 \r\n folded',
    'Message-ID: <m1@x>',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'hello',
    '--b',
    'Content-Type: application/octet-stream; name="a.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    'AAEC',
    '--b--',
    '',
  ].join('\r\n'),
  'utf8',
);

async function row(uid: number): Promise<Record<string, unknown>> {
  const r = await sql<Record<string, unknown>>`select m.* from mail_messages m join mail_mailboxes b on b.id = m.mailbox_id
    where b.name = 'P' and m.uid = ${uid}`.execute(db);
  return r.rows[0]!;
}

async function fetch(items: string): Promise<string> {
  const r = await c.cmd(`UID FETCH 1:* (${items})`);
  assert.match(r.tagged, /OK/);
  return r.untagged.join('\n');
}

test('FETCH ENVELOPE caches the ENVELOPE (JSON, wire form) and keys only; BODYSTRUCTURE is cached when first asked', async () => {
  await c.cmd('CREATE P');
  const a = await c.sendParts(c.tag(), ['APPEND P () "01-Feb-2024 10:00:00 +0000" ', lit(MSG)], { literalPlus: true });
  assert.match(a.tagged, /OK/);
  await c.select('P');
  const wire = formatEnvelope(buildEnvelope(MSG));
  const first = await fetch('ENVELOPE');
  // (the test client reads responses as latin1)
  assert.ok(first.includes(`ENVELOPE ${Buffer.from(wire, 'utf8').toString('latin1')})`), first);
  let r = await row(1);
  assert.equal(r.envelope_imap, wire);
  assert.deepEqual(JSON.parse(String(r.envelope)), buildEnvelope(MSG));
  assert.notEqual(r.sort_date, null);
  assert.equal(r.bodystructure, null, 'ENVELOPE alone does not compute BODYSTRUCTURE');
  // Again: from the wire form, the same bytes.
  assert.equal(await fetch('ENVELOPE'), first);
  // BODYSTRUCTURE now: computed from the file, stored; the ENVELOPE stays.
  const bs = await fetch('BODYSTRUCTURE');
  assert.match(bs, /BODYSTRUCTURE \(\("text" "plain"/);
  r = await row(1);
  assert.notEqual(r.bodystructure, null);
  assert.equal(r.envelope_imap, wire);
  assert.equal(await fetch('BODYSTRUCTURE'), bs);
  // Both together, from the cache, equal each alone.
  const both = await fetch('ENVELOPE BODYSTRUCTURE');
  assert.equal(both, first.replace(/\)$/, '') + ' ' + bs.replace(/^\* 1 FETCH \(UID 1 /, ''));
});

test('a row cached with JSON only (before 0013) answers from the JSON and gets its wire form stored', async () => {
  const want = await fetch('ENVELOPE');
  await sql`update mail_messages set envelope_imap = null`.execute(db);
  assert.equal(await fetch('ENVELOPE'), want);
  assert.equal((await row(1)).envelope_imap, formatEnvelope(buildEnvelope(MSG)));
  // No cache at all: computed from the header again, the same answer.
  await sql`update mail_messages set envelope_imap = null, envelope = null, bodystructure = null`.execute(db);
  assert.equal(await fetch('ENVELOPE'), want);
});
