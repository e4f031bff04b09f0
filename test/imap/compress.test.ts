/**
 * COMPRESS=DEFLATE (RFC 4978): the command in every state and form, raw DEFLATE both ways, a multi-MiB FETCH and
 * APPEND through it, IDLE updates arriving without delay (Z_SYNC_FLUSH), a second COMPRESS, compressed data
 * pipelined right after the command, corrupt input, a "deflate bomb"; Python's zlib and imapflow as clients.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { startImapServer, addr, message, seed, literalsOf } from '../helpers/imap.js';
import { flowClient, sentText } from '../helpers/flow.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });

test('CAPABILITY shows COMPRESS=DEFLATE after login only; COMPRESS before login is BAD', async () => {
  const c = await srv.connect();
  assert.doesNotMatch((await c.send('a1', 'CAPABILITY')).untagged[0]!, /COMPRESS/);
  assert.match((await c.send('a2', 'COMPRESS DEFLATE')).tagged, /^a2 BAD /);
  await c.login(addr('alice'));
  assert.match((await c.send('a3', 'CAPABILITY')).untagged[0]!, / COMPRESS=DEFLATE/);
  c.close();
});

test('bad forms: unknown algorithm is NO, missing or extra arguments BAD; the connection stays plain', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', 'COMPRESS FOO')).tagged, /^a1 NO Unknown compression mechanism/);
  assert.match((await c.send('a2', 'COMPRESS')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'COMPRESS DEFLATE X')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'NOOP')).tagged, /^a4 OK/);
  c.close();
});

test('COMPRESS DEFLATE: commands and responses are deflated; a second COMPRESS is NO [COMPRESSIONACTIVE]', async () => {
  const c = await srv.authed('alice');
  const r = await c.compress('z1');
  assert.match(r.tagged, /^z1 OK DEFLATE active/);
  const s = await c.send('a1', 'SELECT INBOX');
  assert.match(s.tagged, /^a1 OK \[READ-WRITE\]/);
  assert.match((await c.send('a2', 'COMPRESS DEFLATE')).tagged, /^a2 NO \[COMPRESSIONACTIVE\]/);
  assert.match((await c.send('a3', 'LIST "" "%" RETURN (STATUS (MESSAGES))')).tagged, /^a3 OK/);
  await c.send('a4', 'LOGOUT');
  await c.closedPromise;
});

test('a FETCH of several MiB and a multi-MiB APPEND through COMPRESS', async () => {
  const c = await srv.authed('alice');
  await c.cmd('CREATE Big');
  await c.compress();
  // 4 MiB of poorly compressible text (random base64 lines), so the compressed stream itself is large.
  const body = (randomBytes(3 * 1024 * 1024).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const msg = Buffer.concat([message({ subject: 'big' }).subarray(0, -2), Buffer.from(body + '\r\n')]);
  const a = await c.append('a1', 'Big', msg);
  assert.match(a.tagged, /^a1 OK \[APPENDUID \d+ 1\]/);
  await c.select('Big');
  const f = await c.send('a2', 'FETCH 1 (RFC822.SIZE BODY.PEEK[])', 60_000);
  assert.match(f.tagged, /^a2 OK/);
  const got = literalsOf(f.untagged[0]!)[0]!;
  assert.equal(got.length, msg.length);
  assert.ok(Buffer.from(got, 'latin1').equals(msg));
  assert.match((await c.send('a3', 'NOOP')).tagged, /^a3 OK/);
  c.close();
});

test('COMPRESS after STARTTLS: deflate inside TLS', async () => {
  const c = await srv.connect();
  assert.match((await c.send('s1', 'STARTTLS')).tagged, /^s1 OK/);
  await c.startTls();
  await c.login(addr('alice'));
  assert.match((await c.compress('z1')).tagged, /^z1 OK/);
  const r = await c.send('a1', 'LIST "" INBOX');
  assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "/" INBOX']);
  c.close();
});

test('IDLE through COMPRESS: updates arrive at once (Z_SYNC_FLUSH per batch)', async () => {
  const c = await srv.selected('bob');
  await c.compress();
  c.write('i1 IDLE\r\n');
  assert.match(await c.next(), /^\+ /);
  const other = await srv.authed('bob');
  const t0 = Date.now();
  await seed(other, 'INBOX', 1);
  const { line } = await c.waitFor(/^\* \d+ EXISTS$/, 3000);
  assert.match(line, /^\* 1 EXISTS$/);
  assert.ok(Date.now() - t0 < 2000);
  c.write('DONE\r\n');
  assert.match((await c.collect('i1')).tagged, /^i1 OK/);
  other.close();
  c.close();
});

test('compressed commands pipelined right behind COMPRESS are read as compressed', async () => {
  const c = await srv.authed('alice');
  const deflate = zlib.createDeflateRaw();
  const chunks: Buffer[] = [];
  deflate.on('data', (d: Buffer) => chunks.push(d));
  deflate.write('p1 NOOP\r\n');
  await new Promise<void>((r) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
  const raw = c.socket;
  const inflate = zlib.createInflateRaw();
  let text = '';
  // Everything after "z1 OK ...\r\n" is compressed.
  let plain = Buffer.alloc(0);
  let switched = false;
  raw.removeAllListeners('data');
  raw.on('data', (d: Buffer) => {
    if (switched) return void inflate.write(d);
    plain = Buffer.concat([plain, d]);
    const i = plain.indexOf('\r\n');
    if (i >= 0) {
      text += plain.toString('latin1', 0, i + 2);
      switched = true;
      if (plain.length > i + 2) inflate.write(plain.subarray(i + 2));
    }
  });
  inflate.on('data', (d: Buffer) => (text += d.toString('latin1')));
  raw.write(Buffer.concat([Buffer.from('z1 COMPRESS DEFLATE\r\n'), ...chunks]));
  for (let i = 0; i < 100 && !/p1 OK/.test(text); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(text, /^z1 OK DEFLATE active\r\np1 OK NOOP/);
  c.close();
});

test('corrupt compressed input closes the connection; the server carries on', async () => {
  const c = await srv.authed('alice');
  await c.send('z1', 'COMPRESS DEFLATE');
  c.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37]));
  await c.closedPromise;
  const d = await srv.authed('alice');
  assert.match((await d.send('a1', 'NOOP')).tagged, /^a1 OK/);
  d.close();
});

test('a deflate bomb (64 MiB of one byte in ~64 KiB) is refused as a too-long line, memory stays bounded', async () => {
  const c = await srv.authed('alice');
  await c.compress();
  const before = process.memoryUsage().rss;
  const bomb = Buffer.alloc(64 * 1024 * 1024, 0x61);
  await c.writeLarge(Buffer.concat([Buffer.from('b1 NOOP '), bomb.subarray(0, 16 * 1024 * 1024)]));
  await c.writeLarge(bomb.subarray(16 * 1024 * 1024));
  c.write('\r\nb2 NOOP\r\n');
  const r = await c.collect('b2', 60_000);
  assert.match(r.lines.join('\n'), /BAD .*too long/i);
  assert.match(r.tagged, /^b2 OK/);
  assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024);
  c.close();
});

test("Python's zlib as a COMPRESS client (raw deflate, windowBits -15)", async (t) => {
  const py = `
import socket, zlib, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(10)
f = s.makefile('rb')
f.readline()
s.sendall(b'a LOGIN ${addr('alice')} secret\\r\\n')
while not f.readline().startswith(b'a '): pass
s.sendall(b'b COMPRESS DEFLATE\\r\\n'); print(f.readline().decode().strip())
c = zlib.compressobj(6, zlib.DEFLATED, -15); d = zlib.decompressobj(-15)
s.sendall(c.compress(b'c LIST "" INBOX RETURN (STATUS (MESSAGES))\\r\\nd LOGOUT\\r\\n') + c.flush(zlib.Z_SYNC_FLUSH))
out = b''
while True:
    chunk = s.recv(65536)
    if not chunk: break
    out += d.decompress(chunk)
print(out.decode())
`;
  if (!existsSync('/usr/bin/python3')) return t.skip('python3 not available');
  // Asynchronously: the server runs in this process.
  const p = spawn('/usr/bin/python3', ['-c', py, String(srv.port)]);
  const r = { stdout: '', stderr: '', status: 0 as number | null };
  p.stdout.on('data', (d: Buffer) => (r.stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
  [r.status] = (await once(p, 'exit')) as [number | null];
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^b OK DEFLATE active/);
  assert.match(r.stdout, /\* LIST \(\) "\/" INBOX\r\n\* STATUS INBOX \(MESSAGES \d+\)\r\nc OK/);
  assert.match(r.stdout, /\* BYE .*\r\nd OK/);
});

test('imapflow negotiates COMPRESS=DEFLATE and works through it', async () => {
  const { client, log } = flowClient(srv.port, addr('alice'));
  after(() => client.close());
  await client.connect();
  await client.mailboxOpen('INBOX');
  await client.append('INBOX', message({ subject: 'via imapflow' }));
  const msgs = [];
  for await (const m of client.fetch('1:*', { envelope: true, source: true })) msgs.push(m);
  assert.ok(msgs.some((m) => m.envelope?.subject === 'via imapflow'));
  assert.match(sentText(log), /COMPRESS DEFLATE/);
  await client.logout();
});

