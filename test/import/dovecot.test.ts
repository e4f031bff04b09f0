/**
 * A real Dovecot (Debian dovecot-imapd, private config in a temp dir) receives messages by APPEND, gets flags and
 * keywords set over its IMAP, one message expunged (a UID gap), and writes its Maildir, dovecot-uidlist and
 * dovecot-keywords. After `mailwright import maildir`, our IMAP reports the same UIDVALIDITY, UIDs, flags and
 * keywords for every message in every folder. Then export (maildir) and re-import into a fresh store give
 * byte-identical messages with the same UIDs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliIo } from '../../src/cli/index.js';
import { startTestServer, tempDir, writeConfig } from '../helpers/server.js';
import { HAVE_DOVECOT, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { ImapClient } from '../helpers/imap-client.js';

const USER = 'alice@example.com';
const PW = 'dovecot-pw';

let base: string;
let dovecot: DovecotServer | null = null;
let dport = 0;

type View = Map<string, { uidValidity: number; msgs: Map<number, string[]> }>;

function parseFetch(lines: string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const l of lines) {
    const uid = /UID (\d+)/.exec(l);
    const fl = /FLAGS \(([^)]*)\)/.exec(l);
    if (!uid || !fl) continue;
    out.set(Number(uid[1]), fl[1]!.split(' ').filter((f) => f && f !== '\\Recent').sort());
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
    const f = await c.cmd('UID FETCH 1:* (UID FLAGS)');
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
  if (base) rmSync(base, { recursive: true, force: true });
});

const msg = (i: number, eol = '\r\n') =>
  [`From: sender${i}@example.org`, `To: ${USER}`, `Subject: message ${i}`, `Message-ID: <m${i}@example.org>`, `Date: Mon, 1 Jan 2024 10:00:0${i % 10} +0000`, '', `Body ${i}`, 'From the start of a line', ''].join(eol);

test('Dovecot Maildir -> import maildir: same UIDVALIDITY, UIDs, flags and keywords; export/re-import byte-identical', { skip: !HAVE_DOVECOT && 'needs root and Debian dovecot-imapd' }, async () => {
  // 1. Fill Dovecot over IMAP.
  const c = await ImapClient.connect(dport);
  await c.login(USER, PW);
  assert.match((await c.cmd('CREATE Work')).tagged, /OK/);
  assert.match((await c.cmd('CREATE "Lists/Rust"')).tagged, /OK/);
  const flags = ['\\Seen', '', '\\Flagged $Label1', '\\Seen \\Answered', 'Project-X', '\\Draft', '\\Seen $Forwarded NonJunk'];
  for (let i = 0; i < flags.length; i++) assert.match((await c.append(c.tag(), 'INBOX', msg(i), { flags: flags[i], date: `0${(i % 9) + 1}-Feb-2024 12:34:56 +0000` })).tagged, /OK/);
  for (let i = 0; i < 3; i++) assert.match((await c.append(c.tag(), 'Work', msg(100 + i, '\n'), { flags: i ? '\\Seen' : '' })).tagged, /OK/);
  assert.match((await c.append(c.tag(), '"Lists/Rust"', msg(200), { flags: 'Rusty' })).tagged, /OK/);
  await c.select('INBOX');
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
  assert.deepEqual([...before.get('INBOX')!.msgs.keys()], [1, 2, 3, 5, 6, 7]);
  const maildir = join(dovecot!.home, 'Maildir');
  assert.match(readFileSync(join(maildir, 'dovecot-uidlist'), 'utf8'), /^3 V\d+ N\d+/);
  assert.ok(readdirSync(join(maildir, 'cur')).some((n) => /:2,[A-Z]*[a-z]/.test(n)), 'Dovecot wrote keyword letters');

  // 2. Import into Mailwright (SQLite) and compare over IMAP.
  const mw = join(base, 'mw');
  mkdirSync(mw);
  const config = writeConfig(mw);
  await cli(config, ['domain', 'add', 'example.com']);
  await cli(config, ['user', 'add', USER, '--password', PW]);
  const dry = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir, '--dry-run']);
  assert.match(dry, /dry run/);
  assert.match(dry, /total: 10 imported/);
  const out = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir]);
  assert.match(out, /total: 10 imported, 0 already there/, out);
  const again = await cli(config, ['import', 'maildir', '--user', USER, '--from', maildir]);
  assert.match(again, /total: 0 imported, 10 already there/, again);

  const check = async (dataDir: string, database?: string) => {
    const ts = await startTestServer({ dataDir, database, listen: { imap: '127.0.0.1:0' } });
    try {
      const ours = await view(ts.server.addresses.imap!.port, folders);
      for (const f of folders) {
        assert.equal(ours.get(f)!.uidValidity, before.get(f)!.uidValidity, `${f} UIDVALIDITY`);
        assert.deepEqual([...ours.get(f)!.msgs], [...before.get(f)!.msgs], `${f} UIDs and flags`);
      }
      // A new message continues after Dovecot's UIDNEXT.
      const c2 = await ImapClient.connect(ts.server.addresses.imap!.port);
      await c2.login(USER, PW);
      const st = await c2.cmd('STATUS INBOX (UIDNEXT MESSAGES)');
      assert.match(st.untagged.join(''), /UIDNEXT 8/);
      c2.close();
    } finally {
      await ts.stop();
    }
  };
  await check(join(mw, 'data'));

  // 3. Export to Maildir, re-import into a fresh Mailwright: same bytes, same UIDs.
  const exp = join(base, 'export');
  await cli(config, ['export', '--user', USER, '--format', 'maildir', '--to', exp]);
  await cli(config, ['export', '--user', USER, '--format', 'mbox', '--to', join(base, 'mbox')]);
  const mbox = readFileSync(join(base, 'mbox', 'example.com', 'alice', 'INBOX.mbox'), 'latin1');
  assert.equal((mbox.match(/^From MAILER-DAEMON /gm) ?? []).length, 6);
  assert.equal((mbox.match(/^>From the start of a line$/gm) ?? []).length, 6, 'mboxrd quoting');
  const mw2 = join(base, 'mw2');
  mkdirSync(mw2);
  const config2 = writeConfig(mw2);
  await cli(config2, ['domain', 'add', 'example.com']);
  await cli(config2, ['user', 'add', USER, '--password', PW]);
  await cli(config2, ['import', 'maildir', '--all', '--from', exp]);
  await check(join(mw2, 'data'));
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
  assert.equal(a.size, 10);
  assert.deepEqual([...b].sort(), [...a].sort(), 'export -> re-import keeps every message byte for byte');
  const orig = bytes(maildir);
  assert.deepEqual([...a].sort(), [...orig].sort(), 'import keeps Dovecot\'s bytes');
});
