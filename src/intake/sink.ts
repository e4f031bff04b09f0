/**
 * Intake (Postfix's cleanup): the one place an accepted message passes through before "250". It streams the
 * message once into <dataDir>/spool/tmp with the trace headers prepended (and, for submission, Date/Message-ID
 * added and the From: checked by a header hook), fsyncs it, puts a copy in the outbound queue for remote
 * recipients (body hard-linked, record fsynced), then hard-links it into new/ of every local recipient's Maildir
 * and fsyncs those directories. Only then is 250 returned. Disk full -> 452 4.3.1, other I/O errors -> 451 4.3.0,
 * and nothing partial is ever visible in a Maildir or the queue.
 */
import { join } from 'node:path';
import { MaildirTmpFile } from '../store/maildir/maildir.js';
import { SmtpReplyError, isNoSpaceError } from '../common/errors.js';
import type { DataStats, MessageSink, SmtpReply } from '../server/smtp/types.js';
import type { QueueStore } from '../queue/store.js';
import type { QueueEntry } from '../queue/types.js';

export interface DeliveryTarget {
  address: string;
  maildir: string;
}

export interface DeliveredEvent {
  id: string;
  targets: DeliveryTarget[];
  paths: string[];
  size: number;
}

export interface RemotePart {
  queue: QueueStore;
  entry: Omit<QueueEntry, 'size'>;
}

export interface HeaderHookResult {
  /** Header lines to add at the top of the message's own header (after the trace headers), CRLF-terminated. */
  prepend?: string;
}

export interface IntakeOptions {
  spoolDir: string;
  id: string;
  /** Trace headers (Return-Path, Received), CRLF-terminated. */
  prefix: string;
  targets: DeliveryTarget[];
  /** Recipients to queue for remote delivery, if any. */
  remote?: RemotePart | null;
  /** Sees the message's header block before anything is written; may add headers or throw an SmtpReplyError. */
  headerHook?: (header: Buffer) => HeaderHookResult;
  /** Runs after all data arrived and the header hook ran, before anything is committed; may throw SmtpReplyError. */
  beforeCommit?: () => Promise<void>;
  onDelivered?: (e: DeliveredEvent) => void;
  onQueued?: (entry: QueueEntry) => void;
  onError?: (err: unknown) => void;
}

const MAX_HEADER = 1024 * 1024;

export function ioError(err: unknown): SmtpReplyError {
  if (err instanceof SmtpReplyError) return err;
  if (isNoSpaceError(err)) return new SmtpReplyError(452, '4.3.1', 'Error: insufficient system storage, try again later');
  return new SmtpReplyError(451, '4.3.0', 'Error: local error in processing, try again later');
}

/** Index just past the blank line that ends the header, or -1 while not seen. */
function headerEnd(buf: Buffer): number {
  if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) return 2; // no header at all
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

export async function openIntake(o: IntakeOptions): Promise<MessageSink> {
  let file: MaildirTmpFile;
  // One local recipient and nothing to queue: write in that Maildir's own tmp/ and rename (no link + unlink).
  const direct = o.targets.length === 1 && !(o.remote && o.remote.entry.recipients.length);
  try {
    file = await MaildirTmpFile.create(direct ? o.targets[0]!.maildir : o.spoolDir);
  } catch (err) {
    o.onError?.(err);
    throw ioError(err);
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  // Until the header is complete (and the hook has run), everything is held in `head`.
  let head: Buffer[] | null = o.headerHook ? [] : null;
  let headBytes = 0;
  let rejected: SmtpReplyError | null = null;
  const queueBody = (b: Buffer) => {
    pending.push(b);
    pendingBytes += b.length;
  };
  queueBody(Buffer.from(o.prefix, 'utf8'));
  const flush = async () => {
    if (!pending.length) return;
    const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await file.write(b);
  };
  const releaseHead = (force: boolean) => {
    if (!head) return;
    const all = Buffer.concat(head, headBytes);
    const end = headerEnd(all);
    if (end < 0 && !force && headBytes <= MAX_HEADER) return;
    const header = end < 0 ? all : all.subarray(0, end);
    head = null;
    try {
      const r = o.headerHook!(header);
      if (r.prepend) queueBody(Buffer.from(r.prepend, 'utf8'));
    } catch (err) {
      if (err instanceof SmtpReplyError) rejected = err;
      else throw err;
    }
    queueBody(all);
  };
  return {
    async write(chunk: Buffer) {
      if (rejected) return;
      if (head) {
        head.push(chunk);
        headBytes += chunk.length;
        releaseHead(false);
        if (head) return;
      } else {
        queueBody(chunk);
      }
      if (pendingBytes >= 256 * 1024) {
        try {
          await flush();
        } catch (err) {
          o.onError?.(err);
          throw ioError(err);
        }
      }
    },
    async end(_stats: DataStats): Promise<SmtpReply> {
      releaseHead(true);
      if (rejected) {
        await file.abort();
        throw rejected;
      }
      if (o.beforeCommit) {
        try {
          await o.beforeCommit();
        } catch (err) {
          await file.abort();
          throw err;
        }
      }
      let paths: string[] = [];
      let queued: QueueEntry | null = null;
      try {
        await flush();
        await file.finish();
        if (o.remote && o.remote.entry.recipients.length) {
          queued = { ...o.remote.entry, size: file.size };
          await o.remote.queue.enqueue(file.tmpPath, queued);
        }
        try {
          paths = await file.commit(o.targets.map((t) => t.maildir));
        } catch (err) {
          // Withdraw the queued copy: the client will retry the whole message.
          if (queued) await o.remote!.queue.remove(queued.id, 'incoming').catch(() => {});
          queued = null;
          throw err;
        }
      } catch (err) {
        o.onError?.(err);
        await file.abort();
        throw ioError(err);
      }
      if (o.targets.length) o.onDelivered?.({ id: o.id, targets: o.targets, paths, size: file.size });
      if (queued) o.onQueued?.(queued);
      return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${o.id}` };
    },
    async abort() {
      await file.abort();
    },
  };
}

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}
