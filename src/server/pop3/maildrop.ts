/**
 * A POP3 maildrop (RFC 1939 §4-§6): the INBOX of the shared mail store as a snapshot taken at login. Message
 * numbers 1..n are the INBOX's messages in UID order at that moment and never change during the session (mail
 * arriving later is seen at the next login). DELE only marks; RSET unmarks; commit() is the UPDATE state: the
 * marked messages get \Deleted and are expunged through the store (files unlinked and the directory fsynced, index
 * committed, IMAP sessions told via the store's notifications with `origin`), and only then does QUIT answer +OK.
 *
 * Sizes (RFC 1939 §11: octets as sent, with CRLF) are the store's sizes, i.e. the file sizes: our writers store CRLF.
 * A Maildir name carrying Dovecot's ",W=<n>" (the CRLF size of an LF file) uses that instead.
 * Messages are sent from the file, small ones in one read, large ones in chunks with backpressure.
 * Untrusted input: none directly (message numbers are checked by the session); message bytes go through DotStuffer.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Mailbox, MessageRecord } from '../../store/mail/store.js';
import { SEEN } from '../../store/mail/index.js';
import { DotStuffer, Pop3Error, uidlOf, ok } from '../../protocol/pop3/index.js';

/** Messages up to this size are read in one go; larger ones are streamed. */
const WHOLE_READ_MAX = 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * After a RETR, the next few small messages are read ahead while the client is busy with the answer: most clients
 * RETR 1..n in order, and the file reads (thread-pool hops) then overlap with the network round trip. At most
 * PREFETCH_AHEAD x WHOLE_READ_MAX bytes per session.
 */
const PREFETCH_AHEAD = 4;

/** Where a response goes: the session's socket writer with backpressure. */
export interface Sink {
  write(data: Buffer | string): void;
  /** Resolves when the buffered output is small again (or the connection is gone). */
  flush(): Promise<void>;
  readonly closed: boolean;
}

function wireSize(rec: MessageRecord): number {
  const m = /,W=(\d+)/.exec(rec.base);
  return m ? Number(m[1]) : rec.size;
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export class Maildrop {
  private readonly deleted: Uint8Array;
  private readonly retrieved: Uint8Array;
  private readonly sizes: Float64Array;
  private readonly uidls: Array<string | undefined>;
  private liveCount: number;
  private liveOctets: number;
  /** Read-ahead: message index -> its bytes (null: use the normal path). */
  private readonly prefetched = new Map<number, Promise<Buffer | null>>();

  private constructor(
    readonly mailbox: Mailbox,
    private readonly msgs: MessageRecord[],
  ) {
    const n = msgs.length;
    this.deleted = new Uint8Array(n);
    this.retrieved = new Uint8Array(n);
    this.sizes = new Float64Array(n);
    this.uidls = new Array<string | undefined>(n);
    let octets = 0;
    for (let i = 0; i < n; i++) {
      const s = wireSize(msgs[i]!);
      this.sizes[i] = s;
      octets += s;
    }
    this.liveCount = n;
    this.liveOctets = octets;
  }

  /** Sync INBOX with its Maildir and take the snapshot. */
  static async open(mailbox: Mailbox): Promise<Maildrop> {
    await mailbox.sync();
    return new Maildrop(mailbox, await mailbox.listMessages());
  }

  /** Messages in the snapshot (deleted ones included: their numbers stay valid). */
  get total(): number {
    return this.msgs.length;
  }

  /** STAT (RFC 1939 §5): messages not marked deleted, and their octets. */
  stat(): { count: number; octets: number } {
    return { count: this.liveCount, octets: this.liveOctets };
  }

  /** Index of message `n` (1-based); -ERR when it does not exist or is marked deleted. */
  private index(n: number): number {
    if (n < 1 || n > this.msgs.length) throw new Pop3Error(`No such message ${n} (there are ${this.msgs.length})`);
    if (this.deleted[n - 1]) throw new Pop3Error(`Message ${n} already deleted`);
    return n - 1;
  }

  size(n: number): number {
    return this.sizes[this.index(n)]!;
  }

  uidl(n: number): string {
    const i = this.index(n);
    return (this.uidls[i] ??= uidlOf(this.msgs[i]!.base));
  }

  /** "n size" lines for LIST. */
  *listLines(): Generator<string> {
    for (let i = 0; i < this.msgs.length; i++) if (!this.deleted[i]) yield `${i + 1} ${this.sizes[i]}`;
  }

  /** "n uidl" lines for UIDL. */
  *uidlLines(): Generator<string> {
    for (let i = 0; i < this.msgs.length; i++) if (!this.deleted[i]) yield `${i + 1} ${(this.uidls[i] ??= uidlOf(this.msgs[i]!.base))}`;
  }

  dele(n: number): void {
    const i = this.index(n);
    this.prefetched.delete(i);
    this.deleted[i] = 1;
    this.liveCount--;
    this.liveOctets -= this.sizes[i]!;
  }

  rset(): void {
    for (let i = 0; i < this.msgs.length; i++) {
      if (!this.deleted[i]) continue;
      this.deleted[i] = 0;
      this.liveCount++;
      this.liveOctets += this.sizes[i]!;
    }
  }

  get deletedCount(): number {
    return this.msgs.length - this.liveCount;
  }

  /** Open the file of message index i, following a rename by IMAP (flag change) through the index. */
  private async openFile(i: number): Promise<{ fh: FileHandle; stat: Stats }> {
    const rec = this.msgs[i]!;
    let path = rec.path;
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await fsp.open(path, 'r');
        try {
          return { fh, stat: await fh.stat() };
        } catch (err) {
          await fh.close();
          throw err;
        }
      } catch (err) {
        if (!isEnoent(err) || attempt > 0) {
          if (isEnoent(err)) throw new Pop3Error(`Message ${i + 1} was removed by another session`);
          throw err;
        }
        // Renamed (flags changed by IMAP) or removed: ask the index (messagePath heals it from the Maildir).
        const p = await this.mailbox.messagePath(rec.uid);
        if (!p) throw new Pop3Error(`Message ${i + 1} was removed by another session`);
        path = p;
      }
    }
  }

  /**
   * RETR (bodyLines null) or TOP n bodyLines: "+OK" line, the stuffed message, ".". Errors before the first byte
   * become -ERR; a read error after it cannot be reported in band, so it closes the connection (thrown).
   */
  async send(n: number, sink: Sink, bodyLines: number | null): Promise<void> {
    const i = this.index(n);
    if (bodyLines === null && this.msgs[i]!.size <= WHOLE_READ_MAX) {
      const pending = this.prefetched.get(i) ?? this.readSmall(i);
      this.prefetched.delete(i);
      this.readAhead(i);
      const data = await pending;
      if (data) {
        const d = new DotStuffer(null);
        const pieces = d.push(data);
        sink.write(Buffer.concat([Buffer.from(ok(`${this.sizes[i]} octets`), 'latin1'), ...pieces, d.end()]));
        this.retrieved[i] = 1;
        return;
      }
    }
    const { fh, stat } = await this.openFile(i);
    try {
      const head = ok(bodyLines === null ? `${this.sizes[i]} octets` : 'top of message follows');
      if (stat.size <= WHOLE_READ_MAX) {
        const buf = Buffer.allocUnsafe(stat.size + 1);
        let len = 0;
        for (;;) {
          const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
          if (bytesRead === 0) break;
          len += bytesRead;
          if (len === buf.length) break; // grew while we read: send what the snapshot had, it is immutable anyway
        }
        // One write per response: status line, stuffed message and terminator in one buffer.
        const d = new DotStuffer(bodyLines);
        const pieces = d.push(buf.subarray(0, Math.min(len, stat.size)));
        sink.write(Buffer.concat([Buffer.from(head, 'latin1'), ...pieces, d.end()]));
      } else {
        sink.write(head);
        const d = new DotStuffer(bodyLines);
        let pos = 0;
        while (!d.done && !sink.closed) {
          const buf = Buffer.allocUnsafe(CHUNK);
          const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          for (const p of d.push(buf.subarray(0, bytesRead))) sink.write(p);
          await sink.flush();
        }
        sink.write(d.end());
      }
      if (bodyLines === null) this.retrieved[i] = 1;
    } finally {
      await fh.close();
    }
  }

  /** Start reading the small messages after index i (not deleted, not already read ahead); forget older ones. */
  private readAhead(i: number): void {
    for (const k of this.prefetched.keys()) if (k <= i) this.prefetched.delete(k);
    for (let j = i + 1; j < this.msgs.length && j <= i + PREFETCH_AHEAD; j++) {
      if (this.deleted[j] || this.prefetched.has(j) || this.msgs[j]!.size > WHOLE_READ_MAX) continue;
      const p = this.readSmall(j);
      this.prefetched.set(j, p);
    }
  }

  /**
   * The whole file of a small message from its snapshot path: open, one read, close. null (never a rejection) when
   * it is gone or renamed (IMAP flag change) or not the expected size: the caller then takes the normal path.
   */
  private async readSmall(i: number): Promise<Buffer | null> {
    const rec = this.msgs[i]!;
    try {
      const fh = await fsp.open(rec.path, 'r');
      try {
        const buf = Buffer.allocUnsafe(rec.size + 1);
        let len = 0;
        for (;;) {
          const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
          if (bytesRead === 0) break;
          len += bytesRead;
          if (len === buf.length) return null;
        }
        return len === rec.size ? buf.subarray(0, len) : null;
      } finally {
        await fh.close();
      }
    } catch {
      return null;
    }
  }

  /**
   * The UPDATE state (RFC 1939 §6): remove the messages marked deleted, durably, before QUIT's +OK. With
   * `markSeen`, retrieved messages that are kept get \Seen first. Returns how many were removed.
   */
  async commit(o: { origin: unknown; markSeen: boolean }): Promise<number> {
    const del: number[] = [];
    const seen: number[] = [];
    for (let i = 0; i < this.msgs.length; i++) {
      const m = this.msgs[i]!;
      if (this.deleted[i]) del.push(m.uid);
      else if (this.retrieved[i] && !(m.sysflags & SEEN)) seen.push(m.uid);
    }
    if (o.markSeen && seen.length) await this.mailbox.setFlags(seen, 'add', ['\\Seen'], { origin: o.origin });
    if (!del.length) return 0;
    await this.mailbox.setFlags(del, 'add', ['\\Deleted'], { origin: o.origin });
    const removed = await this.mailbox.expunge({ uids: del, origin: o.origin });
    return removed.length;
  }
}
