/**
 * Local delivery from the queue (Postfix's virtual(8) transport): queued recipients in a hosted domain get the
 * message in their Maildir. Only messages that could not be delivered at intake are queued for local recipients:
 * today those whose mailbox was full (intake/quota.ts). Each attempt checks the quota again with the message's size:
 * still full -> 452 4.2.2 (the queue retries with backoff and bounces after its lifetime) or, with
 * smtp.quotaExceeded: reject, 552 5.2.2 (bounced at once). A recipient that no longer exists bounces (550 5.1.1).
 * Delivery is the intake's: tmp/ in the spool, fsync, link into new/, fsync new/ (durable before the queue forgets
 * the recipient). Other domains go to the next transport (remote SMTP).
 */
import { createReadStream } from 'node:fs';
import type { Logger } from 'pino';
import type { RecipientResolver } from '../accounts/recipients.js';
import { MaildirTmpFile } from '../store/maildir/maildir.js';
import { userMaildir } from '../store/maildir/paths.js';
import type { DeliveredEvent, DeliveryTarget } from '../intake/sink.js';
import { isFull, mailboxFullReply, type QuotaPolicy } from '../intake/quota.js';
import type { OutboundMessage, RecipientResult, Transport } from '../queue/types.js';

export interface LocalTransportOptions {
  resolver: RecipientResolver;
  dataDir: string;
  spoolDir: string;
  quota: QuotaPolicy | null;
  /** Where mail for other domains goes. */
  next: Transport;
  onDelivered?: (e: DeliveredEvent) => void;
  log: Logger;
}

export class LocalTransport implements Transport {
  constructor(private readonly o: LocalTransportOptions) {}

  async deliver(domain: string, messages: OutboundMessage[]): Promise<Map<string, RecipientResult[]>> {
    if (!(await this.o.resolver.isHostedDomain(domain))) return this.o.next.deliver(domain, messages);
    const out = new Map<string, RecipientResult[]>();
    for (const m of messages) out.set(m.id, await this.deliverMessage(m));
    return out;
  }

  close(): Promise<void> {
    return this.o.next.close?.() ?? Promise.resolve();
  }

  private async deliverMessage(m: OutboundMessage): Promise<RecipientResult[]> {
    const results: RecipientResult[] = [];
    const targets: Array<{ rcpt: string; target: DeliveryTarget }> = [];
    for (const rcpt of m.recipients) {
      const r = await this.o.resolver.resolve(rcpt);
      if (r.kind !== 'ok' || r.local.length !== 1 || r.remote.length) {
        // The queue holds the user's own address; anything else means the user is gone (or became an alias).
        const code = r.kind === 'disabled' ? '5.2.1' : '5.1.1';
        results.push({ address: rcpt, outcome: 'perm', code: 550, enhanced: code, message: `<${rcpt}>: ${r.kind === 'disabled' ? 'mailbox disabled' : 'User unknown in local mailbox table'}` });
        continue;
      }
      const user = r.local[0]!.user.address;
      if (this.o.quota && (await isFull(this.o.quota, user, m.size))) {
        const e = mailboxFullReply(this.o.quota.action, rcpt);
        results.push({ address: rcpt, outcome: e.responseCode >= 500 ? 'perm' : 'temp', code: e.responseCode, enhanced: e.enhancedCode, message: e.message.slice(e.enhancedCode.length + 1) });
        continue;
      }
      const at = user.lastIndexOf('@');
      targets.push({ rcpt, target: { address: user, maildir: userMaildir(this.o.dataDir, user.slice(at + 1), user.slice(0, at)) } });
    }
    if (!targets.length) return results;
    let file: MaildirTmpFile | null = null;
    try {
      file = await MaildirTmpFile.create(this.o.spoolDir);
      for await (const c of createReadStream(m.bodyPath, { highWaterMark: 256 * 1024 })) await file.write(c as Buffer);
      const paths = await file.commit(targets.map((t) => t.target.maildir));
      this.o.onDelivered?.({ id: m.id, targets: targets.map((t) => t.target), paths, size: file.size });
      for (const t of targets) results.push({ address: t.rcpt, outcome: 'ok', code: 250, enhanced: '2.0.0', message: 'delivered to mailbox' });
    } catch (err) {
      await file?.abort().catch(() => {});
      this.o.log.warn({ queueId: m.id, err }, 'local delivery from the queue failed');
      for (const t of targets) results.push({ address: t.rcpt, outcome: 'temp', code: 451, enhanced: '4.3.0', message: `local delivery failed: ${(err as Error).message}` });
    }
    return results;
  }
}
