/**
 * Failed-login throttling shared by every protocol that takes a password (SMTP AUTH, IMAP, POP3): failures are
 * counted per client IP and per account together, and each answer to a failed attempt is delayed, more with every
 * failure (1 s, 2 s, 4 s ... capped).
 *  - Per IP: maxFailuresPerIp failures within the window lock that IP out (every account, every protocol) for
 *    lockoutMs. With the defaults (5 in 60 s) this is as strict as WildDuck, and the lockout (15 min) is longer.
 *  - Per account: failures from anywhere add delay; maxFailuresPerAccount within the window (a distributed attack)
 *    locks the account for lockoutMs for every address EXCEPT those that logged in to it successfully before
 *    (kept 30 days in memory). So an attacker cannot lock the real user out from everywhere: the user's usual
 *    addresses still work, and a single attacking IP is locked long before the account threshold.
 * Attempts from a locked-out IP are answered as failures without checking the password and are not counted
 * against the account (a locked attacker cannot push the account into its lockout).
 */

export interface ThrottleOptions {
  /** Window in which failures are counted. */
  windowMs: number;
  /** Failures from one IP within the window before that IP is locked out. */
  maxFailuresPerIp: number;
  /** Failures on one account within the window before it accepts logins only from known addresses. */
  maxFailuresPerAccount: number;
  lockoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  windowMs: 60_000,
  maxFailuresPerIp: 5,
  maxFailuresPerAccount: 10,
  lockoutMs: 15 * 60_000,
  baseDelayMs: 1000,
  maxDelayMs: 15_000,
};

const KNOWN_IP_MS = 30 * 86400_000;

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly byIp = new Map<string, Entry>();
  private readonly byAccount = new Map<string, Entry>();
  /** account -> (ip -> last successful login) */
  private readonly known = new Map<string, Map<string, number>>();
  /** Called on every recorded failure (metrics). */
  readonly onFailure = new Set<(e: { ip: string; account: string; protocol: string; lockedIp: boolean; lockedAccount: boolean }) => void>();
  private opts: ThrottleOptions;

  constructor(opts: Partial<ThrottleOptions> = {}) {
    this.opts = { ...DEFAULT_THROTTLE, ...opts };
  }

  setOptions(opts: Partial<ThrottleOptions>): void {
    this.opts = { ...this.opts, ...opts };
  }

  private entry(map: Map<string, Entry>, key: string): Entry {
    let e = map.get(key);
    if (!e) {
      e = { failures: [], lockedUntil: 0 };
      map.set(key, e);
      if (map.size > 100_000) this.prune(map);
    }
    return e;
  }

  private recent(e: Entry, now: number): number {
    const since = now - this.opts.windowMs;
    while (e.failures.length && e.failures[0]! < since) e.failures.shift();
    return e.failures.length;
  }

  private knownIp(account: string, ip: string, now: number): boolean {
    const t = this.known.get(account.toLowerCase())?.get(ip);
    return t !== undefined && now - t < KNOWN_IP_MS;
  }

  /**
   * True when this IP may not try now (answer as a failure without checking the password): the IP is locked out,
   * or the account is under attack and this IP never logged in to it.
   */
  isLockedOut(ip: string, account?: string, now = Date.now()): boolean {
    const e = this.byIp.get(ip);
    if (e && e.lockedUntil > now) return true;
    if (account) {
      const a = this.byAccount.get(account.toLowerCase());
      if (a && a.lockedUntil > now && !this.knownIp(account, ip, now)) return true;
    }
    return false;
  }

  /** Record a failure; returns how long to wait before answering. */
  fail(ip: string, account: string, protocol = 'unknown', now = Date.now()): number {
    const ei = this.entry(this.byIp, ip);
    const ipLocked = ei.lockedUntil > now;
    ei.failures.push(now);
    const ni = this.recent(ei, now);
    if (ni >= this.opts.maxFailuresPerIp) ei.lockedUntil = Math.max(ei.lockedUntil, now + this.opts.lockoutMs);
    let na = 0;
    let accountLocked = false;
    if (!ipLocked) {
      const ea = this.entry(this.byAccount, account.toLowerCase());
      ea.failures.push(now);
      na = this.recent(ea, now);
      if (na >= this.opts.maxFailuresPerAccount) ea.lockedUntil = now + this.opts.lockoutMs;
      accountLocked = ea.lockedUntil > now;
    }
    for (const f of this.onFailure) f({ ip, account, protocol, lockedIp: ei.lockedUntil > now, lockedAccount: accountLocked });
    const n = Math.max(ni, na);
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.max(0, n - 1));
  }

  /** A successful login clears the IP's failures (not the account's: another IP may be guessing). */
  succeed(ip: string, account?: string, now = Date.now()): void {
    this.byIp.delete(ip);
    if (account) {
      const key = account.toLowerCase();
      let m = this.known.get(key);
      if (!m) this.known.set(key, (m = new Map()));
      m.set(ip, now);
      if (m.size > 1000) m.delete(m.keys().next().value!);
    }
  }

  /** Current lockouts (status command). */
  lockouts(now = Date.now()): { ips: number; accounts: number } {
    let ips = 0;
    let accounts = 0;
    for (const e of this.byIp.values()) if (e.lockedUntil > now) ips++;
    for (const e of this.byAccount.values()) if (e.lockedUntil > now) accounts++;
    return { ips, accounts };
  }

  private prune(map: Map<string, Entry>) {
    const now = Date.now();
    for (const [k, e] of map) if (this.recent(e, now) === 0 && e.lockedUntil < now) map.delete(k);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
