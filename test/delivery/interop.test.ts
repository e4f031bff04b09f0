/**
 * RemoteDelivery against real peers from Debian's postfix package: a private Postfix as the remote MX (messages
 * land in its Maildirs, compared byte for byte) and smtp-sink (dumps, forced 4xx/5xx/421 replies, no 8BITMIME).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { freePort, startPostfix, startSmtpSink, type PostfixPeer } from '../helpers/peers.js';
import { Fixture } from './helpers.js';

let dns: TestDnsServer;
// Postfix and smtp-sink come from Debian's postfix package (.ci/run installs it); Postfix needs root.
const noPostfix = !existsSync('/usr/sbin/postfix') || process.getuid?.() !== 0 ? 'needs root and the Debian postfix package' : false;
const noSink = !existsSync('/usr/sbin/smtp-sink') || process.getuid?.() !== 0 ? 'needs root and smtp-sink (postfix package)' : false;

before(async () => {
  dns = await startDnsServer({});
});
after(async () => {
  await dns.close();
});

/** Postfix's Maildir copy minus the header lines it adds in front (Return-Path, X-Original-To, Delivered-To, Received). */
function stripPostfixTrace(content: Buffer): string {
  const lines = content.toString('latin1').split('\n');
  let i = 0;
  while (i < lines.length) {
    if (/^(Return-Path|X-Original-To|Delivered-To):/.test(lines[i]!)) i++;
    else if (/^Received:/.test(lines[i]!)) {
      i++;
      while (i < lines.length && /^[ \t]/.test(lines[i]!)) i++;
    } else break;
  }
  return lines.slice(i).join('\n');
}

const lf = (file: string) => readFileSync(file, 'latin1').replace(/\r\n/g, '\n');

describe('Postfix as the remote MX', { skip: noPostfix }, () => {
  let pf: PostfixPeer;
  let fx: Fixture;
  before(async () => {
    const port = await freePort('127.0.0.2');
    pf = await startPostfix({ host: '127.0.0.2', port, domain: 'pf.example.test', users: ['u1', 'u2'] });
    dns.set('pf.example.test', { MX: [{ exchange: 'mx.pf.example.test', priority: 10 }] });
    dns.set('mx.pf.example.test', { A: ['127.0.0.2'] });
    fx = new Fixture(dns, port);
  });
  after(async () => {
    await fx?.cleanup();
    await pf?.stop();
  });

  test('a message arrives byte-exact (apart from the trace headers Postfix adds); unknown user 550 5.1.1', async () => {
    const body = Buffer.from(
      'Grüße aus Köln: 8-bit body.\r\n.a line with a leading dot\r\n..two\r\n.\r\nTrailing spaces   \r\n\tTab\r\n' +
        'x'.repeat(900) + '\r\nlast line\r\n',
      'utf8',
    );
    const m = fx.message(['u1@pf.example.test', 'nobody@pf.example.test', 'u2@pf.example.test'], { body, body8bit: true });
    const res = (await fx.delivery().deliver('pf.example.test', [m])).get(m.id)!;
    const by = Object.fromEntries(res.map((r) => [r.address, r]));
    assert.equal(by['u1@pf.example.test']!.outcome, 'ok', by['u1@pf.example.test']!.message);
    assert.equal(by['u2@pf.example.test']!.outcome, 'ok');
    assert.equal(by['nobody@pf.example.test']!.outcome, 'perm');
    assert.equal(by['nobody@pf.example.test']!.code, 550);
    assert.equal(by['nobody@pf.example.test']!.enhanced, '5.1.1');
    assert.match(by['nobody@pf.example.test']!.message, /User unknown/);
    assert.equal(by['u1@pf.example.test']!.remoteMta, 'mx.pf.example.test');
    assert.match(by['u1@pf.example.test']!.message, /queued as/);
    for (const user of ['u1', 'u2']) {
      const [got] = await pf.waitFor(user, 1);
      assert.equal(stripPostfixTrace(got!.content), lf(m.bodyPath), `${user}'s copy differs`);
      assert.match(got!.content.toString('latin1'), /^Received: from mail\.example\.test/m);
    }
  });

  test('three messages over one SMTP connection', async () => {
    const before = (pf.log().match(/ connect from /g) ?? []).length;
    const msgs = [1, 2, 3].map((i) => fx.message(['u2@pf.example.test'], { body: `message ${i}\r\n` }));
    const res = await fx.delivery({ maxConnectionsPerDestination: 1 }).deliver('pf.example.test', msgs);
    for (const m of msgs) assert.equal(res.get(m.id)![0]!.outcome, 'ok');
    const files = await pf.waitFor('u2', 4);
    const bodies = files.map((f) => stripPostfixTrace(f.content));
    for (const m of msgs) assert.ok(bodies.includes(lf(m.bodyPath)));
    // give postfix's log a moment, then count smtpd connections
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((pf.log().match(/ connect from /g) ?? []).length - before, 1, pf.log());
  });
});

describe('smtp-sink as the remote MX', { skip: noSink }, () => {
  test('a 5 MB message is streamed and arrives intact; pipelined envelope', async () => {
    const port = await freePort('127.0.0.2');
    const sink = await startSmtpSink({ host: '127.0.0.2', port });
    try {
      dns.set('sink.test', { A: ['127.0.0.2'] });
      const fx = new Fixture(dns, port);
      const line = 'The quick brown fox jumps over the lazy dog. 0123456789 '.repeat(10) + '\r\n';
      const m = fx.message(['a@sink.test', 'b@sink.test'], { body: line.repeat(Math.ceil((5 << 20) / line.length)) });
      const r = (await fx.delivery().deliver('sink.test', [m])).get(m.id)!;
      assert.deepEqual(r.map((x) => x.outcome), ['ok', 'ok']);
      const [dump] = sink.messages();
      assert.ok(dump);
      assert.equal(dump.mailArgs.split(' ')[0], '<alice@example.org>');
      assert.deepEqual(dump.rcptArgs, ['<a@sink.test>', '<b@sink.test>']);
      assert.equal(dump.helo, 'mail.example.test');
      assert.equal(dump.data, lf(m.bodyPath));
      await fx.cleanup();
    } finally {
      await sink.close();
    }
  });

  test('forced replies: 4xx to RCPT is temp, 5xx to MAIL is perm, no 8BITMIME is perm 5.6.3, 421 after the end of data is temp', async () => {
    const cases: [string[], string, boolean, 'temp' | 'perm', RegExp][] = [
      [['-r', 'RCPT'], 'r4xx.test', false, 'temp', /^4\./],
      [['-f', 'MAIL'], 'm5xx.test', false, 'perm', /^5\./],
      [['-8'], 'no8.test', true, 'perm', /^5\.6\.3$/],
      [['-Q', '.'], 'q421.test', false, 'temp', /^4\./],
    ];
    for (const [args, domain, eightBit, outcome, enhanced] of cases) {
      const port = await freePort('127.0.0.2');
      const sink = await startSmtpSink({ host: '127.0.0.2', port, args });
      try {
        dns.set(domain, { A: ['127.0.0.2'] });
        const fx = new Fixture(dns, port);
        const m = fx.message([`a@${domain}`], eightBit ? { body: Buffer.from('é\r\n', 'utf8'), body8bit: true } : {});
        const r = (await fx.delivery().deliver(domain, [m])).get(m.id)![0]!;
        assert.equal(r.outcome, outcome, `${args.join(' ')}: ${r.code} ${r.enhanced} ${r.message}`);
        assert.match(r.enhanced ?? '', enhanced, `${args.join(' ')}: ${r.enhanced}`);
        await fx.cleanup();
      } finally {
        await sink.close();
      }
    }
  });
});
