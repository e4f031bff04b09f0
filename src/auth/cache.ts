/**
 * A short-lived cache of verified credentials, as Dovecot's auth cache: a client that logs in again with the same
 * user and password within `ttlMs` skips the Argon2id verification (tens of ms of CPU by design).
 *
 * - Only successful verifications are cached; a wrong password always pays the full hash check (and the login
 *   throttle), so the cache gives an attacker nothing to probe.
 * - The key is an HMAC-SHA256 of the lower-cased address and the password under a random per-process secret: no
 *   password, and nothing that can be checked against a password without the secret, is kept.
 * - An entry is valid only while the user's stored hash is the one it was verified against: a password change by
 *   any process (CLI, web admin, another server sharing the database) writes a new salted hash and so invalidates it
 *   at the next login. Changes made through AccountService also drop the user's entries at once (invalidate()).
 * - The caller still loads the user on every login, so a disabled or deleted account is refused at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface CredentialCacheOptions {
  /** How long a verified login is remembered; 0 disables the cache. A function is read at each use (reload). */
  ttlMs: number | (() => number);
  /** Bound on entries (oldest dropped first). Default 10,000. */
  maxEntries?: number;
  /** Clock (tests). */
  now?: () => number;
}

interface Entry {
  address: string;
  storedHash: string;
  expires: number;
}

export class VerifiedCredentialCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  readonly stats = { hits: 0, misses: 0 };

  constructor(private readonly o: CredentialCacheOptions) {
    this.now = o.now ?? Date.now;
  }

  private ttl(): number {
    return typeof this.o.ttlMs === 'function' ? this.o.ttlMs() : this.o.ttlMs;
  }

  get enabled(): boolean {
    return this.ttl() > 0;
  }

  private key(address: string, password: string): string {
    return createHmac('sha256', this.secret).update(address.toLowerCase()).update('\0').update(password, 'utf8').digest('base64');
  }

  /** True when this user+password was verified against `storedHash` (the user's current hash) within the TTL. */
  check(address: string, password: string, storedHash: string): boolean {
    if (!this.enabled) return false;
    const k = this.key(address, password);
    const e = this.entries.get(k);
    if (!e) {
      this.stats.misses++;
      return false;
    }
    const a = Buffer.from(e.storedHash);
    const b = Buffer.from(storedHash);
    if (e.expires <= this.now() || e.expires > this.now() + this.ttl() || a.length !== b.length || !timingSafeEqual(a, b) || e.address !== address.toLowerCase()) {
      this.entries.delete(k);
      this.stats.misses++;
      return false;
    }
    this.stats.hits++;
    return true;
  }

  /** Remember a successful verification. */
  remember(address: string, password: string, storedHash: string): void {
    if (!this.enabled) return;
    const k = this.key(address, password);
    this.entries.delete(k);
    const max = this.o.maxEntries ?? 10_000;
    while (this.entries.size >= max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(k, { address: address.toLowerCase(), storedHash, expires: this.now() + this.ttl() });
  }

  /** Forget every entry of a user (password change, disable, delete). */
  invalidate(address: string): void {
    const a = address.toLowerCase();
    for (const [k, e] of this.entries) if (e.address === a) this.entries.delete(k);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
