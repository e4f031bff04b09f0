/** findMx (RFC 5321 §5.1, RFC 7505), reply parsing (RFC 3463) and the limiter, with the local DNS server. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { findMx } from '../../src/delivery/mx.js';
import { parseReply, formatReply } from '../../src/delivery/reply.js';
import { KeyedLimiter } from '../../src/delivery/limiter.js';
import type { Resolver } from '../../src/dns/resolver.js';

let dns: TestDnsServer;
let r: Resolver;
before(async () => {
  dns = await startDnsServer({
    'eq.test': {
      MX: [
        { exchange: 'a.eq.test', priority: 10 },
        { exchange: 'b.eq.test', priority: 10 },
        { exchange: 'c.eq.test', priority: 5 },
      ],
    },
    'a.eq.test': { A: ['127.0.0.10'] },
    'b.eq.test': { A: ['127.0.0.11'], AAAA: ['::1'] },
    'c.eq.test': { A: ['127.0.0.12'] },
    'noaddr.test': { TXT: ['v=spf1 -all'] },
    'mxnx.test': { MX: [{ exchange: 'gone.mxnx.test', priority: 10 }] },
    'mixednull.test': { MX: [{ exchange: '.', priority: 0 }, { exchange: 'real.mixednull.test', priority: 10 }] },
    'real.mixednull.test': { A: ['127.0.0.13'] },
    'Upper.Test': { MX: [{ exchange: 'MX.Upper.Test.', priority: 1 }] },
    'mx.upper.test': { A: ['127.0.0.14'] },
  });
  r = dns.resolver();
});
after(() => dns.close());

test('equal preferences come in random order, lower preference first', async () => {
  const orders = new Set<string>();
  for (let i = 0; i < 40 && orders.size < 2; i++) {
    const res = await findMx(r, 'eq.test');
    assert.ok(res.ok);
    assert.equal(res.targets[0]!.host, 'c.eq.test');
    orders.add(res.targets.slice(1).map((t) => t.host).join(','));
  }
  assert.deepEqual([...orders].sort(), ['a.eq.test,b.eq.test', 'b.eq.test,a.eq.test']);
});

test('addresses: IPv4 then IPv6 by default, families configurable', async () => {
  const res = await findMx(r, 'eq.test');
  assert.ok(res.ok);
  assert.deepEqual(res.targets.find((t) => t.host === 'b.eq.test')!.addresses, ['127.0.0.11', '::1']);
  const v6 = await findMx(r, 'eq.test', { families: ['ipv6', 'ipv4'] });
  assert.ok(v6.ok);
  assert.deepEqual(v6.targets.find((t) => t.host === 'b.eq.test')!.addresses, ['::1', '127.0.0.11']);
});

test('implicit MX without an address: permanent 5.4.4', async () => {
  const res = await findMx(r, 'noaddr.test');
  assert.ok(!res.ok);
  assert.equal(res.failure.outcome, 'perm');
  assert.equal(res.failure.enhanced, '5.4.4');
});

test('MX host that does not exist: temporary (misconfiguration may be fixed), 4.4.4', async () => {
  const res = await findMx(r, 'mxnx.test');
  assert.ok(!res.ok);
  assert.equal(res.failure.outcome, 'temp');
  assert.equal(res.failure.enhanced, '4.4.4');
});

test('a null MX among real ones is ignored; names are normalised', async () => {
  const res = await findMx(r, 'mixednull.test');
  assert.ok(res.ok);
  assert.deepEqual(res.targets.map((t) => t.host), ['real.mixednull.test']);
  const up = await findMx(r, 'upper.test');
  assert.ok(up.ok);
  assert.equal(up.targets[0]!.host, 'mx.upper.test');
});

test('own host name among the MX: it and every less preferred MX are dropped', async () => {
  const res = await findMx(r, 'eq.test', { ownHostnames: ['A.eq.test'] });
  assert.ok(res.ok);
  assert.deepEqual(res.targets.map((t) => t.host), ['c.eq.test']);
  const loop = await findMx(r, 'eq.test', { ownHostnames: ['c.eq.test.'] });
  assert.ok(!loop.ok);
  assert.equal(loop.failure.enhanced, '5.4.6');
});

test('NODATA for MX with an A record is an implicit MX; per-type faults', async () => {
  dns.set('partial.test', { A: ['127.0.0.15'] });
  dns.fault('partial.test', 'SERVFAIL', 'MX');
  const res = await findMx(r, 'partial.test');
  assert.ok(!res.ok);
  assert.equal(res.failure.outcome, 'temp');
  dns.clearFaults();
  const ok = await findMx(r, 'partial.test');
  assert.ok(ok.ok);
  assert.equal(ok.implicit, true);
  assert.deepEqual(ok.targets[0]!.addresses, ['127.0.0.15']);
});

test('parseReply: multi-line, enhanced codes, class mismatch, garbage', () => {
  assert.deepEqual(parseReply('550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 Please try again.'), {
    code: 550,
    enhanced: '5.1.1',
    text: 'The email account that you tried to reach does not exist. Please try again.',
  });
  assert.deepEqual(parseReply('250 2.0.0 Ok: queued as ABC'), { code: 250, enhanced: '2.0.0', text: 'Ok: queued as ABC' });
  assert.deepEqual(parseReply('450 5.1.1 mismatch'), { code: 450, text: '5.1.1 mismatch' });
  assert.deepEqual(parseReply('421 closing'), { code: 421, text: 'closing' });
  assert.equal(parseReply('hello'), null);
  assert.equal(parseReply(''), null);
  assert.equal(formatReply({ code: 550, enhanced: '5.1.1', text: 'x' }), '550 5.1.1 x');
  assert.equal(parseReply('550 a\x01b')!.text, 'a?b');
});

test('KeyedLimiter: at most N per key, FIFO', async () => {
  const l = new KeyedLimiter(2);
  const r1 = await l.acquire('k');
  const r2 = await l.acquire('k');
  const other = await l.acquire('other');
  const order: number[] = [];
  const w3 = l.acquire('k').then((rel) => (order.push(3), rel));
  const w4 = l.acquire('k').then((rel) => (order.push(4), rel));
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(order, []);
  r1();
  r1(); // double release is harmless
  const rel3 = await w3;
  assert.deepEqual(order, [3]);
  r2();
  const rel4 = await w4;
  assert.deepEqual(order, [3, 4]);
  assert.equal(l.inUse('k'), 2);
  rel3();
  rel4();
  other();
  assert.equal(l.inUse('k'), 0);
});
