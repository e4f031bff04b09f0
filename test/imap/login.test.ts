/**
 * LOGIN (RFC 3501 §6.2.3): success answers with CAPABILITY; a failure is NO [AUTHENTICATIONFAILED] (RFC 5530) after
 * a delay (LoginThrottle) and does not tell whether the user exists; LOGINDISABLED / NO [PRIVACYREQUIRED] on a
 * plaintext non-loopback connection (simulated by allowInsecureAuth: never); LOGIN in authenticated state is BAD.
 * Every failing attempt uses its own source address and user name so the throttle adds only its first delay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, freshIp, lit } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const strict = await startImapServer({ users: ['alice'], imap: { allowInsecureAuth: 'never' } });

test('LOGIN with atoms: OK with CAPABILITY; then authenticated commands work', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', 'LOGIN alice@example.test secret');
  assert.match(r.tagged, /^a1 OK /);
  assert.ok(r.untagged.some((l) => /^\* CAPABILITY IMAP4rev1 /.test(l)));
  assert.match((await c.send('a2', 'SELECT INBOX')).tagged, /^a2 OK /);
  c.close();
});

test('LOGIN with quoted strings and with literals', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'LOGIN "bob@example.test" "secret"')).tagged, /^a1 OK /);
  c.close();
  const d = await srv.connect();
  const r = await d.sendParts('b1', ['LOGIN ', lit('alice@example.test'), ' ', lit('secret')]);
  assert.match(r.tagged, /^b1 OK /);
  d.close();
  const e = await srv.connect();
  const r2 = await e.sendParts('c1', ['LOGIN ', lit('alice@example.test'), ' ', lit('secret')], { literalPlus: true });
  assert.match(r2.tagged, /^c1 OK /);
  e.close();
});

test('wrong password and unknown user: the same NO [AUTHENTICATIONFAILED], delayed, connection usable', async () => {
  // Both at once (each from its own address) so the two delays overlap.
  await Promise.all(
    ['LOGIN alice@example.test wrong', 'LOGIN nobody-here@example.test secret'].map(async (line) => {
      const c = await srv.connect({ localAddress: freshIp() });
      const t0 = Date.now();
      const r = await c.send('a1', line);
      const took = Date.now() - t0;
      assert.match(r.tagged, /^a1 NO \[AUTHENTICATIONFAILED\] Authentication failed/);
      assert.ok(took > 500, `answered after ${took} ms`);
      // Still not authenticated.
      assert.match((await c.send('a2', 'SELECT INBOX')).tagged, /^a2 BAD /);
      c.close();
    }),
  );
});

test('LOGINDISABLED: plaintext LOGIN is NO [PRIVACYREQUIRED] without checking the password', async () => {
  const c = await strict.connect();
  assert.match(c.greeting, /LOGINDISABLED/);
  const t0 = Date.now();
  const r = await c.send('a1', 'LOGIN alice@example.test secret');
  assert.match(r.tagged, /^a1 NO \[PRIVACYREQUIRED\] /);
  assert.ok(Date.now() - t0 < 500);
  assert.match((await c.send('a2', 'SELECT INBOX')).tagged, /^a2 BAD /);
  c.close();
  // Over implicit TLS the same server accepts it.
  const d = await strict.connect({ tls: true });
  assert.doesNotMatch(d.greeting, /LOGINDISABLED/);
  assert.match((await d.send('b1', 'LOGIN alice@example.test secret')).tagged, /^b1 OK /);
  d.close();
});

test('wrong state: LOGIN after login -> BAD', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', 'LOGIN alice@example.test secret')).tagged, /^a1 BAD /);
  await c.select('INBOX');
  assert.match((await c.send('a2', 'LOGIN alice@example.test secret')).tagged, /^a2 BAD /);
  c.close();
});

test('bad syntax: missing password, extra argument, unterminated quote -> BAD with the tag', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'LOGIN alice@example.test')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'LOGIN alice@example.test secret extra')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'LOGIN "alice@example.test secret')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'LOGIN')).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'LOGIN alice@example.test secret')).tagged, /^a5 OK /);
  c.close();
});
