/**
 * `dkim test`: what opendkim-testkey does. For each published (active and retiring) key of a domain, look up
 * SELECTOR._domainkey.DOMAIN TXT through the configured resolver, parse the record and compare its public key
 * with the one derived from our private key. mailauth (our verifier) is also asked to load the record, so a
 * record that verifiers would reject is reported even when the key bytes match.
 */
import { createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Resolver } from '../dns/resolver.js';
import type { DkimAlgorithm, DkimKey, DkimKeyStore } from './keys.js';
import { keyType, publicKeyFromPrivate, toRecord } from './keys.js';
import { parseKeyRecord, zoneFileRecord } from './record.js';
import { UserError } from '../common/errors.js';

const require = createRequire(import.meta.url);
const { getPublicKey } = require('mailauth/lib/tools') as {
  getPublicKey: (type: string, name: string, minBits: number, resolver: (name: string, rr: string) => Promise<string[][]>) => Promise<unknown>;
};

export type DkimTestVerdict = 'ok' | 'missing' | 'mismatch' | 'invalid' | 'temperror';

export interface DkimTestResult {
  selector: string;
  /** SELECTOR._domainkey.DOMAIN */
  name: string;
  algorithm: DkimAlgorithm;
  state: 'active' | 'retiring';
  verdict: DkimTestVerdict;
  /** One line: "NAME: VERDICT: reason". */
  message: string;
  /** The record found (TXT strings joined), when there was one. */
  published?: string;
  /** The record to publish (value), and the same in zone-file form. */
  expected: string;
  zone: string;
}

/** Tests one key against DNS. */
export async function testKey(key: DkimKey, resolver: Pick<Resolver, 'resolveTxt'>): Promise<DkimTestResult> {
  const rec = toRecord(key);
  const ours = key.privateKey ? publicKeyFromPrivate(key.privateKey) : key.publicKey;
  const expectedValue = rec.value.replace(/p=.*$/, `p=${ours}`);
  const base = {
    selector: key.selector,
    name: rec.name,
    algorithm: key.algorithm,
    state: rec.state,
    expected: expectedValue,
    zone: zoneFileRecord({ name: rec.name, value: expectedValue }),
  };
  const done = (verdict: DkimTestVerdict, reason: string, published?: string): DkimTestResult => ({
    ...base,
    verdict,
    message: `${rec.name}: ${verdict}: ${reason}`,
    ...(published !== undefined ? { published } : {}),
  });

  let txt: string[][];
  try {
    txt = await resolver.resolveTxt(rec.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') return done('missing', `no such name in DNS (NXDOMAIN); publish the TXT record`);
    if (code === 'ENODATA') return done('missing', `the name exists but has no TXT record; publish the TXT record`);
    return done('temperror', `DNS lookup failed (${code ?? (err as Error).message}); try again later`);
  }
  const records = txt.map((chunks) => chunks.join(''));
  if (!records.length) return done('missing', 'no TXT record; publish the TXT record');
  const dkimRecords = records.filter((r) => /^\s*v\s*=\s*DKIM1\s*(;|$)/.test(r) || /(^|;)\s*p\s*=/.test(r));
  if (!dkimRecords.length) {
    return done('invalid', `the TXT record is not a DKIM key record: "${records[0]!.slice(0, 60)}"`, records[0]);
  }
  if (dkimRecords.length > 1) {
    return done('invalid', `${dkimRecords.length} DKIM key records at this name (verifiers pick one): keep exactly one`, dkimRecords.join(' | '));
  }
  const published = dkimRecords[0]!;
  const parsed = parseKeyRecord(published);
  if (!parsed.ok) return done('invalid', `the record cannot be parsed: ${parsed.error}`, published);
  if (parsed.p === '') return done('mismatch', 'the published key is revoked (empty p=)', published);
  const want = keyType(key.algorithm);
  if (parsed.keyType !== want) return done('mismatch', `the record is for k=${parsed.keyType}, our key is k=${want}`, published);

  let theirs: string;
  try {
    const raw = Buffer.from(parsed.p, 'base64');
    if (want === 'ed25519') {
      if (raw.length !== 32) return done('invalid', `p= is ${raw.length} bytes, an Ed25519 key is 32 (RFC 8463)`, published);
      theirs = raw.toString('base64');
    } else {
      const k = createPublicKey({ key: raw, format: 'der', type: 'spki' });
      if (k.asymmetricKeyType !== 'rsa') return done('mismatch', `p= holds a ${k.asymmetricKeyType} key, not RSA`, published);
      theirs = k.export({ type: 'spki', format: 'der' }).toString('base64');
    }
  } catch {
    return done('invalid', `p= is not a valid ${want === 'rsa' ? 'RSA SubjectPublicKeyInfo' : 'Ed25519'} public key`, published);
  }
  if (theirs !== ours) return done('mismatch', 'the published public key differs from ours (old or foreign key?); publish ours', published);

  // What our verifier (mailauth) makes of the record: catches anything a verifier would refuse.
  try {
    await getPublicKey('DKIM', rec.name, 1024, async () => [[published]]);
  } catch (err) {
    return done('invalid', `verifiers reject the record: ${(err as Error).message}`, published);
  }
  return done('ok', `published key matches our private key (${key.algorithm}, ${rec.state})`, published);
}

/**
 * Tests every active and retiring key of a domain. Throws UserError for an unknown domain or one without keys.
 * `failed` counts active keys whose verdict is not ok (what makes `dkim test` exit non-zero).
 */
export async function testDomain(
  keys: DkimKeyStore,
  domain: string,
  resolver: Pick<Resolver, 'resolveTxt'>,
): Promise<{ domain: string; results: DkimTestResult[]; failed: number }> {
  const published = await keys.publishedKeys(domain);
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (!published.length) {
    await keys.ensureHosted(domain);
    throw new UserError(`domain ${d} has no DKIM keys yet: run 'mailwright dkim show ${d}' to create them and get the records to publish`);
  }
  const results = await Promise.all(published.map((k) => testKey(k, resolver)));
  return { domain: published[0]!.domain, results, failed: results.filter((r) => r.state === 'active' && r.verdict !== 'ok').length };
}
