/**
 * The parsed-public-key cache in front of mailauth's getPublicKey (src/mailauth/pubkey-cache.ts): a record text seen
 * before is not parsed again, a changed record (key rotation at the sender) is parsed at once, errors are not
 * cached, and the cache is installed before mailauth's verifiers load when the CLI entry point is used.
 */
import '../../src/mailauth/pubkey-cache.js'; // first, as in the entry points
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign, dkimVerify } from 'mailauth';
import { publicKeyCacheInstalled, publicKeyCacheStats, clearPublicKeyCache } from '../../src/mailauth/pubkey-cache.js';

const DOMAIN = 'sender.example';
const NAME = `sel._domainkey.${DOMAIN}`;

function rsaKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    txt: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
  };
}

async function signed(pem: string, n: number): Promise<Buffer> {
  const msg = Buffer.from(`From: a@${DOMAIN}\r\nTo: b@example.test\r\nSubject: m${n}\r\nMessage-ID: <${n}@x>\r\n\r\nbody ${n}\r\n`);
  const s = await dkimSign(msg, { signatureData: [{ signingDomain: DOMAIN, selector: 'sel', privateKey: pem }] } as never);
  return Buffer.concat([Buffer.from(s.signatures), msg]);
}

test('installed first in this process: a second verification with the same record does not parse the key again', async () => {
  assert.equal(publicKeyCacheInstalled, true);
  clearPublicKeyCache();
  const k1 = rsaKey();
  let record = k1.txt;
  let lookups = 0;
  const resolver = async (name: string, type: string) => {
    assert.equal(`${type} ${name}`, `TXT ${NAME}`);
    lookups++;
    return [[record]];
  };
  const verify = async (m: Buffer) => (await dkimVerify(m, { resolver } as never)).results[0]!.status.result;
  const p0 = publicKeyCacheStats.parses;
  const h0 = publicKeyCacheStats.hits;
  assert.equal(await verify(await signed(k1.pem, 1)), 'pass');
  assert.equal(await verify(await signed(k1.pem, 2)), 'pass');
  assert.equal(publicKeyCacheStats.parses - p0, 1);
  assert.equal(publicKeyCacheStats.hits - h0, 1);
  assert.equal(lookups, 2, 'the resolver is still asked every time (its cache and TTLs decide)');

  // The sender rotates: the same selector now publishes another key. The new record is parsed at once, a message
  // signed with the old key fails, one signed with the new key passes.
  const k2 = rsaKey();
  record = k2.txt;
  assert.equal(await verify(await signed(k1.pem, 3)), 'fail');
  assert.equal(await verify(await signed(k2.pem, 4)), 'pass');
  assert.equal(publicKeyCacheStats.parses - p0, 2);

  // A broken record is an error every time (nothing cached), and a repaired record works at once.
  record = 'v=DKIM1; k=rsa; p=AAAA';
  assert.notEqual(await verify(await signed(k2.pem, 5)), 'pass');
  assert.notEqual(await verify(await signed(k2.pem, 6)), 'pass');
  record = k2.txt;
  assert.equal(await verify(await signed(k2.pem, 7)), 'pass');
});

test('the cached key is a KeyObject for crypto.verify; results still report the PEM text mailauth makes', async () => {
  clearPublicKeyCache();
  const k = rsaKey();
  const ed = generateKeyPairSync('ed25519');
  const edTxt = `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`;
  const zone: Record<string, string> = { [NAME]: k.txt, [`ed._domainkey.${DOMAIN}`]: edTxt };
  const resolver = async (name: string) => [[zone[name]!]];
  const msg = Buffer.from(`From: a@${DOMAIN}\r\nTo: b@example.test\r\nSubject: ed\r\n\r\nbody\r\n`);
  const s = await dkimSign(msg, {
    signatureData: [
      { signingDomain: DOMAIN, selector: 'sel', privateKey: k.pem },
      { signingDomain: DOMAIN, selector: 'ed', privateKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }), algorithm: 'ed25519-sha256' },
    ],
  } as never);
  const m = Buffer.concat([Buffer.from(s.signatures), msg]);
  for (let i = 0; i < 2; i++) {
    const r = (await dkimVerify(m, { resolver } as never)).results as { status: { result: string }; publicKey?: unknown }[];
    assert.deepEqual(r.map((x) => x.status.result), ['pass', 'pass']);
    assert.match(String(r[0]!.publicKey), /^-----BEGIN RSA PUBLIC KEY-----\n/);
    assert.match(String(r[1]!.publicKey), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(typeof r[0]!.publicKey, 'string');
  }
  // A tampered message still fails with the cached KeyObject.
  const bad = Buffer.from(m.toString('latin1').replace('Subject: ed', 'Subject: eD!'), 'latin1');
  const r = (await dkimVerify(bad, { resolver } as never)).results as { status: { result: string } }[];
  assert.deepEqual(r.map((x) => x.status.result), ['fail', 'fail']);
});

test('the CLI entry point installs the cache before mailauth loads; loading mailauth first is detected', () => {
  const run = (code: string) => execFileSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: process.cwd(), encoding: 'utf8' }).trim();
  assert.equal(
    run("import('./src/cli/index.ts').then(() => import('./src/mailauth/pubkey-cache.ts')).then((m) => console.log(m.publicKeyCacheInstalled))"),
    'true',
  );
  assert.equal(run("import('mailauth').then(() => import('./src/mailauth/pubkey-cache.ts')).then((m) => console.log(m.publicKeyCacheInstalled))"), 'false');
});
