/**
 * STARTTLS (RFC 3501 §6.2.1, RFC 2595, RFC 8314): LOGINDISABLED before TLS where plaintext login is not allowed,
 * TLS negotiation, then LOGIN over TLS; plaintext pipelined after STARTTLS is thrown away (command injection,
 * CVE-2011-0411 style); STARTTLS twice, over implicit TLS or after login is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

// 'never' makes 127.0.0.1 behave like a remote client on a plaintext connection.
const srv = await startImapServer({ users: ['alice'], imap: { allowInsecureAuth: 'never' } });

test('plaintext: LOGINDISABLED and STARTTLS advertised, no AUTH=', async () => {
  const c = await srv.connect();
  assert.match(c.greeting, /^\* OK \[CAPABILITY [^\]]*LOGINDISABLED/);
  assert.match(c.greeting, / STARTTLS/);
  assert.doesNotMatch(c.greeting, /AUTH=/);
  c.close();
});

test('STARTTLS, then CAPABILITY without LOGINDISABLED/STARTTLS, then LOGIN over TLS', async () => {
  const c = await srv.connect();
  const r = await c.send('a1', 'STARTTLS');
  assert.deepEqual(r.untagged, []);
  assert.match(r.tagged, /^a1 OK /);
  await c.startTls();
  const cap = await c.send('a2', 'CAPABILITY');
  assert.doesNotMatch(cap.untagged[0]!, /LOGINDISABLED|STARTTLS/);
  assert.match(cap.untagged[0]!, /AUTH=PLAIN/);
  const login = await c.send('a3', 'LOGIN alice@example.test secret');
  assert.match(login.tagged, /^a3 OK /);
  assert.match((await c.send('a4', 'SELECT INBOX')).tagged, /^a4 OK \[READ-WRITE\]/);
  c.close();
});

test('data pipelined after STARTTLS (in plaintext) is ignored', async () => {
  const c = await srv.connect();
  // The injected command would be answered after the handshake if the server kept the plaintext buffer.
  c.write('a1 STARTTLS\r\nx1 CAPABILITY\r\nx2 LOGIN alice@example.test secret\r\n');
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 OK /);
  await c.startTls();
  const n = await c.send('a2', 'NOOP');
  assert.deepEqual(n.lines, []);
  assert.match(n.tagged, /^a2 OK /);
  assert.doesNotMatch(c.transcript, /x1 |x2 /);
  // Still not authenticated: the injected LOGIN did not run.
  assert.match((await c.send('a3', 'SELECT INBOX')).tagged, /^a3 BAD /);
  c.close();
});

test('STARTTLS twice -> BAD; STARTTLS on the implicit TLS port -> BAD', async () => {
  const c = await srv.connect();
  await c.send('a1', 'STARTTLS');
  await c.startTls();
  assert.match((await c.send('a2', 'STARTTLS')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'NOOP')).tagged, /^a3 OK /);
  c.close();
  const d = await srv.connect({ tls: true });
  assert.match((await d.send('b1', 'STARTTLS')).tagged, /^b1 BAD /);
  d.close();
});

test('wrong state: STARTTLS after login -> BAD', async () => {
  const c = await srv.connect({ tls: true });
  await c.login('alice@example.test');
  assert.match((await c.send('a1', 'STARTTLS')).tagged, /^a1 BAD /);
  c.close();
});

test('bad syntax: STARTTLS with an argument -> BAD and still plaintext', async () => {
  const c = await srv.connect();
  assert.match((await c.send('a1', 'STARTTLS now')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
  c.close();
});
