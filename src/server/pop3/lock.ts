/**
 * The maildrop lock of RFC 1939 §8: while a POP3 session is in the TRANSACTION or UPDATE state, no other POP3
 * session may open the same maildrop (it gets "-ERR [IN-USE]", RFC 2449 §8.1.1). IMAP sessions are not locked
 * out: the store serializes writers per mailbox and POP3 works on a snapshot. One Mailwright process owns a data
 * directory (see store.ts), so an in-process table is the whole lock.
 */
export class MaildropLocks {
  private readonly held = new Map<string, object>();

  /** Take the lock of `key` for `owner`; false when another owner holds it. */
  acquire(key: string, owner: object): boolean {
    const cur = this.held.get(key);
    if (cur && cur !== owner) return false;
    this.held.set(key, owner);
    return true;
  }

  /** Release the lock if `owner` holds it. */
  release(key: string, owner: object): void {
    if (this.held.get(key) === owner) this.held.delete(key);
  }

  isLocked(key: string): boolean {
    return this.held.has(key);
  }

  get size(): number {
    return this.held.size;
  }
}
