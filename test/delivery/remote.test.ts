/**
 * RemoteDelivery against programmable SMTP peers on loopback addresses, with MX data from a local DNS server.
 * All peers of one test listen on the same port (RemoteDelivery's MX port) on different 127.0.0.x addresses.
 */
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { freePort, startPeer, type Peer } from '../helpers/peers.js';
import { Fixture, OUR_HOSTNAME } from './helpers.js';

let dns: TestDnsServer;
let port: number;
let fx: Fixture;
const peers: Peer[] = [];

async function peer(opts: Parameters<typeof startPeer>[0] = {}): Promise<Peer> {
  const p = await startPeer({ port, ...opts });
  peers.push(p);
  return p;
}

/** MX records for domain -> hosts (name -> address); preference 10, 20, ... in the given order. */
function mx(domain: string, hosts: [string, string][]) {
  dns.set(domain, { MX: hosts.map(([h], i) => ({ exchange: h, priority: (i + 1) * 10 })) });
  for (const [h, ip] of hosts) dns.set(h, ip.includes(':') ? { AAAA: [ip] } : { A: [ip] });
}

before(async () => {
  dns = await startDnsServer({});
  port = await freePort('127.0.0.3');
  fx = new Fixture(dns, port);
});
after(async () => {
  await fx.cleanup();
  await dns.close();
});
afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
  dns.clearFaults();
});

describe('MX resolution (RFC 5321 §5.1, RFC 7505)', () => {
  test('first MX refuses connections: the second MX gets the message', async () => {
    mx('failover.test', [
      ['mx1.failover.test', '127.0.0.4'],
      ['mx2.failover.test', '127.0.0.3'],
    ]);
    const p = await peer();
    const m = fx.message(['bob@failover.test']);
    const res = await fx.delivery().deliver('failover.test', [m]);
    const r = res.get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(r.code, 250);
    assert.equal(r.remoteMta, 'mx2.failover.test');
    assert.equal(p.messages.length, 1);
    assert.deepEqual(p.messages[0]!.rcptTo, ['bob@failover.test']);
    assert.equal(p.messages[0]!.mailFrom, 'alice@example.org');
    // byte-exact, dot-stuffing undone by the peer
    assert.equal(p.messages[0]!.data.toString('latin1'), readFileSync(m.bodyPath, 'latin1'));
    const attempts = fx.logs.attempts(m.id);
    assert.equal(attempts.length, 2, 'one log line per attempt');
    assert.equal(attempts[0].mx, 'mx1.failover.test');
    assert.equal(attempts[0].results[0].outcome, 'temp');
    assert.equal(attempts[1].ip, '127.0.0.3');
    assert.equal(attempts[1].results[0].outcome, 'ok');
  });

  test('lower preference value is tried first', async () => {
    dns.set('pref.test', {
      MX: [
        { exchange: 'b.pref.test', priority: 20 },
        { exchange: 'a.pref.test', priority: 5 },
      ],
    });
    dns.set('a.pref.test', { A: ['127.0.0.3'] });
    dns.set('b.pref.test', { A: ['127.0.0.5'] });
    const pa = await peer();
    const pb = await peer({ host: '127.0.0.5' });
    const m = fx.message(['x@pref.test']);
    const r = (await fx.delivery().deliver('pref.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.equal(r.remoteMta, 'a.pref.test');
    assert.equal(pa.messages.length, 1);
    assert.equal(pb.sessions.length, 0);
  });

  test('no MX records: implicit MX, the domain A record (RFC 5321 §5.1)', async () => {
    dns.set('implicit.test', { A: ['127.0.0.3'] });
    const p = await peer();
    const m = fx.message(['x@implicit.test']);
    const r = (await fx.delivery().deliver('implicit.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(r.remoteMta, 'implicit.test');
    assert.equal(p.messages.length, 1);
  });

  test('null MX: permanent 556 5.1.10 at once, no connection (RFC 7505)', async () => {
    dns.set('nullmx.test', { MX: [{ exchange: '.', priority: 0 }], A: ['127.0.0.3'] });
    const p = await peer();
    const m = fx.message(['x@nullmx.test', 'y@nullmx.test']);
    const res = (await fx.delivery().deliver('nullmx.test', [m])).get(m.id)!;
    assert.equal(res.length, 2);
    for (const r of res) {
      assert.equal(r.outcome, 'perm');
      assert.equal(r.code, 556);
      assert.equal(r.enhanced, '5.1.10');
    }
    assert.equal(p.sessions.length, 0);
  });

  test('NXDOMAIN: permanent 5.1.2', async () => {
    const m = fx.message(['x@nxdomain.test']);
    const r = (await fx.delivery().deliver('nxdomain.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'perm');
    assert.equal(r.enhanced, '5.1.2');
    assert.match(r.message, /not found/);
  });

  test('SERVFAIL and DNS timeout: temporary, never a bounce', async () => {
    dns.set('servfail.test', { A: ['127.0.0.3'] });
    dns.fault('servfail.test', 'SERVFAIL');
    dns.fault('slowdns.test', 'TIMEOUT');
    const m1 = fx.message(['x@servfail.test']);
    const m2 = fx.message(['x@slowdns.test']);
    const d = fx.delivery();
    const r1 = (await d.deliver('servfail.test', [m1])).get(m1.id)![0]!;
    const r2 = (await d.deliver('slowdns.test', [m2])).get(m2.id)![0]!;
    assert.equal(r1.outcome, 'temp');
    assert.equal(r1.enhanced, '4.4.3');
    assert.match(r1.message, /ESERVFAIL/);
    assert.equal(r2.outcome, 'temp');
    assert.match(r2.message, /ETIMEOUT/);
  });

  test('SERVFAIL for the MX host address is temporary', async () => {
    dns.set('mxaddr.test', { MX: [{ exchange: 'mx.mxaddr.test', priority: 10 }] });
    dns.set('mx.mxaddr.test', { A: ['127.0.0.3'] });
    dns.fault('mx.mxaddr.test', 'SERVFAIL');
    const m = fx.message(['x@mxaddr.test']);
    const r = (await fx.delivery().deliver('mxaddr.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
  });

  test('MX pointing to ourselves: permanent 5.4.6 "loops back to myself"', async () => {
    dns.set('loop.test', { MX: [{ exchange: OUR_HOSTNAME, priority: 10 }] });
    dns.set(OUR_HOSTNAME, { A: ['127.0.0.3'] });
    const p = await peer();
    const m = fx.message(['x@loop.test']);
    const r = (await fx.delivery().deliver('loop.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'perm');
    assert.equal(r.enhanced, '5.4.6');
    assert.match(r.message, /loops back to myself/);
    assert.equal(p.sessions.length, 0);
  });

  test('we are a backup MX: only more preferred MX hosts are used', async () => {
    dns.set('backup.test', {
      MX: [
        { exchange: 'primary.backup.test', priority: 10 },
        { exchange: 'mx2.example.test', priority: 20 },
      ],
    });
    dns.set('primary.backup.test', { A: ['127.0.0.3'] });
    const p = await peer();
    const m = fx.message(['x@backup.test']);
    const r = (await fx.delivery({ ownHostnames: ['mx2.example.test'] }).deliver('backup.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.equal(p.messages.length, 1);
  });

  test('IPv6: an MX with only an AAAA record (::1)', async (t) => {
    let p: Peer;
    try {
      p = await peer({ host: '::1' });
    } catch {
      t.skip('no IPv6 loopback (::1) on this machine');
      return;
    }
    dns.set('v6.test', { MX: [{ exchange: 'mx.v6.test', priority: 10 }] });
    dns.set('mx.v6.test', { A: ['127.0.0.4'], AAAA: ['::1'] }); // IPv4 refuses, IPv6 takes it
    const m = fx.message(['x@v6.test']);
    const r = (await fx.delivery().deliver('v6.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.messages.length, 1);
    const ips = fx.logs.attempts(m.id).map((a) => a.ip);
    assert.deepEqual(ips, ['127.0.0.4', '::1']);
  });
});

describe('per-recipient results', () => {
  test('250, 450 and 550 in one transaction; DATA reply applies to the accepted one', async () => {
    mx('mixed.test', [['mx.mixed.test', '127.0.0.3']]);
    const p = await peer({
      onRcpt: (r) =>
        r.startsWith('later') ? '450 4.2.1 <later@mixed.test>: mailbox busy' : r.startsWith('nobody') ? '550 5.1.1 <nobody@mixed.test>: User unknown' : undefined,
    });
    const m = fx.message(['ok@mixed.test', 'later@mixed.test', 'nobody@mixed.test']);
    const res = (await fx.delivery().deliver('mixed.test', [m])).get(m.id)!;
    const by = Object.fromEntries(res.map((r) => [r.address, r]));
    assert.equal(by['ok@mixed.test']!.outcome, 'ok');
    assert.equal(by['ok@mixed.test']!.code, 250);
    assert.match(by['ok@mixed.test']!.message, /queued as/);
    assert.equal(by['later@mixed.test']!.outcome, 'temp');
    assert.equal(by['later@mixed.test']!.code, 450);
    assert.equal(by['later@mixed.test']!.enhanced, '4.2.1');
    assert.equal(by['nobody@mixed.test']!.outcome, 'perm');
    assert.equal(by['nobody@mixed.test']!.code, 550);
    assert.equal(by['nobody@mixed.test']!.enhanced, '5.1.1');
    assert.equal(by['nobody@mixed.test']!.message, '<nobody@mixed.test>: User unknown');
    assert.equal(by['nobody@mixed.test']!.remoteMta, 'mx.mixed.test');
    assert.deepEqual(p.messages[0]!.rcptTo, ['ok@mixed.test']);
    // PIPELINING was offered: MAIL, RCPTs and DATA went out in one batch (RFC 2920); the peer saw them in order
    assert.deepEqual(p.sessions[0]!.commands.slice(1, 6).map((c) => c.split(':')[0]), ['MAIL FROM', 'RCPT TO', 'RCPT TO', 'RCPT TO', 'DATA']);
  });

  test('all recipients refused: no DATA (RFC 5321 §3.3)', async () => {
    mx('allfail.test', [['mx.allfail.test', '127.0.0.3']]);
    const p = await peer({ extensions: ['8BITMIME'], onRcpt: (r) => (r.startsWith('a') ? '550 5.1.1 no' : '451 4.3.0 try later') });
    const m = fx.message(['a@allfail.test', 'b@allfail.test']);
    const res = (await fx.delivery().deliver('allfail.test', [m])).get(m.id)!;
    assert.deepEqual(res.map((r) => r.outcome), ['perm', 'temp']);
    assert.ok(!p.sessions[0]!.commands.includes('DATA'), p.sessions[0]!.commands.join('|'));
  });

  test('5xx at end of data: permanent for the accepted recipients', async () => {
    mx('dataperm.test', [['mx.dataperm.test', '127.0.0.3']]);
    await peer({ onRcpt: (r) => (r.startsWith('b') ? '550 5.1.1 unknown' : undefined), onMessage: () => '554 5.7.1 spam' });
    const m = fx.message(['a@dataperm.test', 'b@dataperm.test']);
    const res = (await fx.delivery().deliver('dataperm.test', [m])).get(m.id)!;
    assert.deepEqual(res.map((r) => [r.outcome, r.code, r.enhanced]), [
      ['perm', 554, '5.7.1'],
      ['perm', 550, '5.1.1'],
    ]);
    assert.equal(res[0]!.message, 'spam');
  });

  test('MAIL FROM 4xx at the first MX: the second MX takes it', async () => {
    mx('mail4xx.test', [
      ['mx1.mail4xx.test', '127.0.0.3'],
      ['mx2.mail4xx.test', '127.0.0.5'],
    ]);
    await peer({ onMail: () => '451 4.3.2 not now' });
    const p2 = await peer({ host: '127.0.0.5' });
    const m = fx.message(['a@mail4xx.test']);
    const r = (await fx.delivery().deliver('mail4xx.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.equal(r.remoteMta, 'mx2.mail4xx.test');
    assert.equal(p2.messages.length, 1);
  });

  test('4xx then 250 on the next attempt', async () => {
    mx('retry.test', [['mx.retry.test', '127.0.0.3']]);
    let n = 0;
    const p = await peer({ onRcpt: () => (n++ === 0 ? '450 4.7.1 greylisted, try again' : undefined) });
    const d = fx.delivery();
    const m = fx.message(['a@retry.test']);
    const r1 = (await d.deliver('retry.test', [m])).get(m.id)![0]!;
    assert.equal(r1.outcome, 'temp');
    assert.equal(r1.enhanced, '4.7.1');
    const r2 = (await d.deliver('retry.test', [m])).get(m.id)![0]!;
    assert.equal(r2.outcome, 'ok');
    assert.equal(p.messages.length, 1);
  });

  test('null sender (bounces) is sent as MAIL FROM:<>', async () => {
    mx('nullsender.test', [['mx.nullsender.test', '127.0.0.3']]);
    const p = await peer();
    const m = fx.message(['a@nullsender.test'], { sender: '' });
    const r = (await fx.delivery().deliver('nullsender.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.equal(p.messages[0]!.mailFrom, '');
  });
});

describe('hostile or broken servers', () => {
  test('greeting 421 at the first MX, 554 at the second, third accepts', async () => {
    mx('greet.test', [
      ['mx1.greet.test', '127.0.0.3'],
      ['mx2.greet.test', '127.0.0.5'],
      ['mx3.greet.test', '127.0.0.6'],
    ]);
    await peer({ greeting: '421 4.3.2 too busy' });
    await peer({ host: '127.0.0.5', greeting: '554 5.7.1 no service for you' });
    const p3 = await peer({ host: '127.0.0.6' });
    const m = fx.message(['a@greet.test']);
    const r = (await fx.delivery().deliver('greet.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p3.messages.length, 1);
  });

  test('only MX greets 554: temporary (another attempt later), reply kept', async () => {
    mx('greet554.test', [['mx.greet554.test', '127.0.0.3']]);
    await peer({ greeting: '554 5.7.1 go away' });
    const m = fx.message(['a@greet554.test']);
    const r = (await fx.delivery().deliver('greet554.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.equal(r.code, 554);
    assert.match(r.message, /go away/);
  });

  test('connection dropped mid-DATA: temporary; the next MX gets the message', async () => {
    mx('drop.test', [
      ['mx1.drop.test', '127.0.0.3'],
      ['mx2.drop.test', '127.0.0.5'],
    ]);
    await peer({ onDataChunk: () => 'drop' });
    const p2 = await peer({ host: '127.0.0.5' });
    // larger than the socket buffers, so that the drop happens while the body is still being sent
    const m = fx.message(['a@drop.test'], { body: ('x'.repeat(998) + '\r\n').repeat(8000) });
    const r = (await fx.delivery().deliver('drop.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p2.messages.length, 1);
    const first = fx.logs.attempts(m.id)[0];
    assert.equal(first.results[0].outcome, 'temp');
  });

  test('no reply after the end of data: temporary, not sent to another MX (a duplicate is better than a loss, but only later)', async () => {
    mx('noend.test', [
      ['mx1.noend.test', '127.0.0.3'],
      ['mx2.noend.test', '127.0.0.5'],
    ]);
    await peer({ onMessage: () => 'drop' });
    const p2 = await peer({ host: '127.0.0.5' });
    const m = fx.message(['a@noend.test']);
    const r = (await fx.delivery().deliver('noend.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.equal(p2.sessions.length, 0);
  });

  test('garbage instead of a greeting: temporary', async () => {
    mx('garbage.test', [['mx.garbage.test', '127.0.0.3']]);
    await peer({ greeting: 'HTTP/1.1 400 Bad Request' });
    const m = fx.message(['a@garbage.test']);
    const r = (await fx.delivery().deliver('garbage.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
  });

  test('garbage reply to RCPT: temporary', async () => {
    mx('garbage2.test', [['mx.garbage2.test', '127.0.0.3']]);
    await peer({ onRcpt: () => 'what?' });
    const m = fx.message(['a@garbage2.test']);
    const r = (await fx.delivery().deliver('garbage2.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
  });

  test('421 to RCPT (server shutting down): temporary for all', async () => {
    mx('r421.test', [['mx.r421.test', '127.0.0.3']]);
    await peer({ onRcpt: () => '421 4.3.2 shutting down' });
    const m = fx.message(['a@r421.test', 'b@r421.test']);
    const res = (await fx.delivery().deliver('r421.test', [m])).get(m.id)!;
    assert.deepEqual(res.map((r) => r.outcome), ['temp', 'temp']);
  });
});

describe('timeouts (RFC 5321 §4.5.3.2)', () => {
  test('slow greeting: next MX', async () => {
    mx('slowgreet.test', [
      ['mx1.slowgreet.test', '127.0.0.3'],
      ['mx2.slowgreet.test', '127.0.0.5'],
    ]);
    await peer({ delays: { GREETING: 2000 } });
    const p2 = await peer({ host: '127.0.0.5' });
    const m = fx.message(['a@slowgreet.test']);
    const t0 = Date.now();
    const r = (await fx.delivery({ timeouts: { greeting: 300 } }).deliver('slowgreet.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p2.messages.length, 1);
    assert.ok(Date.now() - t0 < 1900);
  });

  test('slow RCPT reply: temporary after the rcpt timeout', async () => {
    mx('slowrcpt.test', [['mx.slowrcpt.test', '127.0.0.3']]);
    await peer({ delays: { RCPT: 2000 } });
    const m = fx.message(['a@slowrcpt.test']);
    const t0 = Date.now();
    const r = (await fx.delivery({ timeouts: { rcpt: 300 } }).deliver('slowrcpt.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.match(r.message, /timeout/);
    assert.ok(Date.now() - t0 < 1900);
  });

  test('slow reply to the end of data: temporary after the dataEnd timeout', async () => {
    mx('slowend.test', [['mx.slowend.test', '127.0.0.3']]);
    await peer({ delays: { '.': 2000 } });
    const m = fx.message(['a@slowend.test']);
    const r = (await fx.delivery({ timeouts: { dataEnd: 300 } }).deliver('slowend.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.match(r.message, /timeout/);
  });

  test('a slow connect (nothing answers) is bounded by the connect timeout', async () => {
    // 192.0.2.1 (TEST-NET-1) is not routed: the SYN goes nowhere. Without a route the connect fails at once: both are fine.
    dns.set('blackhole.test', { A: ['192.0.2.1'] });
    const m = fx.message(['a@blackhole.test']);
    const t0 = Date.now();
    const r = (await fx.delivery({ timeouts: { connect: 300 } }).deliver('blackhole.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 < 2000);
  });
});

describe('connection reuse and concurrency', () => {
  test('three messages over one connection with RSET between', async () => {
    mx('reuse.test', [['mx.reuse.test', '127.0.0.3']]);
    const p = await peer();
    const msgs = [fx.message(['a@reuse.test']), fx.message(['b@reuse.test']), fx.message(['c@reuse.test'])];
    const res = await fx.delivery({ maxConnectionsPerDestination: 1 }).deliver('reuse.test', msgs);
    for (const m of msgs) assert.equal(res.get(m.id)![0]!.outcome, 'ok');
    assert.equal(p.sessions.length, 1);
    assert.equal(p.messages.length, 3);
    assert.equal(p.sessions[0]!.commands.filter((c) => c === 'RSET').length, 2);
  });

  test('maxMessagesPerConnection bounds reuse', async () => {
    mx('reuse2.test', [['mx.reuse2.test', '127.0.0.3']]);
    const p = await peer();
    const msgs = [1, 2, 3, 4, 5].map(() => fx.message(['a@reuse2.test']));
    await fx.delivery({ maxConnectionsPerDestination: 1, maxMessagesPerConnection: 2 }).deliver('reuse2.test', msgs);
    assert.equal(p.messages.length, 5);
    assert.equal(p.sessions.length, 3);
  });

  test('at most maxConnectionsPerDestination connections, also across concurrent deliver() calls', async () => {
    mx('limit.test', [['mx.limit.test', '127.0.0.3']]);
    const p = await peer({ delays: { '.': 80 } });
    const d = fx.delivery({ maxConnectionsPerDestination: 2 });
    const a = Array.from({ length: 6 }, () => fx.message(['a@limit.test']));
    const b = Array.from({ length: 6 }, () => fx.message(['b@limit.test']));
    const [ra, rb] = await Promise.all([d.deliver('limit.test', a), d.deliver('limit.test', b)]);
    for (const m of a) assert.equal(ra.get(m.id)![0]!.outcome, 'ok');
    for (const m of b) assert.equal(rb.get(m.id)![0]!.outcome, 'ok');
    assert.equal(p.messages.length, 12);
    assert.equal(p.maxConcurrent, 2);
  });

  test('connection cache: two deliver() calls to the same MX share one TCP connection (RSET between)', async () => {
    mx('cache1.test', [['mx.cache1.test', '127.0.0.3']]);
    mx('cache1b.test', [['mx.cache1.test', '127.0.0.3']]); // another domain, same MX host: Postfix reuses by host too
    const p = await peer();
    const d = fx.delivery({ maxConnectionsPerDestination: 1 });
    const m1 = fx.message(['a@cache1.test']);
    const m2 = fx.message(['b@cache1.test']);
    const m3 = fx.message(['c@cache1b.test']);
    assert.equal((await d.deliver('cache1.test', [m1])).get(m1.id)![0]!.outcome, 'ok');
    assert.equal((await d.deliver('cache1.test', [m2])).get(m2.id)![0]!.outcome, 'ok');
    assert.equal((await d.deliver('cache1b.test', [m3])).get(m3.id)![0]!.outcome, 'ok');
    assert.equal(p.messages.length, 3);
    assert.equal(p.sessions.length, 1, 'one connection for the three calls');
    assert.deepEqual(p.sessions[0]!.commands.filter((c) => /^(EHLO|RSET|QUIT)/.test(c)).map((c) => c.slice(0, 4)), ['EHLO', 'RSET', 'RSET']);
    assert.deepEqual(d.stats, { opened: 1, reused: 2 });
  });

  test('connection cache: an error closes the session and the next call opens a new connection', async () => {
    mx('cache2.test', [['mx.cache2.test', '127.0.0.3']]);
    const p = await peer({ onRcpt: (rcpt) => (rcpt.startsWith('drop@') ? 'drop' : undefined) });
    const d = fx.delivery({ maxConnectionsPerDestination: 1 });
    const m1 = fx.message(['a@cache2.test']);
    const bad = fx.message(['drop@cache2.test']);
    const m3 = fx.message(['c@cache2.test']);
    assert.equal((await d.deliver('cache2.test', [m1])).get(m1.id)![0]!.outcome, 'ok');
    assert.equal((await d.deliver('cache2.test', [bad])).get(bad.id)![0]!.outcome, 'temp'); // reused, then dropped
    assert.equal((await d.deliver('cache2.test', [m3])).get(m3.id)![0]!.outcome, 'ok');
    assert.equal(p.sessions.length, 2, 'the broken session was not reused');
    assert.equal(p.sessions[1]!.commands.filter((c) => c === 'RSET').length, 0);
    assert.deepEqual(d.stats, { opened: 2, reused: 1 });
  });

  test('connection cache: a cached session the peer closed is not used; expired sessions are closed (QUIT)', async () => {
    mx('cache3.test', [['mx.cache3.test', '127.0.0.3']]);
    let p = await peer();
    const d = fx.delivery({ maxConnectionsPerDestination: 1, connectionCacheTimeMs: 300 });
    const m1 = fx.message(['a@cache3.test']);
    assert.equal((await d.deliver('cache3.test', [m1])).get(m1.id)![0]!.outcome, 'ok');
    // The peer goes away while our session is idle; a new one listens at the same address and port.
    await p.close();
    peers.splice(peers.indexOf(p), 1);
    p = await peer();
    const m2 = fx.message(['b@cache3.test']);
    assert.equal((await d.deliver('cache3.test', [m2])).get(m2.id)![0]!.outcome, 'ok');
    assert.equal(p.sessions.length, 1);
    assert.equal(p.messages.length, 1);
    // Idle longer than connectionCacheTimeMs: the session is closed with QUIT and the next call connects anew.
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(p.sessions[0]!.commands.includes('QUIT'), `commands: ${p.sessions[0]!.commands.join(',')}`);
    const m3 = fx.message(['c@cache3.test']);
    assert.equal((await d.deliver('cache3.test', [m3])).get(m3.id)![0]!.outcome, 'ok');
    assert.equal(p.sessions.length, 2);
    assert.equal(d.stats.reused, 0);
  });

  test('connection cache off (connectionCacheTimeMs 0): every call connects and QUITs', async () => {
    mx('cache4.test', [['mx.cache4.test', '127.0.0.3']]);
    const p = await peer();
    const d = fx.delivery({ maxConnectionsPerDestination: 1, connectionCacheTimeMs: 0 });
    for (const a of ['a', 'b']) {
      const m = fx.message([`${a}@cache4.test`]);
      assert.equal((await d.deliver('cache4.test', [m])).get(m.id)![0]!.outcome, 'ok');
    }
    assert.equal(p.sessions.length, 2);
    assert.ok(p.sessions[0]!.commands.includes('QUIT'));
  });

  test('a dead MX is not reconnected for every message of the batch', async () => {
    mx('deadcache.test', [
      ['mx1.deadcache.test', '127.0.0.5'],
      ['mx2.deadcache.test', '127.0.0.3'],
    ]);
    const p = await peer({ host: '127.0.0.3' });
    const slow = await peer({ host: '127.0.0.5', delays: { GREETING: 3000 } });
    const msgs = [1, 2, 3].map(() => fx.message(['a@deadcache.test']));
    const t0 = Date.now();
    await fx.delivery({ maxConnectionsPerDestination: 1, timeouts: { greeting: 300 } }).deliver('deadcache.test', msgs);
    assert.equal(p.messages.length, 3);
    assert.equal(slow.sessions.length, 1);
    assert.ok(Date.now() - t0 < 2500);
  });
});

describe('STARTTLS (RFC 3207)', () => {
  test('used when offered (self-signed certificate accepted for MX delivery)', async () => {
    mx('tls.test', [['mx.tls.test', '127.0.0.3']]);
    const p = await peer({ starttls: true });
    const m = fx.message(['a@tls.test']);
    const r = (await fx.delivery().deliver('tls.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.messages[0]!.tls, true);
    assert.equal(fx.logs.attempts(m.id)[0].tls, true);
  });

  test('failed handshake: retried without TLS', async () => {
    mx('badtls.test', [['mx.badtls.test', '127.0.0.3']]);
    const p = await peer({ starttls: 'broken' });
    const m = fx.message(['a@badtls.test']);
    const r = (await fx.delivery().deliver('badtls.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.sessions.length, 2);
    assert.equal(p.messages[0]!.tls, false);
    assert.ok(!p.sessions[1]!.commands.includes('STARTTLS'));
  });
});

describe('8BITMIME and SMTPUTF8 (RFC 6152, RFC 6531)', () => {
  test('8-bit message: BODY=8BITMIME sent when offered', async () => {
    mx('eightbit.test', [['mx.eightbit.test', '127.0.0.3']]);
    const p = await peer();
    const m = fx.message(['a@eightbit.test'], { body: Buffer.from('Grüße\r\n', 'utf8'), body8bit: true });
    const r = (await fx.delivery().deliver('eightbit.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.match(p.messages[0]!.mailParams, /BODY=8BITMIME/);
    assert.ok(p.messages[0]!.data.equals(readFileSync(m.bodyPath)));
  });

  test('8-bit message, peer without 8BITMIME: permanent 5.6.3, nothing sent', async () => {
    mx('no8bit.test', [['mx.no8bit.test', '127.0.0.3']]);
    const p = await peer({ extensions: ['PIPELINING'] });
    const m = fx.message(['a@no8bit.test'], { body: Buffer.from('Grüße\r\n', 'utf8'), body8bit: true });
    const r = (await fx.delivery().deliver('no8bit.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'perm');
    assert.equal(r.enhanced, '5.6.3');
    assert.match(r.message, /does not support 8BITMIME/);
    assert.ok(!p.sessions[0]!.commands.some((c) => c.startsWith('MAIL')));
  });

  test('SMTPUTF8 message: SMTPUTF8 on MAIL FROM even with ASCII addresses', async () => {
    mx('utf8.test', [['mx.utf8.test', '127.0.0.3']]);
    const p = await peer();
    const m = fx.message(['a@utf8.test'], { body: Buffer.from('x\r\n'), smtputf8: true, body8bit: true });
    const r = (await fx.delivery().deliver('utf8.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok');
    assert.match(p.messages[0]!.mailParams, /SMTPUTF8/);
  });

  test('SMTPUTF8 message, peer without SMTPUTF8: permanent 5.6.7', async () => {
    mx('noutf8.test', [['mx.noutf8.test', '127.0.0.3']]);
    await peer({ extensions: ['PIPELINING', '8BITMIME'] });
    const m = fx.message(['jörg@noutf8.test'], { smtputf8: true });
    const r = (await fx.delivery().deliver('noutf8.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'perm');
    assert.equal(r.enhanced, '5.6.7');
  });
});

describe('transport map and relayhost', () => {
  test('transportMap: per-domain next hop, no MX lookup', async () => {
    const p = await peer({ host: '127.0.0.7' });
    const m = fx.message(['a@routed.test']);
    const d = fx.delivery({ transportMap: { 'routed.test': { host: '127.0.0.7', port: p.port } } });
    const r = (await d.deliver('routed.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.messages.length, 1);
    assert.ok(!dns.queries.some((q) => q.name === 'routed.test'));
  });

  test('relayhost with AUTH PLAIN on loopback (tls none): credentials checked by the peer', async () => {
    const p = await peer({ host: '127.0.0.7', auth: { user: 'relayuser', pass: 's3cret' }, requireAuth: true });
    const m = fx.message(['a@anywhere.test']);
    const d = fx.delivery({ relayhost: { host: '127.0.0.7', port: p.port, tls: 'none', auth: { user: 'relayuser', pass: 's3cret' } } });
    const r = (await d.deliver('anywhere.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.messages[0]!.auth, 'relayuser');
  });

  test('relayhost with AUTH over STARTTLS', async () => {
    const p = await peer({ host: '127.0.0.7', starttls: true, auth: { user: 'u', pass: 'p' }, requireAuth: true });
    const m = fx.message(['a@anywhere2.test']);
    const d = fx.delivery({
      relayhost: { host: '127.0.0.7', port: p.port, tls: 'starttls', auth: { user: 'u', pass: 'p' } },
      tlsOptions: { rejectUnauthorized: false },
    });
    const r = (await d.deliver('anywhere2.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'ok', r.message);
    assert.equal(p.messages[0]!.tls, true);
    assert.equal(p.messages[0]!.auth, 'u');
  });

  test('relayhost: wrong password is temporary; no credentials over plaintext; relay 5xx is permanent', async () => {
    const p = await peer({ host: '127.0.0.7', auth: { user: 'u', pass: 'p' }, requireAuth: true, onRcpt: (r) => (r.startsWith('bad') ? '550 5.1.1 no such user' : undefined) });
    const m1 = fx.message(['a@x1.test']);
    const wrong = fx.delivery({ relayhost: { host: '127.0.0.7', port: p.port, tls: 'none', auth: { user: 'u', pass: 'wrong' } } });
    const r1 = (await wrong.deliver('x1.test', [m1])).get(m1.id)![0]!;
    assert.equal(r1.outcome, 'temp');
    assert.match(r1.message, /authentication .* failed/);

    const before = p.sessions.length;
    const plain = fx.delivery({ relayhost: { host: '127.0.0.7', port: p.port, tls: 'opportunistic', auth: { user: 'u', pass: 'p' } } });
    const r2 = (await plain.deliver('x1.test', [m1])).get(m1.id)![0]!;
    assert.equal(r2.outcome, 'temp');
    assert.match(r2.message, /without TLS/);
    assert.ok(p.sessions.length > before);
    assert.ok(!p.sessions.slice(before).some((s) => s.commands.some((c) => c.startsWith('AUTH'))), 'no AUTH over plaintext');

    const ok = fx.delivery({ relayhost: { host: '127.0.0.7', port: p.port, tls: 'none', auth: { user: 'u', pass: 'p' } } });
    const m3 = fx.message(['bad@x3.test', 'good@x3.test']);
    const r3 = (await ok.deliver('x3.test', [m3])).get(m3.id)!;
    assert.deepEqual(r3.map((r) => r.outcome), ['perm', 'ok']);
  });

  test('next hop with implicit TLS (port 465 style), certificate verified against a configured CA', async () => {
    const { selfSignedCert } = await import('../helpers/peers.js');
    const p = await peer({ host: '127.0.0.7', implicitTls: true });
    const m = fx.message(['a@tls465.test']);
    const hop = { host: '127.0.0.7', port: p.port, tls: 'implicit' as const };
    // the self-signed certificate is not trusted by default: temporary failure
    const r1 = (await fx.delivery({ transportMap: { 'TLS465.test': hop } }).deliver('tls465.test', [m])).get(m.id)![0]!;
    assert.equal(r1.outcome, 'temp');
    assert.equal(p.messages.length, 0);
    const d = fx.delivery({
      transportMap: { 'tls465.test': hop },
      tlsOptions: { ca: selfSignedCert().cert, checkServerIdentity: () => undefined },
    });
    const r2 = (await d.deliver('tls465.test', [m])).get(m.id)![0]!;
    assert.equal(r2.outcome, 'ok', r2.message);
    assert.equal(p.messages[0]!.tls, true);
  });

  test('relayhost down: temporary', async () => {
    const m = fx.message(['a@x4.test']);
    const d = fx.delivery({ relayhost: { host: '127.0.0.8', port: await freePort('127.0.0.8'), tls: 'none' } });
    const r = (await d.deliver('x4.test', [m])).get(m.id)![0]!;
    assert.equal(r.outcome, 'temp');
    assert.equal(r.enhanced, '4.4.1');
  });
});
