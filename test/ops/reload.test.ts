/**
 * Certificate reload without dropping connections, SNI, graceful stop, and the privilege drop of `mailwright serve`
 * started as root (the process's uid after binding, from /proc/PID/status), the data directory's mode narrowed,
 * `mailwright status`, configuration reload on SIGHUP and a clean exit on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync, readFileSync, chownSync, mkdirSync, statSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LineClient, makeCert, servedCert, startOpsServer, tempDir, freePort, HOSTNAME } from './helpers.js';
import { ROOT } from '../helpers/server.js';

test('certificate files reloaded (SIGHUP path and file watch) without dropping an open IMAP session; SNI picks tls.certificates', { timeout: 30000 }, async () => {
  const dir = tempDir('mw-certs-');
  const a = makeCert(dir, 'a', [HOSTNAME]);
  const b = makeCert(dir, 'b', [HOSTNAME]);
  const c = makeCert(dir, 'c', [HOSTNAME]);
  const sni = makeCert(dir, 'sni', ['mta-sts.example.test', 'autoconfig.example.test']);
  const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);
  const s = await startOpsServer(
    { listen: { imaps: '127.0.0.1:0', submissions: '127.0.0.1:0' }, tls: { ...live, certificates: [{ names: ['mta-sts.example.test', '*.example.org'], cert: sni.cert, key: sni.key }] } },
    { users: ['u1@example.test'] },
  );
  try {
    const port = s.server.addresses.imaps!.port;
    const serialA = (await servedCert(port, HOSTNAME)).serialNumber;
    assert.equal(serialA, new (await import('node:crypto')).X509Certificate(readFileSync(a.cert)).serialNumber);
    assert.equal((await servedCert(port, 'mta-sts.example.test')).subject.CN, 'mta-sts.example.test');
    assert.equal((await servedCert(port, 'x.example.org')).subject.CN, 'mta-sts.example.test', 'wildcard SNI name');
    assert.equal((await servedCert(port, 'other.example.net')).serialNumber, serialA, 'unknown SNI: the default');

    const imap = await LineClient.connect(port, { tls: true, servername: HOSTNAME });
    await imap.until(/^\* OK/);
    await imap.cmd('a1 LOGIN u1@example.test secret', /^a1 /);
    await imap.cmd('a2 SELECT INBOX', /^a2 OK/);

    // Replace the files and reload (what SIGHUP does).
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    const r = s.server.reload();
    assert.equal(r.tls.ok, true);
    const serialB = (await servedCert(port, HOSTNAME)).serialNumber;
    assert.notEqual(serialB, serialA, 'a new connection gets the new certificate');
    assert.match(await imap.cmd('a3 NOOP', /^a3 /), /^a3 OK/m, 'the open session keeps working');
    assert.equal(imap.closed, false);

    // A broken file: the old certificate stays.
    writeFileSync(live.cert, 'garbage');
    assert.equal(s.server.reload().tls.ok, false);
    assert.equal((await servedCert(port, HOSTNAME)).serialNumber, serialB);

    // The file watcher picks up a change by itself.
    copyFileSync(c.key, live.key);
    copyFileSync(c.cert, live.cert);
    const serialC = new (await import('node:crypto')).X509Certificate(readFileSync(c.cert)).serialNumber;
    const deadline = Date.now() + 5000;
    while ((await servedCert(port, HOSTNAME)).serialNumber !== serialC) {
      assert.ok(Date.now() < deadline, 'watcher reloaded the certificate');
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.match(await imap.cmd('a4 NOOP', /^a4 /), /^a4 OK/m);
    imap.close();
  } finally {
    await s.stop();
  }
});

test('graceful stop: an idle SMTP client gets 421, a transaction in progress finishes (250) before 421; IMAP gets BYE', { timeout: 30000 }, async () => {
  const s = await startOpsServer({ listen: { imap: '127.0.0.1:0' }, shutdownTimeoutSeconds: 5 }, { users: ['u1@example.test'] });
  const port = s.server.addresses.smtp!.port;
  const idle = await LineClient.connect(port);
  await idle.until(/^220 /);
  const busy = await LineClient.connect(port);
  await busy.until(/^220 /);
  await busy.cmd('EHLO client.example', /^250 /);
  await busy.cmd('MAIL FROM:<a@example.org>', /^250 /);
  await busy.cmd('RCPT TO:<u1@example.test>', /^250 /);
  const imap = await LineClient.connect(s.server.addresses.imap!.port);
  await imap.until(/^\* OK/);
  const stopping = s.stop();
  assert.match(await idle.until(/^421 /), /^421 4\.3\.2/m);
  assert.match(await imap.until(/^\* BYE/), /shutting down/);
  await busy.cmd('DATA', /^354 /);
  assert.match(await busy.cmd('Subject: t\r\n\r\nbody\r\n.', /^\d{3} /), /^250 /m, 'the transaction in progress completes');
  assert.match(await busy.cmd('MAIL FROM:<b@example.org>', /^\d{3} /), /^421 4\.3\.2/m, 'a new transaction is refused');
  await stopping;
});

test('started as root with user: ports bound, then the process runs as the user (/proc/PID/status); data dir checks; status; SIGHUP reload; SIGTERM', { timeout: 30000, skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  try {
    execFileSync('id', ['mwtest']);
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'mwtest']);
  }
  const uid = Number(execFileSync('id', ['-u', 'mwtest'], { encoding: 'utf8' }).trim());
  const base = tempDir('mw-priv-');
  execFileSync('chmod', ['755', base]);
  const dataDir = join(base, 'data');
  const smtpPort = await freePort();
  const cfg = join(base, 'mailwright.yaml');
  const write = () =>
    writeFileSync(cfg, `hostname: ${HOSTNAME}\ndataDir: ${dataDir}\nuser: mwtest\nlisten:\n  smtp: "127.0.0.1:${smtpPort}"\n  submission: false\n  submissions: false\n  imap: false\n  imaps: false\n  pop3: false\n  pop3s: false\n  http: false\nsmtp:\n  reverseLookup: false\nmonitoring:\n  intervalHours: 0\n`);
  write();
  // A data directory owned by someone else is refused with a clear message.
  mkdirSync(dataDir, { mode: 0o700 });
  const bad = spawn(process.execPath, [join(ROOT, 'bin/mailwright.js'), '-c', cfg, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let badOut = '';
  bad.stderr!.on('data', (d) => (badOut += d));
  bad.stdout!.on('data', (d) => (badOut += d));
  const badCode = await new Promise<number | null>((r) => bad.on('exit', r));
  assert.notEqual(badCode, 0);
  assert.match(badOut, /owned by uid 0, not by mwtest.*chown -R mwtest/);
  chownSync(dataDir, uid, uid);
  // A data directory open to others is narrowed to the owner (with a warning).
  execFileSync('chmod', ['755', dataDir]);

  const child = spawn(process.execPath, [join(ROOT, 'bin/mailwright.js'), '-c', cfg, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    const deadline = Date.now() + 20000;
    while (!/"listening"/.test(out) || !/now running as an unprivileged user/.test(out)) {
      assert.ok(Date.now() < deadline, `server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number);
    const gids = /^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number);
    assert.deepEqual(uids, [uid, uid, uid, uid], 'real, effective, saved and fs uid are the user');
    assert.ok(gids.every((g) => g !== 0));
    assert.match(/^CapEff:\s+(\w+)/m.exec(status)![1]!, /^0+$/, 'no capabilities left');
    const c = await LineClient.connect(smtpPort);
    assert.match(await c.until(/^220 /), /ESMTP/);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.match(out, /dataDir was open to other users; narrowed its mode to owner only/);

    // `mailwright status` (control socket): listeners, queue, certificates, last DNS check.
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/mailwright.js'), '-c', cfg, ...args], { encoding: 'utf8' });
    const st = cli('status');
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`^Mailwright ${HOSTNAME.replace(/\./g, '\\.')}: running \\(pid ${child.pid}, user mwtest`, 'm'));
    assert.match(st.stdout, new RegExp(`^  smtp +127\\.0\\.0\\.1:${smtpPort} +1 connections`, 'm'), 'the open SMTP session is counted');
    assert.match(st.stdout, /^Queue: incoming 0, active 0, deferred 0, hold 0$/m);
    assert.match(st.stdout, /^Certificates:\n  default +self-signed .*expires \d{4}-\d\d-\d\d \(\d+ days\)/m);
    assert.match(st.stdout, /^DNS check: not run yet$/m);
    const json = JSON.parse(cli('status', '--json').stdout) as { uid: number; listeners: Array<{ name: string }> };
    assert.equal(json.uid, uid);
    assert.deepEqual(json.listeners.map((l) => l.name), ['smtp']);
    c.close();

    // SIGHUP: the configuration file is read again; live keys applied, the others reported; the server keeps serving.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('monitoring:', 'log:\n  level: debug\nlimits:\n  loginFailuresPerIp: 3\nmonitoring:'));
    const mark = out.length;
    child.kill('SIGHUP');
    const deadline2 = Date.now() + 5000;
    while (!/"msg":"configuration reloaded"/.test(out.slice(mark))) {
      assert.ok(Date.now() < deadline2, `no reload after SIGHUP: ${out.slice(mark)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const line = JSON.parse(out.slice(mark).split('\n').find((l) => l.includes('"configuration reloaded"'))!) as { applied: string[]; restartNeeded: string[] };
    assert.ok(line.applied.includes('log.level') && line.applied.includes('limits'), JSON.stringify(line));
    assert.deepEqual(line.restartNeeded, []);
    const c2 = await LineClient.connect(smtpPort);
    assert.match(await c2.until(/^220 /), /ESMTP/);
    c2.close();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
  // Graceful stop on SIGTERM: a clean exit; `status` now says no server runs.
  assert.equal(child.exitCode, 0, out.slice(-2000));
  assert.match(out, /"signal":"SIGTERM".*"msg":"stopping"/);
  const after = spawnSync(process.execPath, [join(ROOT, 'bin/mailwright.js'), '-c', cfg, 'status'], { encoding: 'utf8' });
  assert.equal(after.status, 3);
  assert.match(after.stderr, /no server is running/);
});
