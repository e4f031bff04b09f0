/**
 * Our public addresses: what the A/AAAA, SPF and PTR records must name. Configured (publicAddresses.ipv4/ipv6), or
 * else detected from the machine's non-loopback interfaces. Behind NAT a machine sees only private addresses: then
 * the records would be wrong, so a warning says to configure the public ones.
 */
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';

export interface PublicAddresses {
  ipv4: string[];
  ipv6: string[];
  source: 'configured' | 'detected';
  /** Why the addresses may be wrong (detected private-only addresses, none at all). */
  warnings: string[];
}

/** RFC 1918, CGNAT (RFC 6598), link-local, loopback, ULA (fc00::/7), link-local v6: not reachable from the internet. */
export function isPrivateAddress(ip: string): boolean {
  const a = ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number) as [number, number];
    return (
      x === 10 ||
      x === 127 ||
      x === 0 ||
      (x === 172 && y >= 16 && y <= 31) ||
      (x === 192 && y === 168) ||
      (x === 169 && y === 254) ||
      (x === 100 && y >= 64 && y <= 127)
    );
  }
  const l = a.toLowerCase();
  return l === '::1' || l === '::' || /^f[cd]/.test(l) || /^fe[89ab]/.test(l);
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/** Non-loopback interface addresses, public ones first. */
export function detectAddresses(ifaces: Interfaces = networkInterfaces()): { ipv4: string[]; ipv6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (i.family === 'IPv4') v4.push(i.address);
      else if (!/^fe[89ab]/i.test(i.address)) v6.push(i.address); // link-local is never a mail address
    }
  }
  const order = (xs: string[]) => [...new Set(xs)].sort((a, b) => Number(isPrivateAddress(a)) - Number(isPrivateAddress(b)));
  return { ipv4: order(v4), ipv6: order(v6) };
}

export function publicAddresses(config: Pick<Config, 'publicAddresses'>, ifaces?: Interfaces): PublicAddresses {
  const c = config.publicAddresses;
  if (c.ipv4.length || c.ipv6.length) return { ipv4: [...c.ipv4], ipv6: [...c.ipv6.map((x) => x.toLowerCase())], source: 'configured', warnings: [] };
  const d = detectAddresses(ifaces);
  const warnings: string[] = [];
  const pub4 = d.ipv4.filter((x) => !isPrivateAddress(x));
  const pub6 = d.ipv6.filter((x) => !isPrivateAddress(x));
  if (!d.ipv4.length && !d.ipv6.length) {
    warnings.push('no non-loopback network address found: set publicAddresses.ipv4/ipv6 in the configuration');
    return { ipv4: [], ipv6: [], source: 'detected', warnings };
  }
  if (!pub4.length && !pub6.length) {
    warnings.push(
      `only private addresses were detected (${[...d.ipv4, ...d.ipv6].join(', ')}): behind NAT, set publicAddresses.ipv4/ipv6 to the public address(es) mail comes from`,
    );
    return { ipv4: d.ipv4, ipv6: d.ipv6, source: 'detected', warnings };
  }
  return { ipv4: pub4, ipv6: pub6, source: 'detected', warnings };
}

export function allAddresses(a: Pick<PublicAddresses, 'ipv4' | 'ipv6'>): string[] {
  return [...a.ipv4, ...a.ipv6];
}

/** Expands an IPv6 address to its 32 nibbles (no colons). */
export function ipv6Nibbles(ip: string): string {
  let s = ip.toLowerCase();
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const o = m[2]!.split('.').map(Number);
    s = `${m[1]}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** The reverse-lookup name: 4.3.2.1.in-addr.arpa or nibbles.ip6.arpa. */
export function reverseName(ip: string): string {
  return isIP(ip) === 4 ? `${ip.split('.').reverse().join('.')}.in-addr.arpa` : `${ipv6Nibbles(ip).split('').reverse().join('.')}.ip6.arpa`;
}

/** The DNSBL query name: reversed octets (or nibbles) prepended to the zone (RFC 5782 §2.1, §2.4). */
export function dnsblName(ip: string, zone: string): string {
  const z = zone.replace(/\.$/, '');
  return isIP(ip) === 4 ? `${ip.split('.').reverse().join('.')}.${z}` : `${ipv6Nibbles(ip).split('').reverse().join('.')}.${z}`;
}

/** Compare IPs ignoring IPv6 spelling. */
export function sameIp(a: string, b: string): boolean {
  if (isIP(a) === 6 && isIP(b) === 6) return ipv6Nibbles(a) === ipv6Nibbles(b);
  return a.replace(/^::ffff:/i, '') === b.replace(/^::ffff:/i, '');
}

/**
 * PTR names of an address, asked of DNS only. (Node's reverse() consults /etc/hosts first, which on most machines
 * names 127.0.0.1 and the host's own address: not what the world sees.)
 */
export async function lookupPtr(
  resolver: { resolve?(name: string, rrtype: string): Promise<unknown[]>; reverse(ip: string): Promise<string[]> },
  ip: string,
): Promise<string[]> {
  if (resolver.resolve) return (await resolver.resolve(reverseName(ip), 'PTR')) as string[];
  return resolver.reverse(ip);
}
