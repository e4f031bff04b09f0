/**
 * The selected mailbox as one session sees it (RFC 3501 §5.2, §7.4.1): the message sequence number -> UID map,
 * the modseq up to which changes were reported, and the rules for when updates may be sent:
 * EXISTS and FETCH FLAGS after any command; EXPUNGE never while answering FETCH, STORE or SEARCH (the UID forms are
 * fine), so that sequence numbers stay in step; during IDLE at once.
 * Invariant: `uids` is ascending; sequence number n is uids[n-1].
 * Memory: `uids` starts as the store's list for the mailbox, shared by every session that selected it at the same
 * point (4 bytes per message, once). It is never written to: a session copies it only when its own view changes
 * (EXPUNGE reported, new messages announced), into a private Uint32Array with spare room at the end.
 */
import type { Mailbox, MailStore, MessageRecord } from '../../store/mail/index.js';
import { untaggedStatus } from '../../protocol/imap/index.js';
import type { ImapSession } from './session.js';
import { flagsFetch, reportExpunged } from './qresync.js';
import type { SearchContext } from './context-update.js';

export class SelectedMailbox {
  /** Sequence number n -> uids[n-1]. Read-only for callers: change it with removeSeq / addUids. */
  uids: Uint32Array;
  /** True once `uids` is this session's own copy (then buf holds it, with spare capacity). */
  private own = false;
  private buf: Uint32Array | null = null;
  /** Highest modseq whose changes this session has reported (or produced itself). */
  lastModseq: number;
  uidNext: number;
  /** Something changed since the last report (set by the store's watch callback). */
  dirty = false;
  /** The mailbox was deleted or its UIDVALIDITY changed under us. */
  invalid = false;
  private unwatch: () => void;
  /** Called when a change arrives (IDLE uses it to report at once). */
  onChange: (() => void) | null = null;
  /**
   * RFC 5182 SEARCHRES: the UIDs of the last SEARCH RETURN (SAVE), "$" in later commands. Empty after SELECT
   * (§2.1: a new SelectedMailbox starts empty). Kept as UIDs, so expunged messages drop out by themselves.
   */
  saved: ReadonlySet<number> = new Set();
  /**
   * Set when reportChanges sent EXPUNGE/VANISHED for other sessions' expunges; the dispatcher then adds
   * [HIGHESTMODSEQ n] to the tagged OK once CONDSTORE is on (as Dovecot does) and clears it.
   */
  expungesReported = false;
  /** RFC 5267 §4 CONTEXT=SEARCH/SORT: searches whose results the client asked to keep updated, by tag. */
  readonly contexts = new Map<string, SearchContext>();
  /** The last report held back expunges (they come at the next command that allows them). */
  expungePending = false;
  /** NOTIFY hook (notify.ts): after "* n EXISTS", with the new UIDs (MessageNew fetch-att, RFC 5465 §5.2). */
  onAdded: ((s: ImapSession, uids: readonly number[]) => Promise<void>) | null = null;

  constructor(
    readonly store: MailStore,
    readonly mailbox: Mailbox,
    readonly readOnly: boolean,
    uids: Uint32Array,
    counters: { uidNext: number; highestModseq: number },
  ) {
    this.uids = uids;
    this.lastModseq = counters.highestModseq;
    this.uidNext = counters.uidNext;
    this.unwatch = store.watch(mailbox.id, (e) => {
      if (e.kind === 'deleted' || e.kind === 'uidvalidity') this.invalid = true;
      if (e.origin === this && !this.invalid) return; // our own change: reported by the command itself
      this.dirty = true;
      this.onChange?.();
    });
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0. Binary search. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** Forget message `seq` (after an EXPUNGE response for it). */
  removeSeq(seq: number): void {
    const n = this.uids.length;
    if (seq < 1 || seq > n) return;
    if (!this.own) this.makeOwn(n);
    const b = this.buf!;
    b.copyWithin(seq - 1, seq, n);
    this.uids = b.subarray(0, n - 1);
  }

  /** Add UIDs (any order; duplicates of known UIDs are ignored) and keep the list ascending. */
  addUids(add: readonly number[]): void {
    if (!add.length) return;
    const n = this.uids.length;
    const fresh = add.filter((u) => this.seqOf(u) === 0).sort((a, b) => a - b);
    if (!fresh.length) return;
    if (!this.own || this.buf!.length < n + fresh.length) this.makeOwn(n + fresh.length);
    const b = this.buf!;
    b.set(fresh, n);
    const all = b.subarray(0, n + fresh.length);
    if (n && fresh[0]! < b[n - 1]!) all.sort();
    this.uids = all;
  }

  private makeOwn(need: number): void {
    const b = new Uint32Array(Math.max(need + 16, Math.ceil(need * 1.125)));
    b.set(this.uids.subarray(0, Math.min(this.uids.length, need)));
    this.buf = b;
    this.own = true;
  }

  /** Set by context-update.ts (RFC 5267): hooks run around reported changes while CONTEXT searches exist. */
  beforeExpunge: ((s: ImapSession, uids: readonly number[]) => Promise<void>) | null = null;
  afterChanges: ((s: ImapSession) => Promise<void>) | null = null;

  close() {
    this.contexts.clear();
    this.unwatch();
    this.onChange = null;
  }

  /**
   * Send the untagged updates that are due. With `expunges` false, expunged messages keep their sequence
   * numbers until a later command allows EXPUNGE responses.
   */
  async reportChanges(s: ImapSession, opts: { expunges: boolean; force?: boolean; uid?: boolean }): Promise<void> {
    if (this.invalid) {
      s.write(untaggedStatus('BYE', 'The selected mailbox was deleted or rebuilt by another session'));
      s.close();
      return;
    }
    if (!this.dirty && !opts.force) return;
    this.dirty = false;
    const ch = await this.mailbox.changesSince(this.lastModseq);
    let pendingExpunge = false;
    if (ch.expunged.length) {
      if (opts.expunges) {
        // EXPUNGE per message, or one VANISHED with QRESYNC (RFC 7162 §3.2.10). CONTEXT updates first learn
        // where the messages were (RFC 5267 §4.3 REMOVEFROM).
        if (this.contexts.size) await this.beforeExpunge?.(s, ch.expunged);
        if (reportExpunged(s, this, ch.expunged)) this.expungesReported = true;
      } else {
        pendingExpunge = ch.expunged.some((u) => this.seqOf(u) > 0);
      }
    }
    const added: MessageRecord[] = [];
    const changed: MessageRecord[] = [];
    for (const r of ch.changed) {
      if (r.uid >= this.uidNext && this.seqOf(r.uid) === 0) added.push(r);
      else changed.push(r);
    }
    for (const r of changed) {
      const n = this.seqOf(r.uid);
      if (n > 0) s.write(flagsFetch(s, n, r, { uid: opts.uid }));
    }
    if (added.length) {
      this.addUids(added.map((r) => r.uid));
      s.write(`* ${this.uids.length} EXISTS\r\n`);
    }
    this.uidNext = Math.max(this.uidNext, ch.uidNext);
    if (this.contexts.size && (changed.length || added.length || (ch.expunged.length && opts.expunges))) await this.afterChanges?.(s);
    this.expungePending = pendingExpunge;
    if (pendingExpunge) {
      // Come back for the expunges at the next command that allows them: lastModseq stays where it was, so they
      // are returned again (flag changes then repeat, which clients accept).
      this.dirty = true;
      if (added.length && this.onAdded) await this.onAdded(s, added.map((r) => r.uid));
      return;
    }
    this.lastModseq = ch.highestModseq;
    if (added.length && this.onAdded) await this.onAdded(s, added.map((r) => r.uid));
  }

  /**
   * After this session's own change that produced modseq `m`: advance lastModseq only when nothing else happened
   * in between (otherwise the next report re-sends those changes, which is harmless).
   */
  ownChange(previousHighest: number, newHighest: number) {
    if (previousHighest === this.lastModseq && !this.dirty) this.lastModseq = newHighest;
  }
}
