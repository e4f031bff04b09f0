/**
 * The DNS resolver handed to mailauth (SPF, DKIM, DMARC, ARC): a cache in front of our resolver, and the error
 * codes mailauth expects (ENOTFOUND for NXDOMAIN, ENODATA for no records of that type; anything else is a
 * temporary error).
 * Caching: answers are kept for their TTL where the resolver reports one (A, AAAA), otherwise for a fixed
 * 5 minutes (node:dns does not expose TTLs of TXT/MX answers); at most 300 s either way, and negative answers for
 * 60 s. The SPF lookup limit (RFC 7208 §4.6.4: 10 DNS-querying terms, 2 void lookups) is enforced by mailauth.
 */
import type { Resolver } from '../dns/resolver.js';
import { NodeResolver } from '../dns/resolver.js';

const MAX_TTL_MS = 300_000;
const NEGATIVE_TTL_MS = 60_000;
const MAX_ENTRIES = 20_000;

interface Entry {
  at: number;
  ttl: number;
  value?: unknown[];
  error?: NodeJS.ErrnoException;
}

export type MailauthResolver = ((name: string, rrtype: string) => Promise<unknown[]>) & {
  /** When the cached answer (or cached NXDOMAIN/NODATA) for this question stops being used; undefined if none is cached. */
  expiresAt?: (name: string, rrtype: string) => number | undefined;
};

export class CachingResolver {
  private readonly cache = new Map<string, Entry>();
  hits = 0;
  misses = 0;
  constructor(private readonly base: Resolver) {}

  private async lookup(name: string, rrtype: string): Promise<{ value: unknown[]; ttlMs: number }> {
    const type = rrtype.toUpperCase();
    if (this.base instanceof NodeResolver && (type === 'A' || type === 'AAAA')) {
      const rows = type === 'A' ? await this.base.resolve4Ttl(name) : await this.base.resolve6Ttl(name);
      const ttl = Math.min(...rows.map((r) => r.ttl), MAX_TTL_MS / 1000);
      return { value: rows.map((r) => r.address), ttlMs: Math.max(0, ttl) * 1000 };
    }
    if (this.base.resolve) return { value: await this.base.resolve(name, type), ttlMs: MAX_TTL_MS };
    switch (type) {
      case 'TXT':
        return { value: await this.base.resolveTxt(name), ttlMs: MAX_TTL_MS };
      case 'MX':
        return { value: await this.base.resolveMx(name), ttlMs: MAX_TTL_MS };
      case 'A':
        return { value: await this.base.resolve4(name), ttlMs: MAX_TTL_MS };
      case 'AAAA':
        return { value: await this.base.resolve6(name), ttlMs: MAX_TTL_MS };
      case 'PTR':
        return { value: await this.base.reverse(name), ttlMs: MAX_TTL_MS };
      default: {
        const e = new Error(`unsupported record type ${type}`) as NodeJS.ErrnoException;
        e.code = 'ENOTIMP';
        throw e;
      }
    }
  }

  /** The same cache behind the Resolver interface (outbound delivery's MX/A/AAAA lookups). */
  asResolver(): Resolver {
    return {
      resolve: (name, rrtype) => this.resolve(name, rrtype),
      resolveMx: (name) => this.resolve(name, 'MX') as Promise<import('../dns/resolver.js').MxRecord[]>,
      resolveTxt: (name) => this.resolve(name, 'TXT') as Promise<string[][]>,
      resolve4: (name) => this.resolve(name, 'A') as Promise<string[]>,
      resolve6: (name) => this.resolve(name, 'AAAA') as Promise<string[]>,
      reverse: (ip) => this.base.reverse(ip),
    };
  }

  /** When the cached answer for this question expires (ms since the epoch); undefined when nothing is cached. */
  expiresAt(name: string, rrtype: string, now = Date.now()): number | undefined {
    const hit = this.cache.get(`${rrtype.toUpperCase()} ${name.toLowerCase()}`);
    return hit && now - hit.at < hit.ttl ? hit.at + hit.ttl : undefined;
  }

  resolve: MailauthResolver = Object.assign(async (name: string, rrtype: string): Promise<unknown[]> => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase()}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < hit.ttl) {
      this.hits++;
      if (hit.error) throw hit.error;
      return hit.value!;
    }
    this.misses++;
    if (this.cache.size > MAX_ENTRIES) this.cache.clear();
    try {
      const { value, ttlMs } = await this.lookup(name, rrtype);
      if (ttlMs > 0) this.cache.set(key, { at: now, ttl: ttlMs, value });
      return value;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Only definite answers are cached; timeouts and SERVFAIL are asked again next time.
      if (e.code === 'ENOTFOUND' || e.code === 'ENODATA') this.cache.set(key, { at: now, ttl: NEGATIVE_TTL_MS, error: e });
      throw e;
    }
  }, { expiresAt: (name: string, rrtype: string) => this.expiresAt(name, rrtype) });
}
