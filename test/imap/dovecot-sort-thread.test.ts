/**
 * SORT (RFC 5256 §3), SORT=DISPLAY (RFC 5957) and THREAD REFERENCES / ORDEREDSUBJECT (RFC 5256 §4) compared with
 * a real Dovecot: the same messages are APPENDed (same order, same INTERNALDATEs) to a fresh INBOX on both servers
 * and every SORT and THREAD command must give the same UIDs. The messages exercise base-subject extraction
 * (Re/Fwd/[blob]/(fwd)/encoded words), missing or broken Date headers, display names, encoded From/To, and
 * reference chains with missing parents, duplicate Message-IDs and loops. Ours answers each command three times:
 * with the index's sort keys absent (computed from the headers), present (stored by that first run), and mixed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HAVE_DOVECOT, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { sql, type Kysely } from 'kysely';
import { startImapServer, addr, ImapClient, type ImapTestServer } from '../helpers/imap.js';

const USER = 'alice@example.test';
const PW = 'dovecot-pw';

interface M {
  subject?: string;
  from?: string;
  to?: string;
  cc?: string;
  date?: string;
  id?: string;
  refs?: string;
  irt?: string;
  body?: number;
}

const MESSAGES: M[] = [
  { subject: 'Hello', from: 'Zed <zed@example.org>', to: 'alice@example.test', date: 'Mon, 1 Jan 2024 10:00:00 +0000', id: '<a1@x>' },
  { subject: 'Re: Hello', from: 'alice@example.test', to: 'Zed <zed@example.org>', date: 'Mon, 1 Jan 2024 11:00:00 +0000', id: '<a2@x>', refs: '<a1@x>' },
  { subject: 're: RE: hello', from: '"Bob B" <bob@example.org>', to: 'alice@example.test', cc: 'carol@example.org', date: 'Mon, 1 Jan 2024 12:00:00 +0100', id: '<a3@x>', refs: '<a1@x> <a2@x>' },
  { subject: 'Fwd: Hello', from: 'carol@example.org', to: 'dave@example.org', date: 'Tue, 2 Jan 2024 09:00:00 -0500', id: '<a4@x>' },
  { subject: '[list] Hello (fwd)', from: 'list@example.org', to: 'list@example.org', date: 'Tue, 2 Jan 2024 09:30:00 +0000', id: '<a5@x>' },
  { subject: 'Re: [list] Re: Hello', from: '=?utf-8?q?=C3=89mile?= <emile@example.org>', to: '=?utf-8?q?Z=C3=BCrich?= <z@example.org>', date: 'Wed, 3 Jan 2024 08:00:00 +0000', id: '<a6@x>', irt: '<a5@x>' },
  { subject: '=?utf-8?q?caf=C3=A9?=', from: 'Anna <anna@example.org>', to: 'bob@example.org', date: 'Wed, 3 Jan 2024 07:00:00 +0000', id: '<b1@x>' },
  { subject: 'Re: =?utf-8?q?caf=C3=A9?=', from: 'bob@example.org', to: 'Anna <anna@example.org>', date: 'Wed, 3 Jan 2024 07:30:00 +0000', id: '<b2@x>', refs: '<b1@x>' },
  { subject: 'no date here', from: 'mallory@example.org', to: 'alice@example.test', id: '<c1@x>' },
  { subject: 'broken date', from: 'mallory@example.org', to: 'alice@example.test', date: 'yesterday at noon', id: '<c2@x>' },
  { from: 'nosubject@example.org', to: 'alice@example.test', date: 'Thu, 4 Jan 2024 10:00:00 +0000', id: '<d1@x>' },
  { subject: '', from: 'empty@example.org', date: 'Thu, 4 Jan 2024 10:01:00 +0000', id: '<d2@x>' },
  { subject: '   spaced    out   subject  ', from: 'space@example.org', to: 'alice@example.test', date: 'Thu, 4 Jan 2024 11:00:00 +0000', id: '<e1@x>' },
  { subject: 'Re[2]: spaced out subject', from: 'space2@example.org', to: 'alice@example.test', date: 'Thu, 4 Jan 2024 12:00:00 +0000', id: '<e2@x>' },
  { subject: '[fwd: spaced out subject]', from: 'space3@example.org', to: 'alice@example.test', date: 'Thu, 4 Jan 2024 13:00:00 +0000', id: '<e3@x>' },
  { subject: 'child of missing parent', from: 'x@example.org', date: 'Fri, 5 Jan 2024 10:00:00 +0000', id: '<f2@x>', refs: '<f0@x> <f1@x>' },
  { subject: 'sibling under missing parent', from: 'y@example.org', date: 'Fri, 5 Jan 2024 09:00:00 +0000', id: '<f3@x>', refs: '<f0@x> <f1@x>' },
  { subject: 'duplicate id one', from: 'dup@example.org', date: 'Sat, 6 Jan 2024 10:00:00 +0000', id: '<dup@x>' },
  { subject: 'duplicate id two', from: 'dup@example.org', date: 'Sat, 6 Jan 2024 11:00:00 +0000', id: '<dup@x>' },
  { subject: 'loop a', from: 'loop@example.org', date: 'Sun, 7 Jan 2024 10:00:00 +0000', id: '<l1@x>', refs: '<l2@x>' },
  { subject: 'loop b', from: 'loop@example.org', date: 'Sun, 7 Jan 2024 10:05:00 +0000', id: '<l2@x>', refs: '<l1@x>' },
  { subject: 'no message id', from: 'noid@example.org', date: 'Sun, 7 Jan 2024 11:00:00 +0000' },
  { subject: 'Re: no message id', from: 'noid2@example.org', date: 'Sun, 7 Jan 2024 12:00:00 +0000' },
  { subject: 'same date A', from: 'b@example.org', to: 'zz@example.org', date: 'Mon, 8 Jan 2024 10:00:00 +0000', id: '<g1@x>', body: 900 },
  { subject: 'same date B', from: 'a@example.org', to: 'aa@example.org', date: 'Mon, 8 Jan 2024 10:00:00 +0000', id: '<g2@x>', body: 100 },
  { subject: 'Hello', from: 'Zed <zed@example.org>', to: 'alice@example.test', date: 'Tue, 9 Jan 2024 10:00:00 +0000', id: '<a7@x>' },
  { subject: 'group to', from: 'g@example.org', to: 'undisclosed-recipients:;', date: 'Tue, 9 Jan 2024 11:00:00 +0000', id: '<h1@x>', body: 5000 },
  { subject: 'FW: Hello', from: '"Zed, Jr." <zed.jr@example.org>', to: 'Alice <alice@example.test>, bob@example.org', cc: 'Bob <bob@example.org>', date: 'Tue, 9 Jan 2024 12:00:00 +0000', id: '<a8@x>', irt: '<a7@x>' },
];

function render(m: M, i: number): string {
  const h: string[] = [];
  if (m.from !== undefined) h.push(`From: ${m.from}`);
  if (m.to !== undefined) h.push(`To: ${m.to}`);
  if (m.cc !== undefined) h.push(`Cc: ${m.cc}`);
  if (m.subject !== undefined) h.push(`Subject: ${m.subject}`);
  if (m.date !== undefined) h.push(`Date: ${m.date}`);
  if (m.id !== undefined) h.push(`Message-ID: ${m.id}`);
  if (m.refs !== undefined) h.push(`References: ${m.refs}`);
  if (m.irt !== undefined) h.push(`In-Reply-To: ${m.irt}`);
  h.push('MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8');
  return `${h.join('\r\n')}\r\n\r\nmessage ${i}\r\n${'x'.repeat(m.body ?? 10 * (i + 1))}\r\n`;
}

const internalDate = (i: number) => `${String((i % 27) + 1).padStart(2, '0')}-Feb-2024 ${String(i % 24).padStart(2, '0')}:00:00 +0000`;

const SORTS = [
  'ARRIVAL',
  'CC',
  'DATE',
  'FROM',
  'SIZE',
  'SUBJECT',
  'TO',
  'DISPLAYFROM',
  'DISPLAYTO',
  'REVERSE DATE',
  'REVERSE ARRIVAL',
  'SUBJECT DATE',
  'REVERSE SUBJECT REVERSE DATE',
  'FROM SIZE',
  'REVERSE TO ARRIVAL',
];

async function fill(c: ImapClient): Promise<void> {
  for (let i = 0; i < MESSAGES.length; i++) {
    const r = await c.append(c.tag(), 'INBOX', render(MESSAGES[i]!, i), { date: internalDate(i) });
    assert.match(r.tagged, /OK/, r.tagged);
  }
  await c.select('INBOX');
}

const untaggedOf = (lines: string[], kind: string) => lines.filter((l) => l.startsWith(`* ${kind}`)).join('\n');

/** Our answer with the sort keys absent, present and mixed (src/server/imap/sort-keys.ts); all three must agree. */
async function oursThreeWays(c: ImapClient, line: string, kind: string): Promise<string> {
  const db = srv!.ts.server.mail.db as Kysely<any>;
  await sql`update mail_messages set sort_date = null`.execute(db);
  const absent = await c.cmd(line);
  assert.match(absent.tagged, /OK/);
  const present = await c.cmd(line);
  await sql`update mail_messages set sort_date = null where uid % 3 = 1`.execute(db);
  const mixed = await c.cmd(line);
  const a = untaggedOf(absent.untagged, kind);
  assert.equal(untaggedOf(present.untagged, kind), a, `${line}: keys present`);
  assert.equal(untaggedOf(mixed.untagged, kind), a, `${line}: keys mixed`);
  return a;
}

// Started at module level: startImapServer registers its own after() hook with the test file.
const srv: ImapTestServer | null = HAVE_DOVECOT ? await startImapServer({ users: ['alice'] }) : null;

describe('SORT and THREAD agree with Dovecot', { skip: !HAVE_DOVECOT && 'needs root and Debian dovecot-imapd' }, () => {
  let dovecot: DovecotServer;
  let ours: ImapClient;
  let theirs: ImapClient;

  before(async () => {
    dovecot = await startDovecot({ user: USER, password: PW });
    theirs = await ImapClient.connect(dovecot.port);
    await theirs.login(USER, PW);
    ours = await srv!.authed('alice');
    await fill(theirs);
    await fill(ours);
  });
  after(async () => {
    ImapClient.closeAll();
    await srv?.stop();
    await dovecot?.stop();
  });

  it('both servers hold the same UIDs', async () => {
    const a = await ours.cmd('UID SEARCH ALL');
    const b = await theirs.cmd('UID SEARCH ALL');
    assert.equal(untaggedOf(a.untagged, 'SEARCH'), untaggedOf(b.untagged, 'SEARCH'));
    assert.equal(addr('alice'), USER);
  });

  for (const criteria of SORTS) {
    it(`UID SORT (${criteria}) UTF-8 ALL`, async () => {
      const a = await oursThreeWays(ours, `UID SORT (${criteria}) UTF-8 ALL`, 'SORT');
      const b = await theirs.cmd(`UID SORT (${criteria}) UTF-8 ALL`);
      assert.match(b.tagged, /OK/);
      assert.equal(a, untaggedOf(b.untagged, 'SORT'));
    });
  }

  it('SORT with a search key: UID SORT (SUBJECT) UTF-8 FROM example.org SINCE 3-Jan-2024', async () => {
    const q = 'UID SORT (SUBJECT) UTF-8 FROM example.org SENTSINCE 3-Jan-2024';
    const a = await oursThreeWays(ours, q, 'SORT');
    const b = await theirs.cmd(q);
    assert.equal(a, untaggedOf(b.untagged, 'SORT'));
  });

  for (const alg of ['REFERENCES', 'ORDEREDSUBJECT']) {
    it(`UID THREAD ${alg} UTF-8 ALL`, async () => {
      const a = await oursThreeWays(ours, `UID THREAD ${alg} UTF-8 ALL`, 'THREAD');
      const b = await theirs.cmd(`UID THREAD ${alg} UTF-8 ALL`);
      assert.match(b.tagged, /OK/);
      assert.equal(a, untaggedOf(b.untagged, 'THREAD'));
    });
  }
});
