/**
 * QUOTA (RFC 9208) with STORAGE: GETQUOTAROOT and GETQUOTA for a user with a quota and one without (no quota
 * root), usage in KiB after APPEND, a quota changed by the administrator while logged in, APPEND over quota ->
 * NO [OVERQUOTA] and nothing stored, SETQUOTA refused, errors (unknown mailbox or root, syntax, state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, lit, addr } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
await srv.ts.server.store.setQuota(addr('bob'), 10 * 1024);
const bob = await srv.authed('bob');
const alice = await srv.authed('alice');

const msg = (bytes: number) => {
  const head = 'From: x@example.org\r\nSubject: q\r\n\r\n';
  return Buffer.from(head + 'z'.repeat(bytes - head.length - 2) + '\r\n');
};

test('CAPABILITY advertises QUOTA and QUOTA=RES-STORAGE', async () => {
  const caps = (await bob.cmd('CAPABILITY')).untagged.find((l) => l.startsWith('* CAPABILITY'))!.split(' ');
  assert.ok(caps.includes('QUOTA'));
  assert.ok(caps.includes('QUOTA=RES-STORAGE'));
});

test('GETQUOTAROOT and GETQUOTA: one root "" with STORAGE in KiB', async () => {
  let r = await bob.cmd('GETQUOTAROOT INBOX');
  assert.match(r.tagged, /^t\d+ OK /);
  assert.deepEqual(r.untagged, ['* QUOTAROOT INBOX ""', '* QUOTA "" (STORAGE 0 10)']);
  r = await bob.cmd('GETQUOTA ""');
  assert.deepEqual(r.untagged, ['* QUOTA "" (STORAGE 0 10)']);
  const a = await bob.sendParts(bob.tag(), ['APPEND INBOX ', lit(msg(3000))], { literalPlus: true });
  assert.match(a.tagged, /OK \[APPENDUID/);
  r = await bob.cmd('GETQUOTA ""');
  assert.deepEqual(r.untagged, ['* QUOTA "" (STORAGE 3 10)']); // 3000 bytes, rounded up
  await bob.cmd('CREATE "Entw&APw-rfe"');
  r = await bob.cmd('GETQUOTAROOT "Entw&APw-rfe"');
  assert.deepEqual(r.untagged, ['* QUOTAROOT Entw&APw-rfe ""', '* QUOTA "" (STORAGE 3 10)']);
});

test('APPEND over quota: NO [OVERQUOTA], nothing stored', async () => {
  const r = await bob.sendParts(bob.tag(), ['APPEND INBOX {8000}'], {});
  assert.match(r.tagged, /^t\d+ NO \[OVERQUOTA\]/);
  const st = await bob.cmd('STATUS INBOX (MESSAGES)');
  assert.deepEqual(st.untagged, ['* STATUS INBOX (MESSAGES 1)']);
  const q = await bob.cmd('GETQUOTA ""');
  assert.deepEqual(q.untagged, ['* QUOTA "" (STORAGE 3 10)']);
});

test('a quota changed by the administrator shows at once', async () => {
  await srv.ts.server.store.setQuota(addr('bob'), 20 * 1024 + 1000);
  assert.deepEqual((await bob.cmd('GETQUOTA ""')).untagged, ['* QUOTA "" (STORAGE 3 20)']);
  const a = await bob.sendParts(bob.tag(), ['APPEND INBOX ', lit(msg(8000))], { literalPlus: true });
  assert.match(a.tagged, /OK \[APPENDUID/);
  assert.deepEqual((await bob.cmd('GETQUOTA ""')).untagged, ['* QUOTA "" (STORAGE 11 20)']);
});

test('no quota (unlimited): no quota root; GETQUOTA "" is NO', async () => {
  const r = await alice.cmd('GETQUOTAROOT INBOX');
  assert.match(r.tagged, /^t\d+ OK /);
  assert.deepEqual(r.untagged, ['* QUOTAROOT INBOX']);
  assert.match((await alice.cmd('GETQUOTA ""')).tagged, /^t\d+ NO \[NONEXISTENT\]/);
});

test('errors: unknown mailbox or root, SETQUOTA, syntax, not authenticated', async () => {
  assert.match((await bob.cmd('GETQUOTAROOT Nope')).tagged, /^t\d+ NO \[NONEXISTENT\]/);
  assert.match((await bob.cmd('GETQUOTA "user.bob"')).tagged, /^t\d+ NO \[NONEXISTENT\]/);
  assert.match((await bob.cmd('SETQUOTA "" (STORAGE 512)')).tagged, /^t\d+ NO \[NOPERM\]/);
  for (const bad of ['GETQUOTAROOT', 'GETQUOTA', 'SETQUOTA ""', 'SETQUOTA "" (STORAGE)', 'SETQUOTA "" STORAGE 5', 'UID GETQUOTA ""']) {
    assert.match((await bob.cmd(bad)).tagged, /^t\d+ BAD /, bad);
  }
  const c = await srv.connect();
  assert.match((await c.cmd('GETQUOTAROOT INBOX')).tagged, /^t\d+ BAD /);
  c.close();
});
