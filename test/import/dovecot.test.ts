/**
 * A real Dovecot (Debian dovecot-imapd, private config in a temp dir) receives messages by APPEND and by delivery
 * (dovecot-lda, as Postfix's virtual transport hands mail to it), gets flags and keywords set over its IMAP, one
 * message expunged (a UID gap), and writes its Maildir, dovecot-uidlist and dovecot-keywords. After
 * `mailwright import maildir`, our IMAP reports the same UIDVALIDITY, UIDs, flags, keywords and INTERNALDATE for
 * every message in every folder, and the summary counts each folder's messages before and after. The import goes
 * into MariaDB, is interrupted (--limit) and resumed; the re-import of the export goes into PostgreSQL. Then export
 * (maildir) and re-import into a fresh store give byte-identical messages with the same UIDs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliIo } from '../../src/cli/index.js';
import { startTestServer, tempDir, writeConfig } from '../helpers/server.js';
import { createScratch, type Scratch } from '../backends/scratch.js';
import { HAVE_DOVECOT, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { ImapClient } from '../helpers/imap-client.js';

const USER = 'alice@example.com';
const PW = 'dovecot-pw';

let base: string;
let mysqlDb: Scratch | null = null;
let pgDb: Scratch | null = null;
let dovecot: DovecotServer | null = null;
let dport = 0;

type Msg = { flags: string[]; internalDate: number };
type View = Map<string, { uidValidity: number; msgs: Map<number, Msg> }>;

function parseFetch(lines: string[]): Map<number, Msg> {
  const out = new Map<number, Msg>();
  for (const l of lines) {
    const uid = /UID (\d+)/.exec(l);
    const fl = /FLAGS \(([^)]*)\)/.exec(l);
    const date = /INTERNALDATE "([^"]+)"/.exec(l);
    if (!uid || !fl || !date) continue;
    // RFC 3501 date-time "01-Feb-2024 12:34:56 +0000": compared as an instant (the zones shown may differ).
    const [d, t, z] = date[1]!.trim().split(' ');
    const ms = Date.parse(`${d!.replace(/-/g, ' ')} ${t} ${z!.slice(0, 3)}:${z!.slice(3)}`);
    assert.ok(Number.isFinite(ms), date[1]);
    out.set(Number(uid[1]), { flags: fl[1]!.split(' ').filter((f) => f && f !== '\\Recent').sort(), internalDate: ms });
  }
  return out;
}

async function view(port: number, mailboxes: string[]): Promise<View> {
  const c = await ImapClient.connect(port);
  await c.login(USER, PW);
  const v: View = new Map();
  for (const m of mailboxes) {
    const sel = await c.select(m);
    const uv = Number(/UIDVALIDITY (\d+)/.exec(sel.lines.join('\n'))![1]);
    const f = await c.cmd('UID FETCH 1:* (UID FLAGS INTERNALDATE)');
    v.set(m, { uidValidity: uv, msgs: parseFetch(f.untagged) });
  }
  await c.cmd('LOGOUT');
  c.close();
  return v;
}

async function cli(config: string, args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n'), stdin: () => '' };
  const code = await runCli(['node', 'mailwright', '--config', config, ...args], io);
  assert.equal(code, 0, `${args.join(' ')}: ${err}${out}`);
  return out;
}

before(async () => {
  if (!HAVE_DOVECOT) return;
  dovecot = await startDovecot({ user: USER, password: PW });
  dport = dovecot.port;
  base = tempDir('mw-dovecot-import-');
});

after(async () => {
  ImapClient.closeAll();
  await dovecot?.stop();
  await mysqlDb?.drop();
  await pgDb?.drop();
  if (base) rmSync(base, { recursive: true, force: true });
});

const msg = (i: number, eol = '\r\n') =>
  [`From: sender${i}@example.org`, `To: ${USER}`, `Subject: message ${i}`, `Message-ID: <m${i}@example.org>`, `Date: Mon, 1 Jan 2024 10:00:0${i % 10} +0000`, '', `Body ${i}`, 'From the start of a line', ''].join(eol);

test('Dovecot (APPEND + LDA) -> import maildir on MariaDB, interrupted and resumed: same UIDVALIDITY, UIDs, flags, keywords, INTERNALDATE; export maildir -> re-import on PostgreSQL byte-identical; mbox read back', { skip: !HAVE_DOVECOT && 'needs root and Debian dovecot-imapd' }, async () => {
  // 1. Fill Dovecot over IMAP.
  const c = await ImapClient.connect(dport);
  await c.login(USER, PW);
  assert.match((await c.cmd('CREATE Work')).tagged, /OK/);
  assert.match((await c.cmd('CREATE "Lists/Rust"')).tagged, /OK/);
  const flags = ['\\Seen', '', '\\Flagged $Label1', '\\Seen \\Answered', 'Project-X', '\\Draft', '\\Seen $Forwarded NonJunk'];
  for (let i = 0; i < flags.length; i++) assert.match((await c.append(c.tag(), 'INBOX', msg(i), { flags: flags[i], date: `0${(i % 9) + 1}-Feb-2024 12:34:56 +0000` })).tagged, /OK/);
  for (let i = 0; i < 3; i++) assert.match((await c.append(c.tag(), 'Work', msg(100 + i, '\n'), { flags: i ? '\\Seen' : '' })).tagged, /OK/);
  assert.match((await c.append(c.tag(), '"Lists/Rust"', msg(200), { flags: 'Rusty' })).tagged, /OK/);
  // Delivery as from Postfix: dovecot-lda puts the message into new/ and gives it the next UID (INBOX 8, Work 4).
  const lda = (folder: string[], i: number) => {
    const r = spawnSync('/usr/lib/dovecot/dovecot-lda', ['-c', join(dovecot!.dir, 'dovecot.conf'), '-d', USER, '-f', `sender${i}@example.org`, ...folder], { input: msg(i, '\n') });
    assert.equal(r.status, 0, String(r.stderr));
  };
  lda([], 300);
  lda(['-m', 'Work'], 301);
  await c.select('INBOX');
  assert.match((await c.cmd('UID STORE 8 +FLAGS (\\Seen Delivered)')).tagged, /OK/);
  assert.match((await c.cmd('UID STORE 2 +FLAGS (\\Flagged Important)')).tagged, /OK/);
  assert.match((await c.cmd('UID STORE 1 -FLAGS (\\Seen)')).tagged, /OK/);
  assert.match((await c.cmd('UID STORE 4 +FLAGS (\\Deleted)')).tagged, /OK/);
  assert.match((await c.cmd('UID EXPUNGE 4')).tagged, /OK/);
  await c.select('Work');
  assert.match((await c.cmd('UID STORE 1:* +FLAGS ($Label2)')).tagged, /OK/);
  await c.cmd('LOGOUT');
  c.close();
  const folders = ['INBOX', 'Work', 'Lists/Rust'];
  const before = await view(dport, folders);
  assert.deepEqual([...before.get('INBOX')!.msgs.keys()], [1, 2, 3, 5, 6, 7, 8]);
  assert.deepEqual([...before.get('Work')!.msgs.keys()], [1, 2, 3, 4]);
  assert.deepEqual(before.get('INBOX')!.msgs.get(2)!.internalDate, Date.parse('2024-02-02T12:34:56Z'), 'APPEND date kept by Dovecot');
  const maildir = join(dovecot!.home, 'Maildir');
  assert.match(readFileSync(join(maildir, 'dovecot-uidlist'), 'utf8'), /^3 V\d+ N\d+/);
  assert.ok(readdirSync(join(maildir, 'cur')).some((n) => /:2,[A-Z]*[a-z]/.test(n)), 'Dovecot wrote keyword letters');

  // 2. Import into Mailwright (on MariaDB) and compare over IMAP.
  const mw = join(base, 'mw');
  mkdirSync(mw);
  mysqlDb = await createScratch('mysql');
  const config = writeConfig(mw, `database: "${mysqlDb.url}"`);
  await cli(config, ['domain', 'add', 'example.com']);
  await cli(config, ['user', 'add', USER, '--password', PW]);
  const dry = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir, '--dry-run']);
  assert.match(dry, /dry run/);
  assert.match(dry, /total: 12 imported/);
  // Summary per folder: source, before, after, imported, skipped, new-uid, UIDVALIDITY.
  const row = (out: string, folder: string, ...n: number[]) =>
    assert.match(out, new RegExp(`^ +${folder.replace('/', '\\/')} +${n.join(' +')} +${before.get(folder)!.uidValidity}$`, 'm'), out);
  row(dry, 'INBOX', 7, 0, 7, 7, 0, 0);
  // Interrupted after 5 messages (--limit stops as a kill would between two batches), then resumed.
  const part = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir, '--limit', '5', '--batch', '2']);
  assert.match(part, /total: 5 imported, 0 already there \(stopped early/, part);
  const out = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir, '--batch', '2']);
  assert.match(out, /total: 7 imported, 5 already there/, out);
  row(out, 'INBOX', 7, 5, 7, 2, 5, 0);
  row(out, 'Work', 4, 0, 4, 4, 0, 0);
  row(out, 'Lists/Rust', 1, 0, 1, 1, 0, 0);
  const again = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir]);
  assert.match(again, /total: 0 imported, 12 already there/, again);
  row(again, 'INBOX', 7, 7, 7, 0, 7, 0);
  row(again, 'Work', 4, 4, 4, 0, 4, 0);

  const check = async (dataDir: string, database?: string) => {
    const ts = await startTestServer({ dataDir, database, listen: { imap: '127.0.0.1:0' } });
    try {
      const ours = await view(ts.server.addresses.imap!.port, folders);
      for (const f of folders) {
        assert.equal(ours.get(f)!.uidValidity, before.get(f)!.uidValidity, `${f} UIDVALIDITY`);
        assert.deepEqual([...ours.get(f)!.msgs], [...before.get(f)!.msgs], `${f} UIDs, flags, keywords and INTERNALDATE`);
      }
      // A new message continues after Dovecot's UIDNEXT.
      const c2 = await ImapClient.connect(ts.server.addresses.imap!.port);
      await c2.login(USER, PW);
      const st = await c2.cmd('STATUS INBOX (UIDNEXT MESSAGES)');
      assert.match(st.untagged.join(''), /UIDNEXT 9/);
      c2.close();
    } finally {
      await ts.stop();
    }
  };
  await check(join(mw, 'data'), mysqlDb.url);

  // 3. Export to Maildir, re-import into a fresh Mailwright (on PostgreSQL): same bytes, same UIDs.
  const exp = join(base, 'export');
  await cli(config, ['export', '--user', USER, '--format', 'maildir', '--to', exp]);
  await cli(config, ['export', '--all', '--format', 'mbox', '--to', join(base, 'mbox')]);
  const mbox = readFileSync(join(base, 'mbox', 'example.com', 'alice', 'INBOX.mbox'), 'latin1');
  assert.equal((mbox.match(/^From MAILER-DAEMON /gm) ?? []).length, 7);
  assert.equal((mbox.match(/^>From the start of a line$/gm) ?? []).length, 7, 'mboxrd quoting');
  // Read the mbox files back as an mboxrd reader does: every message, its flags, keywords and INTERNALDATE (the
  // "From " line, to the second) are those Dovecot had; the bytes are the same but for the LF line ends.
  const mboxEntries = (text: string) =>
    text.split(/^(?=From MAILER-DAEMON )/m).filter(Boolean).map((e) => {
      const nl = e.indexOf('\n');
      const when = Date.parse(e.slice('From MAILER-DAEMON '.length, nl) + ' UTC');
      let rest = e.slice(nl + 1, -1); // the blank line after each message
      const head: Record<string, string> = {};
      for (let m; (m = /^(Status|X-Status|X-Keywords): (.*)\n/.exec(rest)); rest = rest.slice(m[0].length)) head[m[1]!] = m[2]!;
      const flags = [
        ...(head.Status?.includes('R') ? ['\\Seen'] : []),
        ...[...(head['X-Status'] ?? '')].map((c) => ({ A: '\\Answered', F: '\\Flagged', D: '\\Deleted', T: '\\Draft' })[c]!),
        ...(head['X-Keywords']?.split(' ') ?? []),
      ].sort();
      return { when, flags, body: rest.replace(/^>(>*From )/gm, '$1') };
    });
  for (const [f, file, dirName] of [['INBOX', 'INBOX.mbox', ''], ['Work', 'Work.mbox', '.Work'], ['Lists/Rust', 'Lists.Rust.mbox', '.Lists.Rust']] as const) {
    const got = mboxEntries(readFileSync(join(base, 'mbox', 'example.com', 'alice', file), 'latin1'));
    const want = [...before.get(f)!.msgs.values()];
    assert.deepEqual(got.map((g) => g.flags), want.map((w) => w.flags), `${file}: flags and keywords in UID order`);
    assert.deepEqual(got.map((g) => g.when), want.map((w) => Math.floor(w.internalDate / 1000) * 1000), `${file}: INTERNALDATE`);
    const origBodies = readdirSync(join(maildir, dirName, 'cur')).map((n) => readFileSync(join(maildir, dirName, 'cur', n), 'latin1').replace(/\r\n/g, '\n'));
    assert.deepEqual(got.map((g) => g.body).sort(), origBodies.sort(), `${file}: the same messages`);
  }
  const mw2 = join(base, 'mw2');
  mkdirSync(mw2);
  pgDb = await createScratch('postgres');
  const config2 = writeConfig(mw2, `database: "${pgDb.url}"`);
  await cli(config2, ['domain', 'add', 'example.com']);
  await cli(config2, ['user', 'add', USER, '--password', PW]);
  await cli(config2, ['import', 'maildir', '--all', '--from', exp]);
  await check(join(mw2, 'data'), pgDb.url);
  const bytes = (root: string) => {
    const out = new Map<string, string>();
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (d.endsWith('/cur')) out.set(e.name.split(':')[0]!, readFileSync(join(d, e.name)).toString('base64'));
      }
    };
    walk(root);
    return out;
  };
  const a = bytes(join(mw, 'data', 'mail'));
  const b = bytes(join(mw2, 'data', 'mail'));
  assert.equal(a.size, 12);
  assert.deepEqual([...b].sort(), [...a].sort(), 'export -> re-import keeps every message byte for byte');
  const orig = bytes(maildir);
  assert.deepEqual([...a].sort(), [...orig].sort(), 'import keeps Dovecot\'s bytes');
});
