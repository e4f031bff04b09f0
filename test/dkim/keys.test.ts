/**
 * The DKIM key store (dkim_keys), its rotate/retire flow, keys made when a domain is added (AccountService), the
 * record helpers, and testKey/testDomain against a real local DNS server (ok, missing, mismatch, invalid, temperror).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { openDatabase, type OpenedDb } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { AccountService } from '../../src/accounts/service.js';
import { DkimKeyStore, publicKeyFromPrivate, selectorBase } from '../../src/dkim/keys.js';
import { parseKeyRecord, txtStrings, zoneFileRecord } from '../../src/dkim/record.js';
import { testDomain, testKey } from '../../src/dkim/test.js';
import { NotFoundError, UserError } from '../../src/common/errors.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { tmp } from './helpers.js';

let t: { dir: string; cleanup: () => void };
let opened: OpenedDb;
let accounts: AccountService;
let clock = new Date('2026-11-27T10:00:00Z');
let keys: DkimKeyStore;

before(async () => {
  t = tmp();
  opened = await openDatabase(`sqlite:${join(t.dir, 'mw.db')}`);
  keys = new DkimKeyStore(opened.db, { now: () => clock });
  accounts = new AccountService(new SqlAccountStore(opened.db), { dkim: keys });
});
after(async () => {
  await opened.close();
  t.cleanup();
});

describe('DkimKeyStore', () => {
  test('adding a domain (AccountService.addDomain) creates an RSA-2048 and an Ed25519 key with dated selectors', async () => {
    await accounts.addDomain('Example.TEST');
    const active = await keys.activeKeys('example.test');
    assert.deepEqual(
      active.map((k) => [k.domain, k.selector, k.algorithm, k.state]),
      [
        ['example.test', 'mw20261127r', 'rsa-sha256', 'active'],
        ['example.test', 'mw20261127e', 'ed25519-sha256', 'active'],
      ],
    );
    const rsa = createPrivateKey(active[0]!.privateKey);
    assert.equal(rsa.asymmetricKeyType, 'rsa');
    assert.equal(rsa.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(createPrivateKey(active[1]!.privateKey).asymmetricKeyType, 'ed25519');
    // p= values: SPKI DER for RSA, the raw 32-byte key for Ed25519 (RFC 8463)
    for (const k of active) assert.equal(k.publicKey, publicKeyFromPrivate(k.privateKey));
    assert.equal(createPublicKey({ key: Buffer.from(active[0]!.publicKey, 'base64'), format: 'der', type: 'spki' }).asymmetricKeyType, 'rsa');
    assert.equal(Buffer.from(active[1]!.publicKey, 'base64').length, 32);
    // ensureKeys is idempotent
    assert.deepEqual((await keys.ensureKeys('example.test')).map((k) => k.id), active.map((k) => k.id));
  });

  test('signingKeys: one database read per domain per TTL; writes through the store are seen at once, other writers within the TTL', async () => {
    let ms = 1_000_000;
    const store = new DkimKeyStore(opened.db, { now: () => clock, clock: () => ms, signingKeysTtlMs: 5_000 });
    await accounts.addDomain('sk.test');
    let reads = 0;
    const orig = store.activeKeys.bind(store);
    store.activeKeys = async (d: string) => (reads++, orig(d));
    const first = await store.signingKeys('SK.test');
    assert.deepEqual(first.map((k) => k.algorithm), ['rsa-sha256', 'ed25519-sha256']);
    assert.deepEqual(first, await keys.activeKeys('sk.test'));
    ms += 4_999;
    assert.deepEqual(await store.signingKeys('sk.test'), first);
    assert.equal(reads, 1, 'cached within the TTL');
    // a rotation through this store: the new pair signs at once
    const { active } = await store.rotate('sk.test');
    assert.deepEqual((await store.signingKeys('sk.test')).map((k) => k.selector), active.map((k) => k.selector));
    assert.equal(reads, 2);
    // a rotation by another process (another store on the same database): seen once the TTL has passed
    const other = await keys.rotate('sk.test');
    assert.deepEqual((await store.signingKeys('sk.test')).map((k) => k.selector), active.map((k) => k.selector));
    ms += 5_000;
    assert.deepEqual((await store.signingKeys('sk.test')).map((k) => k.selector), other.active.map((k) => k.selector));
    assert.equal(reads, 3);
    // a clock going backwards does not keep an entry forever
    ms -= 60_000;
    await store.signingKeys('sk.test');
    assert.equal(reads, 4);
    // the caller's array is its own
    const a = await store.signingKeys('sk.test');
    a.pop();
    assert.equal((await store.signingKeys('sk.test')).length, 2);
    // no keys: not kept (ensureKeys makes them and they are used at once); TTL 0: no cache
    await new SqlAccountStore(opened.db).addDomain('sk-none.test');
    assert.deepEqual(await store.signingKeys('sk-none.test'), []);
    await store.ensureKeys('sk-none.test');
    assert.equal((await store.signingKeys('sk-none.test')).length, 2);
    const nocache = new DkimKeyStore(opened.db, { signingKeysTtlMs: 0 });
    let r0 = 0;
    const o0 = nocache.activeKeys.bind(nocache);
    nocache.activeKeys = async (d: string) => (r0++, o0(d));
    await nocache.signingKeys('sk.test');
    await nocache.signingKeys('sk.test');
    assert.equal(r0, 2);
  });

  test('dnsRecords: names and values to publish, no private key material', async () => {
    const recs = await keys.dnsRecords('example.test');
    assert.equal(recs.length, 2);
    assert.equal(recs[0]!.name, 'mw20261127r._domainkey.example.test');
    assert.match(recs[0]!.value, /^v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA[A-Za-z0-9+/]+={0,2}$/);
    assert.match(recs[1]!.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(recs.map((r) => r.state), ['active', 'active']);
    assert.doesNotMatch(JSON.stringify(recs), /PRIVATE/);
  });

  test('rotate twice the same day, then retire', async () => {
    const before = await keys.activeKeys('example.test');
    const r1 = await keys.rotate('example.test');
    assert.deepEqual(r1.active.map((k) => k.selector), ['mw20261127-2r', 'mw20261127-2e']);
    assert.deepEqual(r1.retiring.map((k) => k.selector), ['mw20261127r', 'mw20261127e']);
    assert.deepEqual((await keys.activeKeys('example.test')).map((k) => k.selector), ['mw20261127-2r', 'mw20261127-2e'], 'the new pair signs at once');
    assert.deepEqual(
      (await keys.dnsRecords('example.test')).map((r) => [r.name.split('.')[0], r.state]),
      [
        ['mw20261127-2r', 'active'],
        ['mw20261127-2e', 'active'],
        ['mw20261127r', 'retiring'],
        ['mw20261127e', 'retiring'],
      ],
    );
    const r2 = await keys.rotate('example.test');
    assert.deepEqual(r2.active.map((k) => k.selector), ['mw20261127-3r', 'mw20261127-3e']);
    assert.equal(r2.retiring.length, 4);

    const retired = await keys.retire('example.test');
    assert.deepEqual(retired.map((k) => k.selector).sort(), ['mw20261127-2e', 'mw20261127-2r', 'mw20261127e', 'mw20261127r']);
    assert.deepEqual((await keys.dnsRecords('example.test')).map((r) => r.selector), ['mw20261127-3r', 'mw20261127-3e']);
    assert.deepEqual(await keys.retire('example.test'), [], 'nothing left to retire');
    // retired rows keep no private key; their selectors are never reused
    const rows = await opened.db.selectFrom('dkim_keys').selectAll().where('state', '=', 'retired').execute();
    assert.equal(rows.length, 4);
    assert.ok(rows.every((r) => r.private_key === ''));
    assert.ok(before.every((b) => rows.some((r) => r.id === b.id)));

    clock = new Date('2026-11-28T00:00:01Z');
    const r3 = await keys.rotate('example.test');
    assert.deepEqual(r3.active.map((k) => k.selector), ['mw20261128r', 'mw20261128e'], 'a new day starts a new base');
    assert.equal(selectorBase(new Date('2027-01-05T23:59:59Z')), 'mw20270105');
  });

  test('unknown and malformed domains are named in the error', async () => {
    await assert.rejects(keys.ensureKeys('nope.test'), (e: Error) => e instanceof NotFoundError && /domain nope\.test is not hosted here/.test(e.message));
    await assert.rejects(keys.rotate('nope.test'), NotFoundError);
    await assert.rejects(keys.retire('nope.test'), NotFoundError);
    await assert.rejects(keys.ensureKeys('not a domain'), (e: Error) => e instanceof UserError && /invalid domain 'not a domain'/.test(e.message));
    assert.deepEqual(await keys.dnsRecords('nope.test'), []);
  });

  test('a domain added before DKIM (no hook) gets its keys from ensureKeys; concurrent ensureKeys make one pair', async () => {
    await new SqlAccountStore(opened.db).addDomain('legacy.test');
    assert.deepEqual(await keys.activeKeys('legacy.test'), []);
    const [a, b] = await Promise.all([keys.ensureKeys('legacy.test'), keys.ensureKeys('legacy.test')]);
    const all = await keys.publishedKeys('legacy.test');
    assert.equal(a.length, 2);
    assert.equal(b.length, 2);
    assert.equal(all.length, 2, "one pair, not two");
    assert.deepEqual((await keys.activeKeys('legacy.test')).map((k) => k.algorithm), ['rsa-sha256', 'ed25519-sha256']);
  });
});

describe('record helpers', () => {
  test('zoneFileRecord splits p= into strings of at most 255 bytes', () => {
    const p = 'A'.repeat(392);
    const z = zoneFileRecord({ name: 'sel._domainkey.example.test', value: `v=DKIM1; k=rsa; p=${p}` });
    assert.equal(z, `sel._domainkey.example.test. IN TXT ( "v=DKIM1; k=rsa; " "p=${p.slice(0, 253)}" "${p.slice(253)}" )`);
    assert.deepEqual(txtStrings('v=DKIM1; k=ed25519; p=abc='), ['v=DKIM1; k=ed25519; ', 'p=abc=']);
    for (const s of txtStrings(`v=DKIM1; k=rsa; p=${'B'.repeat(1000)}`)) assert.ok(s.length <= 255);
    assert.equal(txtStrings(`v=DKIM1; k=rsa; p=${'B'.repeat(1000)}`).join(''), `v=DKIM1; k=rsa; p=${'B'.repeat(1000)}`);
  });

  test('parseKeyRecord', () => {
    const ok = parseKeyRecord('v=DKIM1; k=ed25519; p=abcd ef== ;');
    assert.ok(ok.ok && ok.keyType === 'ed25519' && ok.p === 'abcdef==');
    const dflt = parseKeyRecord('p=abcd');
    assert.ok(dflt.ok && dflt.keyType === 'rsa');
    const bad: [string, RegExp][] = [
      ['v=DKIM2; p=abcd', /v=DKIM2/],
      ['k=rsa; v=DKIM1; p=abcd', /v= must be the first tag/],
      ['v=DKIM1; k=rsa', /no p= tag/],
      ['v=DKIM1; p=ab; p=cd', /appears twice/],
      ['v=DKIM1; p=ab!cd', /not base64/],
      ['v=DKIM1; garbage; p=abcd', /not tag=value/],
      ['v=DKIM1; h=sha1; p=abcd', /excludes sha256/],
      ['v=DKIM1; s=tlsrpt; p=abcd', /excludes email/],
    ];
    for (const [rec, re] of bad) {
      const r = parseKeyRecord(rec);
      assert.ok(!r.ok, rec);
      assert.match(r.error, re, rec);
    }
    const revoked = parseKeyRecord('v=DKIM1; p=');
    assert.ok(revoked.ok && revoked.p === '');
  });
});

describe('dkim test (testDomain / testKey) against a local DNS server', () => {
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer({});
  });
  after(() => dns.close());

  test('ok, mismatch, missing (NXDOMAIN and NODATA), invalid, revoked, wrong k=, temperror', async () => {
    const [rsa, ed] = await keys.activeKeys('legacy.test');
    const rsaName = `${rsa!.selector}._domainkey.legacy.test`;
    const edName = `${ed!.selector}._domainkey.legacy.test`;
    const rsaValue = `v=DKIM1; k=rsa; p=${rsa!.publicKey}`;
    const edValue = `v=DKIM1; k=ed25519; p=${ed!.publicKey}`;
    const r = dns.resolver();

    dns.set(rsaName, { TXT: [rsaValue] }); // > 255 bytes: served as several strings, joined by us
    dns.set(edName, { TXT: [['v=DKIM1; k=ed25519; ', `p=${ed!.publicKey}`], 'google-site-verification=xyz'] });
    let res = await testDomain(keys, 'legacy.test', r);
    assert.deepEqual(res.results.map((x) => x.verdict), ['ok', 'ok']);
    assert.equal(res.failed, 0);
    assert.match(res.results[0]!.message, /^mw\d{8}(-\d+)?r\._domainkey\.legacy\.test: ok: published key matches our private key \(rsa-sha256, active\)$/);

    const other = (await keys.activeKeys('example.test'))[0]!;
    dns.set(rsaName, { TXT: [`v=DKIM1; k=rsa; p=${other.publicKey}`] });
    let x = await testKey(rsa!, r);
    assert.equal(x.verdict, 'mismatch');
    assert.match(x.message, /published public key differs from ours/);
    assert.equal(x.expected, rsaValue);
    assert.ok(x.zone.startsWith(`${rsaName}. IN TXT ( "v=DKIM1; k=rsa; " "p=`));

    dns.set(rsaName, null);
    x = await testKey(rsa!, r);
    assert.equal(x.verdict, 'missing');
    assert.match(x.message, /NXDOMAIN/);
    dns.set(rsaName, { A: ['127.0.0.1'] });
    x = await testKey(rsa!, r);
    assert.equal(x.verdict, 'missing');
    assert.match(x.message, /no TXT record/);

    const cases: [string, string, RegExp][] = [
      ['v=DKIM1; k=rsa; p=not*base64', 'invalid', /not base64/],
      ['v=DKIM1; k=rsa; p=', 'mismatch', /revoked/],
      [`v=DKIM1; k=ed25519; p=${ed!.publicKey}`, 'mismatch', /k=ed25519, our key is k=rsa/],
      ['v=DKIM1; k=rsa; p=AAAA', 'invalid', /not a valid RSA/],
      ['hello world', 'invalid', /not a DKIM key record/],
    ];
    for (const [value, verdict, re] of cases) {
      dns.set(rsaName, { TXT: [value] });
      x = await testKey(rsa!, r);
      assert.equal(x.verdict, verdict, value);
      assert.match(x.message, re, value);
      assert.equal(x.published, value);
    }
    dns.set(rsaName, { TXT: [rsaValue, rsaValue.replace(rsa!.publicKey, other.publicKey)] });
    assert.match((await testKey(rsa!, r)).message, /2 DKIM key records/);

    dns.set(rsaName, { TXT: [rsaValue] });
    dns.fault(edName, 'SERVFAIL');
    res = await testDomain(keys, 'legacy.test', r);
    assert.deepEqual(res.results.map((y) => y.verdict), ['ok', 'temperror']);
    assert.equal(res.failed, 1);
    dns.clearFaults();
    dns.set(edName, { TXT: [edValue] });
    assert.equal((await testDomain(keys, 'legacy.test', r)).failed, 0);
  });

  test('retiring keys are tested too but do not count as failures; no keys / unknown domain are errors', async () => {
    const r = dns.resolver();
    await accounts.addDomain('rot.test');
    const old = await keys.activeKeys('rot.test');
    const { active } = await keys.rotate('rot.test');
    for (const k of active) dns.set(`${k.selector}._domainkey.rot.test`, { TXT: [`v=DKIM1; k=${k.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519'}; p=${k.publicKey}`] });
    const res = await testDomain(keys, 'rot.test', r);
    assert.deepEqual(
      res.results.map((x) => [x.selector, x.state, x.verdict]),
      [...active.map((k) => [k.selector, 'active', 'ok']), ...old.map((k) => [k.selector, 'retiring', 'missing'])],
    );
    assert.equal(res.failed, 0);

    await new SqlAccountStore(opened.db).addDomain('nokeys.test');
    await assert.rejects(testDomain(keys, 'nokeys.test', r), /nokeys\.test has no DKIM keys yet: run 'mailwright dkim show nokeys\.test'/);
    await assert.rejects(testDomain(keys, 'unknown.test', r), /domain unknown\.test is not hosted here/);
  });
});
