/**
 * The UPDATE state and the store shared with IMAP: deletes happen only after QUIT and are on disk before +OK; a
 * dropped connection deletes nothing; an IMAP session on INBOX sees the POP3 deletes as EXPUNGE; IMAP APPENDs show
 * up at the next POP3 login (not in the running snapshot); retrieved messages get \Seen; RETR follows a rename by
 * IMAP (flag change) and reports a message expunged by IMAP; UIDL values stay the same across restart and reindex
 * (keep and full); "leave on server" clients that DELE by UIDL later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPop3Server, message, addr, type Pop3TestServer } from './helpers.js';
import { ImapClient } from '../helpers/imap-client.js';
import { tempDir } from '../helpers/server.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['upd', 'mix', 'seen', 'race', 'keep'] });

async function imapSelected(user: string): Promise<ImapClient> {
  const c = await ImapClient.connect({ port: srv.imapPort });
  await c.login(addr(user));
  await c.select('INBOX');
  return c;
}

test('DELE + QUIT removes the files before +OK; dropped session removes nothing; IMAP sees EXPUNGE', async () => {
  for (let i = 1; i <= 4; i++) await srv.append('upd', message({ subject: `m${i}` }));
  const imap = await imapSelected('upd');
  const files = srv.curFiles('upd');
  assert.equal(files.length, 4);
  // Dropped after DELE: nothing deleted.
  const a = await srv.login('upd');
  await a.ok('DELE 1');
  await a.ok('DELE 2');
  a.close();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(srv.curFiles('upd').length, 4);
  // QUIT: deleted, on disk when +OK arrives.
  const b = await srv.login('upd');
  await b.ok('DELE 1');
  await b.ok('DELE 3');
  const dir = join(srv.maildir('upd'), 'cur');
  b.write('QUIT\r\n');
  assert.match(await b.line(), /^\+OK .*signing off \(2 messages left\)$/);
  // Messages 1 and 3 (UID order, not file-name order) are gone from the disk when +OK arrives.
  const left = srv.curFiles('upd').map((f) => readFileSync(join(dir, f), 'utf8'));
  assert.equal(left.length, 2);
  assert.deepEqual(left.map((t) => /^Subject: (m\d)/m.exec(t)?.[1]).sort(), ['m2', 'm4']);
  const r = await imap.cmd('NOOP');
  assert.deepEqual(r.untagged.filter((l) => / EXPUNGE$/.test(l)), ['* 3 EXPUNGE', '* 1 EXPUNGE']);
  const c = await srv.login('upd');
  assert.match(await c.cmd('STAT'), /^\+OK 2 /);
  await c.ok('QUIT');
  imap.close();
});

test('IMAP APPEND during a POP3 session: not in its snapshot, there at the next login', async () => {
  await srv.append('mix', message({ subject: 'first' }));
  const p = await srv.login('mix');
  const imap = await imapSelected('mix');
  const data = message({ subject: 'appended by IMAP' });
  const tag = imap.tag();
  const r = await imap.append(tag, 'INBOX', data);
  assert.match(r.tagged, /OK/);
  assert.match(await p.cmd('STAT'), /^\+OK 1 /);
  assert.equal(await p.cmd('RETR 2'), '-ERR No such message 2 (there are 1)');
  await p.ok('QUIT');
  const q = await srv.login('mix');
  assert.match(await q.cmd('STAT'), /^\+OK 2 /);
  assert.ok((await q.multi('RETR 2')).data.equals(data));
  await q.ok('QUIT');
  imap.close();
});

test('RETR marks \\Seen at QUIT (not TOP, not on a drop); the next POP3 login and IMAP see the flag', async () => {
  for (let i = 1; i <= 3; i++) await srv.append('seen', message({ subject: `s${i}` }));
  const a = await srv.login('seen');
  await a.multi('RETR 1');
  a.close();
  await new Promise((r) => setTimeout(r, 100));
  const b = await srv.login('seen');
  await b.multi('RETR 2');
  await b.multi('TOP 3 0');
  await b.ok('QUIT');
  // \Seen is set after QUIT's +OK; a login right away is not refused as IN-USE, and it and IMAP see the flag.
  const c = await srv.login('seen');
  assert.match(await c.cmd('STAT'), /^\+OK 3 /);
  await c.ok('QUIT');
  const imap = await ImapClient.connect({ port: srv.imapPort });
  await imap.login(addr('seen'));
  await imap.select('INBOX');
  const f = await imap.cmd('FETCH 1:3 (FLAGS)');
  assert.deepEqual(f.untagged, ['* 1 FETCH (FLAGS ())', '* 2 FETCH (FLAGS (\\Seen))', '* 3 FETCH (FLAGS ())']);
  imap.close();
});

test('IMAP renames (flags) and expunges during a POP3 session: RETR follows the rename, reports the expunge', async () => {
  const d1 = message({ subject: 'r1' });
  await srv.append('race', d1);
  await srv.append('race', message({ subject: 'r2' }));
  const p = await srv.login('race');
  const uidlBefore = (await p.multi('UIDL')).lines;
  const imap = await imapSelected('race');
  assert.match((await imap.cmd('STORE 1 +FLAGS (\\Flagged)')).tagged, /OK/);
  assert.match((await imap.cmd('STORE 2 +FLAGS (\\Deleted)')).tagged, /OK/);
  assert.match((await imap.cmd('EXPUNGE')).tagged, /OK/);
  assert.ok((await p.multi('RETR 1')).data.equals(d1));
  assert.equal(await p.cmd('RETR 2'), '-ERR Message 2 was removed by another session');
  assert.deepEqual((await p.multi('UIDL')).lines, uidlBefore, 'the snapshot does not change');
  await p.ok('DELE 2');
  assert.match(await p.cmd('QUIT'), /^\+OK/);
  const q = await srv.login('race');
  assert.deepEqual((await q.multi('UIDL')).lines, [uidlBefore[0]]);
  await q.ok('QUIT');
  imap.close();
});

test('"leave on server": a client that never DELEs, then one that deletes by UIDL what it has had for a while', async () => {
  for (let i = 1; i <= 5; i++) await srv.append('keep', message({ subject: `k${i}` }));
  const seen = new Map<string, number>(); // UIDL -> "day" first downloaded
  for (let day = 0; day < 3; day++) {
    if (day === 1) await srv.append('keep', message({ subject: 'k6' }));
    const c = await srv.login('keep');
    for (const l of (await c.multi('UIDL')).lines) {
      const [n, id] = l.split(' ') as [string, string];
      if (!seen.has(id)) {
        await c.multi(`RETR ${n}`);
        seen.set(id, day);
      } else if (day - seen.get(id)! >= 2) {
        await c.ok(`DELE ${n}`);
      }
    }
    await c.ok('QUIT');
  }
  assert.equal(seen.size, 6);
  const c = await srv.login('keep');
  const left = (await c.multi('UIDL')).lines.map((l) => l.split(' ')[1]);
  await c.ok('QUIT');
  assert.deepEqual(left, [...seen].filter(([, d]) => d === 1).map(([id]) => id), 'the five day-0 messages were deleted on day 2');
});

test('UIDL values survive a restart, a reindex (keep and full) and IMAP flag changes', async () => {
  const dataDir = tempDir('mw-pop3-uidl-');
  let s = await startPop3Server({ users: ['u'], dataDir, autoStop: false });
  try {
    for (let i = 1; i <= 5; i++) await s.append('u', message({ subject: `u${i}` }));
    const uidl = async () => {
      const c = await s.login('u');
      const l = (await c.multi('UIDL')).lines;
      await c.ok('QUIT');
      return l.map((x) => x.split(' ')[1]);
    };
    const first = await uidl();
    assert.equal(new Set(first).size, 5);
    const imap = await ImapClient.connect({ port: s.imapPort });
    await imap.login(addr('u'));
    await imap.select('INBOX');
    await imap.cmd('STORE 1:* +FLAGS (\\Seen \\Answered)');
    imap.close();
    assert.deepEqual(await uidl(), first, 'after IMAP flag changes');
    await s.stop();
    s = await startPop3Server({ users: ['u'], dataDir, autoStop: false });
    assert.deepEqual(await uidl(), first, 'after a restart');
    await s.server.mail.reindex(addr('u'), { mode: 'keep' });
    assert.deepEqual(await uidl(), first, 'after reindex (keep)');
    await s.server.mail.reindex(addr('u'), { mode: 'full' });
    assert.deepEqual(await uidl(), first, 'after reindex --full');
  } finally {
    await s.stop();
  }
});
