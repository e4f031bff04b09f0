/**
 * Real POP3 clients against Mailwright: Python's poplib (STLS and implicit TLS, UIDL, RETR, TOP, DELE + QUIT),
 * curl (LIST, RETR by number, pop3s with -k, STLS with --ssl-reqd), fetchmail (Debian; download-and-delete and
 * "keep" + UIDL tracking where the second run downloads nothing new, over STLS) and getmail6 (SimplePOP3Retriever
 * into a Maildir). Downloaded messages are compared byte for byte with the server's Maildir files (fetchmail and
 * getmail store LF line ends locally: compared after CRLF -> LF; getmail adds only its Return-Path line).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startPop3Server, message, addr, PASSWORD, type Pop3TestServer } from './helpers.js';
import { run, killChildren } from '../helpers/e2e.js';
import { tempDir } from '../helpers/server.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['py', 'curl', 'fm', 'fmkeep', 'gm'] });
after(() => killChildren());

const tricky = (n: number, user: string) =>
  message({ subject: `message ${n}`, to: addr(user), body: `line 1 of ${n}\r\n.a line with a leading dot\r\n..two\r\n.\r\nFrom the start\r\nend` });

async function seed(user: string, n: number): Promise<Map<string, Buffer>> {
  for (let i = 1; i <= n; i++) await srv.append(user, tricky(i, user));
  return srv.filesByBase(user);
}

const lf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');

function sameSet(got: Buffer[], want: Buffer[], what: string) {
  const key = (b: Buffer) => b.toString('base64');
  assert.deepEqual(got.map(key).sort(), want.map(key).sort(), what);
}

test("Python's poplib: STLS, CAPA, UIDL, RETR byte-exact, TOP, DELE + QUIT; then implicit TLS sees what is left", async () => {
  const files = await seed('py', 3);
  const script = `
import poplib, ssl, sys, json, base64
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3('127.0.0.1', ${srv.pop3Port}, timeout=20)
caps = p.capa()
p.stls(context=ctx)
p.user('${addr('py')}'); p.pass_('${PASSWORD}')
count, size = p.stat()
uidl = [l.decode().split(' ')[1] for l in p.uidl()[1]]
msgs = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    msgs.append(base64.b64encode(b'\\r\\n'.join(lines) + b'\\r\\n').decode())
top = p.top(1, 0)[1]
p.dele(1)
p.quit()
q = poplib.POP3_SSL('127.0.0.1', ${srv.pop3sPort}, context=ctx, timeout=20)
q.user('${addr('py')}'); q.pass_('${PASSWORD}')
left = q.stat()[0]
q.quit()
print(json.dumps({'caps': sorted(caps.keys()), 'count': count, 'size': size, 'uidl': uidl, 'msgs': msgs, 'top': [l.decode() for l in top], 'left': left}))
`;
  const r = await run('/usr/bin/python3', ['-c', script], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { caps: string[]; count: number; size: number; uidl: string[]; msgs: string[]; top: string[]; left: number };
  for (const c of ['STLS', 'UIDL', 'TOP', 'USER', 'SASL', 'PIPELINING', 'RESP-CODES']) assert.ok(out.caps.includes(c), `${c} in ${out.caps}`);
  assert.equal(out.count, 3);
  assert.equal(out.size, [...files.values()].reduce((a, b) => a + b.length, 0));
  assert.deepEqual(out.uidl.sort(), [...files.keys()].sort());
  // poplib undoes dot-stuffing and splits lines: rebuilt with CRLF they are the files.
  sameSet(out.msgs.map((m) => Buffer.from(m, 'base64')), [...files.values()], 'poplib RETR');
  assert.equal(out.top.at(-1), '');
  assert.ok(out.top.includes('Subject: message 1'));
  assert.equal(out.left, 2);
  assert.equal(srv.curFiles('py').length, 2);
});

test('curl: LIST, RETR by number (byte-exact), pop3s with -k, STLS with --ssl-reqd', async () => {
  const files = await seed('curl', 2);
  const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '15', '-u', `${addr('curl')}:${PASSWORD}`, ...args], { timeoutMs: 20000 });
  const list = await curl(`pop3://127.0.0.1:${srv.pop3Port}/`);
  assert.equal(list.code, 0, list.stderr);
  // Message n is the n-th in UID order (file names do not sort in that order when two arrive in the same second).
  const inbox = await srv.server.mail.openMailbox(addr('curl'), 'INBOX');
  const sizes = (await inbox.listMessages()).map((m) => files.get(m.base)!.length);
  assert.deepEqual(list.stdout.trim().split(/\r?\n/), [`1 ${sizes[0]}`, `2 ${sizes[1]}`]);
  const bodies: Buffer[] = [];
  for (const n of [1, 2]) {
    const r = await curl(`pop3://127.0.0.1:${srv.pop3Port}/${n}`);
    assert.equal(r.code, 0, r.stderr);
    bodies.push(r.stdoutBytes);
  }
  sameSet(bodies, [...files.values()], 'curl RETR');
  const s = await curl('-k', `pop3s://127.0.0.1:${srv.pop3sPort}/1`);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(s.stdoutBytes.equals(bodies[0]!));
  const st = await curl('-k', '--ssl-reqd', `pop3://127.0.0.1:${srv.pop3Port}/2`);
  assert.equal(st.code, 0, st.stderr);
  assert.ok(st.stdoutBytes.equals(bodies[1]!));
  const bad = await run('curl', ['-sS', '--max-time', '15', '-u', `${addr('curl')}:wrong`, `pop3://127.0.0.1:${srv.pop3Port}/`], { timeoutMs: 20000 });
  assert.notEqual(bad.code, 0);
});

function fetchmailRc(dir: string, user: string, extra: string): string {
  const rc = join(dir, 'fetchmailrc');
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    rc,
    `set no syslog\nset invisible\npoll 127.0.0.1 port ${srv.pop3Port} protocol pop3 uidl\n` +
      `  user "${addr(user)}" password "${PASSWORD}" ${extra} no rewrite\n` +
      `  mda "/bin/sh -c 'cat > ${out}/$$.$(date +%s%N).eml'"\n`,
  );
  chmodSync(rc, 0o600);
  return rc;
}

const fetchmail = (dir: string, rc: string, ...args: string[]) =>
  run('fetchmail', ['-f', rc, '--nodetach', '--sslproto', '', '-i', join(dir, 'fetchids'), '--pidfile', join(dir, 'pid'), ...args], {
    timeoutMs: 60000,
    env: { HOME: dir, FETCHMAILHOME: dir },
  });

const fetchmailTls = (dir: string, rc: string) =>
  run('fetchmail', ['-f', rc, '--nodetach', '-v', '-i', join(dir, 'fetchids'), '--pidfile', join(dir, 'pid')], { timeoutMs: 60000, env: { HOME: dir, FETCHMAILHOME: dir } });

const outFiles = (dir: string) => readdirSync(join(dir, 'out')).map((f) => readFileSync(join(dir, 'out', f)));

test('fetchmail: download and delete; messages byte-exact (LF) in the local files; server empty after', async () => {
  const files = await seed('fm', 4);
  const dir = tempDir('mw-fetchmail-');
  const rc = fetchmailRc(dir, 'fm', '');
  const r = await fetchmail(dir, rc);
  assert.equal(r.code, 0, `fetchmail exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  sameSet(outFiles(dir), [...files.values()].map(lf), 'fetchmail downloads');
  assert.equal(srv.curFiles('fm').length, 0, 'deleted after QUIT');
});

test('fetchmail "keep" with UIDL tracking over STLS: the second run downloads nothing, a new message only it', async () => {
  const files = await seed('fmkeep', 3);
  const dir = tempDir('mw-fetchmail-keep-');
  // sslproto "auto" (and no '--sslproto ""' on the command line): fetchmail must upgrade with STLS.
  const rc = fetchmailRc(dir, 'fmkeep', 'keep sslproto "auto" no sslcertck');
  const fetchmail = (d: string, r: string) => fetchmailTls(d, r);
  const r1 = await fetchmail(dir, rc);
  assert.equal(r1.code, 0, `${r1.stdout}\n${r1.stderr}`);
  sameSet(outFiles(dir), [...files.values()].map(lf), 'first run');
  assert.match(r1.stdout + r1.stderr, /STLS/, 'fetchmail used STLS');
  assert.equal(srv.curFiles('fmkeep').length, 3, 'kept on the server');
  const r2 = await fetchmail(dir, rc);
  assert.equal(r2.code, 1, `exit 1 = no new mail\n${r2.stdout}\n${r2.stderr}`);
  assert.equal(outFiles(dir).length, 3, 'nothing downloaded again');
  await srv.append('fmkeep', tricky(9, 'fmkeep'));
  const r3 = await fetchmail(dir, rc);
  assert.equal(r3.code, 0, `${r3.stdout}\n${r3.stderr}`);
  const now = srv.filesByBase('fmkeep');
  sameSet(outFiles(dir), [...now.values()].map(lf), 'third run adds only the new one');
});

test('getmail6: SimplePOP3Retriever into a Maildir, byte-exact (LF), read_all = false remembers what it took', async () => {
  const files = await seed('gm', 3);
  const dir = tempDir('mw-getmail-');
  const md = join(dir, 'Maildir');
  for (const s of ['tmp', 'new', 'cur']) mkdirSync(join(md, s), { recursive: true });
  // getmail refuses to deliver as root: it delivers as "nobody", who must own the Maildir.
  const nobody = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))!.split(':');
  for (const p of [dir, md, ...['tmp', 'new', 'cur'].map((s) => join(md, s))]) chownSync(p, Number(nobody[2]), Number(nobody[3]));
  writeFileSync(
    join(dir, 'getmailrc'),
    `[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = ${srv.pop3Port}\nusername = ${addr('gm')}\npassword = ${PASSWORD}\n\n` +
      `[destination]\ntype = Maildir\npath = ${md}/\nuser = nobody\n\n[options]\nread_all = false\ndelete = false\ndelivered_to = false\nreceived = false\nverbose = 2\n`,
  );
  const getmail = () => run('getmail', ['--getmaildir', dir, '--rcfile', 'getmailrc'], { timeoutMs: 60000, env: { HOME: dir } });
  const r = await getmail();
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  // getmail's Maildir destination always puts "Return-Path: <unknown>" first (POP3 has no envelope sender).
  const got = () =>
    readdirSync(join(md, 'new')).map((f) => {
      const b = readFileSync(join(md, 'new', f));
      const rp = Buffer.from('Return-Path: <unknown>\n');
      assert.ok(b.subarray(0, rp.length).equals(rp), b.toString().slice(0, 80));
      return b.subarray(rp.length);
    });
  sameSet(got(), [...files.values()].map(lf), 'getmail downloads');
  const r2 = await getmail();
  assert.equal(r2.code, 0, `${r2.stdout}\n${r2.stderr}`);
  assert.equal(got().length, 3, 'second run takes nothing new');
  assert.ok(existsSync(dir));
});
