/**
 * DNS blocklist look-ups (RFC 5782): the address's octets reversed (nibbles for IPv6) under the list's zone.
 * NXDOMAIN = not listed; an A answer in 127.0.0.0/8 = listed (the TXT record says why). Spamhaus answers
 * 127.255.255.x when it refuses the query (public or open resolvers, over-quota): that is "could not check",
 * never "listed".
 */
import type { Resolver } from '../dns/resolver.js';
import { dnsblName } from './addresses.js';

export type DnsblStatus = 'listed' | 'clean' | 'refused' | 'error';

export interface DnsblResult {
  ip: string;
  zone: string;
  status: DnsblStatus;
  /** The query name. */
  name: string;
  /** Return codes (127.0.0.x) when listed or refused. */
  codes: string[];
  /** The list's TXT explanation, or the error. */
  reason?: string;
}

export async function queryDnsbl(ip: string, zone: string, resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'>): Promise<DnsblResult> {
  const name = dnsblName(ip, zone);
  const z = zone.replace(/\.$/, '');
  let codes: string[];
  try {
    codes = await resolver.resolve4(name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { ip, zone: z, name, status: 'clean', codes: [] };
    return { ip, zone: z, name, status: 'error', codes: [], reason: `DNS lookup failed (${code ?? (err as Error).message})` };
  }
  if (codes.length && codes.every((c) => c.startsWith('127.255.255.'))) {
    return { ip, zone: z, name, status: 'refused', codes, reason: `${z} refused the query (${codes.join(', ')}): it does not answer public/open resolvers; use your own recursive resolver (dns.servers)` };
  }
  const listed = codes.filter((c) => c.startsWith('127.') && !c.startsWith('127.255.255.'));
  if (!listed.length) return { ip, zone: z, name, status: 'error', codes, reason: `unexpected answer ${codes.join(', ')} (not 127.0.0.x)` };
  let reason: string | undefined;
  try {
    reason = (await resolver.resolveTxt(name)).map((t) => t.join('')).join(' ') || undefined;
  } catch {
    /* the TXT record is optional */
  }
  return { ip, zone: z, name, status: 'listed', codes: listed, ...(reason ? { reason } : {}) };
}

export async function checkDnsbls(ip: string, zones: string[], resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'>): Promise<DnsblResult[]> {
  return Promise.all(zones.map((z) => queryDnsbl(ip, z, resolver)));
}
