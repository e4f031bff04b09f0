/**
 * Where to deliver mail for a domain: MX lookup with preference order, implicit MX, null MX, loop detection, and
 * the addresses (A and AAAA) of each mail exchanger.
 * Standards: RFC 5321 §5.1 (locating the target host), RFC 7505 (null MX), RFC 3463 (status codes).
 * Untrusted input: DNS answers (names, preferences); they are normalised and bounded here.
 */
import { isIP } from 'node:net';
import type { Resolver } from '../dns/resolver.js';
import { type Failure, permFailure, tempFailure } from './reply.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** One mail exchanger with its addresses in the order to try them. */
export interface MxTarget {
  host: string;
  preference: number;
  addresses: string[];
  /** Set when the host has no address: why (temporary DNS errors stay temporary). */
  addressError?: Failure;
}

export type MxResult = { ok: true; targets: MxTarget[]; implicit: boolean } | { ok: false; failure: Failure };

/** Hosts (MX targets) must be at most this many; more are ignored (a hostile zone can list thousands). */
const MAX_MX = 20;
const MAX_ADDRESSES_PER_HOST = 10;

function normHost(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** Node's resolver codes: ENOTFOUND is NXDOMAIN, ENODATA is "no record of that type"; anything else is "could not ask". */
export function dnsErrorKind(err: unknown): 'nxdomain' | 'nodata' | 'temp' {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOTFOUND') return 'nxdomain';
  if (code === 'ENODATA') return 'nodata';
  return 'temp';
}

function dnsCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Resolve a host's addresses, ordered by family preference. Returns the addresses, or a failure when there are none:
 * permanent when both families answered "no such name/no data", temporary when any lookup could not be made.
 */
export async function resolveHostAddresses(
  resolver: Resolver,
  host: string,
  families: AddressFamily[],
): Promise<{ addresses: string[]; error?: Failure }> {
  if (isIP(host)) return { addresses: [host] };
  const lookups = families.map(async (f) => {
    try {
      const list = f === 'ipv4' ? await resolver.resolve4(host) : await resolver.resolve6(host);
      return { list: list.slice(0, MAX_ADDRESSES_PER_HOST), err: null as unknown };
    } catch (err) {
      return { list: [] as string[], err };
    }
  });
  const results = await Promise.all(lookups);
  const addresses = results.flatMap((r) => r.list);
  if (addresses.length) return { addresses };
  const temp = results.find((r) => r.err && dnsErrorKind(r.err) === 'temp');
  if (temp) {
    // RFC 5321 §5.1: a DNS failure that is not "no such name" is temporary; never bounce on it.
    return { addresses, error: tempFailure('4.4.3', `cannot resolve address of ${host}: ${dnsCode(temp.err)}`) };
  }
  const nx = results.every((r) => r.err && dnsErrorKind(r.err) === 'nxdomain');
  return {
    addresses,
    error: nx
      ? permFailure(550, '5.1.2', `host ${host} not found (NXDOMAIN)`)
      : permFailure(550, '5.4.4', `host ${host} has no address record (A/AAAA)`),
  };
}

export interface MxOptions {
  /** Our own host names: an MX pointing to one of them means the mail would loop. */
  ownHostnames?: string[];
  families?: AddressFamily[];
}

/**
 * Find the mail exchangers for a domain (RFC 5321 §5.1) and resolve their addresses.
 * - MX records sorted by preference, equal preferences in random order (RFC 5321 §5.1).
 * - No MX records (NODATA): the domain itself is the implicit MX with preference 0 (RFC 5321 §5.1).
 * - NXDOMAIN: permanent 5.1.2. SERVFAIL/timeout: temporary 4.4.3, never a bounce.
 * - A null MX (single record with exchange "." / "") means the domain accepts no mail: permanent 556 5.1.10
 *   (RFC 7505 §3, §4.2).
 * - If one of our own names is an MX, that MX and all less preferred ones are discarded; none left is a
 *   loop, permanent 5.4.6 (RFC 5321 §5.1 "the local host ... MUST discard all MX RRs with equal or higher
 *   preference value").
 */
export async function findMx(resolver: Resolver, domain: string, opts: MxOptions = {}): Promise<MxResult> {
  const families = opts.families ?? ['ipv4', 'ipv6'];
  const own = new Set((opts.ownHostnames ?? []).map(normHost));
  let records: { exchange: string; priority: number }[];
  let implicit = false;
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    const kind = dnsErrorKind(err);
    if (kind === 'nxdomain') {
      return { ok: false, failure: permFailure(550, '5.1.2', `domain ${domain} not found (NXDOMAIN)`) };
    }
    if (kind === 'temp') {
      return { ok: false, failure: tempFailure('4.4.3', `MX lookup for ${domain} failed: ${dnsCode(err)}`) };
    }
    records = [];
  }
  if (records.length === 0) {
    // RFC 5321 §5.1: implicit MX, preference 0, pointing to the domain itself.
    implicit = true;
    records = [{ exchange: domain, priority: 0 }];
  }
  const real = records.filter((r) => normHost(r.exchange) !== '');
  if (real.length === 0) {
    // RFC 7505 §3: "a single MX RR with an RDATA of '.'"; §4.2: the sender's MTA fails it at once with 5.1.10.
    return {
      ok: false,
      failure: permFailure(556, '5.1.10', `domain ${domain} does not accept mail (null MX, RFC 7505)`),
    };
  }
  // Sort by preference; shuffle first so that equal preferences end up in random order (RFC 5321 §5.1).
  let sorted = shuffle(real.map((r) => ({ host: normHost(r.exchange), preference: r.priority }))).sort(
    (a, b) => a.preference - b.preference,
  );
  const ownPrefs = sorted.filter((r) => own.has(r.host)).map((r) => r.preference);
  if (ownPrefs.length) {
    const limit = Math.min(...ownPrefs);
    sorted = sorted.filter((r) => r.preference < limit);
    if (sorted.length === 0) {
      return {
        ok: false,
        failure: permFailure(554, '5.4.6', `mail for ${domain} loops back to myself (MX points to this host)`),
      };
    }
  }
  // Deduplicate host names (keep the most preferred) and bound the list.
  const seen = new Set<string>();
  sorted = sorted.filter((r) => (seen.has(r.host) ? false : (seen.add(r.host), true))).slice(0, MAX_MX);
  const targets = await Promise.all(
    sorted.map(async (r): Promise<MxTarget> => {
      const { addresses, error } = await resolveHostAddresses(resolver, r.host, families);
      return error ? { ...r, addresses, addressError: error } : { ...r, addresses };
    }),
  );
  if (targets.every((t) => t.addresses.length === 0)) {
    // No MX host has an address. Temporary if any lookup could not be made. For an implicit MX the domain exists
    // but has no address: permanent (RFC 5321 §5.1: "no ... address records ... MUST be reported as an error").
    const temp = targets.find((t) => t.addressError?.outcome === 'temp');
    if (temp) return { ok: false, failure: temp.addressError! };
    if (implicit) {
      return { ok: false, failure: permFailure(550, '5.4.4', `domain ${domain} has no MX and no address record`) };
    }
    // Every MX host name is unresolvable: a misconfiguration that may be fixed soon; retry rather than bounce
    // (the queue's maximum lifetime bounces it eventually), as Postfix does.
    return {
      ok: false,
      failure: tempFailure('4.4.4', `no MX host of ${domain} has an address: ${targets.map((t) => t.addressError?.text).join('; ')}`),
    };
  }
  return { ok: true, targets, implicit };
}
