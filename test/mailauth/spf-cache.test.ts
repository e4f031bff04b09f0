/**
 * SPF results reused while their DNS answers are cached (src/mailauth/authenticate.ts cachedSpf): the same result
 * as mailauth's spf() every time, re-evaluated as soon as one of the answers it used expires, never kept when an
 * answer was not cacheable (SERVFAIL), separate per resolver, and keyed by every input (a macro on the local part).
 * DMARC results (cachedDmarc) the same way: keyed by the From, the SPF and DKIM domains and the ARC result.
 */
import '../../src/mailauth/pubkey-cache.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spf, dmarc } from 'mailauth';
import { authenticateConcurrently, spfCacheStats, dmarcCacheStats } from '../../src/mailauth/authenticate.js';
import { CachingResolver } from '../../src/mailauth/resolver.js';
import type { Resolver } from '../../src/dns/resolver.js';

const msg = Buffer.from('From: <a@spf.test>\r\nTo: <u@example.test>\r\nSubject: s\r\n\r\nbody\r\n');

/** A base resolver over a mutable zone; SERVFAIL for names listed in `fail`. */
function zoneResolver(zone: Record<string, string[][]>, fail = new Set<string>()): Resolver & { asked: number } {
  const r = {
    asked: 0,
    async resolve(name: string, type: string) {
      r.asked++;
      if (fail.has(name)) throw Object.assign(new Error('servfail'), { code: 'ESERVFAIL' });
      // TXT from the zone; A (for exists:) answered for every name in the zone.
      const v = type === 'TXT' ? zone[name.toLowerCase()] : type === 'A' && zone[name.toLowerCase()] ? ['127.0.0.2'] : undefined;
      if (!v) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
      return v;
    },
    resolveMx: async () => [],
    resolveTxt: async () => [],
    resolve4: async () => [],
    resolve6: async () => [],
    reverse: async () => [],
  };
  return r;
}

const run = (resolver: CachingResolver['resolve'], sender: string, ip = '127.0.0.1') =>
  authenticateConcurrently(msg, { ip, helo: 'client.test', sender, mta: 'mx.example.test', resolver });

test('a repeated evaluation is served from the cache with exactly mailauth\'s result; inputs are all in the key', async () => {
  const zone = { 'spf.test': [['v=spf1 ip4:127.0.0.1 exists:%{l}.allow.spf.test -all']], 'bob.allow.spf.test': [['x']] };
  const cr = new CachingResolver(zoneResolver(zone));
  const h0 = spfCacheStats.hits;
  const first = await run(cr.resolve, 'alice@spf.test');
  const second = await run(cr.resolve, 'alice@spf.test');
  assert.equal(spfCacheStats.hits - h0, 1);
  const direct = await spf({ ip: '127.0.0.1', helo: 'client.test', sender: 'alice@spf.test', mta: 'mx.example.test', resolver: cr.resolve } as never);
  assert.deepEqual(second.spf, direct);
  assert.deepEqual(second.spf, first.spf);
  assert.equal(second.headers, first.headers);
  // A copy each time: changing one result does not change the next.
  (second.spf as { status: { result: string } }).status.result = 'changed';
  assert.equal(((await run(cr.resolve, 'alice@spf.test')).spf as { status: { result: string } }).status.result, 'pass');
  // Other IP, other local part (the exists: macro): evaluated, not served from alice's entry.
  assert.equal(((await run(cr.resolve, 'alice@spf.test', '192.0.2.1')).spf as { status: { result: string } }).status.result, 'fail');
  assert.equal(((await run(cr.resolve, 'bob@spf.test', '192.0.2.1')).spf as { status: { result: string } }).status.result, 'pass');
});

test('re-evaluated once an answer it used expires; nothing kept after a SERVFAIL; one cache per resolver', async () => {
  const zone: Record<string, string[][]> = { 'spf.test': [['v=spf1 ip4:127.0.0.1 -all']] };
  const fail = new Set<string>();
  const base = zoneResolver(zone, fail);
  // A resolver whose cached answers expire 300 ms after they are read.
  const resolver = Object.assign((name: string, type: string) => base.resolve(name, type), { expiresAt: () => Date.now() + 300 });
  const result = async () => ((await run(resolver, 'a@spf.test')).spf as { status: { result: string } }).status.result;
  assert.equal(await result(), 'pass');
  zone['spf.test'] = [['v=spf1 -all']];
  assert.equal(await result(), 'pass', 'the answer it was computed from is still cached');
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(await result(), 'fail', 'expired: evaluated again with the new record');

  // SERVFAIL (not cacheable): temperror now, and the next message is evaluated again.
  const cr = new CachingResolver(base);
  fail.add('spf.test');
  assert.equal(((await run(cr.resolve, 'a@spf.test')).spf as { status: { result: string } }).status.result, 'temperror');
  fail.clear();
  assert.equal(((await run(cr.resolve, 'a@spf.test')).spf as { status: { result: string } }).status.result, 'fail');

  // Another resolver (another server, another DNS view) does not see this one's results.
  const other = new CachingResolver(zoneResolver({ 'spf.test': [['v=spf1 ip4:127.0.0.1 -all']] }));
  assert.equal(((await run(other.resolve, 'a@spf.test')).spf as { status: { result: string } }).status.result, 'pass');
});

test('DMARC: a repeated evaluation is served from the cache with exactly mailauth\'s result; From and SPF domain in the key; expiry and SERVFAIL', async () => {
  const zone: Record<string, string[][]> = {
    'spf.test': [['v=spf1 ip4:127.0.0.1 -all']],
    '_dmarc.spf.test': [['v=DMARC1; p=reject']],
    'other.test': [['v=spf1 ip4:127.0.0.1 -all']],
  };
  const fail = new Set<string>();
  const cr = new CachingResolver(zoneResolver(zone, fail));
  const mail = (from: string) => Buffer.from(`From: <${from}>\r\nTo: <u@example.test>\r\nSubject: s\r\n\r\nbody\r\n`);
  const check = (resolver: CachingResolver['resolve'] | ((n: string, t: string) => Promise<unknown>), from: string, sender: string, ip = '127.0.0.1') =>
    authenticateConcurrently(mail(from), { ip, helo: 'client.test', sender, mta: 'mx.example.test', resolver: resolver as CachingResolver['resolve'] });
  type D = { status: { result: string; comment?: string } };
  const h0 = dmarcCacheStats.hits;
  const first = await check(cr.resolve, 'a@spf.test', 'a@spf.test');
  const second = await check(cr.resolve, 'a@spf.test', 'a@spf.test');
  assert.equal(dmarcCacheStats.hits - h0, 1);
  assert.equal((second.dmarc as D).status.result, 'pass');
  const direct = await dmarc({ headerFrom: ['a@spf.test'], spfDomains: ['spf.test'], dkimDomains: [], arcResult: first.arc, resolver: cr.resolve } as never);
  assert.deepEqual(second.dmarc, direct);
  assert.deepEqual(second.dmarc, first.dmarc);
  assert.equal(second.headers, first.headers);
  // a copy each time (inbound.ts rewrites the result for strict alignment)
  (second.dmarc as D).status.result = 'changed';
  assert.equal(((await check(cr.resolve, 'a@spf.test', 'a@spf.test')).dmarc as D).status.result, 'pass');
  // SPF passes for another domain: not aligned, fail (not the cached pass); another From domain: its own policy (none)
  assert.equal(((await check(cr.resolve, 'a@spf.test', 'a@other.test')).dmarc as D).status.result, 'fail');
  assert.equal(((await check(cr.resolve, 'a@other.test', 'a@other.test')).dmarc as D).status.result, 'none');
  // a _dmarc answer that expires: the changed record is read once it has
  const base = zoneResolver(zone, fail);
  const expiring = Object.assign((name: string, type: string) => base.resolve(name, type), { expiresAt: () => Date.now() + 300 });
  assert.match(((await check(expiring, 'a@spf.test', 'a@spf.test')).dmarc as D).status.comment ?? '', /p=REJECT/);
  zone['_dmarc.spf.test'] = [['v=DMARC1; p=quarantine']];
  assert.match(((await check(expiring, 'a@spf.test', 'a@spf.test')).dmarc as D).status.comment ?? '', /p=REJECT/, 'still cached');
  await new Promise((r) => setTimeout(r, 350));
  assert.match(((await check(expiring, 'a@spf.test', 'a@spf.test')).dmarc as D).status.comment ?? '', /p=QUARANTINE/);
  // SERVFAIL on the _dmarc name: temperror, and nothing kept
  const cr2 = new CachingResolver(zoneResolver(zone, fail));
  fail.add('_dmarc.spf.test');
  assert.equal(((await check(cr2.resolve, 'a@spf.test', 'a@spf.test')).dmarc as D).status.result, 'temperror');
  fail.clear();
  assert.equal(((await check(cr2.resolve, 'a@spf.test', 'a@spf.test')).dmarc as D).status.result, 'pass');
});
