/**
 * Admin management from the web: list, add (given or generated password), remove (never the last admin; the
 * removed admin's sessions end), change one's own password (the current one required, throttled), all with the
 * AdminStore the CLI uses, logged with who did it; mail users and anonymous clients get nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWebServer, addAdmin, Client, type WebServer } from './helpers.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { AdminStore } from '../../src/web/admins.js';

let ws: WebServer;

before(async () => {
  ws = await startWebServer();
  await addAdmin(ws, 'root', 'root-password-1');
});
after(async () => {
  await ws?.stop();
});

async function login(name: string, pw: string): Promise<Client> {
  const c = new Client(ws.base);
  const r = await c.login('admin', name, pw);
  assert.equal(r.status, 200, `${name}: ${r.text}`);
  return c;
}

/** What `mailwright admin list` / the CLI's store sees. */
async function cliAdmins(): Promise<string[]> {
  const opened = await openDatabase(ws.server.config.database);
  try {
    return (await new AdminStore(opened.db).list()).map((a) => a.name);
  } finally {
    await opened.close();
  }
}

test('no admin management without an admin session', async () => {
  const anon = new Client(ws.base);
  assert.equal((await anon.get('/admin/api/admins')).status, 401);
  assert.equal((await anon.post('/admin/api/admins/add', { name: 'evil', password: 'evil-password' })).status, 401);
  assert.equal((await anon.get('/admin/admins')).status, 303);
  const root = await login('root', 'root-password-1');
  await root.post('/admin/api/domains/add', { name: 'adm.test' });
  await root.post('/admin/api/users/add', { address: 'mailuser@adm.test', password: 'mailuser-password' });
  const user = new Client(ws.base);
  assert.equal((await user.login('account', 'mailuser@adm.test', 'mailuser-password')).status, 200);
  assert.equal((await user.get('/admin/api/admins')).status, 403);
  assert.equal((await user.post('/admin/api/admins/add', { name: 'evil', password: 'evil-password' }, { headers: { 'x-csrf-token': user.csrf } })).status, 403);
  assert.equal((await user.get('/admin/admins')).status, 403);
  // A mail user's password is not an admin password.
  assert.equal((await new Client(ws.base).login('admin', 'mailuser@adm.test', 'mailuser-password')).status, 401);
  assert.ok(!(await cliAdmins()).includes('evil'));
});

test('add (given and generated password), list, remove; the last admin stays; removed admins are logged out', async () => {
  const root = await login('root', 'root-password-1');
  const add = await root.post('/admin/api/admins/add', { name: 'Alice', password: 'alice-password' });
  assert.equal(add.status, 200, add.text);
  assert.equal(add.json.result.name, 'alice');
  assert.equal(add.json.result.password, undefined);
  const gen = await root.post('/admin/api/admins/add', { name: 'bob' });
  const bobPw = gen.json.result.password as string;
  assert.equal(bobPw.length, 16);
  assert.deepEqual((await root.get('/admin/api/admins')).json.map((a: { name: string }) => a.name), ['alice', 'bob', 'root']);
  assert.deepEqual(await cliAdmins(), ['alice', 'bob', 'root'], 'the same table as the CLI');
  // Errors say what went wrong and what to do.
  const dup = await root.post('/admin/api/admins/add', { name: 'alice', password: 'whatever-pw' });
  assert.equal(dup.status, 409);
  assert.match(dup.json.error, /admin alice already exists/);
  const bad = await root.post('/admin/api/admins/add', { name: 'bad name!', password: 'whatever-pw' });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /invalid admin name 'bad name!': use 1-64 letters/);
  const short = await root.post('/admin/api/admins/add', { name: 'carol', password: 'short' });
  assert.match(short.json.error, /at least 8 characters: choose a longer one, or leave it empty to generate one/);
  // The new admins can log in; bob is removed by alice and his session ends.
  const alice = await login('alice', 'alice-password');
  const bob = await login('bob', bobPw);
  const rm = await alice.post('/admin/api/admins/remove', { name: 'bob' });
  assert.equal(rm.status, 200, rm.text);
  assert.equal((await bob.get('/admin/api/me')).status, 401);
  assert.equal((await new Client(ws.base).login('admin', 'bob', bobPw)).status, 401);
  await ws.log.waitFor((l) => l.admin === 'alice' && l.action === 'admins/remove' && (l.params as { name?: string }).name === 'bob');
  const missing = await alice.post('/admin/api/admins/remove', { name: 'bob' });
  assert.equal(missing.status, 404);
  // alice removes root, then cannot remove herself: the last admin.
  assert.equal((await alice.post('/admin/api/admins/remove', { name: 'root' })).status, 200);
  assert.equal((await root.get('/admin/api/me')).status, 401);
  const last = await alice.post('/admin/api/admins/remove', { name: 'alice' });
  assert.equal(last.status, 409);
  assert.match(last.json.error, /alice is the last admin and cannot be removed: add another admin first/);
  assert.deepEqual(await cliAdmins(), ['alice']);
  const page = await alice.get('/admin/admins');
  assert.match(page.text, /the last admin cannot be removed/);
  assert.doesNotMatch(page.text, /Remove myself/);
  // Restore root for the other tests.
  await alice.post('/admin/api/admins/add', { name: 'root', password: 'root-password-1' });
  // The CLI's store refuses too (mailwright admin remove).
  const opened = await openDatabase(ws.server.config.database);
  try {
    const store = new AdminStore(opened.db);
    await store.remove('alice');
    await assert.rejects(store.remove('root'), /root is the last admin and cannot be removed/);
  } finally {
    await opened.close();
  }
  assert.ok(!ws.log.lines.some((l) => JSON.stringify(l).includes('alice-password')), 'passwords are never logged');
});

test('an admin can remove themselves (not the last one): logged out at once', async () => {
  await addAdmin(ws, 'eve', 'eve-password-1');
  const eve = await login('eve', 'eve-password-1');
  const page = await eve.get('/admin/admins');
  assert.match(page.text, /eve <small>\(you\)<\/small>/);
  assert.match(page.text, /Remove myself/);
  const r = await eve.req('POST', '/admin/action/admins/remove', { form: { name: 'eve', _csrf: eve.csrf, _return: '/admin/admins' } });
  assert.equal(r.status, 303);
  assert.equal((await eve.get('/admin/api/me')).status, 401);
  assert.ok(!(await cliAdmins()).includes('eve'));
  await ws.log.waitFor((l) => l.admin === 'eve' && l.action === 'admins/remove' && /that was you/.test(String(l.msg)));
});

test('change one\'s own password: the current one is required; other sessions end; form errors say what to do', async () => {
  await addAdmin(ws, 'dave', 'dave-password-1');
  const dave = await login('dave', 'dave-password-1');
  const dave2 = await login('dave', 'dave-password-1');
  const wrong = await dave.post('/admin/api/admins/password', { current: 'nope', password: 'dave-password-2' });
  assert.equal(wrong.status, 403);
  assert.match(wrong.json.error, /the current password is wrong: type the password you logged in with/);
  assert.match((await dave.post('/admin/api/admins/password', { current: 'dave-password-1', password: 'short' })).json.error, /at least 8 characters/);
  assert.match((await dave.post('/admin/api/admins/password', { current: 'dave-password-1', password: 'dave-password-2', confirm: 'other-one' })).json.error, /differ: type the same one twice/);
  // A name in the body is ignored: only one's own password changes.
  const ok = await dave.post('/admin/api/admins/password', { name: 'root', current: 'dave-password-1', password: 'dave-password-2' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await dave.get('/admin/api/me')).status, 200, 'this session stays');
  assert.equal((await dave2.get('/admin/api/me')).status, 401, 'the other session ends');
  await login('dave', 'dave-password-2');
  await login('root', 'root-password-1');
  assert.ok(!ws.log.lines.some((l) => /dave-password-[12]/.test(JSON.stringify(l))), 'no password in the log');
  // Through the form: the error comes back as a flash on the page.
  const f = await dave.req('POST', '/admin/action/admins/password', { form: { current: 'bad', password: 'dave-password-3', confirm: 'dave-password-3', _csrf: dave.csrf, _return: '/admin/admins' } });
  assert.equal(f.status, 303);
  const page = await dave.get('/admin/admins');
  assert.match(page.text, /class="flash error" role="status">the current password is wrong: type the password you logged in with/);
  // Repeated wrong current passwords lock it (like logins).
  for (let i = 0; i < 5; i++) await dave.post('/admin/api/admins/password', { current: `bad${i}`, password: 'dave-password-4' });
  const locked = await dave.post('/admin/api/admins/password', { current: 'dave-password-2', password: 'dave-password-4' });
  assert.equal(locked.status, 429);
  assert.match(locked.json.error, /wait 15 minutes, then try again/);
});
