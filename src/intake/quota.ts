/**
 * Quota on SMTP delivery (RFC 9208 §4.3 for IMAP; for SMTP the enhanced status code X.2.2 "mailbox full",
 * RFC 3463 §3.3). Like Dovecot's LMTP with quota_full_tempfail, the default answer is temporary (452 4.2.2): the
 * sending MTA keeps the message and retries, so nothing is lost while the user makes room; `smtp.quotaExceeded:
 * reject` answers 552 5.2.2 instead (the sender gets a bounce at once).
 *
 * Where: at RCPT TO, a recipient whose every mailbox is already full (counting a SIZE= declared by the client) is
 * refused; at the end of DATA, with the real size, a message whose local recipients are all full is refused as a
 * whole, and when only some are full the others get it now and the full ones are handed to the queue, which
 * retries local delivery (and bounces after the queue lifetime, or at once in reject mode).
 */
import { SmtpReplyError } from '../common/errors.js';
import type { DeliveryTarget } from './sink.js';
import type { QueueStore } from '../queue/store.js';
import { newQueueEntry, type QueueEntry } from '../queue/types.js';
import type { Envelope } from '../server/smtp/types.js';

export type QuotaExceededAction = 'defer' | 'reject';

export interface QuotaPolicy {
  /** The user's quota and usage in bytes; null when the user has no quota. */
  state(address: string): Promise<{ limit: number; used: number } | null>;
  action: QuotaExceededAction;
}

/** The reply for a full mailbox, per the policy. */
export function mailboxFullReply(action: QuotaExceededAction, address: string): SmtpReplyError {
  return action === 'reject'
    ? new SmtpReplyError(552, '5.2.2', `<${address}>: Mailbox full (quota exceeded)`)
    : new SmtpReplyError(452, '4.2.2', `<${address}>: Mailbox full (quota exceeded), try again later`);
}

/** True when `bytes` more would not fit the user's quota. */
export async function isFull(policy: QuotaPolicy, address: string, bytes: number): Promise<boolean> {
  const q = await policy.state(address);
  if (!q) return false;
  // A message that alone is larger than the quota can never fit; an empty probe (bytes 0) asks "already full?".
  return bytes > 0 ? q.used + bytes > q.limit : q.used >= q.limit;
}

/** The targets that cannot take a message of `size` bytes. */
export async function fullTargets(policy: QuotaPolicy, targets: readonly DeliveryTarget[], size: number): Promise<DeliveryTarget[]> {
  const full = await Promise.all(targets.map((t) => isFull(policy, t.address, size)));
  return targets.filter((_, i) => full[i]);
}

/**
 * The RCPT TO check: the reply refusing a recipient whose every local mailbox is full (SIZE= counted when the
 * client declared it), or null. Addresses that also forward outside are never refused here.
 */
export async function refuseAtRcpt(
  policy: QuotaPolicy | null | undefined,
  rcpt: string,
  local: ReadonlyArray<{ user: { address: string } }>,
  remoteCount: number,
  declaredSize: number | null,
): Promise<SmtpReplyError | null> {
  if (!policy || !local.length || remoteCount) return null;
  const full = await Promise.all(local.map((t) => isFull(policy, t.user.address, declaredSize ?? 0)));
  return full.every(Boolean) ? mailboxFullReply(policy.action, rcpt) : null;
}

/** The intake's quota option: full local recipients are queued (origin "quota") from the envelope's sender. */
export function quotaIntake(
  policy: QuotaPolicy | null | undefined,
  queue: QueueStore,
  env: Pick<Envelope, 'mailFrom' | 'body8bit' | 'smtputf8'>,
): IntakeQuota | undefined {
  if (!policy) return undefined;
  return {
    policy,
    queue,
    entry: (id, addresses) =>
      newQueueEntry({ id, sender: env.mailFrom.address, recipients: addresses, body8bit: env.body8bit, smtputf8: env.smtputf8, origin: 'quota' }),
  };
}

export interface IntakeQuota {
  policy: QuotaPolicy;
  queue: QueueStore;
  entry: (id: string, addresses: string[]) => Omit<QueueEntry, 'size'>;
}
