/**
 * Authorization over real sockets: USER/PASS, AUTH PLAIN (RFC 5034) with an initial response and with a
 * continuation, cancel, unsupported mechanisms, failures answered -ERR [AUTH] after a delay from the login throttle
 * shared with IMAP; plaintext rules (allowInsecureAuth "never": only after STLS or on 995); STLS (RFC 2595) with
 * pipelined bytes after it discarded; implicit TLS (RFC 8314); the maildrop lock (RFC 1939 §8) -> [IN-USE].
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPop3Server, message, addr, freshIp, type Pop3TestServer } from './helpers.js';
import { ImapClient } from '../helpers/imap-client.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['alice', 'carol', 'dave', 'erin', 'lock'] });
const strict: Pop3TestServer = await startPop3Server({ users: ['alice'], pop3: { allowInsecureAuth: 'never' } });
await srv.append('alice', message({ subject: 'hello' }));
await strict.append('alice', message({ subject: 'hello' }));

const plain = (authz: string, user: string, pw: string) => Buffer.from(`${authz}\0${user}\0${pw}`).toString('base64');

test('AUTH PLAIN with an initial response', async () => {
  const c = await srv.connect();
  assert.match(await c.cmd(`AUTH PLAIN ${plain('', addr('alice'), 'secret')}`), /^\+OK Logged in: 1 messages/);
  await c.ok('QUIT');
});

test('AUTH PLAIN with a continuation; authzid equal to authcid is accepted', async () => {
  const c = await srv.connect();
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match(await c.cmd(plain(addr('alice'), addr('alice'), 'secret')), /^\+OK Logged in/);
  await c.ok('QUIT');
});

test('AUTH: listing, cancel, unsupported mechanism, bad base64, proxy authorization', async () => {
  const c = await srv.connect();
  const l = await c.multi('AUTH');
  assert.deepEqual(l.lines, ['PLAIN']);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.equal(await c.cmd('*'), '-ERR Authentication cancelled');
  assert.equal(await c.cmd('AUTH CRAM-MD5'), '-ERR Unsupported authentication mechanism CRAM-MD5');
  assert.equal(await c.cmd('AUTH PLAIN !!!'), '-ERR Invalid base64 in SASL response');
  assert.equal(await c.cmd(`AUTH PLAIN ${plain('bob@example.test', addr('alice'), 'secret')}`), '-ERR [AUTH] Proxy authorization is not supported');
  assert.equal(await c.cmd('NOOP'), '+OK', 'still in AUTHORIZATION and usable');
  await c.ok('QUIT');
});

test('a failed login is answered -ERR [AUTH] after a delay counted with IMAP failures from the same address', async () => {
  const ip = freshIp();
  // One failure through IMAP first (same LoginThrottle instance): the POP3 failure then waits 2 s, not 1 s.
  const imap = await ImapClient.connect({ port: srv.imapPort, localAddress: ip });
  const r = await imap.cmd(`LOGIN ${addr('carol')} wrong`);
  assert.match(r.tagged, /NO \[AUTHENTICATIONFAILED\]/);
  imap.close();
  const c = await srv.connect({ localAddress: ip });
  await c.ok(`USER ${addr('dave')}`);
  const t = Date.now();
  assert.equal(await c.cmd('PASS wrong'), '-ERR [AUTH] Authentication failed');
  assert.ok(Date.now() - t >= 1900, `answered after ${Date.now() - t} ms`);
  await c.ok('QUIT');
});

test('three failed logins on one connection close it', async () => {
  const c = await srv.connect({ localAddress: freshIp() });
  await c.ok('USER f1@example.test');
  assert.equal(await c.cmd('PASS wrong'), '-ERR [AUTH] Authentication failed');
  assert.equal(await c.cmd(`AUTH PLAIN ${plain('', 'f2@example.test', 'x')}`), '-ERR [AUTH] Authentication failed');
  await c.ok(`USER ${addr('erin')}`);
  c.write('PASS wrong\r\n');
  assert.deepEqual(await c.untilClosed(20_000), ['-ERR [AUTH] Authentication failed']);
});

test('allowInsecureAuth "never": no USER/SASL in CAPA, USER and AUTH refused with [AUTH]; after STLS they work', async () => {
  const c = await strict.connect();
  const caps = await c.multi('CAPA');
  assert.ok(caps.lines.includes('STLS'));
  assert.ok(!caps.lines.includes('USER') && !caps.lines.includes('SASL PLAIN'), JSON.stringify(caps.lines));
  assert.match(await c.cmd(`USER ${addr('alice')}`), /^-ERR \[AUTH\] Plaintext authentication is disabled/);
  assert.match(await c.cmd(`AUTH PLAIN ${plain('', addr('alice'), 'secret')}`), /^-ERR \[AUTH\] Plaintext authentication is disabled/);
  assert.equal(await c.cmd('STLS'), '+OK Begin TLS negotiation now');
  await c.startTls();
  const tlsCaps = await c.multi('CAPA');
  assert.ok(tlsCaps.lines.includes('USER') && tlsCaps.lines.includes('SASL PLAIN') && !tlsCaps.lines.includes('STLS'), JSON.stringify(tlsCaps.lines));
  assert.equal(await c.cmd('STLS'), '-ERR TLS is already active');
  await c.ok(`USER ${addr('alice')}`);
  await c.ok('PASS secret');
  const r = await c.multi('RETR 1');
  assert.match(r.data.toString(), /Subject: hello/);
  await c.ok('QUIT');
});

test('implicit TLS (995-style): no STLS offered, login works; STLS there is refused', async () => {
  const c = await strict.connect({ tls: true });
  assert.match(c.greeting, /^\+OK/);
  const caps = await c.multi('CAPA');
  assert.ok(!caps.lines.includes('STLS') && caps.lines.includes('USER'), JSON.stringify(caps.lines));
  assert.equal(await c.cmd('STLS'), '-ERR TLS is already active');
  assert.match(await c.cmd(`AUTH PLAIN ${plain('', addr('alice'), 'secret')}`), /^\+OK Logged in/);
  assert.match(await c.cmd('STAT'), /^\+OK 1 \d+$/);
  await c.ok('QUIT');
});

test('STLS: commands pipelined after STLS in the same packet are discarded (RFC 2595 §3.1)', async () => {
  const c = await srv.connect();
  c.write(`STLS\r\nUSER ${addr('alice')}\r\nPASS secret\r\n`);
  assert.equal(await c.line(), '+OK Begin TLS negotiation now');
  await c.startTls();
  assert.equal(await c.cmd('PASS secret'), '-ERR Send USER first', 'the injected USER was not kept');
  assert.equal(await c.cmd('STAT'), '-ERR STAT is not allowed before login');
  await c.ok('QUIT');
});

test('maildrop lock: a second POP3 login gets -ERR [IN-USE]; IMAP alongside is fine; released by QUIT and by a drop', async () => {
  await srv.append('lock', message({ subject: 'locked' }));
  const a = await srv.login('lock');
  const b = await srv.connect();
  await b.ok(`USER ${addr('lock')}`);
  assert.equal(await b.cmd('PASS secret'), '-ERR [IN-USE] Maildrop is in use by another POP3 session');
  assert.equal(await b.cmd(`AUTH PLAIN ${plain('', addr('lock'), 'secret')}`), '-ERR [IN-USE] Maildrop is in use by another POP3 session');
  const imap = await ImapClient.connect({ port: srv.imapPort });
  await imap.login(addr('lock'));
  const sel = await imap.select('INBOX');
  assert.ok(sel.untagged.includes('* 1 EXISTS'));
  assert.match(await a.cmd('STAT'), /^\+OK 1 /);
  await a.ok('QUIT');
  await a.untilClosed();
  await b.ok(`USER ${addr('lock')}`);
  await b.ok('PASS secret');
  b.close(); // dropped: the lock must be released too
  await new Promise((r) => setTimeout(r, 100));
  const c = await srv.login('lock');
  await c.ok('QUIT');
  imap.close();
});
