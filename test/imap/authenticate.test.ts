/**
 * AUTHENTICATE PLAIN (RFC 3501 §6.2.2, RFC 4616) with an initial response (SASL-IR, RFC 4959) and with a "+"
 * continuation; "*" cancels (BAD); unknown mechanisms are NO; malformed base64 is BAD; a wrong password is
 * NO [AUTHENTICATIONFAILED] after a delay; NO [PRIVACYREQUIRED] on a plaintext connection where it is not allowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, freshIp } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const strict = await startImapServer({ users: ['alice'], imap: { allowInsecureAuth: 'never' } });

const plain = (authc: string, pw: string, authz = '') => Buffer.from(`${authz}\0${authc}\0${pw}`).toString('base64');

test('SASL-IR: AUTHENTICATE PLAIN <base64> -> OK with CAPABILITY', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret')}`);
  assert.match(r.tagged, /^a1 OK /);
  assert.ok(r.untagged.some((l) => l.startsWith('* CAPABILITY ')));
  assert.match((await c.send('a2', 'SELECT INBOX')).tagged, /^a2 OK /);
  c.close();
});

test('with a continuation: "+ " then the response line', async () => {
  const c = await srv.connect();
  c.write('a1 authenticate plain\r\n');
  const cont = await c.next();
  assert.match(cont, /^\+ ?$/);
  c.write(plain('alice@example.test', 'secret', 'alice@example.test') + '\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 OK /);
  c.close();
});

test('"*" cancels the exchange -> BAD; the connection stays usable', async () => {
  const c = await srv.connect();
  c.write('a1 AUTHENTICATE PLAIN\r\n');
  assert.match(await c.next(), /^\+/);
  c.write('*\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 BAD /);
  assert.match((await c.send('a2', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret')}`)).tagged, /^a2 OK /);
  c.close();
});

test('an empty continuation response is not a valid PLAIN message -> BAD', async () => {
  const c = await srv.connect();
  c.write('a1 AUTHENTICATE PLAIN\r\n');
  assert.match(await c.next(), /^\+/);
  c.write('\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 (BAD|NO) /);
  c.close();
});

test('wrong password -> NO [AUTHENTICATIONFAILED], delayed', async () => {
  const c = await srv.connect({ localAddress: freshIp() });
  const t0 = Date.now();
  const r = await c.send('a1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'nope')}`);
  assert.match(r.tagged, /^a1 NO \[AUTHENTICATIONFAILED\] /);
  assert.ok(Date.now() - t0 > 500);
  c.close();
});

test('authorization identity other than the user -> NO', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret', 'admin@example.test')}`);
  assert.match(r.tagged, /^a1 NO /);
  c.close();
});

test('unknown mechanism -> NO; malformed base64 -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'AUTHENTICATE CRAM-MD5')).tagged, /^a1 NO /);
  assert.match((await c.send('a2', 'AUTHENTICATE PLAIN !!!notbase64')).tagged, /^a2 BAD /);
  c.write('a3 AUTHENTICATE PLAIN\r\n');
  assert.match(await c.next(), /^\+/);
  c.write('%%%\r\n');
  assert.match((await c.collect('a3')).tagged, /^a3 BAD /);
  // Three NUL-separated fields are required.
  assert.match((await c.send('a4', `AUTHENTICATE PLAIN ${Buffer.from('just-one-field').toString('base64')}`)).tagged, /^a4 BAD /);
  assert.match((await c.send('a5', 'NOOP')).tagged, /^a5 OK /);
  c.close();
});

test('bad syntax: no mechanism -> BAD', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'AUTHENTICATE')).tagged, /^a1 BAD /);
  c.close();
});

test('plaintext where not allowed: NO [PRIVACYREQUIRED], no AUTH=PLAIN advertised', async () => {
  const c = await strict.connect();
  assert.doesNotMatch(c.greeting, /AUTH=PLAIN/);
  const r = await c.send('a1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret')}`);
  assert.match(r.tagged, /^a1 NO \[PRIVACYREQUIRED\] /);
  c.close();
  const d = await strict.connect({ tls: true });
  assert.match((await d.send('b1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret')}`)).tagged, /^b1 OK /);
  d.close();
});

test('wrong state: AUTHENTICATE after login -> BAD', async () => {
  const c = await srv.authed('alice');
  assert.match((await c.send('a1', `AUTHENTICATE PLAIN ${plain('alice@example.test', 'secret')}`)).tagged, /^a1 BAD /);
  c.close();
});
