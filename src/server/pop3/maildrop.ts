/**
 * A POP3 maildrop (RFC 1939 §4-§6): the INBOX of the shared mail store as a snapshot taken at login. Message
 * numbers 1..n are the INBOX's messages in UID order at that moment and never change during the session (mail
 * arriving later is seen at the next login). DELE only marks; RSET unmarks; commit() is the UPDATE state: the
 * marked messages get \Deleted and are expunged through the store (files unlinked and the directory fsynced, index
 * committed, IMAP sessions told via the store's notifications with `origin`), and only then does QUIT answer +OK.
 *
 * Sizes (RFC 1939 §11: octets as sent, with CRLF) are the store's sizes, i.e. the file sizes: our writers store CRLF.
 * A Maildir name carrying Dovecot's ",W=<n>" (the CRLF size of an LF file) uses that instead.
 * Messages are sent from the file, small ones in one blocking read, large ones in chunks with backpressure.
 * Untrusted input: none directly (message numbers are checked by the session); message bytes go through DotStuffer.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Mailbox, RecordColumns } from '../../store/mail/store.js';
import { SEEN } from '../../store/mail/index.js';
import { DotStuffer, Pop3Error, uidlOf, ok, sendsAsIs } from '../../protocol/pop3/index.js';

/** Size of the pieces a LIST/UIDL listing is written in. */
const LISTING_PIECE = 16 * 1024;

/** Messages up to this size are read in one go; larger ones are streamed. */
const WHOLE_READ_MAX = 1024 * 1024;
const CHUNK = 64 * 1024;

/** Where a response goes: the session's socket writer with backpressure. */
export interface Sink {
  write(data: Buffer | string): void;
  /** Resolves when the buffered output is small again (or the connection is gone). */
  flush(): Promise<void>;
  readonly closed: boolean;
  /** Bytes given to write() that the socket has not yet handed to the kernel (0: every write went out). */
  readonly pendingBytes: number;
}

/** Initial size of the reusable RETR buffer (grows up to the largest small message sent). */
const SCRATCH_MIN = 64 * 1024;

/** Octets as sent: the size, or Dovecot's ",W=<n>" from the name. */
function wireSize(base: string, size: number): number {
  if (!base.includes(',W=')) return size;
  const m = /,W=(\d+)/.exec(base);
  return m ? Number(m[1]) : size;
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export class Maildrop {
  private readonly deleted: Uint8Array;
  private readonly retrieved: Uint8Array;
  /** Octets per message (a Uint32Array: small integers print twice as fast as doubles in LIST; a message file of
   * 4 GiB or more cannot be stored: SMTP and APPEND limits are far below). */
  private readonly sizes: Uint32Array;
  private readonly uidls: Array<string | undefined>;
  private liveCount: number;
  private liveOctets: number;
  /**
   * RETR's response buffer (status line, message, terminator), reused while every response went out to the kernel
   * at once; dropped (left to the pending write) when one did not.
   */
  private scratch: Buffer | null = null;

  private constructor(
    readonly mailbox: Mailbox,
    /** The snapshot: columns, not an object per message (a login of a 10,000-message maildrop is cheap to collect). */
    private readonly msgs: RecordColumns,
  ) {
    const n = msgs.length;
    this.deleted = new Uint8Array(n);
    this.retrieved = new Uint8Array(n);
    this.sizes = new Uint32Array(n);
    this.uidls = new Array<string | undefined>(n);
    let octets = 0;
    for (let i = 0; i < n; i++) {
      const s = wireSize(msgs.bases[i]!, msgs.sizes[i]!);
      this.sizes[i] = s;
      octets += s;
    }
    this.liveCount = n;
    this.liveOctets = octets;
  }

  /** Sync INBOX with its Maildir and take the snapshot. */
  static async open(mailbox: Mailbox): Promise<Maildrop> {
    await mailbox.sync();
    return new Maildrop(mailbox, await mailbox.columns());
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
    return (this.uidls[i] ??= uidlOf(this.msgs.bases[i]!));
  }

  /**
   * The LIST or UIDL listing of all messages not marked deleted (RFC 1939 §5 LIST, §7 UIDL): "+OK", "n size" or
   * "n uidl" lines, ".". Lines begin with a digit, so nothing is dot-stuffed. Passed to `write` in pieces of about
   * 16 KB, so the client reads while the rest is built. (Separate loops per kind: one loop fed numbers by LIST and
   * strings by UIDL was deoptimised at every switch.)
   */
  writeListing(kind: 'list' | 'uidl', status: string, write: (piece: string) => void): void {
    if (kind === 'list') return this.writeSizes(status, write);
    let out = ok(status);
    const n = this.msgs.length;
    for (let i = 0; i < n; i++) {
      if (this.deleted[i]) continue;
      out += `${i + 1} ${(this.uidls[i] ??= uidlOf(this.msgs.bases[i]!))}\r\n`;
      if (out.length >= LISTING_PIECE) {
        write(out);
        out = '';
      }
    }
    write(out + '.\r\n');
  }

  /** LIST's lines (a loop of its own, see writeListing; template strings cost least in a cold process, measured). */
  private writeSizes(status: string, write: (piece: string) => void): void {
    let out = ok(status);
    const n = this.msgs.length;
    for (let i = 0; i < n; i++) {
      if (this.deleted[i]) continue;
      out += `${i + 1} ${this.sizes[i]!}\r\n`;
      if (out.length >= LISTING_PIECE) {
        write(out);
        out = '';
      }
    }
    write(out + '.\r\n');
  }

  dele(n: number): void {
    const i = this.index(n);
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
    let path = this.mailbox.pathOf(this.msgs.bases[i]!, this.msgs.mdflags[i]!);
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
        const p = await this.mailbox.messagePath(this.msgs.uids[i]!);
        if (!p) throw new Pop3Error(`Message ${i + 1} was removed by another session`);
        path = p;
      }
    }
  }

  /**
   * RETR n of a small message without leaving the current turn of the event loop; false when the asynchronous
   * path (send) must do it. -ERR (thrown) for a bad or deleted number, as send.
   */
  retr(n: number, sink: Sink): boolean {
    return this.retrSmall(this.index(n), sink);
  }

  /**
   * Small files (most mail) with one short blocking open/read/close where the snapshot says the file is, as Dovecot
   * does: a thread-pool round trip per step costs several times the read itself. The file is read straight into the
   * response buffer behind the status line; a message that needs no dot-stuffing (sendsAsIs) goes out from there
   * with the terminator in one write, others through DotStuffer. False when the file was renamed (IMAP flag change),
   * removed, is large or not the recorded size: send's asynchronous path handles those.
   */
  private retrSmall(i: number, sink: Sink): boolean {
    const size = this.msgs.sizes[i]!;
    const head = `+OK ${this.sizes[i]} octets\r\n`;
    const need = head.length + size + 4; // + 1 byte to notice a larger file, then room for ".\r\n"
    let buf = this.scratch;
    if (!buf || buf.length < need) buf = Buffer.allocUnsafe(Math.max(need, SCRATCH_MIN));
    const at = buf.write(head, 0, 'latin1');
    const got = this.mailbox.readPathSyncInto(this.mailbox.pathOf(this.msgs.bases[i]!, this.msgs.mdflags[i]!), size, buf, at);
    if (got !== size) {
      this.scratch = buf;
      return false;
    }
    const end = at + size;
    if (sendsAsIs(buf, at, end)) {
      buf[end] = 0x2e;
      buf[end + 1] = 0x0d;
      buf[end + 2] = 0x0a;
      sink.write(buf.subarray(0, end + 3));
    } else {
      const d = new DotStuffer(null);
      const pieces = d.push(buf.subarray(at, end));
      sink.write(Buffer.concat([buf.subarray(0, at), ...pieces, d.end()]));
    }
    // Reuse the buffer only when the socket holds no reference to it (the write went out synchronously).
    this.scratch = sink.pendingBytes === 0 ? buf : null;
    this.retrieved[i] = 1;
    return true;
  }

  /**
   * RETR (bodyLines null) or TOP n bodyLines: "+OK" line, the stuffed message, ".". Errors before the first byte
   * become -ERR; a read error after it cannot be reported in band, so it closes the connection (thrown).
   */
  async send(n: number, sink: Sink, bodyLines: number | null): Promise<void> {
    const i = this.index(n);
    if (bodyLines === null && this.retrSmall(i, sink)) return;
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

  /**
   * The UPDATE state (RFC 1939 §6): remove the messages marked deleted, durably, before QUIT's +OK. Returns how
   * many were removed. \Seen for retrieved messages is a separate step (markSeen) that QUIT runs after its +OK.
   */
  async commit(o: { origin: unknown }): Promise<number> {
    const del: number[] = [];
    for (let i = 0; i < this.msgs.length; i++) if (this.deleted[i]) del.push(this.msgs.uids[i]!);
    if (!del.length) return 0;
    await this.mailbox.setFlags(del, 'add', ['\\Deleted'], { origin: o.origin });
    const removed = await this.mailbox.expunge({ uids: del, origin: o.origin });
    return removed.length;
  }

  /**
   * \Seen on the retrieved messages that were kept (what Dovecot does for IMAP's sake; POP3 itself has no flags).
   * The store's per-mailbox lock is taken synchronously by this call, so whatever opens the mailbox after it (the
   * next POP3 login's snapshot, an IMAP SELECT) waits for it and sees the flags. Resolves to how many were marked.
   */
  markSeen(o: { origin: unknown }): Promise<number> {
    const seen: number[] = [];
    for (let i = 0; i < this.msgs.length; i++) {
      if (!this.deleted[i] && this.retrieved[i] && !(this.msgs.sysflags[i]! & SEEN)) seen.push(this.msgs.uids[i]!);
    }
    if (!seen.length) return Promise.resolve(0);
    return this.mailbox.setFlags(seen, 'add', ['\\Seen'], { origin: o.origin }).then((r) => r.updated.length);
  }
}
