/**
 * Local delivery of a message we generate ourselves (bounces, delay warnings, reports) to a local address: the
 * same Maildir path as SMTP intake (tmp, fsync, link into new/, fsync directory), with a Return-Path of <>.
 * Returns false when the address is not a local mailbox (the caller queues the message instead).
 */
import { MaildirTmpFile } from '../store/maildir/maildir.js';
import { userMaildir } from '../store/maildir/paths.js';
import type { RecipientResolver } from '../accounts/recipients.js';
import { returnPathHeader } from './headers.js';
import type { DeliveredEvent } from './sink.js';
import { newQueueId } from './queue-id.js';

export async function deliverLocalBuffer(
  o: { resolver: RecipientResolver; dataDir: string; spoolDir: string; onDelivered?: (e: DeliveredEvent) => void },
  address: string,
  data: Buffer,
): Promise<boolean> {
  const r = await o.resolver.resolve(address);
  if (r.kind !== 'ok' || r.local.length === 0 || r.remote.length > 0) return false;
  const targets = r.local.map((t) => {
    const at = t.user.address.lastIndexOf('@');
    return { address: t.user.address, maildir: userMaildir(o.dataDir, t.user.address.slice(at + 1), t.user.address.slice(0, at)) };
  });
  const file = await MaildirTmpFile.create(o.spoolDir);
  try {
    await file.write(Buffer.concat([Buffer.from(returnPathHeader('')), data]));
    const paths = await file.commit(targets.map((t) => t.maildir));
    o.onDelivered?.({ id: newQueueId(), targets, paths, size: file.size });
    return true;
  } catch (err) {
    await file.abort();
    throw err;
  }
}
