/** The test DNS server helper itself, through Node's resolver (what NodeResolver uses). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, txtChunks, type TestDnsServer } from '../helpers/dns-server.js';

let dns: TestDnsServer;
const longKey = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(600);
before(async () => {
  dns = await startDnsServer({
    'example.test': { MX: [{ exchange: 'mx.example.test', priority: 10 }], TXT: ['v=spf1 -all', ['part1', 'part2']] },
    'mx.example.test': { A: ['127.0.0.2'], AAAA: ['::1'] },
    'sel._domainkey.example.test': { TXT: [longKey] },
    'www.example.test': { CNAME: 'mx.example.test' },
    '2.0.0.127.in-addr.arpa': { PTR: ['mx.example.test'] },
    'null.test': { MX: [{ exchange: '.', priority: 0 }] },
  });
});
after(() => dns.close());

test('A, AAAA, MX, CNAME, PTR', async () => {
  const r = dns.resolver();
  assert.deepEqual(await r.resolveMx('example.test'), [{ exchange: 'mx.example.test', priority: 10 }]);
  assert.deepEqual(await r.resolve4('MX.example.test.'), ['127.0.0.2']);
  assert.deepEqual(await r.resolve6('mx.example.test'), ['::1']);
  assert.deepEqual(await r.resolve4('www.example.test'), ['127.0.0.2']);
  assert.deepEqual(await r.reverse('127.0.0.2'), ['mx.example.test']);
  assert.deepEqual(await r.resolveMx('null.test'), [{ exchange: '', priority: 0 }]);
});

test('TXT: chunks kept, values over 255 bytes split (and answered over TCP when truncated)', async () => {
  const r = dns.resolver();
  const txt = await r.resolveTxt('example.test');
  assert.deepEqual(txt.sort(), [['part1', 'part2'], ['v=spf1 -all']].sort());
  const dkim = await r.resolveTxt('sel._domainkey.example.test');
  assert.equal(dkim.length, 1);
  assert.equal(dkim[0]!.length, 3);
  assert.equal(dkim[0]!.join(''), longKey);
  assert.deepEqual(txtChunks('é'.repeat(200)).map((c) => Buffer.byteLength(c) <= 255), [true, true]);
});

test('NXDOMAIN, NODATA, SERVFAIL, TIMEOUT give Node codes ENOTFOUND, ENODATA, ESERVFAIL, ETIMEOUT', async () => {
  const r = dns.resolver({ timeoutMs: 200, tries: 1 });
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: NodeJS.ErrnoException) => e.code);
  assert.equal(await code(r.resolve4('nope.example.test')), 'ENOTFOUND');
  assert.equal(await code(r.resolveMx('mx.example.test')), 'ENODATA');
  dns.fault('example.test', 'SERVFAIL');
  dns.fault('mx.example.test', 'TIMEOUT', 'A');
  dns.fault('www.example.test', 'NXDOMAIN');
  assert.equal(await code(r.resolveMx('example.test')), 'ESERVFAIL');
  assert.equal(await code(r.resolve4('mx.example.test')), 'ETIMEOUT');
  assert.deepEqual(await r.resolve6('mx.example.test'), ['::1']);
  assert.equal(await code(r.resolve4('www.example.test')), 'ENOTFOUND');
  dns.fault('mx.example.test', 'NODATA');
  assert.equal(await code(r.resolve6('mx.example.test')), 'ENODATA');
  dns.clearFaults();
  dns.set('new.test', { A: ['127.0.0.9'] });
  assert.deepEqual(await r.resolve4('new.test'), ['127.0.0.9']);
  dns.set('new.test', null);
  assert.equal(await code(r.resolve4('new.test')), 'ENOTFOUND');
  assert.ok(dns.queries.some((q) => q.name === 'new.test' && q.type === 'A'));
});
