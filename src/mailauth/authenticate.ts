/**
 * mailauth's authenticate() (lib/mailauth.js, 4.13.3) with the independent checks run concurrently.
 *
 * mailauth runs DKIM verification, then SPF, then ARC, then DMARC, one after the other, although SPF needs nothing
 * from the message (without trustReceived, which we never use: the client's IP, HELO and MAIL FROM come from the
 * SMTP session). Here SPF runs while the message is read and its DKIM signatures are verified (each waits on its own
 * DNS lookups), then ARC (needs the parsed ARC sets), then DMARC (needs all three). The results, the
 * Authentication-Results text and the ARC seal are built exactly as mailauth builds them (same order of clauses,
 * same folding); test/mailauth/authenticate.test.ts compares the two on passing, failing and ARC-sealed messages.
 * BIMI is not done (we always disabled it).
 */
import './pubkey-cache.js'; // before mailauth's verifiers load
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { spf, dmarc, arc, type AuthenticateResult } from 'mailauth';
import { feedMessage, type MessageParserLike } from './feed.js';

const require = createRequire(import.meta.url);
const { createSeal } = require('mailauth/lib/arc') as {
  createSeal: (input: false, data: { headers: unknown; arc: unknown; seal: Record<string, unknown> }) => Promise<{ headers?: string[] }>;
};
const { DkimVerifier } = require('mailauth/lib/dkim/dkim-verifier') as {
  DkimVerifier: new (opts: Record<string, unknown>) => MessageParserLike & { headerFrom: unknown; envelopeFrom: unknown; results: unknown; arc: unknown; seal: unknown };
};
const { parseReceived } = require('mailauth/lib/parse-received') as { parseReceived: (line: Buffer) => unknown };
const libmime = require('libmime') as { foldLines: (s: string, len: number) => string };

export interface AuthenticateOptions {
  ip: string;
  helo?: string;
  /** MAIL FROM (undefined for the null sender). */
  sender?: string;
  /** Our authserv-id. */
  mta: string;
  /** With an expiresAt (CachingResolver.resolve), SPF results are reused while their DNS answers are cached. */
  resolver: ExpiringResolve;
  seal?: { signingDomain: string; selector: string; privateKey: string };
  minBitLength?: number;
}

/**
 * mailauth's dkimVerify (lib/dkim/verify.js, 4.13.3): the same verifier and the same result object (headers, arc and
 * seal as non-enumerable properties), with an in-memory message fed directly instead of through a stream (feed.ts).
 */
async function dkimVerify(input: Readable | Buffer, options: Record<string, unknown>): Promise<unknown> {
  const v = new DkimVerifier(options);
  await feedMessage(v, input);
  const result = { headerFrom: v.headerFrom, envelopeFrom: v.envelopeFrom, results: v.results };
  for (const k of ['headers', 'arc', 'seal'] as const) {
    if (v[k]) Object.defineProperty(result, k, { enumerable: false, configurable: false, writable: false, value: v[k] });
  }
  return result;
}

/**
 * SPF and DMARC results, reused while every DNS answer they were computed from is still in the resolver's cache.
 *
 * An SPF evaluation (RFC 7208 §4) depends only on the client IP, HELO, MAIL FROM (macros may use its local part) and
 * the DNS answers it reads. With the caching resolver (resolver.ts: answers kept for their TTL, NXDOMAIN/NODATA for
 * 60 s), evaluating again while those answers are cached reads the very same answers and gives the very same result;
 * mailauth's spf() still costs ~0.1-0.2 ms of CPU per message (parsing the record, its Joi validation, the lookup
 * accounting). So the result is kept until the first of those answers expires (or any answer was not cacheable,
 * e.g. a SERVFAIL: then nothing is kept), keyed by all the inputs. Each caller gets its own copy.
 *
 * The same holds for mailauth's DMARC evaluation (lib/dmarc/verify.js, 4.13.3): its result depends on the From
 * address(es), the SPF-passing domains, the domain and `underSized` of each passing DKIM signature (in order; their
 * other fields are not read), the ARC result's status, and the _dmarc records it looks up (the From domain's, then
 * its organisational domain's). ~0.07 ms per message (the record parse and the public-suffix lookups of the
 * alignment checks).
 */
const RESULT_CACHE_MAX = 5000;
/** One cache per resolver: a result is only as current as the answers of the resolver it was computed with. */
const resultCaches = new WeakMap<object, Map<string, { until: number; result: unknown }>>();
export const spfCacheStats = { hits: 0, misses: 0 };
export const dmarcCacheStats = { hits: 0, misses: 0 };
type Resolve = (name: string, rrtype: string) => Promise<unknown>;
type ExpiringResolve = Resolve & { expiresAt?: (name: string, rrtype: string) => number | undefined };

/** compute(resolver)'s result for these inputs (key), reused while every answer it read is cached (see above). */
async function cachedWhileAnswersAre(
  resolver: ExpiringResolve,
  key: string,
  stats: { hits: number; misses: number },
  compute: (resolver: Resolve) => Promise<unknown>,
): Promise<unknown> {
  const expiresAt = resolver.expiresAt;
  if (!expiresAt) return compute(resolver);
  let cache = resultCaches.get(resolver);
  if (!cache) resultCaches.set(resolver, (cache = new Map()));
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && now < hit.until) {
    stats.hits++;
    return structuredClone(hit.result);
  }
  stats.misses++;
  const asked: [string, string][] = [];
  const result = await compute((name, rrtype) => {
    asked.push([name, rrtype]);
    return resolver(name, rrtype);
  });
  let until = Infinity;
  for (const [name, rrtype] of asked) until = Math.min(until, expiresAt(name, rrtype) ?? 0);
  if (asked.length && until > Date.now()) {
    if (cache.size >= RESULT_CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.delete(key);
    cache.set(key, { until, result: structuredClone(result) });
  } else cache.delete(key);
  return result;
}

function cachedSpf(opts: { ip: string; helo?: string; sender?: string; mta: string; resolver: ExpiringResolve; minBitLength?: number }): Promise<unknown> {
  const key = JSON.stringify(['spf', opts.ip, opts.helo ?? null, opts.sender ?? null, opts.mta, opts.minBitLength ?? null]);
  return cachedWhileAnswersAre(opts.resolver, key, spfCacheStats, (resolver) => spf({ ...opts, resolver } as never));
}

/* eslint-disable @typescript-eslint/no-explicit-any -- mailauth's result objects are loosely typed */
function cachedDmarc(opts: { headerFrom: unknown; spfDomains: string[]; dkimDomains: any[]; arcResult: any; resolver: ExpiringResolve }): Promise<unknown> {
  const key = JSON.stringify([
    'dmarc',
    opts.headerFrom,
    opts.spfDomains,
    opts.dkimDomains.map((d) => [d.domain ?? null, d.underSized ?? null]),
    opts.arcResult?.status?.result ?? null,
  ]);
  return cachedWhileAnswersAre(opts.resolver, key, dmarcCacheStats, (resolver) => dmarc({ ...opts, resolver } as never));
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Forget the SPF and DMARC results cached for this resolver (tests). */
export function clearSpfCache(resolver: object): void {
  resultCaches.delete(resolver);
}

/* eslint-disable @typescript-eslint/no-explicit-any -- mailauth's result objects are loosely typed */
export async function authenticateConcurrently(input: Readable | Buffer, o: AuthenticateOptions): Promise<AuthenticateResult> {
  let helo = o.helo || o.ip;
  if (helo && isIP(helo)) helo = `[${helo}]`;
  const spfOpts = { ip: o.ip, helo, sender: o.sender, mta: o.mta, resolver: o.resolver, minBitLength: o.minBitLength };

  const dkimAndArc = (async () => {
    const dkimResult: any = await dkimVerify(input, { resolver: o.resolver, sender: o.sender, seal: o.seal, minBitLength: o.minBitLength });
    const arcResult: any = await arc(dkimResult.arc, { resolver: o.resolver, minBitLength: o.minBitLength } as never);
    return { dkimResult, arcResult };
  })();
  // Both run to the end before anything is reported (no unhandled rejection when one fails).
  const [da, spfSettled] = await Promise.allSettled([dkimAndArc, cachedSpf(spfOpts)]);
  if (da.status === 'rejected') throw da.reason;
  if (spfSettled.status === 'rejected') throw spfSettled.reason;
  const { dkimResult, arcResult } = da.value;
  const spfResult: any = spfSettled.value;

  // Parsed on first use only (nothing of ours reads it; mailauth's result object has it).
  let receivedChain: unknown;
  const parseChain = () => (receivedChain ??= dkimResult.headers?.parsed.filter((r: any) => r.key === 'received').map((row: any) => parseReceived(row.line)));
  const headers: string[] = [];
  const arHeader: string[] = [];
  for (const row of dkimResult?.results ?? []) arHeader.push(`${libmime.foldLines(row.info, 160)}`);
  if (spfResult) {
    arHeader.push(libmime.foldLines(spfResult.info, 160));
    headers.push(spfResult.header);
  }
  if (arcResult?.info) arHeader.push(`${libmime.foldLines(arcResult.info, 160)}`);

  let dmarcResult: any;
  if (dkimResult?.headerFrom) {
    dmarcResult = await cachedDmarc({
      headerFrom: dkimResult.headerFrom,
      spfDomains: ([] as string[]).concat((spfResult && spfResult.status.result === 'pass' && spfResult.domain) || []),
      dkimDomains: (dkimResult.results || [])
        .filter((r: any) => r.status.result === 'pass')
        .map((r: any) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
      arcResult,
      resolver: o.resolver,
    });
    if (dmarcResult.info) arHeader.push(`${libmime.foldLines(dmarcResult.info, 160)}`);
  }

  headers.push(`Authentication-Results: ${o.mta};\r\n ` + arHeader.join(';\r\n '));
  if (arcResult) arcResult.authResults = `${o.mta};\r\n ` + arHeader.join(';\r\n ');

  // Seal only messages with a valid ARC chain (as mailauth).
  if (dkimResult?.seal && (['none', 'pass'].includes(arcResult?.status?.result) || arcResult?.status?.shouldSeal)) {
    const seal = { i: arcResult.i + 1, cv: arcResult.status.result, authResults: arcResult.authResults, signTime: new Date(), ...dkimResult.seal };
    const sealResult = await createSeal(false, { headers: dkimResult.headers, arc: dkimResult.arc, seal });
    sealResult?.headers?.reverse().forEach((h) => headers.unshift(h));
  }

  return {
    dkim: dkimResult,
    spf: spfResult,
    dmarc: dmarcResult || false,
    arc: arcResult || false,
    bimi: false,
    get receivedChain() {
      return parseChain();
    },
    headers: headers.join('\r\n') + '\r\n',
  } as AuthenticateResult;
}
