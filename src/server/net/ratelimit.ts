/**
 * Token buckets per client address: connections per minute and commands per second, shared by every listener.
 * A bucket holds `burst` tokens and refills at `rate` per second; an empty bucket means "too fast". Buckets of
 * idle addresses are dropped so the map stays small.
 */
export interface BucketOptions {
  /** Tokens added per second. */
  rate: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  /** Addresses the limit does not apply to. */
  exempt: (key: string) => boolean = () => false;
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 0;

  constructor(public opts: BucketOptions) {}

  private bucket(key: string, now: number): Bucket {
    // Sweep first: a sweep after the look-up would drop this (full) bucket, and the token about to be taken with it.
    if (now > this.sweepAt) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.opts.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.rate);
      b.at = now;
    }
    return b;
  }

  /** Take one token; true when there was one. */
  take(key: string, now = Date.now()): boolean {
    if (this.exempt(key)) return true;
    const b = this.bucket(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Take one token, going into debt: returns how long the caller should wait (0 when a token was there). The debt
   * is bounded by `maxDebt` tokens; beyond it returns -1 (drop the client).
   */
  delay(key: string, maxDebt: number, now = Date.now()): number {
    const b = this.bucket(key, now);
    b.tokens -= 1;
    if (b.tokens >= 0) return 0;
    if (-b.tokens > maxDebt) {
      b.tokens += 1;
      return -1;
    }
    return Math.ceil((-b.tokens / this.opts.rate) * 1000);
  }

  private sweep(now: number) {
    this.sweepAt = now + 60_000;
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.opts.rate >= this.opts.burst) this.buckets.delete(k);
    }
  }
}

/** Per-IP command rate used by the SMTP and IMAP sessions: slows a fast client, drops one far over the limit. */
export class CommandRateLimiter {
  readonly buckets: TokenBuckets;

  constructor(
    opts: { perSecond: number; burst: number },
    private readonly onLimited?: (ip: string, dropped: boolean) => void,
  ) {
    this.buckets = new TokenBuckets({ rate: opts.perSecond, burst: opts.burst });
  }

  set(opts: { perSecond: number; burst: number }) {
    this.buckets.opts = { rate: opts.perSecond, burst: opts.burst };
  }

  /** Addresses the limit does not apply to (loopback by default, like Postfix's mynetworks exceptions). */
  exempt: (ip: string) => boolean = () => false;

  /**
   * true (synchronously, so a session's hot path needs no promise per command) when the command may run now; false
   * when the client is far over the limit and should be disconnected; else a promise that resolves to true after
   * the delay.
   */
  command(ip: string): boolean | Promise<boolean> {
    if (this.exempt(ip)) return true;
    const ms = this.buckets.delay(ip, this.buckets.opts.burst);
    if (ms === 0) return true;
    this.onLimited?.(ip, ms < 0);
    if (ms < 0) return false;
    return new Promise((r) => setTimeout(() => r(true), ms));
  }
}
