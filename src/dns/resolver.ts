/**
 * The DNS resolver every part of Mailwright asks. Its servers are configurable (dns.servers, "ip" or "ip:port"),
 * so tests point it at a local DNS server they start; by default it uses the system's resolvers.
 * Every lookup has a timeout; errors keep Node's codes (ENOTFOUND, ENODATA, ESERVFAIL, ETIMEOUT) so callers can
 * tell "no such record" (permanent) from "could not ask" (temporary).
 */
import { promises as dnsPromises } from 'node:dns';

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface Resolver {
  /** Generic lookup in the shape of node:dns resolve(name, rrtype) (what mailauth's resolver option expects). */
  resolve?(name: string, rrtype: string): Promise<unknown[]>;
  resolveMx(name: string): Promise<MxRecord[]>;
  resolveTxt(name: string): Promise<string[][]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  reverse(ip: string): Promise<string[]>;
}

export interface ResolverOptions {
  servers?: string[];
  timeoutMs?: number;
  tries?: number;
}

export class NodeResolver implements Resolver {
  private readonly r: dnsPromises.Resolver;
  constructor(opts: ResolverOptions = {}) {
    this.r = new dnsPromises.Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
    if (opts.servers && opts.servers.length) this.r.setServers(opts.servers);
  }
  resolve(name: string, rrtype: string): Promise<unknown[]> {
    return this.r.resolve(name, rrtype) as Promise<unknown[]>;
  }
  /** A/AAAA with their TTLs. */
  resolve4Ttl(name: string) {
    return this.r.resolve4(name, { ttl: true });
  }
  resolve6Ttl(name: string) {
    return this.r.resolve6(name, { ttl: true });
  }
  resolveMx(name: string) {
    return this.r.resolveMx(name);
  }
  resolveTxt(name: string) {
    return this.r.resolveTxt(name);
  }
  resolve4(name: string) {
    return this.r.resolve4(name);
  }
  resolve6(name: string) {
    return this.r.resolve6(name);
  }
  reverse(ip: string) {
    return this.r.reverse(ip);
  }
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(ip: string): boolean {
  const a = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return a === '::1' || a.startsWith('127.');
}
