/**
 * Final delivery of an accepted message into the Maildirs of its local recipients (Postfix's cleanup + virtual).
 * The message is streamed once into <dataDir>/spool/tmp (Return-Path and Received prepended), fsynced, then
 * hard-linked into new/ of every recipient's Maildir, each directory fsynced; only then is 250 returned.
 * Disk full -> 452 4.3.1, any other I/O error -> 451 4.3.0; in both cases nothing is left in any new/.
 */
import { join } from 'node:path';
import { MaildirTmpFile } from '../store/maildir/maildir.js';
import { SmtpReplyError, isNoSpaceError } from '../common/errors.js';
import type { DataStats, MessageSink, SmtpReply } from '../server/smtp/types.js';

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

function ioError(err: unknown): SmtpReplyError {
  if (isNoSpaceError(err)) return new SmtpReplyError(452, '4.3.1', 'Error: insufficient system storage, try again later');
  return new SmtpReplyError(451, '4.3.0', 'Error: local error in processing, try again later');
}

/** Opens a sink that writes `prefix` then the message, and on end() delivers to `targets`. */
export async function openLocalDelivery(opts: {
  spoolDir: string;
  id: string;
  prefix: string;
  targets: DeliveryTarget[];
  onDelivered?: (e: DeliveredEvent) => void;
  onError?: (err: unknown) => void;
}): Promise<MessageSink> {
  let file: MaildirTmpFile;
  try {
    file = await MaildirTmpFile.create(opts.spoolDir);
  } catch (err) {
    opts.onError?.(err);
    throw ioError(err);
  }
  // Coalesce small writes: most messages are a few KiB and arrive in several chunks.
  let pending: Buffer[] = [Buffer.from(opts.prefix, 'utf8')];
  let pendingBytes = pending[0]!.length;
  const flush = async () => {
    if (!pending.length) return;
    const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await file.write(b);
  };
  return {
    async write(chunk: Buffer) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= 256 * 1024) {
        try {
          await flush();
        } catch (err) {
          opts.onError?.(err);
          throw ioError(err);
        }
      }
    },
    async end(_stats: DataStats): Promise<SmtpReply> {
      let paths: string[];
      try {
        await flush();
        paths = await file.commit(opts.targets.map((t) => t.maildir));
      } catch (err) {
        opts.onError?.(err);
        await file.abort();
        throw ioError(err);
      }
      opts.onDelivered?.({ id: opts.id, targets: opts.targets, paths, size: file.size });
      return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${opts.id}` };
    },
    async abort() {
      await file.abort();
    },
  };
}

export function spoolDir(dataDir: string): string {
  return join(dataDir, 'spool');
}
