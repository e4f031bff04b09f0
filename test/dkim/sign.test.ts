/**
 * DKIM signing interop: signatures we make (RSA-2048 and Ed25519, relaxed/relaxed) verify in OpenDKIM (Debian
 * opendkim, test mode) and dkimpy (python3-dkim); signatures OpenDKIM and dkimpy make verify in mailauth (our
 * verification path); From is over-signed, so a second From added later breaks our signatures everywhere.
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { generateDkimKey, dnsRecordValue, type DkimAlgorithm } from '../../src/dkim/keys.js';
import { signMessage, signingDomainFor, DkimSignError, OVERSIGNED_HEADERS, SIGNED_HEADERS, keyCacheStats, clearKeyCache, parsedPrivateKey, keyCacheSize } from '../../src/dkim/sign.js';
import { dkimSign } from 'mailauth';
import { dkimpySign, dkimpyVerify, mailauthVerify, opendkimSign, opendkimVerify, sampleMessage, type KeyMap } from './helpers.js';

const DOMAIN = 'example.test';
let rsa: { privateKey: string; publicKey: string };
let ed: { privateKey: string; publicKey: string };
let keys: { selector: string; algorithm: DkimAlgorithm; privateKey: string }[];
let published: KeyMap;

before(async () => {
  [rsa, ed] = await Promise.all([generateDkimKey('rsa-sha256'), generateDkimKey('ed25519-sha256')]);
  keys = [
    { selector: 'mw20261127r', algorithm: 'rsa-sha256', privateKey: rsa.privateKey },
    { selector: 'mw20261127e', algorithm: 'ed25519-sha256', privateKey: ed.privateKey },
  ];
  published = {
    [`mw20261127r._domainkey.${DOMAIN}`]: dnsRecordValue('rsa-sha256', rsa.publicKey),
    [`mw20261127e._domainkey.${DOMAIN}`]: dnsRecordValue('ed25519-sha256', ed.publicKey),
  };
});

async function signed(msg: Buffer = sampleMessage()): Promise<{ header: string; message: Buffer }> {
  const header = await signMessage(msg, { domain: DOMAIN, keys, hostname: 'mail.example.test' });
  return { header, message: Buffer.concat([Buffer.from(header), msg]) };
}

/** The message with a header field inserted at the top (after our signatures) — as a forger would. */
function withFieldOnTop(m: Buffer, field: string): Buffer {
  const s = m.toString('latin1');
  const i = s.indexOf('\r\nReceived:');
  return Buffer.from(s.slice(0, i + 2) + field + '\r\n' + s.slice(i + 2), 'latin1');
}

const bySelector = (rs: { s: string; pass: boolean }[]) => Object.fromEntries(rs.map((r) => [r.s, r.pass]));

describe('signMessage', () => {
  test('returns two folded, CRLF-terminated DKIM-Signature fields (RSA, then Ed25519), relaxed/relaxed', async () => {
    const { header } = await signed();
    assert.ok(header.endsWith('\r\n'));
    assert.doesNotMatch(header.replace(/\r\n/g, ''), /[\r\n]/, 'only CRLF line ends');
    const fields = header.split(/\r\n(?![ \t])/).filter(Boolean);
    assert.equal(fields.length, 2);
    for (const line of header.split('\r\n').filter(Boolean)) assert.ok(line.length <= 78, `line too long: ${line}`);
    const tags = fields.map((f) => Object.fromEntries(f.replace(/^DKIM-Signature:/, '').replace(/\s+/g, '').split(';').filter(Boolean).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)])));
    assert.deepEqual(tags.map((t) => [t.a, t.s, t.d, t.c]), [
      ['rsa-sha256', 'mw20261127r', DOMAIN, 'relaxed/relaxed'],
      ['ed25519-sha256', 'mw20261127e', DOMAIN, 'relaxed/relaxed'],
    ]);
    // A sound header list, From over-signed (listed once more than present), Received not signed.
    const h = tags[0]!.h!.toLowerCase().split(':');
    assert.equal(h.filter((x: string) => x === 'from').length, 2, `h=${tags[0]!.h}`);
    for (const f of ['to', 'cc', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'content-transfer-encoding', 'list-unsubscribe']) {
      assert.ok(h.includes(f), `${f} signed: h=${tags[0]!.h}`);
    }
    for (const f of ['subject', 'date', 'to', 'message-id']) assert.equal(h.filter((x: string) => x === f).length, 2, `${f} over-signed`);
    assert.ok(!h.includes('received'));
    assert.ok(!h.includes('reply-to'), 'absent fields are not listed');
    assert.equal(tags[0]!.h, tags[1]!.h);
  });

  test('OpenDKIM verifies both signatures (RSA and Ed25519)', async () => {
    const { message } = await signed();
    const r = await opendkimVerify(message, published);
    assert.match(r.output, /verification \(s=mw20261127r, d=example\.test, 2048-bit key\) succeeded/);
    assert.deepEqual(bySelector(r.results), { mw20261127r: true, mw20261127e: true }, r.output);
    assert.deepEqual(r.results.map((x) => x.a).sort(), ['ed25519-sha256', 'rsa-sha256']);
  });

  test('dkimpy verifies both signatures', async () => {
    const { message } = await signed();
    const r = await dkimpyVerify(message, published);
    assert.deepEqual(
      r.map((x) => [x.s, x.a, x.pass]),
      [
        ['mw20261127r', 'rsa-sha256', true],
        ['mw20261127e', 'ed25519-sha256', true],
      ],
    );
  });

  test('mailauth verifies both signatures', async () => {
    const { message } = await signed();
    assert.deepEqual(bySelector(await mailauthVerify(message, published)), { mw20261127r: true, mw20261127e: true });
  });

  test('signing across a half-second boundary: t= is fixed once, so the field sent is the field signed', async () => {
    // mailauth fills in t= from Date.now() whenever it formats a DKIM-Signature field without one; the signed form is
    // formatted before the key operation and the sent form after it. Make every Date.now() 600 ms later than the
    // previous one, as if each step crossed a rounding boundary.
    const realNow = Date.now;
    let t = Math.floor(realNow() / 1000) * 1000 + 200;
    Date.now = () => (t += 600);
    let header: string;
    try {
      header = await signMessage(sampleMessage(), { domain: DOMAIN, keys, hostname: 'mail.example.test' });
    } finally {
      Date.now = realNow;
    }
    const stamps = [...header.matchAll(/\bt=(\d+)/g)].map((m) => m[1]);
    assert.equal(stamps.length, 2);
    assert.equal(stamps[0], stamps[1], 'one t= for both signatures');
    const message = Buffer.concat([Buffer.from(header), sampleMessage()]);
    assert.deepEqual(bySelector(await mailauthVerify(message, published)), { mw20261127r: true, mw20261127e: true });
  });

  test('a stream input gives signatures that verify, and an LF-only message is signed as its CRLF form', async () => {
    const msg = sampleMessage();
    const header = await signMessage(Readable.from([msg.subarray(0, 100), msg.subarray(100, 333), msg.subarray(333)]), { domain: DOMAIN, keys });
    const r = await dkimpyVerify(Buffer.concat([Buffer.from(header), msg]), published);
    assert.deepEqual(r.map((x) => x.pass), [true, true]);
    const lf = Buffer.from(msg.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const header2 = await signMessage(lf, { domain: DOMAIN, keys });
    const r2 = await dkimpyVerify(Buffer.concat([Buffer.from(header2), msg]), published);
    assert.deepEqual(r2.map((x) => x.pass), [true, true]);
  });

  // (dkimpy would reject the second From anyway, see the control below; OpenDKIM and mailauth show the over-signing.)
  test('over-signed From: a second From added after signing fails in OpenDKIM, dkimpy and mailauth', async () => {
    const { message } = await signed();
    const forged = withFieldOnTop(message, 'From: Mallory <ceo@example.test>');
    const o = await opendkimVerify(forged, published);
    assert.deepEqual(bySelector(o.results), { mw20261127r: false, mw20261127e: false }, o.output);
    assert.deepEqual((await dkimpyVerify(forged, published)).map((x) => x.pass), [false, false]);
    assert.deepEqual(bySelector(await mailauthVerify(forged, published)), { mw20261127r: false, mw20261127e: false });
    // Same for a second Subject, and for a changed body.
    const subj = withFieldOnTop(message, 'Subject: urgent: wire the money');
    assert.deepEqual((await dkimpyVerify(subj, published)).map((x) => x.pass), [false, false]);
    const body = Buffer.from(message.toString('latin1').replace('Hello Bob', 'Hello Eve'), 'latin1');
    assert.deepEqual((await dkimpyVerify(body, published)).map((x) => x.pass), [false, false]);
  });

  // dkimpy always adds one From to h= when verifying (Debian bug 644046), so the control uses mailauth.
  test('control: without over-signing, the second From would not break the signature (mailauth)', async () => {
    const msg = sampleMessage();
    const header = await signMessage(msg, { domain: DOMAIN, keys, oversign: [] });
    assert.match(header.replace(/\s+/g, ''), /h=[^;]*:From;/);
    assert.doesNotMatch(header.replace(/\s+/g, ''), /From:From/);
    const forged = withFieldOnTop(Buffer.concat([Buffer.from(header), msg]), 'From: Mallory <ceo@example.test>');
    assert.deepEqual(bySelector(await mailauthVerify(forged, published)), { mw20261127r: true, mw20261127e: true });
    assert.ok(OVERSIGNED_HEADERS.includes('From'));
  });

  test('relaxed canonicalization: re-folded headers and changed whitespace still verify', async () => {
    const { message } = await signed();
    const s = message.toString('latin1');
    const bodyAt = s.indexOf('\r\n\r\n');
    const head = s.slice(0, bodyAt).replace('Subject: DKIM interop test with a long subject that is folded\r\n  onto a second line', 'Subject:   DKIM interop test with a long subject\r\n\tthat is folded onto a second line');
    const body = s.slice(bodyAt).replace('trailing spaces   ', 'trailing spaces').replace(/(\r\n)+$/, '\r\n');
    const changed = Buffer.from(head + body, 'latin1');
    assert.deepEqual((await dkimpyVerify(changed, published)).map((x) => x.pass), [true, true]);
    assert.deepEqual(bySelector((await opendkimVerify(changed, published)).results), { mw20261127r: true, mw20261127e: true });
  });

  test('errors: no keys, no From, a retired key without private key', async () => {
    await assert.rejects(signMessage(sampleMessage(), { domain: DOMAIN, keys: [] }), DkimSignError);
    const noFrom = Buffer.from(sampleMessage().toString('latin1').replace(/^From: .*\r\n/m, ''), 'latin1');
    await assert.rejects(signMessage(noFrom, { domain: DOMAIN, keys }), /no From header field/);
    await assert.rejects(signMessage(sampleMessage(), { domain: DOMAIN, keys: [{ ...keys[0]!, privateKey: '' }] }), /no private key/);
    await assert.rejects(signMessage(sampleMessage(), { domain: DOMAIN, keys: [{ ...keys[0]!, privateKey: 'garbage' }] }), (e: Error) => {
      assert.ok(e instanceof DkimSignError);
      assert.doesNotMatch(e.message, /PRIVATE KEY/);
      return true;
    });
  });
});

describe('parsed key cache', () => {
  test('byte-identical to mailauth\'s own dkimSign (same header list, no over-signing, same t=)', async () => {
    const signTime = new Date('2026-11-27T12:00:00Z');
    const msg = sampleMessage();
    const ours = await signMessage(msg, { domain: DOMAIN, keys, signTime, oversign: [] });
    const theirs = await dkimSign(msg, {
      canonicalization: 'relaxed/relaxed',
      headerList: SIGNED_HEADERS.join(':'),
      signTime,
      signatureData: keys.map((k) => ({ signingDomain: DOMAIN, selector: k.selector, privateKey: k.privateKey, algorithm: k.algorithm, canonicalization: 'relaxed/relaxed' })),
    } as never);
    assert.deepEqual(theirs.errors, []);
    assert.equal(ours, theirs.signatures.replace(/\r?\n/g, '\r\n'));
    // And with over-signing, the same as before the cache (mailauth's signer plus the extra h= names) still verifies.
    const again = await signMessage(msg, { domain: DOMAIN, keys, signTime });
    assert.deepEqual(bySelector(await mailauthVerify(Buffer.concat([Buffer.from(again), msg]), published)), { mw20261127r: true, mw20261127e: true });
  });

  test('each key is parsed once; a rotated key (new selector) signs the next message', async () => {
    clearKeyCache();
    const before = keyCacheStats.parses;
    await signed();
    await signed();
    await signed();
    assert.equal(keyCacheStats.parses - before, 2, 'one parse per key, not per message');

    // Rotation: a new pair under new selectors; the next message is signed with it, and the old keys do not verify it.
    const [rsa2, ed2] = await Promise.all([generateDkimKey('rsa-sha256'), generateDkimKey('ed25519-sha256')]);
    const keys2 = [
      { selector: 'mw20261128r', algorithm: 'rsa-sha256' as const, privateKey: rsa2.privateKey },
      { selector: 'mw20261128e', algorithm: 'ed25519-sha256' as const, privateKey: ed2.privateKey },
    ];
    const msg = sampleMessage();
    const h = await signMessage(msg, { domain: DOMAIN, keys: keys2 });
    assert.match(h, /s=mw20261128r/);
    const pub2: KeyMap = {
      [`mw20261128r._domainkey.${DOMAIN}`]: dnsRecordValue('rsa-sha256', rsa2.publicKey),
      [`mw20261128e._domainkey.${DOMAIN}`]: dnsRecordValue('ed25519-sha256', ed2.publicKey),
    };
    assert.deepEqual(bySelector(await mailauthVerify(Buffer.concat([Buffer.from(h), msg]), pub2)), { mw20261128r: true, mw20261128e: true });
    // The new selectors' records holding the OLD public keys: verification must fail (the new private keys signed).
    const stale: KeyMap = {
      [`mw20261128r._domainkey.${DOMAIN}`]: dnsRecordValue('rsa-sha256', rsa.publicKey),
      [`mw20261128e._domainkey.${DOMAIN}`]: dnsRecordValue('ed25519-sha256', ed.publicKey),
    };
    assert.deepEqual(bySelector(await mailauthVerify(Buffer.concat([Buffer.from(h), msg]), stale)), { mw20261128r: false, mw20261128e: false });

    // The same selector with a different private key (an edited row): the new key is parsed and used.
    const sameSel = [{ ...keys[0]!, privateKey: rsa2.privateKey }];
    const h2 = await signMessage(msg, { domain: DOMAIN, keys: sameSel });
    const pubSame: KeyMap = { [`mw20261127r._domainkey.${DOMAIN}`]: dnsRecordValue('rsa-sha256', rsa2.publicKey) };
    assert.deepEqual(bySelector(await mailauthVerify(Buffer.concat([Buffer.from(h2), msg]), pubSame)), { mw20261127r: true });
  });

  test('a key not used for 10 minutes is dropped from memory (a rotated-out key does not linger)', () => {
    clearKeyCache();
    const t0 = Date.now() + 3_600_000; // past any sweep done by the other tests
    parsedPrivateKey(DOMAIN, 'old', rsa.privateKey, t0);
    parsedPrivateKey(DOMAIN, 'new', ed.privateKey, t0);
    assert.equal(keyCacheSize(), 2);
    parsedPrivateKey(DOMAIN, 'new', ed.privateKey, t0 + 9 * 60_000); // only the new key keeps signing
    parsedPrivateKey(DOMAIN, 'new', ed.privateKey, t0 + 11 * 60_000);
    assert.equal(keyCacheSize(), 1);
  });

  test('a key of the wrong type for its algorithm is an error, not a wrong signature', async () => {
    await assert.rejects(
      signMessage(sampleMessage(), { domain: DOMAIN, keys: [{ selector: 'x1', algorithm: 'rsa-sha256', privateKey: ed.privateKey }] }),
      /Invalid key type/,
    );
  });
});

describe('signatures made by others verify with mailauth (our verification path)', () => {
  for (const algorithm of ['rsa-sha256', 'ed25519-sha256'] as const) {
    test(`dkimpy ${algorithm}`, async () => {
      const k = algorithm === 'rsa-sha256' ? rsa : ed;
      const msg = sampleMessage();
      const sig = await dkimpySign(msg, { domain: 'example.org', selector: 'py', privateKeyPem: k.privateKey, algorithm });
      assert.match(sig, new RegExp(`a=${algorithm}`));
      const keyMap = { 'py._domainkey.example.org': dnsRecordValue(algorithm, k.publicKey) };
      const message = Buffer.concat([Buffer.from(sig), msg]);
      assert.deepEqual(await mailauthVerify(message, keyMap), [{ s: 'py', a: algorithm, pass: true, result: 'pass' }]);
      // tampering is detected; a wrong key fails; a missing key is not a pass
      const tampered = Buffer.from(message.toString('latin1').replace('Hello Bob', 'Hello Eve'), 'latin1');
      assert.equal((await mailauthVerify(tampered, keyMap))[0]!.pass, false);
      const other = algorithm === 'rsa-sha256' ? (await generateDkimKey('rsa-sha256')).publicKey : (await generateDkimKey('ed25519-sha256')).publicKey;
      assert.equal((await mailauthVerify(message, { 'py._domainkey.example.org': dnsRecordValue(algorithm, other) }))[0]!.result, 'fail');
      const none = (await mailauthVerify(message, {}))[0]!;
      assert.equal(none.pass, false);
      assert.notEqual(none.result, 'fail', 'a missing key is neutral/permerror, not fail');
    });

    test(`OpenDKIM ${algorithm}`, async () => {
      const k = algorithm === 'rsa-sha256' ? rsa : ed;
      const msg = sampleMessage();
      // OpenDKIM signs only mail whose From domain is one of its Domain values.
      const sig = await opendkimSign(msg, { domain: DOMAIN, selector: 'od', privateKeyPem: k.privateKey, algorithm });
      assert.match(sig, new RegExp(`a=${algorithm}`));
      const keyMap = { [`od._domainkey.${DOMAIN}`]: dnsRecordValue(algorithm, k.publicKey) };
      const message = Buffer.concat([Buffer.from(sig), msg]);
      assert.deepEqual(await mailauthVerify(message, keyMap), [{ s: 'od', a: algorithm, pass: true, result: 'pass' }]);
      const tampered = Buffer.from(message.toString('latin1').replace('Subject: DKIM', 'Subject: XKIM'), 'latin1');
      assert.equal((await mailauthVerify(tampered, keyMap))[0]!.pass, false);
    });
  }
});

describe('signingDomainFor', () => {
  const hosted = ['example.test', 'Other.Test', 'xn--bcher-kva.test'];
  test('the From domain when hosted, else its closest hosted parent', () => {
    assert.equal(signingDomainFor('Alice <alice@example.test>', hosted), 'example.test');
    assert.equal(signingDomainFor('alice@EXAMPLE.TEST', hosted), 'example.test');
    assert.equal(signingDomainFor('From: "Doe, J" <j@other.test>', hosted), 'other.test');
    assert.equal(signingDomainFor('news@mail.lists.example.test', hosted), 'example.test');
    assert.equal(signingDomainFor('x@bücher.test', hosted), 'xn--bcher-kva.test');
    assert.equal(signingDomainFor('=?utf-8?q?J=C3=B6rg?= <j@example.test>', hosted), 'example.test');
    assert.equal(signingDomainFor('a@example.test, b@example.test', hosted), 'example.test');
  });
  test('null: foreign domain, mixed domains, no address, garbage', () => {
    assert.equal(signingDomainFor('x@example.org', hosted), null);
    assert.equal(signingDomainFor('x@test', hosted), null);
    assert.equal(signingDomainFor('a@example.test, b@example.org', hosted), null);
    assert.equal(signingDomainFor('undisclosed-recipients:;', hosted), null);
    assert.equal(signingDomainFor('', hosted), null);
    assert.equal(signingDomainFor('<@@@>', hosted), null);
    assert.equal(signingDomainFor('a@example.test', []), null);
  });
});
