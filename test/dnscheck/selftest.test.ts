/**
 * The deliverability self-test end to end: a server with a local DNS server (SPF, DKIM, DMARC, PTR, a DNSBL zone),
 * messages sent to deliverability@mail.example.test on the MX (one that passes everything, one that fails) and on
 * submission; the score, the deductions and their explanations, the report in the sender's Maildir. The HTTP
 * listener serves the MTA-STS policy and the monitoring results are exposed. SpamAssassin through a private spamd.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import nodemailer from 'nodemailer';
import { writeFileSync } from 'node:fs';
import { runCli, tempDir } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { DkimKeyStore } from '../../src/dkim/keys.js';
import { signMessage } from '../../src/dkim/sign.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { rfc5322Date } from '../../src/intake/headers.js';
import { runSelfTest, DEDUCTIONS, type SelfTestReport } from '../../src/dnscheck/selftest.js';
import { controlRequest } from '../../src/server/control.js';
import { goodZone, DOMAIN, HOST, DNSBL, POLICY } from './fixture.js';

let dir: string;
let dns: TestDnsServer;
let server: RunningServer;
let keys: DkimKeyStore;
let closeDb: () => Promise<void>;
const USER = 'u1@example.test';
const TARGET = `deliverability@${HOST}`;

function message(o: { messageId?: boolean; subject?: string } = {}): Buffer {
  return Buffer.from(
    [
      `From: U One <${USER}>`,
      `To: <${TARGET}>`,
      `Subject: ${o.subject ?? 'deliverability test'}`,
      `Date: ${rfc5322Date()}`,
      ...(o.messageId === false ? [] : [`Message-ID: <${Date.now()}.${Math.random().toString(36).slice(2)}@example.test>`]),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hello, this is a test of the mail setup.',
      '',
    ].join('\r\n'),
  );
}

async function signed(raw: Buffer): Promise<Buffer> {
  const k = await keys.activeKeys(DOMAIN);
  return Buffer.concat([Buffer.from(await signMessage(raw, { domain: DOMAIN, keys: k })), raw]);
}

function nextSelfTest(): Promise<{ report: SelfTestReport; replied: string }> {
  return new Promise((resolve) => {
    const f = (r: { report: SelfTestReport; replied: string }) => {
      server.dns.selfTests.delete(f);
      resolve(r);
    };
    server.dns.selfTests.add(f);
  });
}

function reports(): string[] {
  const d = join(userMaildir(dir, DOMAIN, 'u1'), 'new');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .sort()
    .map((f) => readFileSync(join(d, f), 'utf8'))
    .filter((t) => /^Subject: Deliverability report/m.test(t));
}

async function send(raw: Buffer, o: { port: number; localAddress?: string; ignoreTLS?: boolean; auth?: boolean }) {
  const t = nodemailer.createTransport({
    host: '127.0.0.1',
    port: o.port,
    secure: false,
    name: o.localAddress ? 'client.example.test' : HOST,
    ignoreTLS: o.ignoreTLS ?? false,
    tls: { rejectUnauthorized: false },
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    ...(o.auth ? { auth: { user: USER, pass: 'secret' } } : {}),
  });
  try {
    return await t.sendMail({ envelope: { from: USER, to: [TARGET] }, raw });
  } finally {
    t.close();
  }
}

describe('deliverability self-test', () => {
  before(async () => {
    dir = tempDir('mw-selftest-');
    dns = await startDnsServer({});
    const config = validateConfig(
      {
        hostname: HOST,
        dataDir: dir,
        listen: { smtp: '127.0.0.1:0', submission: '127.0.0.1:0', http: '127.0.0.1:0' },
        smtp: { reverseLookup: false },
        dns: { servers: dns.servers, timeoutMs: 1000 },
        publicAddresses: { ipv4: ['127.0.0.1'] },
        dnsbl: { zones: [DNSBL] },
        monitoring: { intervalHours: 0 },
        log: { level: 'silent' },
      },
      'test',
    );
    server = await startServer(config, createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })));
    await server.store.addDomain(DOMAIN);
    await new AccountService(server.store).addUser(USER, 'secret');
    const opened = await openDatabase(config.database);
    closeDb = opened.close;
    keys = new DkimKeyStore(opened.db);
    await keys.ensureKeys(DOMAIN);
    for (const [name, recs] of Object.entries(goodZone(await keys.dnsRecords(DOMAIN)))) dns.set(name, recs);
  });
  after(async () => {
    await server.stop();
    await closeDb();
    await dns.close();
    forgetEnsured();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a message that passes everything scores 10/10 and the report reaches the sender', async () => {
    const done = nextSelfTest();
    const info = await send(await signed(message({ subject: 'all good' })), { port: server.addresses.smtp!.port });
    assert.match(info.response, /^250 2\.0\.0 Ok: deliverability test accepted/);
    const { report, replied } = await done;
    assert.deepEqual(report.deductions, [], report.text);
    assert.equal(report.score, 10);
    assert.equal(replied, 'local');
    assert.deepEqual({ spf: report.auth.spf, dkim: report.auth.dkim, dmarc: report.auth.dmarc, spfAligned: report.auth.spfAligned, dkimAligned: report.auth.dkimAligned }, {
      spf: 'pass',
      dkim: 'pass',
      dmarc: 'pass',
      spfAligned: true,
      dkimAligned: true,
    });
    assert.match(report.text, /^Score: 10\.0\/10$/m);
    assert.match(report.text, /^\[PASS\] PTR: PTR of 127\.0\.0\.1 is mail\.example\.test, forward-confirmed$/m);
    assert.match(report.text, /^\[PASS\] TLS: received over TLS \(TLSv1\.[23]\)$/m);
    assert.match(report.text, /^\[PASS\] blocklists: 127\.0\.0\.1 is not listed on dnsbl\.test$/m);
    assert.match(report.text, /^\[INFO\] SpamAssassin: not checked \(deliverability\.spamd not configured\)$/m);
    assert.match(report.text, /No deductions/);
    const mail = reports().find((t) => t.includes('"all good"'));
    assert.ok(mail, 'report in the Maildir');
    assert.match(mail, /^Return-Path: <>\r\n/);
    assert.match(mail, /^From: Mailwright deliverability test <postmaster@mail\.example\.test>\r$/m);
    assert.match(mail, /^Subject: Deliverability report: 10\.0\/10 for "all good"\r$/m);
    assert.match(mail, /^Auto-Submitted: auto-replied\r$/m);
    assert.match(mail, /^In-Reply-To: <.+@example\.test>\r$/m);
    assert.match(mail, /\r\n\r\nMailwright deliverability report\r\n\r\nScore: 10\.0\/10\r\n/);
  });

  test('a message that fails (no DKIM, SPF fail, no Message-ID, no PTR, blocklisted, no TLS) scores 0 with each deduction explained', async () => {
    const done = nextSelfTest();
    await send(message({ messageId: false, subject: 'all bad' }), { port: server.addresses.smtp!.port, localAddress: '127.0.0.2', ignoreTLS: true });
    const { report, replied } = await done;
    assert.equal(report.tested.ip, '127.0.0.2');
    assert.deepEqual(
      report.deductions.map((d) => [d.what, d.points]),
      [
        ['SPF fail', DEDUCTIONS.spfFail],
        ['no DKIM signature', DEDUCTIONS.dkimNone],
        ['DMARC fail', DEDUCTIONS.dmarcFail],
        ['no PTR record', DEDUCTIONS.ptrNone],
        ['listed on dnsbl.test', DEDUCTIONS.blocklisted],
        ['no TLS', DEDUCTIONS.noTls],
        ['no Message-ID', DEDUCTIONS.messageIdMissing],
      ],
      report.text,
    );
    assert.equal(report.score, 0);
    assert.equal(replied, 'local'); // a local sender always gets the report
    const spf = report.deductions[0]!;
    assert.equal(spf.why, "example.test's SPF record says 127.0.0.2 may not send its mail (-all): receivers reject or junk it");
    assert.equal(spf.fix, "Authorise 127.0.0.2 in the SPF record of example.test (see 'mailwright dns records example.test').");
    assert.match(report.text, /^ {2}-2\.0 {2}SPF fail: example\.test's SPF record says 127\.0\.0\.2 may not send/m);
    assert.match(report.text, /^ {9}Fix: Ask the owner of 127\.0\.0\.2 \(your hosting provider\) to set its PTR to client\.example\.test\.$/m);
    assert.match(report.text, /^\[FAIL\] headers: no Message-ID header$/m);
    assert.match(report.text, /^\[FAIL\] blocklists: 127\.0\.0\.2 is listed on dnsbl\.test \(127\.0\.0\.2: test entry\)$/m);
    const mail = reports().find((t) => t.includes('"all bad"'));
    assert.ok(mail);
    assert.match(mail, /^Subject: Deliverability report: 0\.0\/10 for "all bad"\r$/m);
    assert.match(mail, /-1\.5 {2}no DKIM signature: /);
  });

  test('on submission the message is tested as it leaves: our address, our HELO, signed, Message-ID added', async () => {
    const done = nextSelfTest();
    await send(message({ messageId: false, subject: 'via submission' }), { port: server.addresses.submission!.port, auth: true });
    const { report } = await done;
    assert.equal(report.tested.ip, '127.0.0.1');
    assert.equal(report.tested.helo, HOST);
    assert.equal(report.auth.dkim, 'pass');
    assert.deepEqual(report.deductions, [], report.text);
    assert.ok(reports().some((t) => t.includes('"via submission"')));
  });

  test('HTTP listener serves the MTA-STS policy; monitoring results via dnsCheck/dnsStatus and dns.status', async () => {
    const a = server.addresses.http!;
    const get = (host: string) =>
      new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
        http
          .get({ host: a.host, port: a.port, path: '/.well-known/mta-sts.txt', headers: { host } }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode!, body, type: String(res.headers['content-type']) }));
          })
          .on('error', reject);
      });
    const ok = await get(`mta-sts.${DOMAIN}`);
    assert.deepEqual(ok, { status: 200, body: POLICY, type: 'text/plain; charset=utf-8' });
    assert.equal((await get('mta-sts.other.test')).status, 404);

    const [r] = await server.dnsCheck(DOMAIN);
    const byId = Object.fromEntries(r!.checks.map((c) => [c.id, c.status]));
    assert.equal(byId['mta-sts'], 'pass'); // fetched from our own listener
    assert.equal(byId.mx, 'pass');
    assert.equal(byId['tls-cert'], 'warn'); // self-signed
    dns.set(`_dmarc.${DOMAIN}`, { TXT: ['v=DMARC1; p=bogus'] });
    await server.dnsCheck(DOMAIN);
    const s = server.dnsStatus();
    assert.equal(s.domains[DOMAIN]!.checks.find((c) => c.id === 'dmarc')!.status, 'fail');
    assert.deepEqual(
      s.changes.filter((c) => c.check === 'dmarc').map((c) => [c.from, c.to]),
      [['pass', 'fail']],
    );
    const viaSocket = (await controlRequest(dir, 'dns.status')) as typeof s;
    assert.equal(viaSocket.domains[DOMAIN]!.checks.find((c) => c.id === 'dmarc')!.status, 'fail');
    // ... through `mailwright dns status` (the control socket of the running server)
    const cfgDir = tempDir('mw-dnsstatus-');
    try {
      const cfg = join(cfgDir, 'mailwright.yaml');
      writeFileSync(cfg, `hostname: ${HOST}\ndataDir: ${dir}\n`);
      const human = await runCli(['--config', cfg, 'dns', 'status']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^monitoring every 0 h; last run \d{4}-\d\d-\d\dT[\d:.]+Z; next -$/m);
      assert.match(human.stdout, /^dns check example\.test \(mail host mail\.example\.test\)$/m);
      assert.match(human.stdout, /^FAIL {2}DMARC of example\.test +"v=DMARC1; p=bogus" is malformed: p=bogus is not none, quarantine or reject$/m);
      assert.match(human.stdout, /^changes:\n(?: {2}.*\n)* {2}\S+ example\.test dmarc: pass -> fail \(/m);
      const json = await runCli(['--config', cfg, 'dns', 'status', '--json']);
      assert.equal(json.code, 0, json.stderr);
      assert.equal((JSON.parse(json.stdout) as typeof s).domains[DOMAIN]!.checks.find((c) => c.id === 'dmarc')!.status, 'fail');
      // no server on a data directory: a clear message
      writeFileSync(cfg, `hostname: ${HOST}\ndataDir: ${cfgDir}\n`);
      const down = await runCli(['--config', cfg, 'dns', 'status']);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /the server is not running \(no control socket\); run `mailwright dns check` instead/);
    } finally {
      rmSync(cfgDir, { recursive: true, force: true });
    }
    // ... and as Prometheus gauges on /metrics: 0 pass, 1 warn, 2 fail per domain and check
    const metrics = await (await fetch(`http://${a.host}:${a.port}/metrics`)).text();
    const gauge = (check: string) => new RegExp(`^mailwright_dns_check_status\\{domain="example\\.test",check="${check}"\\} (\\d)$`, 'm').exec(metrics)?.[1];
    assert.equal(gauge('dmarc'), '2', metrics);
    assert.equal(gauge('mx'), '0');
    assert.equal(gauge('tls-cert'), '1');
    const last = Number(/^mailwright_dns_check_last_run_timestamp_seconds (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(Math.abs(last - Date.parse(s.lastRun!) / 1000) <= 1, metrics);
    dns.set(`_dmarc.${DOMAIN}`, { TXT: ['v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.test; adkim=r; aspf=r'] });
  });

  test('mailwright test-deliverability --to / --domain: the running server tests its own mail and mails the report', async () => {
    const cfgDir = tempDir('mw-tdto-');
    try {
      const cfg = join(cfgDir, 'mailwright.yaml');
      writeFileSync(cfg, `hostname: ${HOST}\ndataDir: ${dir}\n`);
      const before = reports().length;
      const r = await runCli(['--config', cfg, 'test-deliverability', '--to', USER]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Score: 10\.0\/10$/m);
      assert.match(r.stdout, /^Message: "Deliverability test of example\.test" from <postmaster@example\.test>/m);
      assert.match(r.stdout, /^\[PASS\] DKIM: DKIM pass d=example\.test /m);
      assert.match(r.stdout, /^\[PASS\] SPF: SPF pass for example\.test from 127\.0\.0\.1 \(.*\), aligned with From$/m);
      assert.match(r.stdout, /^The report was delivered to <u1@example\.test>\.$/m);
      const mails = reports();
      assert.equal(mails.length, before + 1);
      assert.match(mails.at(-1)!, /^Subject: Deliverability report: 10\.0\/10 for "Deliverability test of example\.test"\r$/m);
      assert.match(mails.at(-1)!, /^To: <u1@example\.test>\r$/m);

      const j = await runCli(['--config', cfg, 'test-deliverability', '--domain', DOMAIN, '--json']);
      assert.equal(j.code, 0, j.stderr);
      const jr = JSON.parse(j.stdout) as { domain: string; sender: string; to: string | null; replied: string; score: number; auth: { dkim: string } };
      assert.deepEqual([jr.domain, jr.sender, jr.to, jr.replied, jr.score, jr.auth.dkim], [DOMAIN, 'postmaster@example.test', null, 'none', 10, 'pass']);
      assert.equal(reports().length, before + 1, 'no report mailed without --to');

      const notHosted = await runCli(['--config', cfg, 'test-deliverability', '--domain', 'other.test']);
      assert.equal(notHosted.code, 1);
      assert.match(notHosted.stderr, /domain other\.test is not hosted here/);
      const remote = await runCli(['--config', cfg, 'test-deliverability', '--to', 'someone@example.org']);
      assert.equal(remote.code, 1);
      assert.match(remote.stderr, /someone@example\.org is not at a hosted domain: give --domain DOMAIN/);
      const neither = await runCli(['--config', cfg, 'test-deliverability']);
      assert.equal(neither.code, 1);
      assert.match(neither.stderr, /give --file MESSAGE, or --domain DOMAIN \/ --to ADDRESS/);
      writeFileSync(cfg, `hostname: ${HOST}\ndataDir: ${cfgDir}\n`);
      const down = await runCli(['--config', cfg, 'test-deliverability', '--domain', DOMAIN]);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /the server is not running/);
    } finally {
      rmSync(cfgDir, { recursive: true, force: true });
    }
  });

  test('SpamAssassin score through a private spamd (--local)', async (t) => {
    if (spawnSync('sh', ['-c', 'command -v spamd || test -x /usr/sbin/spamd']).status !== 0) {
      t.skip('spamd is not installed (Debian packages spamassassin + spamd)');
      return;
    }
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const args = ['--local', '-i', '127.0.0.1', '-p', String(port), '-A', '127.0.0.1', '-m', '1', '-s', 'stderr', '--pidfile', join(dir, 'spamd.pid')];
    if (process.getuid?.() === 0) args.push('-u', 'nobody');
    const spamd: ChildProcess = spawn(existsSync('/usr/sbin/spamd') ? '/usr/sbin/spamd' : 'spamd', args, { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const up = await new Promise<boolean>((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
          c.on('error', () => resolve(false));
        });
        if (up) break;
        if (Date.now() > deadline || spamd.exitCode !== null) throw new Error('spamd did not start');
        await new Promise((r) => setTimeout(r, 300));
      }
      const report = await runSelfTest({
        message: message({ messageId: false }),
        ip: '127.0.0.1',
        helo: HOST,
        sender: USER,
        tls: null,
        hostname: HOST,
        resolver: dns.resolver({ timeoutMs: 1000 }),
        dnsblZones: [],
        spamd: { address: `127.0.0.1:${port}`, timeoutMs: 30_000 },
      });
      assert.equal(report.spamassassin.checked, true, report.text);
      assert.match(report.text, /^\[(PASS|WARN|FAIL)\] SpamAssassin: score -?[\d.]+ \(threshold 5(\.0)?\)/m);
      if (report.spamassassin.checked) {
        assert.ok(report.spamassassin.rules.some((r) => r.name === 'MISSING_MID'), JSON.stringify(report.spamassassin.rules));
        const d = report.deductions.find((x) => x.what.startsWith('SpamAssassin'));
        if (report.spamassassin.score > 0) assert.match(d!.why, /MISSING_MID/);
      }
    } finally {
      spamd.kill('SIGTERM');
    }
  });

  test('header hygiene, HELO and FCrDNS, a broken DKIM signature: each deduction with its reason', async () => {
    dns.set('3.0.0.127.in-addr.arpa', { PTR: ['other.example.test'] });
    dns.set('other.example.test', { A: ['127.0.0.9'] });
    try {
      const raw = Buffer.from(
        [
          `From: U One <${USER}>`,
          `To: <${TARGET}>`,
          'Date: yesterday afternoon',
          'Message-ID: no-angle-brackets',
          'Content-Type: text/plain; charset=utf-8',
          '',
          'Hello.',
          '',
        ].join('\r\n'),
      );
      // signed, then changed in transit; one bare LF in the body
      const tampered = Buffer.from((await signed(raw)).toString('latin1').replace('Hello.', 'Hello!\nBye.'), 'latin1');
      const report = await runSelfTest({
        message: tampered,
        ip: '127.0.0.3',
        helo: 'localhost',
        sender: USER,
        tls: { version: 'TLSv1.3' },
        hostname: HOST,
        resolver: dns.resolver({ timeoutMs: 1000 }),
        dnsblZones: [DNSBL],
        spamd: null,
      });
      assert.deepEqual(
        report.deductions.map((d) => [d.what, d.points]),
        [
          ['SPF fail', DEDUCTIONS.spfFail],
          ['DKIM neutral', DEDUCTIONS.dkimFail], // mailauth: a body hash mismatch is "neutral"
          ['DMARC fail', DEDUCTIONS.dmarcFail],
          ['PTR not forward-confirmed', DEDUCTIONS.ptrNotConfirmed],
          ['HELO does not match PTR', DEDUCTIONS.heloMismatch],
          ['HELO not an FQDN', DEDUCTIONS.heloNotFqdn],
          ['invalid Message-ID', DEDUCTIONS.messageIdInvalid],
          ['invalid Date', DEDUCTIONS.dateInvalid],
          ['no Subject', DEDUCTIONS.subjectMissing],
          ['no MIME-Version', DEDUCTIONS.mimeMissing],
          ['bare LF', DEDUCTIONS.bareLf],
        ],
        report.text,
      );
      assert.equal(report.score, 0);
      assert.match(report.text, /^\[FAIL\] PTR: PTR of 127\.0\.0\.3 is other\.example\.test, which does not resolve back to 127\.0\.0\.3$/m);
      assert.match(report.text, /^\[FAIL\] HELO: HELO localhost is not a fully qualified domain name$/m);
      assert.match(report.text, /^\[FAIL\] DKIM: DKIM neutral d=example\.test s=\S+ \(body hash did not verify\)$/m);
      assert.match(report.text, /^\[PASS\] TLS: received over TLS \(TLSv1\.3\)$/m);
      assert.match(report.text, /^\[WARN\] headers: Date "yesterday afternoon" is not an RFC 5322 date$/m);
      assert.match(report.text, /^\[WARN\] headers: Content-Type without MIME-Version$/m);
      assert.match(report.text, /^\[FAIL\] headers: 1 bare LF line ending\(s\)$/m);
      const ptr = report.deductions.find((d) => d.what === 'PTR not forward-confirmed')!;
      assert.equal(ptr.fix, 'Publish an A/AAAA record other.example.test -> 127.0.0.3, or have the PTR changed to a name that does.');

      const noFrom = await runSelfTest({
        message: Buffer.from(`Subject: s\r\nDate: ${rfc5322Date()}\r\nMessage-ID: <a.b@example.test>\r\n\r\nhi\r\n`),
        ip: '127.0.0.1',
        helo: HOST,
        sender: USER,
        tls: null,
        hostname: HOST,
        resolver: dns.resolver({ timeoutMs: 1000 }),
        dnsblZones: [],
        spamd: null,
      });
      assert.ok(noFrom.deductions.some((d) => d.what === 'no From header' && d.points === DEDUCTIONS.fromMissing), noFrom.text);
      const twoFroms = await runSelfTest({
        message: Buffer.from(`From: <${USER}>\r\nFrom: <x@example.test>\r\nSubject: s\r\nDate: ${rfc5322Date()}\r\nMessage-ID: <a.c@example.test>\r\n\r\nhi\r\n`),
        ip: '127.0.0.1',
        helo: HOST,
        sender: USER,
        tls: null,
        hostname: HOST,
        resolver: dns.resolver({ timeoutMs: 1000 }),
        dnsblZones: [],
        spamd: null,
      });
      const inv = twoFroms.deductions.find((d) => d.what === 'invalid From header');
      assert.equal(inv?.why, 'more than one From header', twoFroms.text);
    } finally {
      dns.set('3.0.0.127.in-addr.arpa', null);
      dns.set('other.example.test', null);
    }
  });

  test('spamd not reachable: "not checked"', async () => {
    const report = await runSelfTest({
      message: message(),
      ip: '127.0.0.1',
      helo: HOST,
      sender: USER,
      tls: null,
      hostname: HOST,
      resolver: dns.resolver({ timeoutMs: 1000 }),
      dnsblZones: [],
      spamd: { address: '127.0.0.1:1', timeoutMs: 2000 },
    });
    assert.equal(report.spamassassin.checked, false);
    assert.match(report.text, /^\[INFO\] SpamAssassin: not checked \(spamd at 127\.0\.0\.1:1: .*ECONNREFUSED/m);
  });
});
