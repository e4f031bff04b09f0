/**
 * Parsed DKIM/ARC public keys, cached by the TXT record they come from.
 *
 * mailauth 4.13.3's getPublicKey (lib/tools.js) turns the TXT answer into a key on every verification: it parses the
 * tag list, builds a PEM, calls crypto.createPublicKey and exports the key again (about 0.15-0.2 ms for RSA-2048,
 * ~20% of checkInbound's CPU), although the answer itself comes from our DNS cache. This module wraps getPublicKey:
 * the TXT lookup still goes through the caller's resolver on every call (so DNS caching and its TTLs decide what is
 * current), and the parsed result is reused only for the identical record text, key type and minimum key size.
 * Errors are never cached: a failing record is parsed (and fails) again each time, with mailauth's own error.
 * The cached key is a KeyObject (see ParsedPublicKey), so crypto.verify does not parse mailauth's PEM again either.
 *
 * mailauth's verifiers take getPublicKey from tools.js when they are loaded (destructuring), so the wrapper must be
 * installed before anything loads mailauth/lib/dkim/dkim-verifier or mailauth/lib/arc: this module is the first
 * import of the CLI entry point, main.ts and inbound.ts. `publicKeyCacheInstalled` says whether that worked (a
 * test checks it for the CLI entry point); when it did not, verification works as before, without the cache.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A parsed key in the form mailauth's verifiers pass it on: node:crypto's verify takes `{ key: KeyObject }` as it
 * takes the PEM (without parsing it again: ~0.03 ms per RSA-2048 and ~0.12 ms per Ed25519 verification here), and
 * the verifier's `result.publicKey = publicKey.toString()` still reports mailauth's PEM text.
 */
export interface ParsedPublicKey {
  key: KeyObject;
  toString(): string;
}

export interface PublicKeyResult {
  publicKey: string | ParsedPublicKey;
  rr: string;
  modulusLength?: number;
}
type TxtResolver = (name: string, rrtype: string) => Promise<unknown>;
type GetPublicKey = (type: string, name: string, minBitLength: number | undefined, resolver?: TxtResolver) => Promise<PublicKeyResult>;

const tools = require('mailauth/lib/tools') as { getPublicKey: GetPublicKey };
const loadedBefore = ['mailauth/lib/dkim/dkim-verifier', 'mailauth/lib/arc'].some((m) => require.resolve(m) in require.cache);

const MAX_ENTRIES = 2000;
const cache = new Map<string, PublicKeyResult>();
/** Parses done (misses) and results reused (hits), for tests and metrics. */
export const publicKeyCacheStats = { parses: 0, hits: 0 };

/** The TXT record text as mailauth reads it: the first record's strings joined, whitespace removed. */
function recordText(list: unknown): string {
  if (!Array.isArray(list) || list[0] === undefined) return '';
  return ([] as unknown[]).concat(list[0]).join('').replace(/\s+/g, '');
}

/** mailauth's getPublicKey, but a record text seen before (same type and minimum size) is not parsed again. */
export function cachingGetPublicKey(original: GetPublicKey): GetPublicKey {
  return async (type, name, minBitLength, resolver) => {
    if (!resolver) return original(type, name, minBitLength, resolver);
    const list = await resolver(name, 'TXT');
    const rr = recordText(list);
    const once: TxtResolver = async () => list; // the original sees exactly this answer: one lookup per call
    if (!rr) return original(type, name, minBitLength, once);
    const key = `${type}\u0000${minBitLength || 1024}\u0000${rr}`;
    const hit = cache.get(key);
    if (hit) {
      publicKeyCacheStats.hits++;
      return { ...hit };
    }
    const res = await original(type, name, minBitLength, once);
    publicKeyCacheStats.parses++;
    if (typeof res.publicKey === 'string') {
      const pem = res.publicKey;
      res.publicKey = { key: createPublicKey(pem), toString: () => pem };
    }
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(key, { ...res });
    return res;
  };
}

if (!loadedBefore && !(tools.getPublicKey as { cached?: boolean }).cached) {
  tools.getPublicKey = Object.assign(cachingGetPublicKey(tools.getPublicKey), { cached: true });
}

/** True when mailauth's DKIM and ARC verifiers use the cache (the wrapper was installed before they loaded). */
export const publicKeyCacheInstalled = (tools.getPublicKey as { cached?: boolean }).cached === true && !loadedBefore;

/** Forget every parsed key (tests). */
export function clearPublicKeyCache(): void {
  cache.clear();
}
