/**
 * Graceful stop: listeners stop accepting, then every session is told to finish. A session between commands closes
 * at once (SMTP 421 4.3.2, IMAP BYE); one in the middle of a transaction (an SMTP message, an IMAP command) finishes
 * it and then answers its next command with the same refusal. The listener destroys what is left after the grace
 * time.
 */
export class ShutdownSignal {
  draining = false;
  private readonly listeners = new Set<() => void>();

  /** Register a session; returns the function that unregisters it. */
  onDrain(fn: () => void): () => void {
    if (this.draining) {
      queueMicrotask(fn);
      return () => {};
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  begin(): void {
    if (this.draining) return;
    this.draining = true;
    for (const f of [...this.listeners]) {
      try {
        f();
      } catch {
        /* a session's own problem */
      }
    }
    this.listeners.clear();
  }
}
