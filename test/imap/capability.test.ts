/**
 * CAPABILITY (RFC 3501 §6.1.1): in the greeting and as a command, in every state; what is advertised before and
 * after login (LOGINDISABLED, STARTTLS, AUTH=PLAIN, SASL-IR, LITERAL+, the part 1 extensions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

test('the greeting carries CAPABILITY', async () => {
  const c = await srv.connect();
  assert.match(c.greeting, /^\* OK \[CAPABILITY IMAP4rev1 [^\]]*\] /);
  assert.match(c.greeting, / STARTTLS/);
  assert.match(c.greeting, / AUTH=PLAIN/);
  assert.match(c.greeting, / LITERAL\+/);
  assert.match(c.greeting, / SASL-IR/);
  assert.doesNotMatch(c.greeting, /LOGINDISABLED/); // loopback is allowed by default
  c.close();
});

test('CAPABILITY before login: one untagged line, then OK', async () => {
  const c = await srv.connect();
  const res = await c.send('a1', 'CAPABILITY');
  assert.equal(res.untagged.length, 1);
  assert.match(res.untagged[0]!, /^\* CAPABILITY IMAP4rev1( |$)/);
  for (const cap of ['LITERAL+', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'STARTTLS', 'AUTH=PLAIN']) {
    assert.ok(res.untagged[0]!.split(' ').includes(cap), `${cap} in ${res.untagged[0]}`);
  }
  assert.match(res.tagged, /^a1 OK /);
  c.close();
});

test('CAPABILITY after login: the authenticated extensions, no STARTTLS or AUTH=', async () => {
  const c = await srv.authed('alice');
  const res = await c.send('a2', 'capability');
  const caps = res.untagged[0]!.split(' ').slice(2);
  for (const cap of ['IMAP4rev1', 'UIDPLUS', 'MOVE', 'UNSELECT', 'CHILDREN', 'SPECIAL-USE', 'IDLE', 'NAMESPACE', 'LITERAL+']) {
    assert.ok(caps.includes(cap), `${cap} in ${res.untagged[0]}`);
  }
  assert.ok(!caps.includes('STARTTLS'));
  assert.ok(!caps.some((x) => x.startsWith('AUTH=')));
  assert.match(res.tagged, /^a2 OK /);
  await c.select('INBOX');
  const sel = await c.send('a3', 'CAPABILITY');
  assert.match(sel.tagged, /^a3 OK /);
  c.close();
});

test('LOGIN answers with the new CAPABILITY', async () => {
  const c = await srv.connect();
  const res = await c.send('a1', 'LOGIN alice@example.test secret');
  assert.match(res.tagged, /^a1 OK /);
  assert.ok(res.untagged.some((l) => /^\* CAPABILITY .*UIDPLUS/.test(l)) || /\[CAPABILITY /.test(res.tagged));
  c.close();
});

test('over implicit TLS: no STARTTLS advertised', async () => {
  const c = await srv.connect({ tls: true });
  assert.match(c.greeting, /^\* OK \[CAPABILITY /);
  assert.doesNotMatch(c.greeting, /STARTTLS/);
  assert.match(c.greeting, /AUTH=PLAIN/);
  c.close();
});

test('bad syntax: CAPABILITY with arguments -> BAD with the tag', async () => {
  const c = await srv.connect();
  const res = await c.send('a1', 'CAPABILITY foo');
  assert.match(res.tagged, /^a1 BAD /);
  const again = await c.send('a2', 'CAPABILITY');
  assert.match(again.tagged, /^a2 OK /);
  c.close();
});

test('unknown command -> BAD with the tag', async () => {
  const c = await srv.connect();
  const res = await c.send('a1', 'FROBNICATE');
  assert.match(res.tagged, /^a1 BAD /);
  c.close();
});
