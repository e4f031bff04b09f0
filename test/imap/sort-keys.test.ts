/**
 * SORT/THREAD/SEARCH keys in the index (src/server/imap/sort-keys.ts): FETCH ENVELOPE stores them with the ENVELOPE
 * JSON; a message delivered or appended without them gets them at its first SORT/THREAD (from its header, once);
 * SORT and THREAD then answer from the stored keys (no file read), and every SORT key, both THREAD algorithms and
 * SEARCH SUBJECT give the same answers with the keys present, absent (rows of an older index) and mixed. With the
 * in-memory copy of the rows, keys written or read once are kept there and answer without a query, the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { startImapServer, lit, addr } from '../helpers/imap.js';
import { sortKeysOfHeader } from '../../src/server/imap/sort-keys.js';
import { Mailbox } from '../../src/store/mail/store.js';

// Without the in-memory copy of the rows: these tests change the index behind the store's back, which the copy (by
// design) does not see; the last test covers the copy.
const srv = await startImapServer({ users: ['alice'], imap: { indexCacheMessages: 0 } });
const db = srv.ts.server.mail.db as Kysely<any>;
const c = await srv.authed('alice');

function raw(headers: string[], body = 'x'): Buffer {
  return Buffer.from([...headers, '', body, ''].join('\r\n'), 'utf8');
}

async function append(mailbox: string, m: Buffer, date = '01-Feb-2024 10:00:00 +0000'): Promise<number> {
  const r = await c.sendParts(c.tag(), [`APPEND ${mailbox} () "${date}" `, lit(m)], { literalPlus: true });
  const uid = /\[APPENDUID \d+ (\d+)\]/.exec(r.tagged);
  assert.ok(uid, r.tagged);
  return Number(uid[1]);
}

async function mailboxId(name: string): Promise<number> {
  const r = await sql<{ id: number }>`select id from mail_mailboxes where name = ${name}`.execute(db);
  return Number(r.rows[0]!.id);
}

async function keyRow(mbx: number, uid: number): Promise<Record<string, unknown>> {
  const r = await sql<Record<string, unknown>>`select * from mail_messages where mailbox_id = ${mbx} and uid = ${uid}`.execute(db);
  return r.rows[0]!;
}

const untagged = async (line: string, kind: string): Promise<string> => {
  const r = await c.cmd(line);
  assert.match(r.tagged, /OK/, `${line}: ${r.tagged}`);
  return r.untagged.filter((l) => l.startsWith(`* ${kind}`)).join('\n');
};

test('FETCH ENVELOPE stores the keys of a message appended without them, equal to those computed from its header', async () => {
  await c.cmd('CREATE F');
  const m = raw([
    'Date: Tue, 2 Jan 2024 09:00:00 -0500 (EST)',
    'From: =?utf-8?q?=C3=89mile?= <Emile@Example.org>',
    'To: undisclosed-recipients:;',
    'Cc: Bea <bea@z.org>, aaron@z.org',
    'Subject: Re: [list] =?utf-8?q?caf=C3=A9?= (fwd)  ',
    'Message-ID: < a1 @x>',
    'In-Reply-To: <p0@x>',
    'References: <r1@x>\r\n <r2@x> junk <>',
  ]);
  const uid = await append('F', m);
  const id = await mailboxId('F');
  assert.equal((await keyRow(id, uid)).sort_date, null, 'APPEND (no parser configured) stores no keys');
  await c.select('F');
  await untagged('UID FETCH 1:* (ENVELOPE)', 'FETCH');
  const row = await keyRow(id, uid);
  const want = sortKeysOfHeader(m, Date.parse('2024-02-01T10:00:00Z'));
  assert.deepEqual(
    {
      date: Number(row.sort_date), subject: row.sort_subject, refwd: Number(row.sort_refwd) === 1, from: row.sort_from, to: row.sort_to,
      cc: row.sort_cc, displayFrom: row.sort_display_from, displayTo: row.sort_display_to, messageId: row.thread_msgid,
      references: row.thread_refs, searchSubject: row.search_subject,
    },
    want,
  );
  // The values themselves (RFC 5256 §2.1/§2.2, §3; RFC 5957).
  assert.equal(want.date, Date.parse('2024-01-02T14:00:00Z'));
  assert.equal(want.subject, 'CAFE\u0301');
  assert.equal(want.refwd, true);
  assert.equal(want.from, 'EMILE');
  assert.equal(want.to, 'UNDISCLOSED-RECIPIENTS');
  assert.equal(want.cc, 'BEA');
  assert.equal(want.displayFrom, 'E\u0301MILE');
  assert.equal(want.messageId, '<a1@x>');
  assert.equal(want.references, '<r1@x> <r2@x>');
  assert.equal(want.searchSubject, 'Re: [list] café (fwd)');
});

test('delivered mail (dropped into new/) gets its keys at the first SORT, then SORT reads them from the index', async () => {
  const cur = join(srv.maildir('alice'), 'new');
  writeFileSync(join(cur, '1700000000.M1P1.test'), raw(['Subject: zulu', 'From: a@x', 'Date: Mon, 1 Jan 2024 10:00:00 +0000']));
  writeFileSync(join(cur, '1700000001.M2P1.test'), raw(['Subject: alpha', 'From: b@x', 'Date: Mon, 1 Jan 2024 11:00:00 +0000']));
  await c.select('INBOX');
  const id = await mailboxId('INBOX');
  const uids = (await untagged('UID SEARCH ALL', 'SEARCH')).split(' ').slice(2).map(Number);
  assert.equal(uids.length, 2);
  for (const u of uids) assert.equal((await keyRow(id, u)).sort_date, null);
  assert.equal(await untagged('UID SORT (SUBJECT) UTF-8 ALL', 'SORT'), `* SORT ${uids[1]} ${uids[0]}`);
  for (const u of uids) assert.notEqual((await keyRow(id, u)).sort_date, null, 'stored by the SORT');
  // Proof that SORT uses the stored key and not the file: change the stored base subject of "zulu".
  await sql`update mail_messages set sort_subject = 'AAA' where mailbox_id = ${id} and uid = ${uids[0]}`.execute(db);
  assert.equal(await untagged('UID SORT (SUBJECT) UTF-8 ALL', 'SORT'), `* SORT ${uids[0]} ${uids[1]}`);
  assert.equal(addr('alice'), 'alice@example.test');
});

// A corpus for the present/absent/mixed comparison: reply chains, missing and broken dates, encoded words, groups.
const CORPUS: string[][] = [
  ['Subject: Hello', 'From: Zed <zed@x.org>', 'Date: Mon, 1 Jan 2024 10:00:00 +0000', 'Message-ID: <a1@x>'],
  ['Subject: Re: Hello', 'From: alice@y.org', 'To: Zed <zed@x.org>', 'Date: Mon, 1 Jan 2024 11:00:00 +0000', 'Message-ID: <a2@x>', 'References: <a1@x>'],
  ['Subject: re: RE: hello', 'From: "Bob B" <bob@x.org>', 'Cc: carol@x.org', 'Date: Mon, 1 Jan 2024 12:00:00 +0100', 'Message-ID: <a3@x>', 'References: <a1@x> <a2@x>'],
  ['Subject: Fwd: Hello', 'From: carol@x.org', 'Date: Tue, 2 Jan 2024 09:00:00 -0500', 'Message-ID: <a4@x>'],
  ['Subject: [list] Hello (fwd)', 'From: list@x.org', 'Date: Tue, 2 Jan 2024 09:30:00 +0000', 'Message-ID: <a5@x>'],
  ['Subject: Re: [list] Re: Hello', 'From: =?utf-8?q?=C3=89mile?= <emile@x.org>', 'To: =?utf-8?q?Z=C3=BCrich?= <z@x.org>', 'Date: Wed, 3 Jan 2024 08:00:00 +0000', 'Message-ID: <a6@x>', 'In-Reply-To: <a5@x>'],
  ['Subject: =?utf-8?q?caf=C3=A9?=', 'From: Anna <anna@x.org>', 'Date: Wed, 3 Jan 2024 07:00:00 +0000', 'Message-ID: <b1@x>'],
  ['Subject: Re: =?utf-8?q?caf=C3=A9?=', 'From: bob@x.org', 'Date: Wed, 3 Jan 2024 07:30:00 +0000', 'Message-ID: <b2@x>', 'References: <b1@x>'],
  ['Subject: no date here', 'From: mallory@x.org', 'Message-ID: <c1@x>'],
  ['Subject: broken date', 'From: mallory@x.org', 'Date: yesterday at noon', 'Message-ID: <c2@x>'],
  ['From: nosubject@x.org', 'Date: Thu, 4 Jan 2024 10:00:00 +0000', 'Message-ID: <d1@x>'],
  ['Subject:', 'From: empty@x.org', 'Date: Thu, 4 Jan 2024 10:01:00 +0000', 'Message-ID: <d2@x>'],
  ['Subject: child of missing parent', 'From: x@x.org', 'Date: Fri, 5 Jan 2024 10:00:00 +0000', 'Message-ID: <f2@x>', 'References: <f0@x> <f1@x>'],
  ['Subject: sibling', 'From: y@x.org', 'Date: Fri, 5 Jan 2024 09:00:00 +0000', 'Message-ID: <f3@x>', 'References: <f0@x> <f1@x>'],
  ['Subject: duplicate id', 'From: dup@x.org', 'Date: Sat, 6 Jan 2024 10:00:00 +0000', 'Message-ID: <dup@x>'],
  ['Subject: duplicate id', 'From: dup@x.org', 'Date: Sat, 6 Jan 2024 11:00:00 +0000', 'Message-ID: <dup@x>'],
  ['Subject: loop a', 'From: loop@x.org', 'Date: Sun, 7 Jan 2024 10:00:00 +0000', 'Message-ID: <l1@x>', 'References: <l2@x>'],
  ['Subject: loop b', 'From: loop@x.org', 'Date: Sun, 7 Jan 2024 10:05:00 +0000', 'Message-ID: <l2@x>', 'References: <l1@x>'],
  ['Subject: Re: no id', 'From: noid@x.org', 'To: undisclosed-recipients:;', 'Date: Sun, 7 Jan 2024 11:00:00 +0000'],
  ['Subject: invoice 42', 'From: "Zed, Jr." <zed.jr@x.org>', 'To: Alice <alice@y.org>, bob@x.org', 'Date: Mon, 8 Jan 2024 10:00:00 +0000', 'Message-ID: <g1@x>', 'In-Reply-To: <a1@x> <b1@x>'],
];

const COMMANDS = [
  ...['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO', 'REVERSE DATE', 'SUBJECT REVERSE DATE', 'REVERSE FROM SIZE'].map(
    (k) => [`UID SORT (${k}) UTF-8 ALL`, 'SORT'],
  ),
  ['UID SORT (DATE) UTF-8 SUBJECT hello', 'SORT'],
  ['UID THREAD REFERENCES UTF-8 ALL', 'THREAD'],
  ['UID THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD'],
  ['UID THREAD REFERENCES UTF-8 NOT SUBJECT loop', 'THREAD'],
  ['UID SEARCH SUBJECT hello', 'SEARCH'],
  ['UID SEARCH HEADER Subject caf', 'SEARCH'],
  ['UID SEARCH SUBJECT ""', 'SEARCH'],
] as const;

test('SORT, THREAD and SEARCH SUBJECT answer the same with the keys absent, present and mixed', async () => {
  await c.cmd('CREATE K');
  for (let i = 0; i < CORPUS.length; i++) {
    await append('K', raw(CORPUS[i]!, 'b'.repeat((i * 37) % 200)), `${String((i % 27) + 1).padStart(2, '0')}-Feb-2024 ${String(i % 24).padStart(2, '0')}:00:00 +0000`);
  }
  await c.select('K');
  const id = await mailboxId('K');
  const clear = (where: 'all' | 'odd') =>
    where === 'all'
      ? sql`update mail_messages set sort_date = null where mailbox_id = ${id}`.execute(db)
      : sql`update mail_messages set sort_date = null where mailbox_id = ${id} and uid % 2 = 1`.execute(db);
  const stored = async () => Number((await sql<{ n: number }>`select count(*) as n from mail_messages where mailbox_id = ${id} and sort_date is not null`.execute(db)).rows[0]!.n);
  for (const [line, kind] of COMMANDS) {
    await clear('all');
    const absent = await untagged(line, kind);
    const present = await untagged(line, kind);
    await clear('odd');
    const mixed = await untagged(line, kind);
    assert.ok(absent.length > `* ${kind}`.length, `${line}: ${absent}`);
    assert.equal(present, absent, `${line}: keys present`);
    assert.equal(mixed, absent, `${line}: keys mixed`);
  }
  // SORT/THREAD stored what they computed; SEARCH alone does not need to.
  await clear('all');
  await untagged('UID THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD');
  assert.equal(await stored(), CORPUS.length);
});

test('with the in-memory copy, keys stored by FETCH ENVELOPE answer SORT, THREAD and SEARCH SUBJECT from memory, the same way', async () => {
  const srv2 = await startImapServer({ users: ['alice'] });
  const db2 = srv2.ts.server.mail.db as Kysely<any>;
  const c2 = await srv2.authed('alice');
  await c2.cmd('CREATE K');
  for (let i = 0; i < CORPUS.length; i++) {
    const m = raw(CORPUS[i]!, 'b'.repeat((i * 37) % 200));
    const r = await c2.sendParts(c2.tag(), [`APPEND K () "${String((i % 27) + 1).padStart(2, '0')}-Feb-2024 ${String(i % 24).padStart(2, '0')}:00:00 +0000" `, lit(m)], { literalPlus: true });
    assert.match(r.tagged, /OK/);
  }
  await c2.select('K');
  const ask = async (cl: typeof c, line: string, kind: string) => {
    const r = await cl.cmd(line);
    assert.match(r.tagged, /OK/, line);
    return r.untagged.find((u) => u.startsWith(`* ${kind}`)) ?? '';
  };
  // Keys computed at the first SORT/THREAD, then from memory: the same answers as the server without the copy.
  await c.select('K');
  for (const [line, kind] of COMMANDS) assert.equal(await ask(c2, line, kind), await ask(c, line, kind), line);
  // Keys stored by FETCH ENVELOPE are used from memory: a change made to the index behind the store's back (which
  // a restart would see) does not reach SORT, and flag changes keep the copy.
  assert.match((await c2.cmd('FETCH 1:* (ENVELOPE)')).tagged, /OK/);
  const before = await ask(c2, 'UID SORT (SUBJECT) UTF-8 ALL', 'SORT');
  await sql`update mail_messages set sort_subject = 'AAAA' where uid = ${CORPUS.length}`.execute(db2);
  assert.match((await c2.cmd('STORE 1 +FLAGS (\\Flagged)')).tagged, /OK/);
  assert.equal(await ask(c2, 'UID SORT (SUBJECT) UTF-8 ALL', 'SORT'), before);
  for (const [line, kind] of COMMANDS) assert.equal(await ask(c2, line, kind), await ask(c, line, kind), `${line} (from memory)`);
  // SORT takes the values straight from the copy's columns (no per-message rows read at all), ARRIVAL and SIZE too.
  const readSortKeys = Mailbox.prototype.readSortKeys;
  const reads = { withCopy: 0, without: 0 };
  const store2 = srv2.ts.server.mail;
  Mailbox.prototype.readSortKeys = function (this: Mailbox, ...args: Parameters<typeof readSortKeys>) {
    if ((this as unknown as { store: unknown }).store === store2) reads.withCopy++;
    else reads.without++;
    return readSortKeys.apply(this, args);
  };
  try {
    for (const k of ['SUBJECT', 'REVERSE FROM SIZE', 'ARRIVAL', 'DISPLAYTO REVERSE DATE']) {
      assert.equal(await ask(c2, `UID SORT (${k}) UTF-8 ALL`, 'SORT'), await ask(c, `UID SORT (${k}) UTF-8 ALL`, 'SORT'), k);
    }
  } finally {
    Mailbox.prototype.readSortKeys = readSortKeys;
  }
  assert.deepEqual(reads, { withCopy: 0, without: 4 }, 'the server with the copy read no rows for its SORTs');
  await srv2.stop();
});
