/**
 * Every form's errors say what went wrong and what to do: each admin form (and the login and self-service forms)
 * is posted with a typical mistake and the message shown on the next page is checked. Errors that are not the
 * admin's fault are shown the same way (with a pointer to the log) instead of a bare 500.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWebServer, addAdmin, Client, type WebServer } from './helpers.js';

let ws: WebServer;
let c: Client;

before(async () => {
  ws = await startWebServer();
  await addAdmin(ws, 'root', 'errors-admin-pw');
  c = new Client(ws.base);
  assert.equal((await c.login('admin', 'root', 'errors-admin-pw')).status, 200);
  await c.post('/admin/api/domains/add', { name: 'err.test' });
  await c.post('/admin/api/users/add', { address: 'u@err.test', password: 'user-password-1' });
});
after(async () => {
  await ws?.stop();
});

/** Posts the form like the browser does and returns the error shown on the page it leads to. */
async function formError(action: string, fields: Record<string, string>, back = '/admin/status'): Promise<string> {
  const r = await c.req('POST', `/admin/action/${action}`, { form: { ...fields, _csrf: c.csrf, _return: back } });
  assert.equal(r.status, 303, `${action}: ${r.text}`);
  assert.equal(r.headers.get('location'), back);
  const page = await c.get(back);
  const m = /<div class="flash error" role="status">([^<]*)</.exec(page.text);
  assert.ok(m, `${action}: no error shown on ${back}`);
  return m[1]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'");
}

test('admin forms: each error names the problem and the next step', async () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['domains/add', { name: '' }, /^the domain name is missing: fill it in and try again$/],
    ['domains/add', { name: 'not a domain' }, /^invalid domain 'not a domain': expected a name such as example\.com$/],
    ['domains/add', { name: 'err.test' }, /^domain err\.test already exists: it is in the list already$/],
    ['domains/remove', { name: 'err.test' }, /^domain err\.test still has 1 user\(s\) and 0 alias\(es\): remove them first, or tick "with its users and aliases" to remove everything$/],
    ['domains/remove', { name: 'ghost.test' }, /^domain ghost\.test is not hosted here: add it first on the Domains page/],
    ['users/add', { address: 'bad' }, /^invalid user address 'bad': expected local-part@domain, e\.g\. alice@example\.com$/],
    ['users/add', { address: 'x@ghost.test' }, /^domain ghost\.test is not hosted here: add it first on the Domains page/],
    ['users/add', { address: 'u@err.test' }, /^user u@err\.test already exists: set its password in the list instead, or pick another address$/],
    ['users/add', { address: 'q@err.test', quota: 'lots' }, /^invalid quota 'lots': use bytes or a size such as 500M, 2G \(0 = unlimited\)$/],
    ['users/password', { address: 'ghost@err.test' }, /^no such user: ghost@err\.test: it may have been removed; reload the Users page$/],
    ['users/quota', { address: 'u@err.test', quota: '' }, /^the quota \(0 = unlimited\) is missing: fill it in and try again$/],
    ['users/disable', { address: 'ghost@err.test' }, /^no such user: ghost@err\.test: it may have been removed/],
    ['users/enable', { address: 'ghost@err.test' }, /^no such user: ghost@err\.test: it may have been removed/],
    ['users/remove', { address: 'ghost@err.test' }, /^no such user: ghost@err\.test: it may have been removed/],
    ['aliases/add', { source: '', destination: 'u@err.test' }, /^the alias source \(user@domain, or @domain for a catch-all\) is missing: fill it in and try again$/],
    ['aliases/add', { source: 'a@err.test', destination: '' }, /^the destination is missing: enter one or more addresses/],
    ['aliases/add', { source: 'u@err.test', destination: 'x@err.test' }, /^u@err\.test is a user; an alias cannot have the same address: pick another source address, or remove the user first$/],
    ['aliases/add', { source: 'a@err.test', destination: 'a@err.test' }, /^alias a@err\.test cannot point to itself: enter another destination$/],
    ['aliases/remove', { source: 'ghost@err.test' }, /^no such alias: ghost@err\.test: it may have been removed; reload the Aliases page$/],
    ['queue/delete', { ids: 'NOSUCHID' }, /^none of the selected messages is in the queue any more \(delivered, bounced or deleted\): reload the queue page$/],
    ['admins/add', { name: 'bad name!' }, /^invalid admin name 'bad name!': use 1-64 letters/],
    ['admins/remove', { name: 'root' }, /^root is the last admin and cannot be removed: add another admin first/],
    ['admins/password', { current: 'x', password: 'short', confirm: 'short' }, /^the new password must have at least 8 characters: choose a longer one$/],
  ];
  for (const [action, fields, re] of cases) {
    const back = action.startsWith('users') ? '/admin/users' : action.startsWith('aliases') ? '/admin/aliases' : action.startsWith('queue') ? '/admin/queue' : action.startsWith('admins') ? '/admin/admins' : '/admin/domains';
    assert.match(await formError(action, fields, back), re, `${action} ${JSON.stringify(fields)}`);
  }
  // The JSON API gives the same messages.
  const api = await c.post('/admin/api/users/add', { address: 'u@err.test' });
  assert.equal(api.status, 409);
  assert.match(api.json.error, /already exists: set its password in the list instead/);
  assert.match((await c.post('/admin/api/queue/hold', {})).json.error, /^no messages selected: send "ids"/);
});

test('a queue action that finds nothing to do says why', async () => {
  const id = await ws.server.queue.enqueueBuffer(Buffer.from('From: a@err.test\r\nSubject: x\r\n\r\nx\r\n'), 'a@err.test', ['b@unreachable.test'], 'test');
  const msg = await formError('queue/release', { ids: id }, '/admin/queue');
  assert.match(msg, /^none of the 1 selected message\(s\) was released: .*only held messages can be released\); reload the queue page$/);
  await c.post('/admin/api/queue/delete', { ids: [id] });
});

test('unexpected failures (not the admin\'s fault) are shown with a pointer to the log, not a bare 500', async () => {
  const store = ws.server.store;
  const orig = store.setQuota;
  store.setQuota = async () => {
    throw new Error('database is locked');
  };
  try {
    const msg = await formError('users/quota', { address: 'u@err.test', quota: '1G' }, '/admin/users');
    assert.match(msg, /^users\/quota failed unexpectedly \(database is locked\): nothing or only part of it was done; see the server log \(component web\), fix the cause and try again$/);
    const api = await c.post('/admin/api/users/quota', { address: 'u@err.test', quota: '1G' });
    assert.equal(api.status, 500);
    assert.match(api.json.error, /database is locked.*see the server log/);
    await ws.log.waitFor((l) => l.level === 50 && l.action === 'users/quota');
  } finally {
    store.setQuota = orig;
  }
});

test('login and self-service forms: errors with the next step', async () => {
  const page = await new Client(ws.base).get('/admin/login');
  const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const pre = /mw_login=([^;]+)/.exec(page.headers.get('set-cookie')!)![1]!;
  const bad = await new Client(ws.base).req('POST', '/admin/login', { form: { username: 'root', password: 'wrong', _csrf: token }, headers: { cookie: `mw_login=${pre}` } });
  assert.equal(bad.status, 401);
  assert.match(bad.text, /wrong name or password: check both \(another admin can set a new password, or run mailwright admin passwd NAME on the server\)/);
  const u = new Client(ws.base);
  assert.equal((await u.login('account', 'u@err.test', 'wrong')).json.error, 'wrong address or password: log in with your full mail address; your administrator can set a new password');
  assert.equal((await u.login('account', '', '')).json.error, 'enter both your mail address and your password');
  assert.equal((await u.login('account', 'u@err.test', 'user-password-1')).status, 200);
  const r = await u.req('POST', '/account/password', { form: { current: 'nope', password: 'new-password-1', confirm: 'new-password-1', _csrf: u.csrf } });
  assert.equal(r.status, 303);
  const acc = await u.get('/account');
  assert.match(acc.text, /class="flash error" role="status">the current password is wrong: type the password you use in your mail app now/);
  assert.match((await u.post('/account/api/password', { current: 'user-password-1', password: 'a', confirm: 'a' })).json.error, /at least 8 characters: choose a longer one/);
  assert.match((await u.post('/account/api/password', { current: 'user-password-1', password: 'abcdefghi', confirm: 'abcdefghj' })).json.error, /differ: type the same one twice/);
});
