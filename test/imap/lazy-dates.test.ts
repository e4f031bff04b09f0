/**
 * After a large first scan indexed Maildir-named files without a stat (store.ts, LAZY_SCAN_AT), INTERNALDATE is the
 * file's mtime read the first time it is asked for: `UID FETCH 1:* (FLAGS)` (every client's startup), a first
 * ENVELOPE fetch, SORT SUBJECT and SEARCH SUBJECT must not read it, and FETCH INTERNALDATE / SEARCH SINCE / SORT ARRIVAL must see
 * the real dates. Black-box: the files' mtimes are changed after those commands; the dates then answered are the
 * new ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startImapServer } from '../helpers/imap.js';

test('INTERNALDATE of a lazily scanned mailbox: not read by FETCH FLAGS, right for INTERNALDATE, SEARCH and SORT', async () => {
  const srv = await startImapServer({ users: ['alice'] });
  const cur = join(srv.maildir('alice'), 'cur');
  const N = 1100;
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(srv.maildir('alice'), d), { recursive: true, mode: 0o700 });
  for (let i = 0; i < N; i++) {
    const body = `From: a@example.org\r\nSubject: m${i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody ${i}\r\n`;
    writeFileSync(join(cur, `${1600000000 + i}.M${i}P1.host,S=${body.length}:2,`), body);
  }
  const c = await srv.authed('alice');
  const sel = await c.cmd('SELECT INBOX');
  assert.ok(sel.untagged.includes(`* ${N} EXISTS`));
  const flags = await c.cmd('UID FETCH 1:* (FLAGS)');
  assert.equal(flags.untagged.length, N);
  // Neither does a first ENVELOPE fetch of messages with a Date header, nor a SORT by subject.
  assert.equal((await c.cmd('FETCH 1:* (ENVELOPE)')).untagged.length, N);
  assert.equal((await c.cmd('SORT (SUBJECT) UTF-8 ALL')).untagged.length, 1);
  assert.deepEqual((await c.cmd('SEARCH SUBJECT m1099')).untagged, ['* SEARCH 1100']);
  // New mtimes: message i gets 2021-01-01 + i days for i < 10, the rest 2020-01-01.
  const day = 86400;
  for (const name of readdirSync(cur)) {
    const i = Number(/^\d+\.M(\d+)P/.exec(name)![1]);
    const t = i < 10 ? Date.UTC(2021, 0, 1) / 1000 + i * day : Date.UTC(2020, 0, 1) / 1000;
    utimesSync(join(cur, name), t, t);
  }
  const dates = await c.cmd('FETCH 1:3,1100 (INTERNALDATE)');
  assert.deepEqual(dates.untagged, [
    '* 1 FETCH (INTERNALDATE " 1-Jan-2021 00:00:00 +0000")',
    '* 2 FETCH (INTERNALDATE " 2-Jan-2021 00:00:00 +0000")',
    '* 3 FETCH (INTERNALDATE " 3-Jan-2021 00:00:00 +0000")',
    '* 1100 FETCH (INTERNALDATE " 1-Jan-2020 00:00:00 +0000")',
  ]);
  const since = await c.cmd('SEARCH SINCE 5-Jan-2021');
  assert.deepEqual(since.untagged, ['* SEARCH 5 6 7 8 9 10']);
  const sorted = await c.cmd('SORT (REVERSE ARRIVAL) UTF-8 SINCE 1-Jan-2021');
  assert.deepEqual(sorted.untagged, ['* SORT 10 9 8 7 6 5 4 3 2 1']);
  await srv.stop();
});
