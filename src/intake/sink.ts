/**
 * Intake (Postfix's cleanup): the one place an accepted message passes through before "250". It streams the
 * message once into <dataDir>/spool/tmp with the trace headers prepended (and, for submission, Date/Message-ID
 * added and the From: checked by a header hook), fsyncs it, puts a copy in the outbound queue for remote
 * recipients (body hard-linked, record fsynced), then hard-links it into new/ of every local recipient's Maildir
 * and fsyncs those directories. Only then is 250 returned. Disk full -> 452 4.3.1, other I/O errors -> 451 4.3.0,
 * and nothing partial is ever visible in a Maildir or the queue.
 */
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { MaildirTmpFile } from '../store/maildir/maildir.js';
import { SmtpReplyError, isNoSpaceError } from '../common/errors.js';
import type { DataStats, MessageSink, SmtpReply } from '../server/smtp/types.js';
import type { QueueStore } from '../queue/store.js';
import type { QueueEntry } from '../queue/types.js';
import { fullTargets, mailboxFullReply, type IntakeQuota } from './quota.js';
import { newQueueId } from './queue-id.js';

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
  /** A replacement for the header block (e.g. with forged Authentication-Results removed). */
  header?: Buffer;
}

/** What `finalize` decides once the whole message is known. */
export interface FinalizeResult {
  /** Header lines to insert between the trace headers and the message (Authentication-Results, DKIM-Signature). */
  headers?: string;
  /** Deliver local copies into each user's Junk folder instead of INBOX (DMARC quarantine). */
  junk?: boolean;
}

/** The complete message content (after the header hook), in memory or, when large, in a file. */
export interface MessageContent {
  buffer?: Buffer;
  path?: string;
  size: number;
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
  /**
   * Runs once the whole message is known (SPF/DKIM/DMARC checks, DKIM signing). With it, the content is held in
   * memory (spilled to a spool file past 1 MiB) and the final file is written afterwards.
   */
  finalize?: (content: MessageContent) => Promise<FinalizeResult>;
  /** Maildir++ folder for junk (default ".Junk"). */
  junkFolder?: string;
  /**
   * Quota of the local recipients, checked with the final size before anything is committed. All full (and nothing
   * remote): the message is refused. Some full: they are queued for a later local delivery attempt (queue.entry
   * gives the envelope of that queued copy; it gets its own queue id, logged next to this one).
   */
  quota?: IntakeQuota;
  onDelivered?: (e: DeliveredEvent) => void;
  onQueued?: (entry: QueueEntry) => void;
  onError?: (err: unknown) => void;
}

const SPILL_LIMIT = 1024 * 1024;

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
  let targets = o.targets;
  const hasRemote = Boolean(o.remote && o.remote.entry.recipients.length);
  // One local recipient and nothing to queue: write in that Maildir's own tmp/ and rename (no link + unlink).
  const tmpDirFor = (t: DeliveryTarget[]) => (t.length === 1 && !hasRemote ? t[0]!.maildir : o.spoolDir);
  const open = async (dir: string) => {
    try {
      return await MaildirTmpFile.create(dir);
    } catch (err) {
      o.onError?.(err);
      throw ioError(err);
    }
  };
  // Without finalize the message streams straight into its final file; with it, into memory or a spill file, and
  // the final file (its headers come first) is written once finalize has run. That file is opened meanwhile, while
  // the message arrives and is checked or signed, not after (its place does not depend on the outcome: a junk
  // verdict links it into .Junk/new instead of renaming it); awaited in end(), or closed and removed by cleanup().
  let file: MaildirTmpFile | null = o.finalize ? null : await open(tmpDirFor(targets));
  let opening: Promise<MaildirTmpFile> | null = o.finalize ? open(tmpDirFor(targets)) : null;
  opening?.catch(() => {}); // its error is reported where it is awaited
  let memory: Buffer[] | null = o.finalize ? [] : null;
  let memoryBytes = 0;
  let spill: MaildirTmpFile | null = null;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  // Until the header is complete (and the hook has run), everything is held in `head`.
  let head: Buffer[] | null = o.headerHook ? [] : null;
  let headBytes = 0;
  let rejected: SmtpReplyError | null = null;
  const content = (b: Buffer) => {
    if (memory) {
      memory.push(b);
      memoryBytes += b.length;
      return;
    }
    pending.push(b);
    pendingBytes += b.length;
  };
  if (file) content(Buffer.from(o.prefix, 'utf8'));
  const flush = async () => {
    if (memory && memoryBytes > SPILL_LIMIT) {
      spill = await MaildirTmpFile.create(o.spoolDir);
      pending = memory;
      pendingBytes = memoryBytes;
      memory = null;
    }
    if (!pending.length) return;
    const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await (spill ?? file)!.write(b);
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
      if (r.prepend) content(Buffer.from(r.prepend, 'utf8'));
      if (r.header) {
        content(r.header);
        content(all.subarray(header.length));
        return;
      }
    } catch (err) {
      if (err instanceof SmtpReplyError) rejected = err;
      else throw err;
    }
    content(all);
  };
  const cleanup = async () => {
    if (opening) {
      const f = await opening.catch(() => null);
      opening = null;
      if (f !== file) await f?.abort();
    }
    await file?.abort();
    await (spill as MaildirTmpFile | null)?.abort();
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
        content(chunk);
      }
      if (pendingBytes >= 256 * 1024 || (memory && memoryBytes > SPILL_LIMIT)) {
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
        await cleanup();
        throw rejected;
      }
      try {
        if (o.beforeCommit) await o.beforeCommit();
        if (o.finalize) {
          const sp = spill as MaildirTmpFile | null;
          if (sp) {
            await flush();
            await sp.finish();
          }
          const mem = memory ? Buffer.concat(memory, memoryBytes) : null;
          const r = await o.finalize(mem ? { buffer: mem, size: mem.length } : { path: sp!.tmpPath, size: sp!.size });
          if (r.junk) targets = targets.map((t) => ({ ...t, maildir: join(t.maildir, o.junkFolder ?? '.Junk') }));
          file = await opening!;
          const top = Buffer.from(o.prefix + (r.headers ?? ''), 'utf8');
          // In memory (at most 1 MiB): one write, not two (each is a round trip through the thread pool).
          if (mem) await file.write(Buffer.concat([top, mem], top.length + mem.length));
          else {
            await file.write(top);
            for await (const c of createReadStream(sp!.tmpPath, { highWaterMark: 256 * 1024 })) await file.write(c as Buffer);
            await sp!.abort();
            spill = null;
          }
        }
      } catch (err) {
        await cleanup();
        if (err instanceof SmtpReplyError) throw err;
        o.onError?.(err);
        throw ioError(err);
      }
      const f = file!;
      let paths: string[] = [];
      const queued: Array<{ queue: QueueStore; entry: QueueEntry }> = [];
      try {
        await flush();
        await f.finish();
        if (o.quota && targets.length) {
          const full = await fullTargets(o.quota.policy, targets, f.size);
          if (full.length === targets.length && !hasRemote) {
            await f.abort();
            throw mailboxFullReply(o.quota.policy.action, full[0]!.address);
          }
          if (full.length) {
            targets = targets.filter((t) => !full.includes(t));
            const entry: QueueEntry = { ...o.quota.entry(newQueueId(), full.map((t) => t.address)), size: f.size };
            await o.quota.queue.enqueue(f.tmpPath, entry);
            queued.push({ queue: o.quota.queue, entry });
          }
        }
        if (o.remote && o.remote.entry.recipients.length) {
          const entry = { ...o.remote.entry, size: f.size };
          await o.remote.queue.enqueue(f.tmpPath, entry);
          queued.push({ queue: o.remote.queue, entry });
        }
        try {
          paths = await f.commit(targets.map((t) => t.maildir));
        } catch (err) {
          // Withdraw the queued copies: the client will retry the whole message.
          for (const q of queued) await q.queue.remove(q.entry.id, 'incoming').catch(() => {});
          queued.length = 0;
          throw err;
        }
      } catch (err) {
        if (err instanceof SmtpReplyError) throw err;
        o.onError?.(err);
        await f.abort();
        throw ioError(err);
      }
      if (targets.length) o.onDelivered?.({ id: o.id, targets, paths, size: f.size });
      for (const q of queued) o.onQueued?.(q.entry);
      return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${o.id}` };
    },
    async abort() {
      await cleanup();
    },
  };
}

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}
