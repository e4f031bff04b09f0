/**
 * The web admin's JSON API and forms over real HTTP: every action, unauthenticated and cross-user attempts, CSRF,
 * login rate limiting, security headers, cookies, and the admin's name in the log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWebServer, addAdmin, Client, type WebServer } from './helpers.js';

let ws: WebServer;
const ADMIN_PW = 'admin-password-1';

before(async () => {
  ws = await startWebServer();
  await addAdmin(ws, 'root', ADMIN_PW);
});
after(async () => {
  await ws?.stop();
});

async function admin(): Promise<Client> {
  const c = new Client(ws.base);
  const r = await c.login('admin', 'root', ADMIN_PW);
  assert.equal(r.status, 200, r.text);
  return c;
}

async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('no page or API without login: pages redirect to the login, the API answers 401', async () => {
  const c = new Client(ws.base);
  for (const p of ['/admin', '/admin/status', '/admin/domains', '/admin/users', '/admin/aliases', '/admin/queue', '/admin/queue/show?id=x', '/admin/domains/view?name=example.test']) {
    const r = await c.get(p);
    assert.equal(r.status, 303, p);
    assert.match(r.headers.get('location') ?? '', /^\/admin(\/login|\/status)/, p);
  }
  const acc = await c.get('/account');
  assert.equal(acc.status, 303);
  assert.match(acc.headers.get('location')!, /^\/account\/login/);
  for (const p of ['/admin/api/domains', '/admin/api/users', '/admin/api/aliases', '/admin/api/queue', '/admin/api/status', '/admin/api/me', '/account/api/me']) {
    assert.equal((await c.get(p)).status, 401, p);
  }
  for (const p of ['/admin/api/domains/add', '/admin/api/users/add', '/admin/api/queue/delete', '/account/api/password']) {
    assert.equal((await c.post(p, { name: 'x.test' })).status, 401, p);
  }
  const form = await c.req('POST', '/admin/action/domains/add', { form: { name: 'evil.test', _csrf: 'x' } });
  assert.equal(form.status, 401);
  assert.equal((await ws.server.store.getDomain('evil.test')), undefined);
});

test('security headers, and the login page sets a pre-login CSRF cookie', async () => {
  const c = new Client(ws.base);
  const r = await c.get('/admin/login');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-security-policy')!, /default-src 'self'/);
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.match(r.text, /name="_csrf" value="[A-Za-z0-9_-]{43}"/);
  assert.ok(c.cookies.get('mw_login'));
  // Form login without the token is refused; with it, it works and redirects.
  const bad = await new Client(ws.base).req('POST', '/admin/login', { form: { username: 'root', password: ADMIN_PW } });
  assert.equal(bad.status, 401);
  assert.match(bad.text, /expired/);
  const token = /name="_csrf" value="([^"]+)"/.exec(r.text)![1]!;
  const ok = await c.req('POST', '/admin/login', { form: { username: 'root', password: ADMIN_PW, _csrf: token, next: '/admin/users' } });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/admin/users');
  const page = await c.get('/admin/users');
  assert.equal(page.status, 200);
  assert.match(page.text, /<h1>Users<\/h1>/);
});

test('admin login: wrong password 401, session cookie HttpOnly SameSite=Strict, Secure behind HTTPS, logout ends it', async () => {
  const c = new Client(ws.base);
  assert.equal((await c.login('admin', 'root', 'wrong')).status, 401);
  assert.equal((await c.login('admin', 'nobody', 'wrong')).status, 401);
  const r = await c.post('/admin/api/login', { username: 'root', password: ADMIN_PW });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie')!;
  assert.match(cookie, /^mw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
  const https = await new Client(ws.base).post('/admin/api/login', { username: 'root', password: ADMIN_PW }, { headers: { 'x-forwarded-proto': 'https' } });
  assert.match(https.headers.get('set-cookie')!, /; Secure/);
  c.csrf = r.json.csrf;
  assert.equal((await c.get('/admin/api/me')).json.name, 'root');
  assert.equal((await c.post('/admin/api/logout')).status, 200);
  assert.equal((await c.get('/admin/api/me')).status, 401);
  // A stolen old cookie does not come back to life.
  const c2 = new Client(ws.base);
  c2.cookies.set('mw_session', /mw_session=([^;]+)/.exec(cookie)![1]!);
  assert.equal((await c2.get('/admin/api/me')).status, 401);
});

test('CSRF: POST without the token (or with another session\'s token) is 403; non-JSON API 415; foreign Origin 403', async () => {
  const c = await admin();
  const other = await admin();
  assert.equal((await c.post('/admin/api/domains/add', { name: 'csrf.test' }, { csrf: false })).status, 403);
  assert.equal((await c.post('/admin/api/domains/add', { name: 'csrf.test' }, { headers: { 'x-csrf-token': other.csrf } })).status, 403);
  assert.equal((await c.req('POST', '/admin/action/domains/add', { form: { name: 'csrf.test' } })).status, 403);
  assert.equal((await c.req('POST', '/admin/action/domains/add', { form: { name: 'csrf.test', _csrf: other.csrf } })).status, 403);
  assert.equal((await c.req('POST', '/admin/api/domains/add', { form: { name: 'csrf.test' }, headers: { 'x-csrf-token': c.csrf } })).status, 415);
  assert.equal((await c.post('/admin/api/domains/add', { name: 'csrf.test' }, { headers: { origin: 'https://evil.example' } })).status, 403);
  assert.equal((await c.post('/account/api/password', { current: 'x', password: 'yyyyyyyy' }, { csrf: false })).status, 403);
  assert.equal(await ws.server.store.getDomain('csrf.test'), undefined);
  // The form with the right token works and reports through the next page.
  const ok = await c.req('POST', '/admin/action/domains/add', { form: { name: 'csrf.test', _csrf: c.csrf, _return: '/admin/domains' } });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/admin/domains');
  const page = await c.get('/admin/domains');
  assert.match(page.text, /domain csrf\.test added/);
  assert.ok(await ws.server.store.getDomain('csrf.test'));
  assert.equal((await c.post('/admin/api/domains/remove', { name: 'csrf.test' })).status, 200);
});

test('domains: add (DKIM keys made), list, DNS records, check with fixes, remove', async () => {
  const c = await admin();
  const add = await c.post('/admin/api/domains/add', { name: 'example.test' });
  assert.equal(add.status, 200, add.text);
  assert.equal((await c.post('/admin/api/domains/add', { name: 'example.test' })).status, 409);
  assert.equal((await c.post('/admin/api/domains/add', { name: 'not a domain' })).status, 400);
  assert.equal((await c.post('/admin/api/domains/add', {})).json.error, 'the domain name is missing: fill it in and try again');
  const list = await c.get('/admin/api/domains');
  assert.deepEqual(list.json.map((d: { name: string }) => d.name), ['example.test']);
  const show = await c.get('/admin/api/domains/show?name=example.test');
  assert.equal(show.status, 200);
  const recs = show.json.records.records as Array<{ purpose: string; type: string; name: string; value: string }>;
  assert.ok(recs.some((r) => r.purpose === 'mx' && r.type === 'MX' && r.value.includes('mail.example.test')));
  assert.ok(recs.some((r) => r.purpose === 'dkim' && /_domainkey\.example\.test$/.test(r.name) && /k=rsa/.test(r.value)));
  assert.ok(recs.some((r) => r.purpose === 'dmarc'));
  assert.equal((await c.get('/admin/api/domains/show?name=other.test')).status, 404);
  const check = await c.post('/admin/api/domains/check', { name: 'example.test' });
  assert.equal(check.status, 200, check.text);
  const checks = check.json.result.checks as Array<{ id: string; status: string; fix?: string }>;
  assert.equal(checks.find((x) => x.id === 'mx')!.status, 'pass');
  const dkim = checks.find((x) => x.id === 'dkim')!;
  assert.equal(dkim.status, 'fail');
  assert.ok(dkim.fix, 'a failing check comes with its fix');
  const page = await c.get('/admin/domains/view?name=example.test');
  assert.match(page.text, /<pre class="records" id="all-records">[^<]*example\.test\. IN MX 10 mail\.example\.test\./);
  assert.match(page.text, /class="fail">fail<\/td>/);
  // Removal with users needs force.
  await c.post('/admin/api/domains/add', { name: 'gone.test' });
  await c.post('/admin/api/users/add', { address: 'a@gone.test', password: 'password-a' });
  assert.equal((await c.post('/admin/api/domains/remove', { name: 'gone.test' })).status, 400);
  assert.equal((await c.post('/admin/api/domains/remove', { name: 'gone.test', force: true })).status, 200);
  assert.equal(await ws.server.store.getUser('a@gone.test'), undefined);
  // Logged with the admin's name.
  const line = await ws.log.waitFor((l) => l.admin === 'root' && l.action === 'domains/add' && (l.params as { name?: string }).name === 'example.test');
  assert.equal((line.params as { name: string }).name, 'example.test');
  assert.ok(!ws.log.lines.some((l) => JSON.stringify(l).includes('password-a')), 'passwords are never logged');
});

test('users: add (generated or given password), set password, quota, disable/enable, remove', async () => {
  const c = await admin();
  await c.post('/admin/api/domains/add', { name: 'users.test' });
  const gen = await c.post('/admin/api/users/add', { address: 'gen@users.test', quota: '10M' });
  assert.equal(gen.status, 200, gen.text);
  const pw = gen.json.result.password as string;
  assert.equal(pw.length, 16);
  const svc = ws.server.web!;
  void svc;
  const accounts = (await import('../../src/accounts/service.js')).AccountService;
  const acc = new accounts(ws.server.store);
  assert.ok(await acc.authenticate('gen@users.test', pw));
  const given = await c.post('/admin/api/users/add', { address: 'given@users.test', password: 'given-password' });
  assert.equal(given.json.result.password, undefined, 'a given password is not echoed');
  assert.equal((await c.post('/admin/api/users/add', { address: 'given@users.test', password: 'x' })).status, 409);
  assert.equal((await c.post('/admin/api/users/add', { address: 'x@nodomain.test' })).status, 404);
  const users = await c.get('/admin/api/users?domain=users.test');
  assert.deepEqual(users.json, [
    { address: 'gen@users.test', quotaBytes: 10 * 1024 * 1024, enabled: true },
    { address: 'given@users.test', quotaBytes: 0, enabled: true },
  ]);
  assert.equal((await c.post('/admin/api/users/password', { address: 'given@users.test', password: 'changed-password' })).status, 200);
  assert.ok(await acc.authenticate('given@users.test', 'changed-password'));
  const regen = await c.post('/admin/api/users/password', { address: 'given@users.test' });
  assert.ok(await acc.authenticate('given@users.test', regen.json.result.password));
  assert.equal((await c.post('/admin/api/users/quota', { address: 'given@users.test', quota: '1G' })).status, 200);
  assert.equal((await ws.server.store.getUser('given@users.test'))!.quotaBytes, 1024 ** 3);
  assert.equal((await c.post('/admin/api/users/quota', { address: 'given@users.test', quota: 'lots' })).status, 400);
  assert.equal((await c.post('/admin/api/users/disable', { address: 'gen@users.test' })).status, 200);
  assert.equal(await acc.authenticate('gen@users.test', pw), null);
  assert.equal((await c.post('/admin/api/users/enable', { address: 'gen@users.test' })).status, 200);
  assert.ok(await acc.authenticate('gen@users.test', pw));
  assert.equal((await c.post('/admin/api/users/remove', { address: 'gen@users.test' })).status, 200);
  assert.equal((await c.post('/admin/api/users/remove', { address: 'gen@users.test' })).status, 404);
  // The page shows the generated password once.
  const form = await c.req('POST', '/admin/action/users/add', { form: { address: 'page@users.test', _csrf: c.csrf, _return: '/admin/users' } });
  assert.equal(form.status, 303);
  const page1 = await c.get('/admin/users');
  const shown = /<pre class="secret">([^<]+)<\/pre>/.exec(page1.text)![1]!;
  assert.ok(await acc.authenticate('page@users.test', shown));
  const page2 = await c.get('/admin/users');
  assert.ok(!page2.text.includes(shown), 'shown only once');
});

test('aliases: add (several destinations, catch-all), list, remove', async () => {
  const c = await admin();
  await c.post('/admin/api/domains/add', { name: 'alias.test' });
  await c.post('/admin/api/users/add', { address: 'boss@alias.test', password: 'boss-password' });
  assert.equal((await c.post('/admin/api/aliases/add', { source: 'info@alias.test', destination: 'boss@alias.test, x@elsewhere.test' })).status, 200);
  assert.equal((await c.post('/admin/api/aliases/add', { source: '@alias.test', destination: 'boss@alias.test' })).status, 200);
  assert.equal((await c.post('/admin/api/aliases/add', { source: 'boss@alias.test', destination: 'x@y.test' })).status, 409);
  const list = await c.get('/admin/api/aliases?domain=alias.test');
  assert.deepEqual(list.json, [
    { source: '@alias.test', destination: 'boss@alias.test' },
    { source: 'info@alias.test', destination: 'boss@alias.test' },
    { source: 'info@alias.test', destination: 'x@elsewhere.test' },
  ]);
  assert.equal((await c.post('/admin/api/aliases/remove', { source: 'info@alias.test', destination: 'x@elsewhere.test' })).json.result.count, 1);
  assert.equal((await c.post('/admin/api/aliases/remove', { source: '@alias.test' })).status, 200);
  assert.equal((await c.post('/admin/api/aliases/remove', { source: '@alias.test' })).status, 404);
  assert.match((await c.get('/admin/aliases')).text, /info@alias\.test/);
});

test('queue: a deferred message is listed, filtered, shown with its last error, held, released, flushed, deleted', async () => {
  const c = await admin();
  const q = ws.server.queue;
  const msg = Buffer.from('From: sender@example.test\r\nTo: r@unreachable.test\r\nSubject: stuck <b>here</b>\r\n\r\nbody secret\r\n');
  const id = await q.enqueueBuffer(msg, 'sender@example.test', ['r@unreachable.test'], 'test');
  const item = await waitFor(async () => {
    const l = await c.get('/admin/api/queue?state=deferred');
    return (l.json as Array<{ id: string; lastError: string | null }>).find((i) => i.id === id && i.lastError);
  }, 20_000);
  assert.match(item.lastError!, /ECONNREFUSED|connect|refused/i);
  const failures = (await c.get('/admin/api/status')).json.failures as Array<{ id: string; error: string }>;
  assert.match(failures.find((f) => f.id === id)!.error, /refused/i, 'a recent delivery failure on the status page');
  assert.equal((await c.get('/admin/api/queue?sender=sender@example')).json.length, 1);
  assert.equal((await c.get('/admin/api/queue?sender=nobody')).json.length, 0);
  assert.equal((await c.get('/admin/api/queue?domain=unreachable.test')).json.length, 1);
  assert.equal((await c.get('/admin/api/queue?domain=other.test')).json.length, 0);
  const show = await c.get(`/admin/api/queue/show?id=${id}`);
  assert.equal(show.json.sender, 'sender@example.test');
  assert.match(show.json.header, /Subject: stuck/);
  assert.ok(!show.json.header.includes('body secret'), 'the body is not shown');
  assert.equal((await c.get('/admin/api/queue/show?id=nope')).status, 400);
  const page = await c.get(`/admin/queue/show?id=${id}`);
  assert.match(page.text, /stuck &lt;b&gt;here&lt;\/b&gt;/, 'escaped');
  const item1 = async () => ((await c.get('/admin/api/queue')).json as Array<{ id: string; state: string; attempts: number }>).find((i) => i.id === id);
  const attempts0 = (await item1())!.attempts;
  assert.equal((await c.post('/admin/api/queue/hold', { ids: [id] })).json.result.count, 1);
  await waitFor(async () => (await item1())?.state === 'hold');
  assert.equal((await c.get('/admin/api/queue?state=hold')).json.length, 1);
  assert.equal((await c.post('/admin/api/queue/release', { ids: [id] })).json.result.count, 1);
  // Released: tried again at once, deferred again.
  await waitFor(async () => {
    const i = await item1();
    return i && i.state === 'deferred' && i.attempts > attempts0;
  }, 20_000);
  const attempts1 = (await item1())!.attempts;
  assert.equal((await c.post('/admin/api/queue/flush', { ids: [id] })).status, 200);
  await waitFor(async () => {
    const i = await item1();
    return i && i.state === 'deferred' && i.attempts > attempts1;
  }, 20_000);
  assert.equal((await c.post('/admin/api/queue/hold', {})).status, 400, 'a selector is required');
  // Deleted while held (nothing in flight).
  assert.equal((await c.post('/admin/api/queue/hold', { ids: [id] })).json.result.count, 1);
  await waitFor(async () => (await item1())?.state === 'hold');
  const status = await c.get('/admin/api/status');
  assert.ok(status.json.listeners.some((l: { name: string }) => l.name === 'http'));
  assert.equal(status.json.queue.total, 1);
  assert.ok(status.json.certificate.daysLeft > 0);
  assert.equal((await c.post('/admin/api/queue/delete', { ids: [id] })).json.result.count, 1);
  assert.equal((await c.get('/admin/api/queue')).json.length, 0);
  assert.match((await c.get('/admin/status')).text, /<h2>Listeners<\/h2>/);
  await ws.log.waitFor((l) => l.admin === 'root' && l.action === 'queue/delete');
});

test('mail users: own data only, password change needs the current one, no admin access; admins not on /account', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'self.test' });
  await a.post('/admin/api/users/add', { address: 'alice@self.test', password: 'alice-password', quota: '1M' });
  await a.post('/admin/api/users/add', { address: 'bob@self.test', password: 'bob-password' });
  const alice = new Client(ws.base);
  assert.equal((await alice.login('admin', 'alice@self.test', 'alice-password')).status, 401, 'a mail user is not an admin');
  assert.equal((await alice.login('account', 'alice@self.test', 'alice-password')).status, 200);
  const me = await alice.get('/account/api/me?address=bob@self.test');
  assert.equal(me.json.address, 'alice@self.test');
  assert.equal(me.json.quota.limitBytes, 1024 * 1024);
  assert.ok(me.json.servers.some((s: { service: string; port: number }) => s.service === 'IMAP' && s.port > 0));
  assert.ok(!me.text.includes('bob'));
  // Admin pages and API refuse mail-user sessions.
  for (const p of ['/admin/api/users', '/admin/api/queue', '/admin/api/domains/show?name=self.test']) assert.equal((await alice.get(p)).status, 403, p);
  assert.equal((await alice.post('/admin/api/users/password', { address: 'bob@self.test', password: 'hacked-password' })).status, 403);
  assert.equal((await alice.get('/admin/users')).status, 403);
  // Password change: wrong current, short, mismatch, then right; other sessions of alice end.
  const alice2 = new Client(ws.base);
  await alice2.login('account', 'alice@self.test', 'alice-password');
  assert.equal((await alice.post('/account/api/password', { current: 'wrong', password: 'new-alice-pw' })).status, 403);
  assert.equal((await alice.post('/account/api/password', { current: 'alice-password', password: 'short' })).status, 400);
  assert.equal((await alice.post('/account/api/password', { current: 'alice-password', password: 'new-alice-pw', confirm: 'other' })).status, 400);
  // The address in the body is ignored: only the session's own password changes.
  assert.equal((await alice.post('/account/api/password', { address: 'bob@self.test', current: 'alice-password', password: 'new-alice-pw' })).status, 200);
  assert.equal((await alice2.get('/account/api/me')).status, 401);
  assert.equal((await alice.get('/account/api/me')).status, 200);
  const bob = new Client(ws.base);
  assert.equal((await bob.login('account', 'bob@self.test', 'bob-password')).status, 200);
  assert.equal((await new Client(ws.base).login('account', 'alice@self.test', 'new-alice-pw')).status, 200);
  // The page.
  const page = await alice.get('/account');
  assert.match(page.text, /alice@self\.test/);
  assert.match(page.text, /mail\.example\.test/);
  assert.ok(!page.text.includes('bob@'));
  // Admin sessions are not mail-user sessions.
  assert.equal((await a.get('/account/api/me')).status, 403);
  // A disabled user's sessions end.
  await a.post('/admin/api/users/disable', { address: 'bob@self.test' });
  assert.equal((await bob.get('/account/api/me')).status, 401);
  assert.equal((await new Client(ws.base).login('account', 'bob@self.test', 'bob-password')).status, 401);
});

test('login rate limit: the IP is locked out after repeated failures (even with the right password)', async () => {
  // Its own server: the lockout covers the whole IP.
  const s = await startWebServer();
  try {
    await addAdmin(s, 'root', ADMIN_PW);
    const c = new Client(s.base);
    for (let i = 0; i < 5; i++) assert.equal((await c.login('admin', 'root', `wrong${i}`)).status, 401);
    const r = await c.login('admin', 'root', ADMIN_PW);
    assert.equal(r.status, 429);
    assert.match(r.json.error, /too many/);
    assert.equal((await c.login('account', 'x@y.test', 'whatever')).status, 429);
  } finally {
    await s.stop();
  }
});
