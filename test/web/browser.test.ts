/**
 * End to end in a real browser: Debian's chromium driven by playwright-core (TESTING.md "Browser"). The browser
 * opens the plain-HTTP address and is redirected to listen.https (self-signed certificate, accepted for the test).
 * An admin logs in, adds a domain and a user, finds the DNS records, runs the DNS check and the deliverability test
 * on their progress pages and reads the report, sees an error that says what to do, manages admins, sees a deferred
 * message in the queue and deletes it; the new user logs in to /account. Screenshots of the main pages go to
 * test-artifacts/web/ (gitignored).
 * Skipped with a message when /usr/bin/chromium is missing (`apt-get install chromium`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWebServer, addAdmin } from './helpers.js';
import { ROOT } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('browser: log in, add a domain and a user, DNS records, delete a queued message, self-service', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium): browser test skipped`, timeout: 300_000 }, async () => {
  const { chromium } = await import('playwright-core');
  mkdirSync(ARTIFACTS, { recursive: true });
  const ws = await startWebServer({ https: true });
  const profile = mkdtempSync(join(tmpdir(), 'mw-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  const https = ws.httpsBase!;
  const problems: string[] = [];
  try {
    await addAdmin(ws, 'root', 'browser-admin-pw');
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    // Shared, loaded test machines: playwright's 30 s default per step is too short there.
    page.setDefaultTimeout(90_000);
    page.setDefaultNavigationTimeout(90_000);
    page.on('console', (m) => {
      // Expected HTTP errors (the wrong login, the 403 at the end, favicon.ico) are not problems; CSP violations are.
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|403|404)/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    // Plain HTTP moves to HTTPS; not logged in: sent to the login page.
    await page.goto(`${ws.base}/admin/domains`);
    assert.equal(page.url(), `${https}/admin/login?next=%2Fadmin%2Fdomains`);
    await shot('01-login');
    await page.fill('input[name=username]', 'root');
    await page.fill('input[name=password]', 'wrong');
    await page.click('button:has-text("Log in")');
    await page.waitForSelector('.flash.error');
    assert.match(await page.textContent('.flash.error') ?? '', /wrong name or password/);
    await page.fill('input[name=username]', 'root');
    await page.fill('input[name=password]', 'browser-admin-pw');
    await Promise.all([page.waitForURL(/\/admin\/domains$/), page.click('button:has-text("Log in")')]);
    const cookie = (await ctx.cookies(https)).find((c) => c.name === 'mw_session');
    assert.equal(cookie?.secure, true, 'the session cookie is Secure over HTTPS');
    assert.equal(cookie?.httpOnly, true);

    // Add a domain; find its DNS records.
    await page.fill('input[name=name]', 'example.test');
    await Promise.all([page.waitForURL(/\/admin\/domains$/), page.click('button:has-text("Add domain")')]);
    assert.match((await page.textContent('.flash.ok')) ?? '', /domain example\.test added/);
    await shot('02-domains');
    await Promise.all([page.waitForURL(/domains\/view\?name=example\.test/), page.click('a:has-text("DNS records")')]);
    const records = (await page.textContent('#all-records')) ?? '';
    assert.match(records, /example\.test\. IN MX 10 mail\.example\.test\./);
    assert.match(records, /_domainkey\.example\.test\. IN TXT/);
    await shot('03-domain-records');
    // The DNS check runs as a job: the progress page shows each check as it completes, then the outcome. The check
    // is held until the page has loaded, so the page's script must poll the running job to its end.
    const dnsServices = ws.server.dns;
    const checkAll = dnsServices.checkAll.bind(dnsServices);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    dnsServices.checkAll = async (d, onStep) => {
      await gate;
      return checkAll(d, onStep);
    };
    await Promise.all([page.waitForURL(/\/admin\/jobs\/view\?id=/), page.click('button:has-text("Check now")')]);
    assert.equal(await page.getAttribute('#job', 'data-state'), 'running');
    assert.match((await page.textContent('#job-state')) ?? '', /running/);
    release();
    await page.waitForSelector('#job[data-state="done"]', { timeout: 30_000 });
    dnsServices.checkAll = checkAll;
    assert.ok((await page.locator('#job-steps li').count()) > 5, 'one step per check');
    assert.match((await page.textContent('#job-result')) ?? '', /DNS check of example\.test: \d+ pass/);
    await shot('04-progress-dns-check');
    await Promise.all([page.waitForURL(/domains\/view\?name=example\.test/), page.click('#job-back')]);
    await page.waitForSelector('td.fail, td.pass');
    // The deliverability test: score out of 10 with a fix for each problem.
    await Promise.all([page.waitForURL(/\/admin\/jobs\/view\?id=/), page.click('button:has-text("Test deliverability")')]);
    await page.waitForSelector('#job[data-state="done"]', { timeout: 30_000 });
    assert.match((await page.textContent('#job-steps')) ?? '', /score [\d.]+\/10/);
    await Promise.all([page.waitForURL(/domains\/view\?name=example\.test/), page.click('#job-back')]);
    assert.match((await page.textContent('#deliverability-score')) ?? '', /^[\d.]+\/10$/);
    assert.match((await page.textContent('#deductions')) ?? '', /dkim show example\.test/);
    await page.locator('#deliverability').scrollIntoViewIfNeeded();
    await shot('05-deliverability');
    // An error that says what to do.
    await page.click('nav a:has-text("Domains")');
    await page.fill('input[name=name]', 'example.test');
    await Promise.all([page.waitForURL(/\/admin\/domains$/), page.click('button:has-text("Add domain")')]);
    assert.match((await page.textContent('.flash.error')) ?? '', /domain example\.test already exists: it is in the list already/);

    // Add a user with a generated password (shown once).
    await page.click('nav a:has-text("Users")');
    await page.fill('form.block input[name=address]', 'alice@example.test');
    await page.fill('form.block input[name=quota]', '1G');
    await Promise.all([page.waitForURL(/\/admin\/users$/), page.click('button:has-text("Add user")')]);
    const password = ((await page.textContent('pre.secret')) ?? '').trim();
    assert.equal(password.length, 16);
    assert.ok(await page.isVisible('td:has-text("alice@example.test")'));
    await shot('06-users');

    await page.click('nav a:has-text("Aliases")');
    await page.fill('form.block input[name=source]', '@example.test');
    await page.fill('form.block input[name=destination]', 'alice@example.test');
    await Promise.all([page.waitForURL(/\/admin\/aliases$/), page.click('button:has-text("Add alias")')]);
    assert.ok(await page.isVisible('td:has-text("(catch-all)")'));
    await shot('07-aliases');

    // Admins: add one with a generated password, remove it, change one's own password.
    await page.click('nav a:has-text("Admins")');
    await page.fill('form.block input[name=name]', 'ops');
    await Promise.all([page.waitForURL(/\/admin\/admins$/), page.click('button:has-text("Add admin")')]);
    assert.equal(((await page.textContent('pre.secret')) ?? '').trim().length, 16);
    assert.ok(await page.isVisible('#admins td:has-text("ops")'));
    await shot('08-admins');
    await Promise.all([page.waitForURL(/\/admin\/admins$/), page.click('#admins tr:has-text("ops") button:has-text("Remove")')]);
    assert.match((await page.textContent('.flash.ok')) ?? '', /admin ops removed/);
    await page.fill('input[name=current]', 'browser-admin-pw');
    await page.fill('form[action="/admin/action/admins/password"] input[name=password]', 'browser-admin-pw-2');
    await page.fill('input[name=confirm]', 'browser-admin-pw-2');
    await Promise.all([page.waitForURL(/\/admin\/admins$/), page.click('button:has-text("Change my password")')]);
    assert.match((await page.textContent('.flash.ok')) ?? '', /your admin password was changed/);

    // A deferred message in the queue: seen, opened, deleted.
    const id = await ws.server.queue.enqueueBuffer(Buffer.from('From: alice@example.test\r\nTo: bob@unreachable.test\r\nSubject: stuck\r\n\r\nhi\r\n'), 'alice@example.test', ['bob@unreachable.test'], 'test');
    for (let i = 0; i < 100; i++) {
      const item = (await ws.server.queue.list()).find((x) => x.id === id);
      if (item?.state === 'deferred' && item.lastError) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.click('nav a:has-text("Queue")');
    await page.waitForSelector(`a:has-text("${id}")`);
    await page.selectOption('select[name=state]', 'deferred');
    await Promise.all([page.waitForURL(/state=deferred/), page.click('button:has-text("Filter")')]);
    await shot('09-queue');
    await Promise.all([page.waitForURL(/queue\/show/), page.click(`a:has-text("${id}")`)]);
    assert.match((await page.textContent('main')) ?? '', /bob@unreachable\.test/);
    assert.match((await page.textContent('main')) ?? '', /refused|ECONNREFUSED/i);
    await shot('10-queue-message');
    await Promise.all([page.waitForURL(/\/admin\/queue$/), page.click('button:has-text("Delete")')]);
    assert.match((await page.textContent('.flash.ok')) ?? '', /1 message\(s\) deleted/);
    assert.equal(await page.isVisible(`a:has-text("${id}")`), false);

    await page.click('nav a:has-text("Status")');
    await page.waitForSelector('h2:has-text("Listeners")');
    await shot('11-status');

    // Log out; the new user uses the self-service page.
    await Promise.all([page.waitForURL(/\/admin\/login/), page.click('button:has-text("Log out")')]);
    await page.goto(`${ws.base}/account`);
    assert.match(page.url(), new RegExp(`^${https.replace(/\./g, '\\.')}/account/login`));
    await page.fill('input[name=username]', 'alice@example.test');
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button:has-text("Log in")')]);
    assert.match((await page.textContent('main')) ?? '', /mail\.example\.test/);
    await shot('12-account');
    await page.fill('input[name=current]', password);
    await page.fill('input[name=password]', 'alice-new-password');
    await page.fill('input[name=confirm]', 'alice-new-password');
    await Promise.all([page.waitForURL(/\/account$/), page.click('button:has-text("Change password")')]);
    assert.match((await page.textContent('.flash.ok')) ?? '', /password changed/);
    // The admin pages refuse a mail user's session.
    const r = await page.goto(`${https}/admin/users`);
    assert.equal(r?.status(), 403);
    assert.deepEqual(problems, [], 'no console errors (e.g. CSP violations)');
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    await ws.stop();
  }
});
