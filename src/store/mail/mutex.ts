/**
 * An async mutex per key (FIFO). `run(key, fn)` runs fn when every earlier holder of the key has finished.
 * `runMany` takes several keys in a fixed (sorted) order, so two callers locking the same pair cannot deadlock.
 * Not re-entrant: code holding a key must call the "...Locked" variants of store methods, never `run` again.
 */
export class KeyedMutex<K extends string | number> {
  private readonly tails = new Map<K, Promise<void>>();

  async run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev ? prev.then(() => mine) : mine;
    this.tails.set(key, tail);
    if (prev) await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  async runMany<T>(keys: readonly K[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const step = (i: number): Promise<T> => (i >= sorted.length ? fn() : this.run(sorted[i]!, () => step(i + 1)));
    return step(0);
  }

  isLocked(key: K): boolean {
    return this.tails.has(key);
  }
}
