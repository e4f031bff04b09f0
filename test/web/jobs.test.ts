/**
 * Long actions as jobs with progress (DNS check, deliverability test, queue actions on many messages) and the
 * deliverability report on the domain page: the JSON API, the forms' progress page, who may read a job, and the
 * JobRunner's own rules (steps visible while running, failures, the limit of running jobs).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWebServer, addAdmin, Client, HOSTNAME, type WebServer } from './helpers.js';
import { JobRunner } from '../../src/web/jobs.js';
import { UserError } from '../../src/common/errors.js';
import { formatReport } from '../../src/dnscheck/selftest.js';

let ws: WebServer;
const ADMIN_PW = 'jobs-admin-password';

before(async () => {
  ws = await startWebServer();
  await addAdmin(ws, 'root', ADMIN_PW);
});
after(async () => {
  await ws?.stop();
});

async function admin(): Promise<Client> {
  const c = new Client(ws.base);
  assert.equal((await c.login('admin', 'root', ADMIN_PW)).status, 200);
  return c;
}

async function finished(c: Client, id: string, ms = 20_000): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await c.get(`/admin/api/jobs/show?id=${id}`);
    assert.equal(r.status, 200, r.text);
    if (r.json.state !== 'running') return r.json;
    if (Date.now() > end) throw new Error(`job ${id} still running: ${JSON.stringify(r.json)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('JobRunner: steps are readable while the job runs; outcome; UserError vs unexpected error; limit of running jobs', async () => {
  const errors: unknown[] = [];
  const jobs = new JobRunner({ maxRunning: 2, onError: (_j, e) => errors.push(e) });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const j = jobs.start({ action: 'x', title: 'X', admin: 'root', back: '/admin' }, async (progress) => {
    progress('step one', 'pass');
    await gate;
    progress('step two');
    return { message: 'all done', data: { n: 2 } };
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(jobs.get(j.id)!.state, 'running');
  assert.deepEqual(jobs.get(j.id)!.steps.map((s) => s.text), ['step one']);
  const bad = jobs.start({ action: 'y', title: 'Y', admin: 'root', back: '/admin' }, async () => {
    await gate;
    throw new UserError('the domain x.test is not hosted here: add it first');
  });
  assert.throws(() => jobs.start({ action: 'z', title: 'Z', admin: 'root', back: '/admin' }, async () => ({ message: '' })), /2 long actions are running already: wait until one has finished/);
  release();
  await jobs.idle();
  assert.equal(j.state, 'done');
  assert.equal(j.message, 'all done');
  assert.deepEqual(j.result, { n: 2 });
  assert.deepEqual(j.steps.map((s) => [s.text, s.status]), [['step one', 'pass'], ['step two', 'info']]);
  assert.equal(bad.state, 'failed');
  assert.equal(bad.message, 'the domain x.test is not hosted here: add it first');
  const crash = jobs.start({ action: 'c', title: 'C', admin: 'root', back: '/admin' }, async () => {
    throw new Error('disk on fire');
  });
  await jobs.idle();
  assert.equal(crash.state, 'failed');
  assert.match(crash.message!, /disk on fire.*see the server log/);
  assert.equal(errors.length, 1);
  assert.deepEqual(jobs.list().map((x) => x.id), [crash.id, bad.id, j.id], 'newest first');
});

test('jobs need an admin: 401 without a session, 403 for a mail user, 403 without the CSRF token', async () => {
  const anon = new Client(ws.base);
  assert.equal((await anon.get('/admin/api/jobs')).status, 401);
  assert.equal((await anon.get('/admin/api/jobs/show?id=x')).status, 401);
  assert.equal((await anon.post('/admin/api/jobs/start', { action: 'domains/check-all' })).status, 401);
  const page = await anon.get('/admin/jobs/view?id=x');
  assert.equal(page.status, 303);
  assert.match(page.headers.get('location')!, /^\/admin\/login/);
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'jobs.test' });
  await a.post('/admin/api/users/add', { address: 'u@jobs.test', password: 'user-password-1' });
  const job = await a.post('/admin/api/jobs/start', { action: 'domains/check', name: 'jobs.test' });
  assert.equal(job.status, 202, job.text);
  await finished(a, job.json.id);
  const user = new Client(ws.base);
  assert.equal((await user.login('account', 'u@jobs.test', 'user-password-1')).status, 200);
  assert.equal((await user.get(`/admin/api/jobs/show?id=${job.json.id}`)).status, 403);
  assert.equal((await user.get('/admin/api/jobs')).status, 403);
  assert.equal((await user.get(`/admin/jobs/view?id=${job.json.id}`)).status, 403);
  assert.equal((await a.post('/admin/api/jobs/start', { action: 'domains/check-all' }, { csrf: false })).status, 403);
  assert.equal((await a.post('/admin/api/jobs/start', { action: 'nope' })).status, 404);
  assert.equal((await a.get('/admin/api/jobs/show?id=unknown')).status, 404);
  assert.match((await a.get('/admin/api/jobs/show?id=unknown')).json.error, /start the action again/);
});

test('DNS check as a job: each check is a step; the form goes to a progress page that polls', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'example.test' });
  const start = await a.post('/admin/api/jobs/start', { action: 'domains/check', name: 'example.test' });
  assert.equal(start.status, 202);
  assert.equal(start.json.url, `/admin/jobs/view?id=${start.json.id}`);
  const j = await finished(a, start.json.id);
  assert.equal(j.state, 'done');
  assert.equal(j.admin, 'root');
  assert.match(j.message, /^DNS check of example\.test: \d+ pass, \d+ warn, \d+ fail/);
  const texts = (j.steps as Array<{ text: string; status: string }>).map((s) => s.text);
  assert.match(texts[0]!, /^checking example\.test/);
  const checks = j.result.checks as Array<{ title: string; status: string }>;
  for (const c of checks) assert.ok(j.steps.some((s: { text: string; status: string }) => s.text.startsWith(`example.test: ${c.title}: `) && s.status === c.status), `step for ${c.title}`);
  // The form: a redirect to the progress page, which loads the polling script (CSP: script from 'self').
  const form = await a.req('POST', '/admin/action/domains/check', { form: { name: 'example.test', _csrf: a.csrf, _return: '/admin/domains/view?name=example.test' } });
  assert.equal(form.status, 303);
  const to = form.headers.get('location')!;
  assert.match(to, /^\/admin\/jobs\/view\?id=[A-Za-z0-9_-]+$/);
  const id = to.split('=')[1]!;
  const p = await a.get(to);
  assert.equal(p.status, 200);
  assert.match(p.text, new RegExp(`<div id="job" data-id="${id}" data-state="(running|done)">`));
  assert.match(p.text, /<script src="\/admin\/jobs\.js"><\/script>/);
  const js = await a.get('/admin/jobs.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type')!, /javascript/);
  assert.match(js.text, /\/admin\/api\/jobs\/show\?id=/);
  await finished(a, id);
  const done = await a.get(to);
  assert.match(done.text, /data-state="done"/);
  assert.match(done.text, /<li class="(pass|warn|fail)">example\.test: MX/);
  assert.match(done.text, /href="\/admin\/domains\/view\?name=example\.test"/, 'links back');
  // The admin's action is logged with the name.
  await ws.log.waitFor((l) => l.admin === 'root' && l.action === 'domains/check' && typeof l.job === 'string');
  const list = await a.get('/admin/jobs');
  assert.match(list.text, /DNS check of example\.test/);
});

test('deliverability of a domain: score out of 10, each problem with its fix, the CLI report text; DKIM published -> pass', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'example.test' });
  const start = await a.post('/admin/api/jobs/start', { action: 'domains/deliverability', name: 'example.test' });
  assert.equal(start.status, 202, start.text);
  const j = await finished(a, start.json.id);
  assert.equal(j.state, 'done', j.message);
  const r = j.result.report;
  assert.equal(r.tested.ip, '192.0.2.10');
  assert.equal(r.tested.helo, HOSTNAME);
  assert.equal(r.tested.sender, 'postmaster@example.test');
  assert.equal(r.score, Math.max(0, Math.round((10 - r.deductions.reduce((n: number, d: { points: number }) => n + d.points, 0)) * 10) / 10));
  const { text, ...rest } = r;
  assert.equal(text, formatReport(rest), 'the same text as mailwright test-deliverability');
  assert.ok(j.steps.some((s: { text: string }) => /^signed with the DKIM key of example\.test$/.test(s.text)));
  const dkim = r.deductions.find((d: { what: string }) => /^DKIM/.test(d.what));
  assert.ok(dkim, 'the key is not published yet: DKIM fails');
  assert.match(dkim.fix, /dkim show example\.test/);
  for (const d of r.deductions) assert.ok(d.fix.length > 10, `fix for ${d.what}`);
  // The domain page shows it.
  const page = await a.get('/admin/domains/view?name=example.test');
  assert.match(page.text, new RegExp(`id="deliverability-score">${String(r.score).replace('.', '\\.')}/10<`));
  assert.match(page.text, /<table id="deductions">/);
  assert.match(page.text, /dkim show example\.test/);
  assert.match(page.text, /<pre id="deliverability-text">Mailwright deliverability report/);
  assert.match(page.text, new RegExp(`deliverability@${HOSTNAME.replace(/\./g, '\\.')}`));
  const domains = await a.get('/admin/domains');
  assert.match(domains.text, new RegExp(`>${String(r.score).replace('.', '\\.')}/10<`));
  // Publish the DKIM keys: the next test passes DKIM and scores higher.
  const show = await a.get('/admin/api/domains/show?name=example.test');
  for (const rec of show.json.records.records as Array<{ purpose: string; name: string; value: string; strings?: string[] }>) {
    if (rec.purpose === 'dkim') ws.dns.set(rec.name, { TXT: [rec.strings ?? rec.value] });
  }
  const again = await finished(a, (await a.post('/admin/api/jobs/start', { action: 'domains/deliverability', name: 'example.test' })).json.id);
  assert.equal(again.result.report.auth.dkim, 'pass');
  assert.ok(again.result.report.score > r.score);
  assert.equal((await a.get('/admin/api/domains/show?name=example.test')).json.deliverability.report.score, again.result.report.score);
  // Not hosted: a failed job that says what to do.
  const nope = await finished(a, (await a.post('/admin/api/jobs/start', { action: 'domains/deliverability', name: 'nope.test' })).json.id);
  assert.equal(nope.state, 'failed');
  assert.match(nope.message, /nope\.test is not hosted here: add it on the Domains page first/);
});

test('queue actions on many messages run in batches with progress; the filter selects what the page shows', async () => {
  const a = await admin();
  const ids: string[] = [];
  for (let i = 0; i < 230; i++) ids.push(await ws.server.queue.enqueueBuffer(Buffer.from(`From: a@example.test\r\nTo: b@unreachable.test\r\nSubject: bulk ${i}\r\n\r\nhi\r\n`), 'bulk@example.test', ['b@unreachable.test'], 'test'));
  const other = await ws.server.queue.enqueueBuffer(Buffer.from('From: a@example.test\r\nSubject: keep\r\n\r\nhi\r\n'), 'keep@example.test', ['c@unreachable.test'], 'test');
  // Hold all 230 of bulk@ through the form with the page's filter.
  const form = await a.req('POST', '/admin/action/queue/hold', { form: { filter: '1', fsender: 'bulk@', fdomain: '', fstate: '', _csrf: a.csrf, _return: '/admin/queue' } });
  assert.equal(form.status, 303);
  const id = form.headers.get('location')!.split('=')[1]!;
  const j = await finished(a, id, 60_000);
  assert.equal(j.state, 'done', j.message);
  assert.equal(j.message, '230 message(s) put on hold');
  assert.deepEqual(j.steps.map((s: { text: string }) => s.text), ['230 message(s) selected', '200/230 done (200 put on hold)', '230/230 done (230 put on hold)']);
  const items = await ws.server.queue.list();
  assert.equal(items.filter((i) => i.state === 'hold').length, 230);
  assert.notEqual(items.find((i) => i.id === other)!.state, 'hold', 'the other sender is untouched');
  // The queue page offers the "all shown" buttons.
  const page = await a.get('/admin/queue?sender=bulk%40');
  assert.match(page.text, /All 230 shown:/);
  // Many explicit ids through the API: a job too.
  const del = await a.post('/admin/api/jobs/start', { action: 'queue/delete', ids });
  const d = await finished(a, del.json.id, 60_000);
  assert.equal(d.message, '230 message(s) deleted');
  assert.equal((await ws.server.queue.list()).filter((i) => ids.includes(i.id)).length, 0);
  // A filter that matches nothing says so.
  const none = await finished(a, (await a.post('/admin/api/jobs/start', { action: 'queue/delete', filter: true, fsender: 'nobody-at-all' })).json.id);
  assert.equal(none.state, 'failed');
  assert.match(none.message, /no message in the queue matches the filter any more: reload the queue page/);
  // A single message from its page stays a plain form action (no job).
  const one = await a.req('POST', '/admin/action/queue/delete', { form: { ids: other, _csrf: a.csrf, _return: '/admin/queue' } });
  assert.equal(one.headers.get('location'), '/admin/queue');
});

test('a message a user sends to deliverability@HOSTNAME shows up as the report of its From domain', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'sent.test' });
  await a.post('/admin/api/users/add', { address: 'writer@sent.test', password: 'writer-password' });
  const nodemailer = (await import('nodemailer')).default;
  const sub = ws.server.addresses.submission!;
  const t = nodemailer.createTransport({ host: sub.host, port: sub.port, secure: false, ignoreTLS: true, auth: { user: 'writer@sent.test', pass: 'writer-password' } });
  const seen = new Promise<void>((resolve) => ws.server.dns.selfTests.add(() => resolve()));
  await t.sendMail({ from: 'writer@sent.test', to: `deliverability@${HOSTNAME}`, subject: 'how do I look', text: 'hello' });
  await seen;
  const show = await a.get('/admin/api/domains/show?name=sent.test');
  const res = show.json.deliverability;
  assert.equal(res.source, 'message');
  assert.equal(res.sender, 'writer@sent.test');
  assert.equal(res.report.message.subject, 'how do I look');
  const page = await a.get('/admin/domains/view?name=sent.test');
  assert.match(page.text, /message from writer@sent\.test to the test address/);
  // Another domain's page does not show it.
  assert.equal((await a.get('/admin/api/domains/show?name=example.test')).json.deliverability?.sender === 'writer@sent.test', false);
});

test('import users as a job: a step per line, failures say what to do, generated passwords once and only to the admin who started it', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'imp.test' });
  await a.post('/admin/api/users/add', { address: 'exists@imp.test', password: 'exists-password' });
  const lines = ['# a comment', 'one@imp.test,one-password,1G', 'two@imp.test,,', 'exists@imp.test,,', 'bad-address,,', 'x@nothosted.test,,', 'three@imp.test,,lots'].join('\n');
  const form = await a.req('POST', '/admin/action/users/import', { form: { lines, _csrf: a.csrf, _return: '/admin/users' } });
  assert.equal(form.status, 303);
  const id = form.headers.get('location')!.split('=')[1]!;
  // Another admin sees the progress but not the passwords.
  await addAdmin(ws, 'other', 'other-admin-pw');
  const other = new Client(ws.base);
  await other.login('admin', 'other', 'other-admin-pw');
  let j: any;
  for (;;) {
    j = (await other.get(`/admin/api/jobs/show?id=${id}`)).json;
    if (j.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(j.secret, undefined);
  assert.equal(j.message, '2 user(s) added, 4 line(s) failed: fix those lines (listed above) and import them again');
  const steps = (j.steps as Array<{ text: string; status: string }>).map((s) => s.text);
  assert.deepEqual(steps.slice(0, 3), ['6 line(s) to import', 'line 1: one@imp.test added', 'line 2: two@imp.test added (generated password)']);
  assert.match(steps[3]!, /^line 3: exists@imp\.test: user exists@imp\.test already exists: set its password in the list instead/);
  assert.match(steps[4]!, /^line 4: bad-address: invalid user address 'bad-address': expected local-part@domain, e\.g\./);
  assert.match(steps[5]!, /^line 5: x@nothosted\.test: domain nothosted\.test is not hosted here: add it first on the Domains page/);
  assert.match(steps[6]!, /^line 6: three@imp\.test: invalid quota 'lots': use bytes or a size such as 500M/);
  assert.equal(JSON.stringify(j).includes('one-password'), false, 'given passwords are not in the job');
  // The admin who started it gets the generated password once (the page), then never again.
  const page = await a.get(`/admin/jobs/view?id=${id}`);
  const m = /<pre class="secret">two@imp\.test (\S{16})<\/pre>/.exec(page.text);
  assert.ok(m, 'generated password on the page');
  assert.equal((await a.get(`/admin/jobs/view?id=${id}`)).text.includes(m[1]!), false, 'shown once');
  assert.equal((await a.get(`/admin/api/jobs/show?id=${id}`)).json.secret, undefined);
  const acc = new (await import('../../src/accounts/service.js')).AccountService(ws.server.store);
  assert.ok(await acc.authenticate('two@imp.test', m[1]!));
  assert.ok(await acc.authenticate('one@imp.test', 'one-password'));
  assert.equal((await ws.server.store.getUser('one@imp.test'))!.quotaBytes, 1024 ** 3);
  assert.ok(!ws.log.lines.some((l) => JSON.stringify(l).includes('one-password') || JSON.stringify(l).includes(m[1]!)), 'no password in the log');
  // A comma inside a password; the synchronous API returns the generated passwords as `secret`.
  const sync = await a.post('/admin/api/users/import', { lines: 'comma@imp.test,pa,ss,word-1,2M\ngen@imp.test' });
  assert.equal(sync.status, 200, sync.text);
  assert.match(sync.json.secret, /^gen@imp\.test \S{16}$/);
  assert.ok(await acc.authenticate('comma@imp.test', 'pa,ss,word-1'));
  assert.equal((await ws.server.store.getUser('comma@imp.test'))!.quotaBytes, 2 * 1024 ** 2);
  // Nothing to import: says how.
  const empty = await a.post('/admin/api/jobs/start', { action: 'users/import', lines: '# only a comment' });
  const e = await finished(a, empty.json.id);
  assert.match(e.message, /^no users to import: enter one per line as address,password,quota/);
});

test('a slow DNS check does not hang the request: the job answers at once and shows steps while it runs', async () => {
  const a = await admin();
  await a.post('/admin/api/domains/add', { name: 'slow.test' });
  await a.post('/admin/api/domains/add', { name: 'example.test' });
  // One DNS answer never comes (the check waits for its timeout); the first domain's check is also held until the
  // test has looked at the running job, so that the timing of a loaded machine cannot decide the outcome.
  ws.dns.fault('_dmarc.slow.test', 'TIMEOUT');
  const dnsServices = ws.server.dns;
  const checkAll = dnsServices.checkAll.bind(dnsServices);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  dnsServices.checkAll = async (d, onStep) => {
    onStep?.('held by the test', 'info');
    await gate;
    return checkAll(d, onStep);
  };
  try {
    const start = await a.post('/admin/api/jobs/start', { action: 'domains/check-all' });
    assert.equal(start.status, 202, 'the start request answers before the DNS check has run');
    const running = (await a.get(`/admin/api/jobs/show?id=${start.json.id}`)).json;
    assert.equal(running.state, 'running');
    assert.deepEqual(running.steps.map((s: { text: string }) => s.text), ['held by the test'], 'steps are visible while it runs');
    const page = await a.get(`/admin/jobs/view?id=${start.json.id}`);
    assert.match(page.text, /data-state="running"/);
    assert.match(page.text, /running…/);
    release();
    const j = await finished(a, start.json.id);
    assert.equal(j.state, 'done');
    assert.match(j.message, /^DNS check of \d+ domain\(s\): \d+ failed check\(s\)/);
    const summaries = (j.steps as Array<{ text: string }>).map((s) => s.text).filter((t) => /: \d+ pass, \d+ warn, \d+ fail$/.test(t));
    assert.ok(summaries.some((t) => t.startsWith('slow.test:')) && summaries.some((t) => t.startsWith('example.test:')), 'one summary per domain');
    assert.ok(j.steps.some((s: { text: string }) => /^slow\.test: DMARC .*(timed out|ETIMEOUT|timeout)/i.test(s.text)), 'the slow check is reported');
  } finally {
    release();
    dnsServices.checkAll = checkAll;
    ws.dns.clearFaults();
  }
});
