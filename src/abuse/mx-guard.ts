/**
 * Abuse checks on the MX, as wrappers around its SMTP hooks:
 *  - DNS blocklists (RFC 5782) of the connecting client at connect: "554 5.7.1" when any configured zone lists it
 *    (a lookup error or a list refusing our resolver never blocks). Loopback clients are skipped unless configured.
 *  - Greylisting (optional): the first attempt of a new (client /24 (IPv6 /64), sender, recipient) triplet gets
 *    "451 4.7.1"; a retry after `delaySeconds` passes and the triplet is remembered for `expireDays`. Kept in memory
 *    (a restart greylists again once; senders retry anyway). Null senders (bounces) are greylisted like others.
 * Untrusted input: the client address, envelope addresses (only used as map keys).
 */
import { SmtpReplyError } from '../common/errors.js';
import { isLoopback, type Resolver } from '../dns/resolver.js';
import { queryDnsbl } from '../dnscheck/dnsbl.js';
import type { SmtpHooks } from '../server/smtp/types.js';
import type { Logger } from 'pino';

export interface MxGuardOptions {
  dnsbl: { zones: string[]; checkLoopback: boolean; resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'> };
  greylisting: { enabled: boolean; delaySeconds: number; expireDays: number; checkLoopback: boolean };
  log: Logger;
  onDecision?: (check: 'dnsbl' | 'greylist', result: string) => void;
}

export function greylistKey(ip: string, sender: string, rcpt: string): string {
  const a = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const net = a.includes(':') ? a.split(':').slice(0, 4).join(':') + '::/64' : a.split('.').slice(0, 3).join('.') + '.0/24';
  return `${net}|${sender.toLowerCase()}|${rcpt.toLowerCase()}`;
}

export class Greylist {
  /** key -> first seen (ms), or -passedAt once it passed */
  private readonly seen = new Map<string, { first: number; passed: number | null }>();

  constructor(public opts: { delaySeconds: number; expireDays: number }) {}

  /** 'pass' or 'defer' for this triplet now. */
  check(key: string, now = Date.now()): 'pass' | 'defer' | 'new' {
    const e = this.seen.get(key);
    const expire = this.opts.expireDays * 86400_000;
    if (e?.passed && now - e.passed < expire) {
      e.passed = now;
      return 'pass';
    }
    if (!e || now - e.first > expire) {
      this.seen.set(key, { first: now, passed: null });
      if (this.seen.size > 500_000) this.seen.delete(this.seen.keys().next().value!);
      return 'new';
    }
    if (now - e.first >= this.opts.delaySeconds * 1000) {
      e.passed = now;
      return 'pass';
    }
    return 'defer';
  }
}

export function guardMxHooks(inner: SmtpHooks, o: MxGuardOptions, greylist: Greylist): SmtpHooks {
  return {
    ...inner,
    onConnect: async (s) => {
      const ip = s.remoteAddress;
      if (o.dnsbl.zones.length && (o.dnsbl.checkLoopback || !isLoopback(ip))) {
        const results = await Promise.all(o.dnsbl.zones.map((z) => queryDnsbl(ip.replace(/^::ffff:/, ''), z, o.dnsbl.resolver)));
        const listed = results.find((r) => r.status === 'listed');
        if (listed) {
          o.onDecision?.('dnsbl', 'listed');
          o.log.info({ conn: s.id, client: ip, zone: listed.zone, codes: listed.codes, reason: listed.reason, result: 'reject' }, 'client refused: listed on a DNS blocklist');
          throw new SmtpReplyError(554, '5.7.1', `Service unavailable; client host [${ip}] blocked using ${listed.zone}${listed.reason ? `; ${listed.reason}` : ''}`);
        }
        o.onDecision?.('dnsbl', 'clean');
      }
      await inner.onConnect?.(s);
    },
    onRcptTo: async (s, rcpt, env) => {
      await inner.onRcptTo(s, rcpt, env);
      if (!o.greylisting.enabled || s.user || (!o.greylisting.checkLoopback && isLoopback(s.remoteAddress))) return;
      const key = greylistKey(s.remoteAddress, env.mailFrom.address, rcpt.address);
      const r = greylist.check(key);
      o.onDecision?.('greylist', r);
      if (r !== 'pass') {
        o.log.info({ conn: s.id, client: s.remoteAddress, from: env.mailFrom.address, to: rcpt.address, result: 'greylisted' }, 'greylisted');
        throw new SmtpReplyError(451, '4.7.1', `Greylisted: please try again in ${Math.ceil(o.greylisting.delaySeconds)} seconds`);
      }
    },
  };
}
