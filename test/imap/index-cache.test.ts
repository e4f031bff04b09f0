/**
 * The store's in-memory copy of the index rows (imap.indexCacheMessages) must not change a single answer: the same
 * session script runs against a server with the copy (default) and one without (indexCacheMessages: 0), and every
 * response is compared. It covers metadata FETCH (FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ, CHANGEDSINCE,
 * sequence and UID sets, a message expunged by another session: RFC 3501 §7.4.1 EXPUNGEISSUED), STORE, EXPUNGE,
 * SEARCH (ALL from the copy), SORT, SELECT and STATUS, and mail added by SMTP-like delivery into new/ (picked up by a sync).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startImapServer, lit, type ImapTestServer } from '../helpers/imap.js';

const msg = (i: number) =>
  `From: s${i % 7}@example.org\r\nTo: alice@example.test\r\nSubject: message ${i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n${'x'.repeat(i)}\r\n`;

/** The transcript of one script; UIDVALIDITY values (unique per server) are masked. */
async function script(srv: ImapTestServer): Promise<string[]> {
  const out: string[] = [];
  const a = await srv.authed('alice');
  const b = await srv.authed('alice');
  const log = (r: { untagged: string[]; tagged: string }) => {
    for (const l of [...r.untagged, r.tagged]) out.push(l.replace(/UIDVALIDITY \d+/g, 'UIDVALIDITY x').replace(/^\S+ (OK|NO|BAD)/, '$1'));
  };
  await a.cmd('ENABLE CONDSTORE');
  for (let i = 1; i <= 120; i++) {
    const flags = ['', '\\Seen', '\\Seen \\Flagged', '$Label1', '\\Answered \\Seen'][i % 5];
    const r = await a.sendParts(a.tag(), [`APPEND INBOX (${flags}) "0${(i % 9) + 1}-Feb-2024 12:00:00 +0000" `, lit(Buffer.from(msg(i)))], { literalPlus: true });
    assert.match(r.tagged, /OK/);
  }
  log(await a.cmd('SELECT INBOX (CONDSTORE)'));
  log(await a.cmd('UID FETCH 1:* (FLAGS)'));
  log(await a.cmd('FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)'));
  log(await a.cmd('FETCH 9,3,100:105,7 (FLAGS RFC822.SIZE)'));
  log(await a.cmd('UID STORE 10:40 +FLAGS (\\Deleted Work)'));
  log(await a.cmd('STORE 2,4,6 FLAGS.SILENT (\\Draft)'));
  log(await a.cmd('UID FETCH 1:* (FLAGS) (CHANGEDSINCE 122)'));
  log(await a.cmd('UID EXPUNGE 10:20'));
  log(await a.cmd('UID FETCH 1:*,500 (FLAGS MODSEQ)'));
  log(await a.cmd('UID SEARCH UNSEEN LARGER 60 NOT DELETED'));
  log(await a.cmd('SEARCH FLAGGED SINCE 5-Feb-2024'));
  // Another session expunges while this one still shows the messages (RFC 3501 §7.4.1).
  await b.select('INBOX');
  await b.cmd('UID STORE 100:105 +FLAGS (\\Deleted)');
  await b.cmd('UID EXPUNGE 100:105');
  log(await a.cmd('FETCH 80:90 (FLAGS)'));
  // Non-UID commands do not report the expunge (RFC 3501 §7.4.1): the messages are left out of the answers.
  log(await a.cmd('SEARCH ALL'));
  log(await a.cmd('SORT (REVERSE ARRIVAL) UTF-8 ALL'));
  log(await a.cmd('UID SEARCH ALL'));
  log(await a.cmd('NOOP'));
  // Mail dropped into new/ (as the MX and other programs deliver), then seen by a sync.
  writeFileSync(join(srv.maildir('alice'), 'new', '1700000000.M1P1.test'), msg(999));
  log(await b.cmd('NOOP'));
  log(await a.cmd('STATUS Trash (MESSAGES UNSEEN)'));
  log(await b.cmd('STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE HIGHESTMODSEQ)'));
  log(await a.cmd('NOOP'));
  log(await a.cmd('UID FETCH 140:* (FLAGS RFC822.SIZE)'));
  log(await a.cmd('CLOSE'));
  log(await a.cmd('EXAMINE INBOX'));
  await a.cmd('LOGOUT');
  await b.cmd('LOGOUT');
  return out;
}

test('metadata FETCH, STORE, EXPUNGE, SEARCH, SELECT and STATUS answer the same with and without the in-memory index copy', async () => {
  const withCopy = await startImapServer({ users: ['alice'] });
  const a = await script(withCopy);
  await withCopy.stop();
  const without = await startImapServer({ users: ['alice'], imap: { indexCacheMessages: 0 } });
  const b = await script(without);
  await without.stop();
  assert.ok(a.some((l) => /EXPUNGEISSUED/.test(l)), 'the expunged-meanwhile case happened');
  assert.ok(a.some((l) => /^\* 5 FETCH \(UID 5 FLAGS \(\)\)$/.test(l)));
  assert.deepEqual(a, b);
});

test('a metadata FETCH longer than one stretch (the first of 256 messages, then 8,192) answers every message once, in order', async () => {
  // 9,000 files dropped into cur/ (as an imported Maildir): the responses cross the short first stretch and a full one.
  const letters = ['', 'S', 'FS', 'RS', 'T'];
  const text = ['()', '(\\Seen)', '(\\Seen \\Flagged)', '(\\Seen \\Answered)', '(\\Deleted)'];
  for (const indexCacheMessages of [undefined, 0]) {
    const srv = await startImapServer({ users: ['alice'], imap: indexCacheMessages === undefined ? {} : { indexCacheMessages } });
    try {
      const a = await srv.authed('alice'); // creates the Maildir
      const cur = join(srv.maildir('alice'), 'cur');
      for (let i = 1; i <= 9000; i++) writeFileSync(join(cur, `${1700000000 + i}.M${i}P1.test,S=${msg(i % 50).length}:2,${letters[i % 5]}`), msg(i % 50));
      assert.match((await a.cmd('SELECT INBOX')).untagged.join('\n'), /\* 9000 EXISTS/);
      for (const cmd of ['UID FETCH 1:* (FLAGS)', 'FETCH 1:* (UID FLAGS)']) {
        const r = await a.cmd(cmd);
        assert.match(r.tagged, /OK/);
        assert.equal(r.untagged.length, 9000, cmd);
        r.untagged.forEach((l, k) => assert.equal(l, `* ${k + 1} FETCH (UID ${k + 1} FLAGS ${text[(k + 1) % 5]})`, `${cmd}: response ${k + 1}`));
      }
      await a.cmd('LOGOUT');
    } finally {
      await srv.stop();
    }
  }
});
