/**
 * A counting semaphore per key: at most N concurrent connections per destination (Postfix's
 * default_destination_concurrency_limit). Waiters are served in arrival order.
 */
export class KeyedLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error('concurrency limit must be >= 1');
  }

  /** Resolves with a release function once a slot for key is free. */
  async acquire(key: string): Promise<() => void> {
    const n = this.active.get(key) ?? 0;
    if (n < this.limit) {
      this.active.set(key, n + 1);
    } else {
      await new Promise<void>((resolve) => {
        const q = this.waiting.get(key) ?? [];
        q.push(resolve);
        this.waiting.set(key, q);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const q = this.waiting.get(key);
      const next = q?.shift();
      if (q && q.length === 0) this.waiting.delete(key);
      if (next) next(); // the slot passes to the next waiter
      else {
        const left = (this.active.get(key) ?? 1) - 1;
        if (left <= 0) this.active.delete(key);
        else this.active.set(key, left);
      }
    };
  }

  inUse(key: string): number {
    return this.active.get(key) ?? 0;
  }
}
