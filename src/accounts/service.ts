/**
 * Account administration shared by the CLI and (later) the web admin: one implementation of "add a user",
 * "set a password", ... on top of the AccountStore. Passwords are hashed here and never logged.
 */
import { randomBytes } from 'node:crypto';
import type { AccountStore, Domain, User } from '../store/types.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import { UserError } from '../common/errors.js';
import type { VerifiedCredentialCache } from '../auth/cache.js';

/** A random password of 16 characters from an unambiguous alphabet (about 90 bits). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(32);
  let out = '';
  for (let i = 0; out.length < 16 && i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < alphabet.length * 4) out += alphabet[b % alphabet.length];
  }
  return out.length === 16 ? out : generatePassword();
}

export function parseQuota(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  const m = /^(\d+)\s*([KMGT]i?B?|B)?$/i.exec(q.trim());
  if (!m) throw new UserError(`invalid quota '${q}': use bytes or a size such as 500M, 2G (0 = unlimited)`);
  const mult: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  const unit = (m[2] ?? '').toUpperCase().replace(/I?B$/, '') || '';
  return Number(m[1]) * (mult[unit] ?? 1);
}

/** What happens alongside account changes; the CLI passes the DKIM key store (keys made when a domain is added). */
export interface AccountHooks {
  dkim?: { ensureKeys(domain: string): Promise<unknown> };
  /** Verified-credential cache shared by the server's services (limits.authCacheSeconds); none in the CLI. */
  authCache?: VerifiedCredentialCache;
}

export class AccountService {
  constructor(
    readonly store: AccountStore,
    private readonly hooks: AccountHooks = {},
  ) {}

  /** Adds a hosted domain and creates its DKIM keys (RSA-2048 and Ed25519) when a DKIM key store is hooked in. */
  async addDomain(name: string): Promise<Domain> {
    const d = await this.store.addDomain(name);
    if (this.hooks.dkim) await this.hooks.dkim.ensureKeys(d.name);
    return d;
  }

  async addUser(address: string, password: string | undefined, opts: { quotaBytes?: number } = {}): Promise<{ user: User; password: string; generated: boolean }> {
    const generated = password === undefined;
    const pw = password ?? generatePassword();
    const user = await this.store.addUser(address, await hashPassword(pw), opts);
    return { user, password: pw, generated };
  }

  async setPassword(address: string, password: string | undefined): Promise<{ password: string; generated: boolean }> {
    const generated = password === undefined;
    const pw = password ?? generatePassword();
    await this.store.setPasswordHash(address, await hashPassword(pw));
    this.hooks.authCache?.invalidate(address);
    return { password: pw, generated };
  }

  /**
   * Checks a login. Returns the user when the password matches and the account is enabled. Upgrades an old hash
   * (SHA512-CRYPT etc.) to argon2id after a successful login, as Dovecot's doveadm-less migrations do.
   * With an auth cache, a login that succeeded with the same password against the same stored hash within its TTL
   * skips the hash check; the user is loaded (and `enabled` checked) every time.
   */
  async authenticate(address: string, password: string): Promise<User | null> {
    let user: User | undefined;
    try {
      user = await this.store.getUser(address);
    } catch {
      return null; // malformed address
    }
    if (!user) {
      // Spend comparable time so that the response time does not reveal which users exist.
      await verifyPassword(DUMMY_HASH, password);
      return null;
    }
    const cache = this.hooks.authCache;
    if (cache?.check(user.address, password, user.passwordHash)) return user.enabled ? user : null;
    const r = await verifyPassword(user.passwordHash, password);
    if (!r.ok || !user.enabled) return null;
    if (r.needsRehash) {
      const rehashed = await hashPassword(password);
      const saved = await this.store.setPasswordHash(user.address, rehashed).then(
        () => true,
        () => false,
      );
      cache?.remember(user.address, password, saved ? rehashed : user.passwordHash);
    } else {
      cache?.remember(user.address, password, user.passwordHash);
    }
    return user;
  }
}

const DUMMY_HASH = '{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0nUBmfbQKzK0D3ZOiOHLXHwK8WnZW0E1QmcmZ0pLZ4U';
