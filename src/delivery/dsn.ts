/**
 * Delivery status notifications (RFC 3464, in a multipart/report of RFC 6522, auto-submitted per RFC 3834):
 * bounces (Action: failed) and delay warnings (Action: delayed). Sent from the null reverse-path by the queue;
 * never generated for a message whose own sender was null (RFC 5321 §4.5.5, §6.1: no bounce loops).
 * The original message's header is included (text/rfc822-headers), or the whole message with RET=FULL.
 */
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../intake/headers.js';
import type { QueueEntry, QueueRecipient } from '../queue/types.js';

export interface DsnInput {
  reportingMta: string;
  entry: QueueEntry;
  recipients: QueueRecipient[];
  action: 'failed' | 'delayed';
  /** The original message's header block (up to and including the blank line), or the full message with RET=FULL. */
  original: Buffer;
  originalIsFull: boolean;
  /** For delayed: when we give up. */
  willRetryUntil?: Date;
  now?: Date;
}

/** Header lines and text in a DSN are ASCII; anything else from the remote's reply is replaced. */
const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

export function statusOf(r: QueueRecipient, action: 'failed' | 'delayed'): string {
  const m = /^[245]\.\d{1,3}\.\d{1,3}/.exec(r.lastError?.replace(/^\d{3}[ -]/, '') ?? '');
  if (m) {
    const code = m[0];
    if (action === 'failed' && code.startsWith('4')) return '4.4.7'; // gave up on a temporary error
    return code;
  }
  if (action === 'delayed') return '4.4.1';
  return r.lastCode === 4 ? '4.4.7' : '5.0.0';
}

export function buildDsn(i: DsnInput): { data: Buffer; messageId: string } {
  const now = i.now ?? new Date();
  const boundary = `mw-report-${randomBytes(9).toString('hex')}`;
  const messageId = `<${i.entry.id}.${randomBytes(4).toString('hex')}@${i.reportingMta}>`;
  const failed = i.action === 'failed';
  const subject = failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)';
  const lines: string[] = [];
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${i.reportingMta}>`,
    `To: <${ascii(i.entry.sender)}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: ${messageId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
  ];
  lines.push(...head);
  lines.push(`--${boundary}`, 'Content-Description: Notification', 'Content-Type: text/plain; charset=us-ascii', '');
  lines.push(`This is the mail system at host ${i.reportingMta}.`, '');
  if (failed) {
    lines.push(
      "I'm sorry to have to inform you that your message could not be delivered to one or more recipients.",
      'It is attached below.',
      '',
    );
  } else {
    lines.push(
      'Your message could not be delivered yet to one or more recipients. It will be retried',
      `until ${i.willRetryUntil ? rfc5322Date(i.willRetryUntil) : 'the queue lifetime ends'}; you do not need to send it again.`,
      '',
    );
  }
  for (const r of i.recipients) lines.push(`<${ascii(r.address)}>: ${ascii(r.lastError ?? 'unknown error')}`);
  lines.push('');
  lines.push(`--${boundary}`, 'Content-Description: Delivery report', 'Content-Type: message/delivery-status', '');
  lines.push(`Reporting-MTA: dns; ${i.reportingMta}`, `X-Mailwright-Queue-ID: ${i.entry.id}`);
  if (i.entry.envid) lines.push(`Original-Envelope-Id: ${ascii(i.entry.envid)}`);
  lines.push(`Arrival-Date: ${rfc5322Date(new Date(i.entry.arrival))}`, '');
  for (const r of i.recipients) {
    lines.push(`Final-Recipient: rfc822; ${ascii(r.address)}`);
    if (r.original && r.original.toLowerCase() !== r.address.toLowerCase()) lines.push(`Original-Recipient: rfc822; ${ascii(r.original)}`);
    lines.push(`Action: ${i.action}`, `Status: ${statusOf(r, i.action)}`);
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${ascii(r.remoteMta)}`);
    if (r.lastError) lines.push(`Diagnostic-Code: ${/^\d{3}[ -]/.test(r.lastError) ? 'smtp' : 'x-mailwright'}; ${ascii(r.lastError)}`);
    lines.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.finishedAt ?? now.getTime()))}`);
    if (!failed && i.willRetryUntil) lines.push(`Will-Retry-Until: ${rfc5322Date(i.willRetryUntil)}`);
    lines.push('');
  }
  lines.push(`--${boundary}`);
  if (i.originalIsFull) lines.push('Content-Description: Undelivered Message', 'Content-Type: message/rfc822', '');
  else lines.push('Content-Description: Undelivered Message Headers', 'Content-Type: text/rfc822-headers', '');
  const pre = Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
  let orig = i.original;
  if (!orig.subarray(-2).equals(Buffer.from('\r\n'))) orig = Buffer.concat([orig, Buffer.from('\r\n')]);
  const post = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { data: Buffer.concat([pre, orig, post]), messageId };
}

/** The header block of a message (up to and including the first empty line), bounded. */
export function headerBlock(raw: Buffer, max = 256 * 1024): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  if (end >= 0 && end + 4 <= max) return raw.subarray(0, end + 4);
  const lf = raw.indexOf('\n\n');
  if (lf >= 0 && lf + 2 <= max) return raw.subarray(0, lf + 2);
  return raw.subarray(0, Math.min(raw.length, max));
}
