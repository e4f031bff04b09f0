/**
 * Hostile input: over-long lines (-ERR, session goes on, memory bounded), binary garbage, too many errors (closed),
 * too many commands before login (closed), the inactivity timer (a listener with a short timeout built from the
 * same parts as main.ts), per-IP connection limit, a 10 MB message with dot lines streamed byte-exact (RETR and
 * TOP), and a client that stops reading (backpressure) while a large message is being sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startPop3Server, message, addr, freshIp, Pop3Client, type Pop3TestServer } from './helpers.js';
import { pop3Listener, MaildropLocks, DEFAULT_POP3_LIMITS } from '../../src/server/pop3/index.js';
import { AccountService } from '../../src/accounts/service.js';
import { LoginThrottle } from '../../src/auth/throttle.js';
import { createLogger } from '../../src/log/logger.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['alice', 'big'], pop3: { maxConnectionsPerIp: 3 } });
await srv.append('alice', message({ subject: 'x' }));

test('an over-long line gets -ERR and is dropped; the session goes on', async () => {
  const c = await srv.connect();
  assert.equal(await c.cmd('NOOP ' + 'x'.repeat(100_000)), '-ERR Line too long (at most 1024 octets)');
  assert.equal(await c.cmd('NOOP'), '+OK');
  c.write('USER ' + 'y'.repeat(5000));
  c.write('y'.repeat(5000) + '\r\nNOOP\r\n');
  assert.equal(await c.line(), '-ERR Line too long (at most 1024 octets)');
  assert.equal(await c.line(), '+OK');
  await c.ok('QUIT');
});

test('binary garbage and NUL bytes get clear -ERR replies', async () => {
  const c = await srv.connect();
  c.write(Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a]));
  assert.match(await c.line(), /^-ERR Unknown command \?+$/);
  c.write(Buffer.from('RETR \x00\x01\r\n'));
  assert.equal(await c.line(), '-ERR RETR is not allowed before login');
  await c.ok('QUIT');
});

test('too many errors close the connection', async () => {
  const c = await srv.connect({ localAddress: freshIp() });
  let s = '';
  for (let i = 0; i < 25; i++) s += 'BOGUS\r\n';
  c.write(s);
  const lines = await c.untilClosed();
  assert.equal(lines.filter((l) => l === '-ERR Unknown command BOGUS').length, 20);
  assert.equal(lines.at(-1), '-ERR Too many errors, closing the connection');
});

test('too many commands before login close the connection', async () => {
  const c = await srv.connect({ localAddress: freshIp() });
  c.write('NOOP\r\n'.repeat(60));
  const lines = await c.untilClosed();
  assert.equal(lines.filter((l) => l === '+OK').length, 50);
  assert.equal(lines.at(-1), '-ERR Too many commands, closing the connection');
});

test('connections per IP are limited (-ERR [SYS/TEMP])', async () => {
  const ip = freshIp();
  const open = [await srv.connect({ localAddress: ip }), await srv.connect({ localAddress: ip }), await srv.connect({ localAddress: ip })];
  const c = await srv.connect({ localAddress: ip });
  assert.equal(c.greeting, '-ERR [SYS/TEMP] Too many connections from your address, try again later');
  for (const o of open) o.close();
});

test('inactivity timer: an idle client is logged out and its lock released', async () => {
  const ctx = {
    hostname: 'mail.example.test',
    secureContext: null,
    allowInsecureAuth: 'loopback' as const,
    markSeen: true,
    accounts: new AccountService(srv.server.store),
    mail: srv.server.mail,
    throttle: new LoginThrottle(),
    locks: new MaildropLocks(),
    limits: { ...DEFAULT_POP3_LIMITS, idleTimeoutMs: 300 },
    log: createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })),
  };
  const l = pop3Listener(ctx, { implicitTls: false, maxConnections: 10, maxConnectionsPerIp: 10 });
  const { port } = await l.listen('127.0.0.1', 0);
  try {
    const c = await Pop3Client.connect({ port });
    await c.ok(`USER ${addr('alice')}`);
    await c.ok('PASS secret');
    assert.equal(ctx.locks.size, 1);
    const t = Date.now();
    assert.deepEqual(await c.untilClosed(), ['-ERR Autologout: idle for too long']);
    assert.ok(Date.now() - t >= 250);
    assert.equal(ctx.locks.size, 0);
    // No STLS offered without a certificate.
    const d = await Pop3Client.connect({ port });
    assert.ok(!(await d.multi('CAPA')).lines.includes('STLS'));
    assert.equal(await d.cmd('STLS'), '-ERR STLS is not available');
    d.close();
  } finally {
    await l.close();
  }
});

test('a 10 MB message with dot lines: RETR byte-exact (streamed), TOP stops early; a stalled reader is fine', async () => {
  const line = 'x'.repeat(70) + '\r\n';
  const parts = ['From: a@example.org\r\nSubject: big\r\n\r\n'];
  let size = parts[0]!.length;
  for (let i = 0; size < 10 * 1024 * 1024; i++) {
    const l = i % 97 === 0 ? '.' + line : i % 89 === 0 ? '..' + line : line;
    parts.push(l);
    size += l.length;
  }
  const big = Buffer.from(parts.join(''));
  await srv.append('big', big);
  const c = await srv.login('big');
  assert.equal(await c.cmd('LIST 1'), `+OK 1 ${big.length}`);
  const r = await c.multi('RETR 1', 60_000);
  assert.equal(r.status, `+OK ${big.length} octets`);
  assert.ok(r.data.equals(big));
  const t = await c.multi('TOP 1 3');
  assert.equal(t.data.toString(), `From: a@example.org\r\nSubject: big\r\n\r\n.${line}${line}${line}`);
  // Stop reading for a while: the server must wait (backpressure), then finish correctly.
  c.socket.pause();
  c.write('RETR 1\r\nNOOP\r\n');
  await new Promise((res) => setTimeout(res, 300));
  c.socket.resume();
  assert.match(await c.line(60_000), /^\+OK \d+ octets$/);
  assert.ok((await c.body(60_000)).data.equals(big));
  assert.equal(await c.line(), '+OK');
  await c.ok('QUIT');
});
