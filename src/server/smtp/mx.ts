/**
 * The MX: behaviour behind the SMTP listener on port 25 (RFC 5321 §3, §4.4). Accepts mail only for hosted
 * domains and existing users/aliases; rejects unknown recipients at RCPT (550 5.1.1, so we never send
 * backscatter) and everything for other domains (554 5.7.1 relay access denied: never an open relay).
 * Each transaction logs one line with its queue id (like Postfix's maillog).
 */
import type { Logger } from 'pino';
import { SmtpReplyError } from '../../common/errors.js';
import { parseAddress } from '../../common/address.js';
import type { RecipientResolver, LocalTarget } from '../../accounts/recipients.js';
import type { Envelope, MessageSink, Recipient, SmtpHooks, SmtpSessionInfo } from './types.js';
import { openIntake, type DeliveryTarget, type DeliveredEvent } from '../../intake/sink.js';
import type { QueueStore } from '../../queue/store.js';
import { newQueueEntry, type QueueEntry } from '../../queue/types.js';
import { receivedHeader, returnPathHeader } from '../../intake/headers.js';
import { userMaildir } from '../../store/maildir/paths.js';
import { newQueueId } from '../../intake/queue-id.js';
import { checkInbound, stripForgedResults, type InboundPolicy } from '../../mailauth/inbound.js';
import type { MailauthResolver } from '../../mailauth/resolver.js';
import { isLoopback } from '../../dns/resolver.js';
import type { Srs } from '../../mailauth/srs.js';
import { quotaIntake, refuseAtRcpt, type QuotaPolicy } from '../../intake/quota.js';

export interface MxOptions {
  hostname: string;
  dataDir: string;
  spoolDir: string;
  resolver: RecipientResolver;
  log: Logger;
  onDelivered?: (e: DeliveredEvent) => void;
  /** The outbound queue, for aliases that forward to remote addresses. */
  queue: QueueStore;
  onQueued?: (e: QueueEntry) => void;
  /** Inbound SPF/DKIM/DMARC/ARC checks; null to skip them. */
  inbound: { resolver: MailauthResolver; policy: InboundPolicy; checkLoopback: boolean; trustedArcSealers?: readonly string[] } | null;
  /** Sender rewriting for forwarded mail, and the reverse path for bounces to rewritten senders. */
  srs: Srs;
  /** The ARC sealing key of a hosted domain (its RSA DKIM key), or null. */
  sealKey?: (domain: string) => Promise<{ selector: string; privateKey: string } | null>;
  /** Mailbox quotas: full mailboxes are refused at RCPT and at the end of DATA (see intake/quota.ts). */
  quota?: QuotaPolicy | null;
}

interface RcptData {
  local: LocalTarget[];
  remote: string[];
  /** Routed back through SRS (the sender is kept as is). */
  srsBounce?: boolean;
  /** Hosted domain of the alias that forwards outside (for the ARC seal). */
  forwardDomain?: string;
}

export function mxHooks(o: MxOptions): SmtpHooks {
  const reject = (s: SmtpSessionInfo, env: Envelope, rcpt: string, code: number, enh: string, text: string): never => {
    o.log.info(
      { conn: s.id, client: s.remoteAddress, helo: s.helo, from: env.mailFrom.address, to: rcpt, result: 'reject', reply: `${code} ${enh} ${text}` },
      'NOQUEUE: reject',
    );
    throw new SmtpReplyError(code, enh, text);
  };
  return {
    async onRcptTo(s: SmtpSessionInfo, rcpt: Recipient, env: Envelope) {
      let address = rcpt.address;
      if (/^postmaster$/i.test(address)) address = `postmaster@${o.hostname}`;
      if (o.srs.isSrs(address)) {
        // A bounce (or reply) to a sender we rewrote when forwarding: route it back to the original sender.
        const original = o.srs.reverse(address);
        if (!original) return reject(s, env, rcpt.address, 550, '5.1.1', `<${rcpt.address}>: invalid or expired SRS address`);
        rcpt.data = { local: [], remote: [original], srsBounce: true } satisfies RcptData;
        return;
      }
      const p = parseAddress(address);
      if (!p) return reject(s, env, rcpt.address, 501, '5.1.3', 'Bad recipient address syntax');
      const r = await o.resolver.resolve(p.address);
      switch (r.kind) {
        case 'relay-denied':
          return reject(s, env, rcpt.address, 554, '5.7.1', `<${rcpt.address}>: Relay access denied`);
        case 'unknown':
          return reject(s, env, rcpt.address, 550, '5.1.1', `<${rcpt.address}>: Recipient address rejected: User unknown`);
        case 'disabled':
          return reject(s, env, rcpt.address, 550, '5.2.1', `<${rcpt.address}>: Recipient address rejected: mailbox disabled`);
        case 'ok':
          {
            const full = await refuseAtRcpt(o.quota, rcpt.address, r.local, r.remote.length, env.declaredSize);
            if (full) return reject(s, env, rcpt.address, full.responseCode, full.enhancedCode, full.message.slice(full.enhancedCode.length + 1));
          }
          rcpt.data = { local: r.local, remote: r.remote, forwardDomain: r.remote.length ? parseAddress(address)!.domain : undefined } satisfies RcptData;
          return;
      }
    },

    async onData(s: SmtpSessionInfo, env: Envelope): Promise<MessageSink> {
      const id = newQueueId();
      const byUser = new Map<number, DeliveryTarget>();
      for (const rcpt of env.rcptTo) {
        for (const t of (rcpt.data as RcptData).local) {
          if (!byUser.has(t.user.id)) {
            const at = t.user.address.lastIndexOf('@');
            byUser.set(t.user.id, {
              address: t.user.address,
              maildir: userMaildir(o.dataDir, t.user.address.slice(at + 1), t.user.address.slice(0, at)),
            });
          }
        }
      }
      const targets = [...byUser.values()];
      const remote = new Map<string, string>();
      let srsBounce = false;
      let forwardDomain: string | undefined;
      for (const rcpt of env.rcptTo) {
        const d = rcpt.data as RcptData;
        for (const a of d.remote) remote.set(a.toLowerCase(), a);
        if (d.srsBounce) srsBounce = true;
        forwardDomain ??= d.forwardDomain;
      }
      // RFC 7208 §9.3 / SRS: forwarded mail leaves with a sender at our domain so SPF passes for us.
      const queuedSender = srsBounce ? env.mailFrom.address : o.srs.forward(env.mailFrom.address);
      const protocol = s.esmtp ? (s.tls ? (s.user ? 'ESMTPSA' : 'ESMTPS') : s.user ? 'ESMTPA' : 'ESMTP') : 'SMTP';
      const prefix =
        returnPathHeader(env.mailFrom.address) +
        receivedHeader({
          helo: s.helo ?? 'unknown',
          clientHostname: s.clientHostname,
          clientAddress: s.remoteAddress,
          byHost: o.hostname,
          protocol,
          id,
          tls: s.tls,
          forRecipient: env.rcptTo.length === 1 ? env.rcptTo[0]!.address : null,
        });
      const base = {
        queueId: id,
        conn: s.id,
        client: s.remoteAddress,
        helo: s.helo,
        tls: s.tls?.version ?? null,
        from: env.mailFrom.address,
        to: env.rcptTo.map((r) => r.address),
      };
      let auth: { spf: string; dkim: string; dmarc: string; arc: string; action: string } | undefined;
      const check = o.inbound && (o.inbound.checkLoopback || !isLoopback(s.remoteAddress)) ? o.inbound : null;
      const sink = await openIntake({
        spoolDir: o.spoolDir,
        id,
        prefix,
        targets,
        remote: remote.size
          ? {
              queue: o.queue,
              entry: newQueueEntry({
                id,
                sender: queuedSender,
                recipients: remote.values(),
                body8bit: env.body8bit,
                smtputf8: env.smtputf8,
                origin: srsBounce ? 'srs-bounce' : 'forward',
              }),
            }
          : null,
        headerHook: check
          ? (header) => {
              const stripped = stripForgedResults(header, o.hostname);
              if (stripped) o.log.info({ ...base }, 'removed a forged Authentication-Results header');
              return stripped ? { header: stripped } : {};
            }
          : undefined,
        finalize: check
          ? async (content) => {
              const seal = remote.size && forwardDomain && o.sealKey ? await o.sealKey(forwardDomain).catch(() => null) : null;
              const v = await checkInbound(content, {
                ip: s.remoteAddress,
                helo: s.helo ?? '',
                sender: env.mailFrom.address,
                hostname: o.hostname,
                resolver: check.resolver,
                policy: check.policy,
                trustedArcSealers: check.trustedArcSealers,
                seal: seal ? { signingDomain: forwardDomain!, selector: seal.selector, privateKey: seal.privateKey } : null,
              });
              auth = { spf: v.spf, dkim: v.dkim, dmarc: v.dmarc, arc: v.arc, action: v.action };
              if (v.action === 'reject') {
                o.log.info({ ...base, auth, result: 'reject', reason: v.reason }, 'message rejected by sender authentication policy');
                throw new SmtpReplyError(550, '5.7.1', `Message rejected: ${v.reason}`);
              }
              return { headers: v.headers, junk: v.action === 'junk' };
            }
          : undefined,
        quota: quotaIntake(o.quota, o.queue, env),
        onDelivered: (e) => {
          o.log.info({ ...base, auth, size: e.size, delivered: e.targets.map((t) => t.address), folder: auth?.action === 'junk' ? 'Junk' : 'INBOX', result: 'delivered' }, 'message delivered');
          o.onDelivered?.(e);
        },
        onQueued: (e) => {
          if (e.origin === 'quota') o.log.info({ ...base, retryQueueId: e.id, size: e.size, queued: e.recipients.map((r) => r.address), result: 'queued' }, 'mailbox full: local delivery queued for retry');
          else o.log.info({ ...base, size: e.size, queued: e.recipients.map((r) => r.address), result: 'queued' }, 'message queued for forwarding');
          o.onQueued?.(e);
        },
        onError: (err) => o.log.error({ ...base, err, result: 'deferred' }, 'message not accepted: storage error'),
      });
      return {
        write: (c) => sink.write(c),
        end: (st) => sink.end(st),
        async abort() {
          o.log.info({ ...base, result: 'aborted' }, 'message not accepted');
          await sink.abort();
        },
      };
    },
  };
}
