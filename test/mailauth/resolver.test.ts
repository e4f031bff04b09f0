/**
 * DNS caching for the inbound checks (src/mailauth/resolver.ts CachingResolver), counted at a DNS server the test
 * starts: a second identical inbound check on the MX asks nothing again; negative answers (NXDOMAIN, NODATA) are
 * cached, SERVFAIL is not; entries expire (A records after their TTL, others after at most 5 minutes, negative
 * after 60 s); errors carry the codes mailauth expects; SPF's 10-lookup limit gives permerror through the cache.
 */
import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { generateDkimKey, dnsRecordValue } from '../../src/dkim/keys.js';
import { CachingResolver } from '../../src/mailauth/resolver.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { WireClient } from '../helpers/smtp-client.js';
import { dkimpySign } from '../dkim/helpers.js';
import { ourResults, plainMessage, sendMx, startAuthMw, type AuthMw } from './helpers.js';

let dns: TestDnsServer;
let mw: AuthMw;
let rsa: { privateKey: string; publicKey: string };

before(async () => {
  rsa = await generateDkimKey('rsa-sha256');
  const includes: Record<string, { TXT: string[] }> = {};
  for (let i = 1; i <= 11; i++) includes[`i${i}.many.test`] = { TXT: ['v=spf1 ip4:10.9.9.9 -all'] };
  dns = await startDnsServer({
    'cache.test': { TXT: ['v=spf1 a:mx.cache.test -all'], A: ['127.0.0.9'] },
    'mx.cache.test': { A: ['127.0.0.3'] },
    '_dmarc.cache.test': { TXT: ['v=DMARC1; p=reject'] },
    'py._domainkey.cache.test': { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] },
    'neg.test': { A: ['127.0.0.9'] },
    'flaky.test': { TXT: ['v=spf1 -all'] },
    'many.test': { TXT: ['v=spf1 ' + [...Array(11).keys()].map((i) => `include:i${i + 1}.many.test`).join(' ') + ' -all'] },
    'ten.test': { TXT: ['v=spf1 ' + [...Array(10).keys()].map((i) => `include:i${i + 1}.many.test`).join(' ') + ' ip4:127.0.0.3 -all'] },
    ...includes,
  });
  mw = await startAuthMw({ dnsServers: dns.servers, domains: ['example.test'], users: ['bob@example.test'] });
});

after(async () => {
  WireClient.closeAll();
  await mw?.stop();
  await dns?.close();
});

const count = (from: number) => dns.queries.slice(from).length;

describe('inbound checks on the MX', () => {
  test('a second identical inbound check does not query the DNS server again', async () => {
    const msg = plainMessage({ from: 'alice@cache.test', to: 'bob@example.test', subject: 'cached' });
    const sig = await dkimpySign(Buffer.from(msg), { domain: 'cache.test', selector: 'py', privateKeyPem: rsa.privateKey, algorithm: 'rsa-sha256' });
    const send = () => sendMx(mw.smtpPort, { from: 'alice@cache.test', to: ['bob@example.test'], data: sig + msg, source: '127.0.0.3', helo: 'client.cache.test' });
    const q0 = dns.queries.length;
    const r1 = await send();
    assert.equal(r1.code, 250, r1.raw);
    const first = dns.queries.slice(q0);
    const names = new Set(first.map((q) => `${q.type} ${q.name}`));
    for (const n of ['TXT cache.test', 'A mx.cache.test', 'TXT py._domainkey.cache.test', 'TXT _dmarc.cache.test']) assert.ok(names.has(n), `${n} asked: ${[...names].join(', ')}`);
    const q1 = dns.queries.length;
    const r2 = await send();
    assert.equal(r2.code, 250, r2.raw);
    assert.deepEqual(dns.queries.slice(q1), [], 'nothing asked again');
    const files = mw.files('bob@example.test');
    assert.equal(files.length, 2);
    for (const f of files) assert.deepEqual([ourResults(f).methods.spf, ourResults(f).methods.dkim, ourResults(f).methods.dmarc], [['pass'], ['pass'], ['pass']]);
  });
});

describe('CachingResolver', () => {
  test('positive answers are cached (TXT, A, MX); names are case-insensitive', async () => {
    const c = new CachingResolver(dns.resolver());
    const q0 = dns.queries.length;
    assert.deepEqual(await c.resolve('cache.test', 'TXT'), [['v=spf1 a:mx.cache.test -all']]);
    assert.deepEqual(await c.resolve('mx.cache.test', 'A'), ['127.0.0.3']);
    assert.equal(count(q0), 2);
    assert.deepEqual(await c.resolve('CACHE.test', 'TXT'), [['v=spf1 a:mx.cache.test -all']]);
    assert.deepEqual(await c.resolve('mx.cache.test', 'a'), ['127.0.0.3']);
    assert.equal(count(q0), 2);
    assert.equal(c.hits, 2);
    assert.equal(c.misses, 2);
  });

  test('negative answers are cached with mailauth’s codes: NXDOMAIN -> ENOTFOUND, NODATA -> ENODATA', async () => {
    const c = new CachingResolver(dns.resolver());
    const q0 = dns.queries.length;
    await assert.rejects(c.resolve('_dmarc.nothing-here.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    await assert.rejects(c.resolve('neg.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    assert.equal(count(q0), 2);
    await assert.rejects(c.resolve('_dmarc.nothing-here.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    await assert.rejects(c.resolve('neg.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    assert.equal(count(q0), 2, 'negative answers came from the cache');
  });

  test('SERVFAIL is not cached: asked again next time, and the record is used once the server recovers', async () => {
    const c = new CachingResolver(dns.resolver());
    dns.fault('flaky.test', 'SERVFAIL', 'TXT');
    try {
      const q0 = dns.queries.length;
      await assert.rejects(c.resolve('flaky.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ESERVFAIL');
      const afterFirst = count(q0);
      assert.ok(afterFirst >= 1);
      await assert.rejects(c.resolve('flaky.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ESERVFAIL');
      assert.ok(count(q0) > afterFirst, 'asked the server again');
    } finally {
      dns.clearFaults();
    }
    assert.deepEqual(await c.resolve('flaky.test', 'TXT'), [['v=spf1 -all']]);
  });

  test('entries expire: A after its TTL (60 s here), TXT after 5 minutes, negative answers after 60 s', async () => {
    const c = new CachingResolver(dns.resolver());
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      await c.resolve('mx.cache.test', 'A');
      await c.resolve('cache.test', 'TXT');
      await assert.rejects(c.resolve('gone.test', 'TXT'));
      const q0 = dns.queries.length;
      mock.timers.tick(59_000);
      await c.resolve('mx.cache.test', 'A');
      await c.resolve('cache.test', 'TXT');
      await assert.rejects(c.resolve('gone.test', 'TXT'));
      assert.equal(count(q0), 0);
      mock.timers.tick(2_000); // 61 s
      await c.resolve('mx.cache.test', 'A');
      await assert.rejects(c.resolve('gone.test', 'TXT'));
      await c.resolve('cache.test', 'TXT');
      assert.deepEqual(dns.queries.slice(q0).map((q) => `${q.type} ${q.name}`), ['A mx.cache.test', 'TXT gone.test']);
      mock.timers.tick(300_000);
      const q1 = dns.queries.length;
      await c.resolve('cache.test', 'TXT');
      assert.deepEqual(dns.queries.slice(q1).map((q) => `${q.type} ${q.name}`), ['TXT cache.test']);
    } finally {
      mock.timers.reset();
    }
  });

  test('SPF through the cache: 10 lookups are allowed, the 11th gives permerror', async () => {
    const c = new CachingResolver(dns.resolver());
    const ten = await mailauthSpf({ sender: 'a@ten.test', ip: '127.0.0.3', helo: 'h.test', mta: 'mx.example.test', resolver: c.resolve });
    assert.equal(ten.status.result, 'pass', JSON.stringify(ten.status));
    const many = await mailauthSpf({ sender: 'a@many.test', ip: '127.0.0.3', helo: 'h.test', mta: 'mx.example.test', resolver: c.resolve });
    assert.equal(many.status.result, 'permerror', JSON.stringify(many.status));
    // and again from the cache: the limit counts lookups, not network queries
    const q0 = dns.queries.length;
    const again = await mailauthSpf({ sender: 'a@many.test', ip: '127.0.0.3', helo: 'h.test', mta: 'mx.example.test', resolver: c.resolve });
    assert.equal(again.status.result, 'permerror');
    assert.equal(count(q0), 0);
  });
});
