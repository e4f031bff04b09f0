/**
 * Abuse defence: brute force from one address is slowed and locked (SMTP AUTH, IMAP and POP3 together) while the real
 * user on another address still logs in; a DNSBL-listed client gets 554; greylisting 451 then 250; the PROXY
 * protocol is honoured only from configured sources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startDnsServer } from '../helpers/dns-server.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { LineClient, proxyV2, startOpsServer } from './helpers.js';
import { LoginThrottle } from '../../src/auth/throttle.js';
import net from 'node:net';
import tls from 'node:tls';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('brute force from one IP across SMTP AUTH, IMAP and POP3 together is slowed (growing delays) and locked; the real user from another IP logs in', { timeout: 30000 }, async () => {
  const s = await startOpsServer(
    { listen: { imap: '127.0.0.1:0', submission: '127.0.0.1:0', pop3: '127.0.0.1:0' }, imap: { allowInsecureAuth: 'always' }, pop3: { allowInsecureAuth: 'always' } },
    { users: ['victim@example.test'] },
  );
  s.server.ops.throttle.setOptions({ baseDelayMs: 150, maxDelayMs: 600 });
  try {
    const imapPort = s.server.addresses.imap!.port;
    const subPort = s.server.addresses.submission!.port;
    const popPort = s.server.addresses.pop3!.port;
    const attacker = await LineClient.connect(imapPort, { localAddress: '127.0.0.2' });
    await attacker.until(/^\* OK/);
    const smtpAttacker = await LineClient.connect(subPort, { localAddress: '127.0.0.2' });
    await smtpAttacker.until(/^220 /);
    await smtpAttacker.cmd('EHLO x', /^250 /);
    const popAttacker = await LineClient.connect(popPort, { localAddress: '127.0.0.2' });
    await popAttacker.until(/^\+OK/);
    // Five guesses spread over the three protocols: each failed answer comes later than the one before
    // (150, 300, 600, 600, 600 ms), and the fifth locks the address.
    const timed = async (f: () => Promise<string>) => {
      const t = Date.now();
      const r = await f();
      return { r, ms: Date.now() - t };
    };
    const g: Array<{ r: string; ms: number }> = [];
    g.push(await timed(() => attacker.cmd('a1 LOGIN victim@example.test guess1', /^a1 /)));
    g.push(await timed(() => popAttacker.cmd('USER victim@example.test', /^[+-]/).then(() => popAttacker.cmd('PASS guess2', /^[+-]/))));
    g.push(await timed(() => smtpAttacker.cmd(`AUTH PLAIN ${b64('\0victim@example.test\0guess3')}`, /^\d{3} /)));
    g.push(await timed(() => attacker.cmd('a4 LOGIN victim@example.test guess4', /^a4 /)));
    assert.match(g[0]!.r, /NO \[AUTHENTICATIONFAILED\]/);
    assert.match(g[1]!.r, /^-ERR/m);
    assert.match(g[2]!.r, /^535 5\.7\.8/m);
    assert.match(g[3]!.r, /NO \[AUTHENTICATIONFAILED\]/);
    assert.ok(g[0]!.ms >= 140 && g[1]!.ms >= 290 && g[2]!.ms >= 590 && g[3]!.ms >= 590, `growing delays: ${g.map((x) => x.ms)}`);
    assert.ok(!s.server.ops.throttle.isLockedOut('127.0.0.2'), 'four failures: not locked yet');
    await popAttacker.cmd('USER victim@example.test', /^[+-]/);
    assert.match(await popAttacker.cmd('PASS guess5', /^[+-]/), /^-ERR/m);
    assert.ok(s.server.ops.throttle.isLockedOut('127.0.0.2'), 'locked after 5 failures over three protocols');
    // Then the lockout: even the right password fails from this IP, on every protocol.
    assert.match(await attacker.cmd('b1 LOGIN victim@example.test secret', /^b1 /), /^b1 NO/m);
    assert.match(await smtpAttacker.cmd(`AUTH PLAIN ${b64('\0victim@example.test\0secret')}`, /^\d{3} /), /^535 5\.7\.8/m);
    const popAttacker2 = await LineClient.connect(popPort, { localAddress: '127.0.0.2' });
    await popAttacker2.until(/^\+OK/);
    await popAttacker2.cmd('USER victim@example.test', /^[+-]/);
    assert.match(await popAttacker2.cmd('PASS secret', /^[+-]/), /^-ERR/m);
    // The real user from another address: IMAP, SMTP AUTH and POP3 work.
    const user = await LineClient.connect(imapPort, { localAddress: '127.0.0.3' });
    await user.until(/^\* OK/);
    assert.match(await user.cmd('c1 LOGIN victim@example.test secret', /^c1 /), /^c1 OK/m);
    const smtpUser = await LineClient.connect(subPort, { localAddress: '127.0.0.3' });
    await smtpUser.until(/^220 /);
    await smtpUser.cmd('EHLO x', /^250 /);
    assert.match(await smtpUser.cmd(`AUTH PLAIN ${b64('\0victim@example.test\0secret')}`, /^\d{3} /), /^235 /m);
    const popUser = await LineClient.connect(popPort, { localAddress: '127.0.0.3' });
    await popUser.until(/^\+OK/);
    await popUser.cmd('USER victim@example.test', /^[+-]/);
    assert.match(await popUser.cmd('PASS secret', /^[+-]/), /^\+OK/m);
    // A distributed attack (many IPs) locks the account for unknown addresses only; the user's known address works.
    const t = s.server.ops.throttle;
    for (let i = 10; i < 22; i++) t.fail(`198.51.100.${i}`, 'victim@example.test', 'imap');
    assert.ok(t.isLockedOut('198.51.100.200', 'victim@example.test'), 'a new address is refused for this account');
    assert.ok(!t.isLockedOut('127.0.0.3', 'victim@example.test'), 'the known address is not');
    const user2 = await LineClient.connect(imapPort, { localAddress: '127.0.0.3' });
    await user2.until(/^\* OK/);
    assert.match(await user2.cmd('d1 LOGIN victim@example.test secret', /^d1 /), /^d1 OK/m);
    for (const c of [attacker, smtpAttacker, popAttacker, popAttacker2, user, smtpUser, popUser, user2]) c.close();
    // Per-account delays grow too (capped), whatever the address.
    const fresh = new LoginThrottle({ baseDelayMs: 20, maxDelayMs: 100 });
    assert.deepEqual([1, 2, 3, 4, 5].map(() => fresh.fail('192.0.2.1', 'x@example.test', 'pop3')), [20, 40, 80, 100, 100]);
    assert.ok(fresh.isLockedOut('192.0.2.1'));
  } finally {
    await s.stop();
  }
});

test('connection rate and command rate per IP, shared by SMTP, IMAP and POP3; other addresses unaffected', { timeout: 30000 }, async () => {
  const s = await startOpsServer(
    {
      listen: { imap: '127.0.0.1:0', pop3: '127.0.0.1:0' },
      limits: { exemptLoopback: false, connectionsPerMinute: 1, connectionBurst: 6, commandsPerSecond: 1, commandBurst: 2 },
    },
    { users: ['u1@example.test'] },
  );
  try {
    const a = s.server.addresses;
    const greet = { smtp: /^220 /, imap: /^\* OK/, pop3: /^\+OK/ } as const;
    const open = async (p: keyof typeof greet, ip: string) => {
      const c = await LineClient.connect(a[p]!.port, { localAddress: ip });
      return { c, first: await c.until(/^(220|421|\* OK|\* BYE|\+OK|-ERR)/) };
    };
    // Connection rate: a burst of 6 from 127.0.0.4 over the three protocols, then refused with each one's busy line.
    const ok = [];
    for (const p of ['smtp', 'imap', 'pop3', 'smtp', 'imap', 'pop3'] as const) {
      const x = await open(p, '127.0.0.4');
      assert.match(x.first, greet[p]);
      ok.push(x);
    }
    assert.match((await open('smtp', '127.0.0.4')).first, /^421 4\.7\.0 .*too many connections, try again later/);
    assert.match((await open('imap', '127.0.0.4')).first, /^\* BYE Too many connections/);
    assert.match((await open('pop3', '127.0.0.4')).first, /^-ERR \[SYS\/TEMP\] Too many connections/);
    assert.match((await open('smtp', '127.0.0.5')).first, /^220 /, 'another address connects');
    ok.forEach((x) => x.c.close());

    // Command rate: five sessions of 127.0.0.6 send a command at the same time. Two are answered at once (burst),
    // two wait (1 s, 2 s), and the one that would go deeper into debt is dropped with its protocol's message.
    const kinds = ['smtp', 'imap', 'pop3', 'smtp', 'imap'] as const;
    const conns = [];
    for (const p of kinds) conns.push((await open(p, '127.0.0.6')).c);
    const t0 = Date.now();
    const cmd = { smtp: ['NOOP', /^\d{3} /], imap: ['a1 NOOP', /^(a1|\*) (OK|NO|BAD|BYE)/], pop3: ['NOOP', /^[+-]/] } as const;
    const r = await Promise.all(
      conns.map(async (c, i) => {
        const [line, re] = cmd[kinds[i]!];
        const out = await c.cmd(line, re).catch((e: Error) => e.message);
        return { kind: kinds[i], out, ms: Date.now() - t0 };
      }),
    );
    const dropped = /^(421 4\.7\.0 .*too many commands, slow down|\* BYE Too many commands, slow down|-ERR \[SYS\/TEMP\] Too many commands, slow down)/m;
    assert.ok(r.filter((x) => dropped.test(x.out)).length >= 1, `a session dropped for its command rate: ${JSON.stringify(r)}`);
    assert.ok(r.filter((x) => /^(250|a1 OK|\+OK)/m.test(x.out)).length >= 3, JSON.stringify(r));
    assert.ok(Math.max(...r.map((x) => x.ms)) >= 900, `commands over the burst were slowed: ${JSON.stringify(r)}`);
    // Another address is not slowed.
    const other = (await open('smtp', '127.0.0.7')).c;
    const t1 = Date.now();
    assert.match(await other.cmd('NOOP', /^\d{3} /), /^250 /);
    assert.ok(Date.now() - t1 < 500);
    for (const c of [...conns, other]) c.close();
  } finally {
    await s.stop();
  }
});

test('a DNSBL-listed client is refused with 554 at connect; an unlisted one is served', { timeout: 20000 }, async () => {
  const dns = await startDnsServer({
    '1.0.0.127.bl.example': { A: ['127.0.0.2'], TXT: ['Listed for testing'] },
  });
  const s = await startOpsServer({ dns: { servers: dns.servers, timeoutMs: 1000 }, smtp: { reverseLookup: false, dnsbl: ['bl.example'], dnsblCheckLoopback: true } });
  try {
    const port = s.server.addresses.smtp!.port;
    const listed = await LineClient.connect(port, { localAddress: '127.0.0.1' });
    assert.match(await listed.until(/^\d{3} /), /^554 5\.7\.1 .*bl\.example/);
    const clean = await LineClient.connect(port, { localAddress: '127.0.0.5' });
    assert.match(await clean.until(/^\d{3} /), /^220 /);
    clean.close();
    assert.ok(dns.queries.some((q) => q.name === '5.0.0.127.bl.example'));
  } finally {
    await s.stop();
    await dns.close();
  }
});

test('greylisting: first 451 4.7.1, a retry after the delay 250', { timeout: 20000 }, async () => {
  const s = await startOpsServer({ smtp: { reverseLookup: false, greylisting: { enabled: true, delaySeconds: 1, checkLoopback: true } } }, { users: ['u1@example.test'] });
  try {
    const port = s.server.addresses.smtp!.port;
    const c = await LineClient.connect(port);
    await c.until(/^220 /);
    await c.cmd('EHLO sender.example', /^250 /);
    await c.cmd('MAIL FROM:<a@example.org>', /^250 /);
    assert.match(await c.cmd('RCPT TO:<u1@example.test>', /^\d{3} /), /^451 4\.7\.1/m);
    await c.cmd('RSET', /^250 /);
    await c.cmd('MAIL FROM:<a@example.org>', /^250 /);
    assert.match(await c.cmd('RCPT TO:<u1@example.test>', /^\d{3} /), /^451 4\.7\.1/m, 'too early');
    await new Promise((r) => setTimeout(r, 1100));
    await c.cmd('RSET', /^250 /);
    await c.cmd('MAIL FROM:<a@example.org>', /^250 /);
    assert.match(await c.cmd('RCPT TO:<u1@example.test>', /^\d{3} /), /^250 /m);
    c.close();
  } finally {
    await s.stop();
  }
});

test('PROXY v2 (and v1) honoured only from configured sources; the Received header shows the proxied client', { timeout: 20000 }, async () => {
  const s = await startOpsServer({ proxyProtocol: { trusted: ['127.0.0.9/32'] }, listen: { imaps: '127.0.0.1:0' } }, { users: ['u1@example.test'] });
  try {
    const port = s.server.addresses.smtp!.port;
    const send = async (c: LineClient, subject: string) => {
      await c.until(/^220 /);
      await c.cmd('EHLO lb.example', /^250 /);
      await c.cmd('MAIL FROM:<a@example.org>', /^250 /);
      await c.cmd('RCPT TO:<u1@example.test>', /^250 /);
      await c.cmd('DATA', /^354 /);
      assert.match(await c.cmd(`Subject: ${subject}\r\n\r\nx\r\n.`, /^\d{3} /), /^250 /m);
      c.close();
    };
    // Trusted source, v2 header: the client is 203.0.113.7.
    const lb = await LineClient.connect(port, { localAddress: '127.0.0.9' });
    lb.sock.write(proxyV2('203.0.113.7', 40000, '127.0.0.1', port));
    await send(lb, 'via-v2');
    // Trusted source, v1 header.
    const lb1 = await LineClient.connect(port, { localAddress: '127.0.0.9' });
    lb1.sock.write('PROXY TCP4 198.51.100.20 127.0.0.1 40001 25\r\n');
    await send(lb1, 'via-v1');
    // Untrusted source: the header is not PROXY protocol to us, just bad SMTP.
    const evil = await LineClient.connect(port, { localAddress: '127.0.0.1' });
    await evil.until(/^220 /);
    evil.sock.write(Buffer.concat([proxyV2('192.0.2.66', 1, '127.0.0.1', port), Buffer.from('\r\n')]));
    assert.match(await evil.until(/^[45]\d\d /), /^(500|502|421) /m);
    evil.close();
    // Trusted source without a header: refused (closed).
    const noHeader = await LineClient.connect(port, { localAddress: '127.0.0.9' });
    noHeader.sock.write('EHLO x\r\n');
    await assert.rejects(noHeader.until(/^220 /, 8000), /closed/);
    // Implicit TLS after a PROXY header.
    const tlsLb = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const raw = net.connect({ host: '127.0.0.1', port: s.server.addresses.imaps!.port, localAddress: '127.0.0.9' }, () => {
        raw.write(proxyV2('203.0.113.8', 40002, '127.0.0.1', 993));
        const t = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'mail.example.test' }, () => resolve(t));
        t.on('error', reject);
      });
    });
    const tc = new LineClient(tlsLb);
    assert.match(await tc.until(/^\* OK/), /IMAP/);
    tc.close();

    await new Promise((r) => setTimeout(r, 200));
    const dir = join(userMaildir(s.dataDir, 'example.test', 'u1'), 'new');
    const files = existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')) : [];
    const v2 = files.find((f) => f.includes('Subject: via-v2'))!;
    const v1 = files.find((f) => f.includes('Subject: via-v1'))!;
    assert.match(v2, /^Received: from lb\.example \([^)]*203\.0\.113\.7/m);
    assert.match(v1, /198\.51\.100\.20/);
    assert.doesNotMatch(v2, /127\.0\.0\.9/);
  } finally {
    await s.stop();
  }
});

