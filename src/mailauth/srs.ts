/**
 * Sender Rewriting Scheme (SRS, Shevek's "Sender Rewriting Scheme" paper as implemented by libsrs2/postsrsd):
 * when a hosted alias forwards a message to a remote address, the envelope sender is rewritten to an address at
 * our domain so that SPF at the receiver passes for us, and bounces come back to us:
 *   SRS0=HHHH=TT=orig-domain=orig-local@srs-domain
 *   SRS1=HHHH=first-srs-domain==HHHH=TT=orig-domain=orig-local@srs-domain   (re-forwarding an SRS0 address)
 * HHHH is a truncated HMAC-SHA1 (base64) of the rest under a secret kept in <dataDir>/srs.secret, TT a day stamp
 * (base32, modulo 1024). Reversal checks both, so nobody can use us as a bounce relay (RFC 5321 §3.9 forwarding).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const MAX_AGE_DAYS = 21;

export class Srs {
  constructor(
    private readonly secret: Buffer,
    readonly domain: string,
  ) {}

  static async open(dataDir: string, domain: string): Promise<Srs> {
    const path = join(dataDir, 'srs.secret');
    let secret: Buffer;
    try {
      secret = await fsp.readFile(path);
    } catch {
      secret = randomBytes(32);
      await fsp.writeFile(path, secret, { mode: 0o600, flag: 'wx' }).catch(async () => {
        secret = await fsp.readFile(path);
      });
    }
    return new Srs(secret, domain.toLowerCase());
  }

  private hash(...parts: string[]): string {
    const h = createHmac('sha1', this.secret);
    for (const p of parts) h.update(p.toLowerCase());
    return h.digest('base64').slice(0, 4);
  }

  private static today(now = Date.now()): string {
    const d = Math.floor(now / 86400_000) % 1024;
    return B32[d >> 5]! + B32[d & 31]!;
  }

  private static age(stamp: string, now = Date.now()): number {
    const s = stamp.toUpperCase();
    const d = B32.indexOf(s[0]!) * 32 + B32.indexOf(s[1]!);
    if (s.length !== 2 || d < 0) return Infinity;
    const today = Math.floor(now / 86400_000) % 1024;
    return (today - d + 1024) % 1024;
  }

  /** Rewrite a sender for forwarding. The null sender and our own addresses stay as they are. */
  forward(sender: string, now = Date.now()): string {
    if (!sender) return sender;
    const at = sender.lastIndexOf('@');
    if (at <= 0) return sender;
    const local = sender.slice(0, at);
    const domain = sender.slice(at + 1).toLowerCase();
    if (domain === this.domain) return sender;
    const m = /^SRS0([=+-])(.*)$/i.exec(local);
    if (m) {
      // Re-forwarding someone else's SRS0 address: SRS1 keeps the first forwarder's domain.
      const rest = m[2]!;
      const h = this.hash(domain, rest);
      return `SRS1=${h}=${domain}==${rest}@${this.domain}`;
    }
    const m1 = /^SRS1[=+-]([^=]+)=([^=]+)==(.*)$/i.exec(local);
    if (m1) {
      // Re-forwarding an SRS1 address: keep the first forwarder and its SRS0 part; hash as reverse() checks it.
      const h = this.hash(m1[2]!, m1[3]!);
      return `SRS1=${h}=${m1[2]}==${m1[3]}@${this.domain}`;
    }
    const tt = Srs.today(now);
    const h = this.hash(tt, domain, local);
    return `SRS0=${h}=${tt}=${domain}=${local}@${this.domain}`;
  }

  /** True when the address looks like one of our SRS addresses (checked fully by reverse()). */
  isSrs(address: string): boolean {
    const at = address.lastIndexOf('@');
    return at > 0 && address.slice(at + 1).toLowerCase() === this.domain && /^SRS[01][=+-]/i.test(address);
  }

  /** The original sender of an SRS address at our domain, or null when it is forged, expired or malformed. */
  reverse(address: string, now = Date.now()): string | null {
    if (!this.isSrs(address)) return null;
    const local = address.slice(0, address.lastIndexOf('@'));
    const ok = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a.toLowerCase()), Buffer.from(b.toLowerCase()));
    let m = /^SRS0[=+-]([^=]{4})=([^=]{2})=([^=]+)=(.+)$/i.exec(local);
    if (m) {
      const [, h, tt, domain, orig] = m as unknown as [string, string, string, string, string];
      if (!ok(h, this.hash(tt, domain, orig))) return null;
      if (Srs.age(tt, now) > MAX_AGE_DAYS) return null;
      return `${orig}@${domain}`;
    }
    m = /^SRS1[=+-]([^=]{4})=([^=]+)==(.+)$/i.exec(local);
    if (m) {
      const [, h, first, rest] = m as unknown as [string, string, string, string];
      if (!ok(h, this.hash(first, rest))) return null;
      return `SRS0=${rest}@${first}`;
    }
    return null;
  }
}
