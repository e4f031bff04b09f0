/**
 * Pieces of the web admin without HTTP: `mailwright admin` (the real CLI as a child process, and in-process),
 * the admins table, the session store's idle expiry, and HTML escaping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runCli, tempDir, writeConfig } from '../helpers/server.js';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { loadConfig } from '../../src/config/load.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { AdminStore } from '../../src/web/admins.js';
import { SessionStore, sameToken } from '../../src/web/sessions.js';
import { html, escapeHtml, raw } from '../../src/web/html.js';
import { runInit } from '../../src/cli/init.js';
import { join } from 'node:path';

test('mailwright admin add (generated and from stdin), list, passwd, remove; errors', async () => {
  const dir = tempDir('mw-web-cli-');
  try {
    const cfg = writeConfig(dir);
    const add = await runCli(['--config', cfg, 'admin', 'add', 'Root']);
    assert.equal(add.code, 0, add.stderr);
    const pw = /^password: (\S{16})$/m.exec(add.stdout)![1]!;
    assert.match(add.stdout, /^admin root added$/m);
    const second = await runCli(['--config', cfg, 'admin', 'add', 'ops', '--password-stdin'], { input: 'ops-password\n' });
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /password:/);
    const dup = await runCli(['--config', cfg, 'admin', 'add', 'root', '--password-stdin'], { input: 'x\n' });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /admin root already exists/);
    const list = await runCli(['--config', cfg, 'admin', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout).map((a: { name: string }) => a.name), ['ops', 'root']);

    const local = async (input: string, ...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await runCliInProcess(['node', 'mailwright', '--config', cfg, ...args], { out: (s) => (stdout += s + '\n'), err: (s) => (stderr += s + '\n'), stdin: () => input });
      return { code, stdout, stderr };
    };
    const config = loadConfig(cfg);
    const check = async (name: string, password: string) => {
      const opened = await openDatabase(config.database);
      try {
        return await new AdminStore(opened.db).authenticate(name, password);
      } finally {
        await opened.close();
      }
    };
    assert.equal(await check('ROOT', pw), 'root');
    assert.equal(await check('ops', 'ops-password'), 'ops');
    assert.equal(await check('ops', 'wrong'), null);
    assert.equal(await check('nobody', 'x'), null);
    assert.equal((await local('new-root-pw\n', 'admin', 'passwd', 'root', '--password-stdin')).code, 0);
    assert.equal(await check('root', 'new-root-pw'), 'root');
    assert.equal(await check('root', pw), null);
    assert.equal((await local('', 'admin', 'passwd', 'ghost', '--password-stdin')).code, 1, 'empty stdin');
    const ghost = await local('pw\n', 'admin', 'passwd', 'ghost', '--password-stdin');
    assert.match(ghost.stderr, /no such admin: ghost/);
    assert.match((await local('', 'admin', 'add', 'bad name!')).stderr, /invalid admin name/);
    assert.equal((await local('', 'admin', 'remove', 'ops')).code, 0);
    assert.equal((await local('', 'admin', 'remove', 'ops')).code, 1);
    assert.equal((await local('', 'admin', 'list')).stdout, 'root\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sessions: 32-byte random ids, idle expiry, destroyAll', () => {
  const s = new SessionStore(60_000);
  const a = s.create('admin', 'root', 1000);
  assert.equal(Buffer.from(a.id, 'base64url').length, 32);
  assert.notEqual(a.id, a.csrf);
  assert.equal(s.get(a.id, 50_000)?.name, 'root');
  assert.equal(s.get(a.id, 100_000)?.name, 'root', 'touched at 50 s: still alive at 100 s');
  assert.equal(s.get(a.id, 170_001), undefined, 'idle for more than 60 s');
  const u1 = s.create('user', 'a@x.test');
  const u2 = s.create('user', 'a@x.test');
  const other = s.create('user', 'b@x.test');
  s.destroyAll('user', 'a@x.test', u2.id);
  assert.equal(s.get(u1.id), undefined);
  assert.ok(s.get(u2.id));
  assert.ok(s.get(other.id));
  assert.ok(sameToken(u2.csrf, u2.csrf));
  assert.ok(!sameToken(u2.csrf, other.csrf));
  assert.ok(!sameToken('', ''));
});

test('html escapes every interpolated value unless it is markup', () => {
  const evil = `"><script>alert(1)</script>'`;
  assert.equal(html`<a title="${evil}">${evil}</a>`.value, `<a title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39;</a>`);
  assert.equal(html`${[evil, raw('<b>')]}`.value, escapeHtml(evil) + '<b>');
  assert.equal(html`${html`<i>${'<'}</i>`}`.value, '<i>&lt;</i>');
  assert.equal(html`${null}${undefined}${false}${0}`.value, '0');
});

test('listen.https: on loopback 8443 in the development defaults; on 443 in the production config of `mailwright init`', async () => {
  const dev = loadConfig(undefined);
  assert.equal(dev.listen.https, '127.0.0.1:8443');
  assert.equal(dev.web.httpsRedirect, true);
  assert.equal(dev.web.hstsMaxAgeSeconds, 31536000);
  const dir = tempDir('mw-web-init-');
  try {
    const out = join(dir, 'mailwright.yaml');
    let printed = '';
    await runInit({ hostname: 'mail.example.com', domain: 'example.com', dataDir: '/var/lib/mailwright', output: out }, { out: (s: string) => (printed += s + '\n'), err: () => {} } as never);
    const c = loadConfig(out);
    assert.equal(c.listen.https, '0.0.0.0:443');
    assert.equal(c.listen.http, '0.0.0.0:80');
    assert.deepEqual(c.metrics.allow, ['127.0.0.1/32', '::1/128'], 'public HTTP(S) listeners: metrics stay local');
    assert.match(printed, /https:\/\/mail\.example\.com\/admin\//);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
