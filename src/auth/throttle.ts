/**
 * Failed-login throttling shared by every protocol that takes a password (SMTP AUTH, IMAP, POP3): failures are
 * counted per client IP and per account together, and each answer to a failed attempt is delayed, more with every
 * failure (1 s, 2 s, 4 s ... capped). An IP with too many failures in the window is locked out for a while.
 * The per-account count only adds delay, never a lockout, so an attacker cannot lock the real user out from
 * everywhere (a user on another IP still logs in).
 */

export interface ThrottleOptions {
  /** Window in which failures are counted. */
  windowMs: number;
  /** Failures from one IP within the window before that IP is locked out. */
  maxFailuresPerIp: number;
  lockoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  windowMs: 60_000,
  maxFailuresPerIp: 5,
  lockoutMs: 5 * 60_000,
  baseDelayMs: 1000,
  maxDelayMs: 15_000,
};

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly byIp = new Map<string, Entry>();
  private readonly byAccount = new Map<string, Entry>();

  constructor(private readonly opts: ThrottleOptions = DEFAULT_THROTTLE) {}

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

  /** True when this IP may not try at all now (answer as a failure without checking the password). */
  isLockedOut(ip: string, now = Date.now()): boolean {
    const e = this.byIp.get(ip);
    return Boolean(e && e.lockedUntil > now);
  }

  /** Record a failure; returns how long to wait before answering. */
  fail(ip: string, account: string, now = Date.now()): number {
    const ei = this.entry(this.byIp, ip);
    const ea = this.entry(this.byAccount, account.toLowerCase());
    ei.failures.push(now);
    ea.failures.push(now);
    const ni = this.recent(ei, now);
    const na = this.recent(ea, now);
    if (ni >= this.opts.maxFailuresPerIp) ei.lockedUntil = now + this.opts.lockoutMs;
    const n = Math.max(ni, na);
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.max(0, n - 1));
  }

  /** A successful login clears the IP's failures (not the account's: another IP may be guessing). */
  succeed(ip: string): void {
    this.byIp.delete(ip);
  }

  private prune(map: Map<string, Entry>) {
    const now = Date.now();
    for (const [k, e] of map) if (this.recent(e, now) === 0 && e.lockedUntil < now) map.delete(k);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
