/**
 * Message submission (RFC 6409) on 587 (STARTTLS) and 465 (implicit TLS, RFC 8314): AUTH PLAIN/LOGIN (RFC 4954)
 * required before MAIL, and never offered without TLS except to loopback clients. Only authenticated users may
 * relay. The envelope sender and every From: address must be one of the user's own addresses (the address, its
 * plus-variants, or an alias/catch-all that delivers to the user), otherwise 553 5.7.1 (Postfix's
 * reject_sender_login_mismatch). Date and Message-ID are added when missing (RFC 6409 §8.2, §8.3).
 * Local recipients are delivered at once; remote ones go through the queue.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { SmtpReplyError } from '../../common/errors.js';
import { addressKey, parseAddress } from '../../common/address.js';
import type { RecipientResolver, LocalTarget } from '../../accounts/recipients.js';
import type { AccountService } from '../../accounts/service.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import { sleep } from '../../auth/throttle.js';
import type { Envelope, MessageSink, Recipient, SmtpHooks, SmtpSessionInfo } from './types.js';
import type { PathWithParams } from '../../protocol/smtp/commands.js';
import { openIntake, type DeliveryTarget, type DeliveredEvent } from '../../intake/sink.js';
import { receivedHeader, returnPathHeader, rfc5322Date } from '../../intake/headers.js';
import { userMaildir } from '../../store/maildir/paths.js';
import { newQueueId } from '../../intake/queue-id.js';
import type { QueueStore } from '../../queue/store.js';
import { newQueueEntry, type QueueEntry } from '../../queue/types.js';
import { decodedHeaderValue, parseAddressList } from '../../mime/index.js';
import { signMessage, type SigningKey } from '../../dkim/sign.js';
import { createReadStream } from 'node:fs';
import { quotaIntake, refuseAtRcpt, type QuotaPolicy } from '../../intake/quota.js';

export interface SubmissionOptions {
  hostname: string;
  dataDir: string;
  spoolDir: string;
  resolver: RecipientResolver;
  accounts: AccountService;
  throttle: LoginThrottle;
  queue: QueueStore;
  log: Logger;
  onDelivered?: (e: DeliveredEvent) => void;
  onQueued?: (e: QueueEntry) => void;
  /** DKIM signing keys of a hosted domain (RSA then Ed25519), created on first use; null to not sign. */
  dkimKeys?: ((domain: string) => Promise<SigningKey[]>) | null;
  /** Mailbox quotas of local recipients (see intake/quota.ts). */
  quota?: QuotaPolicy | null;
}

interface RcptData {
  local: LocalTarget[];
  remote: string[];
}

/** True when `address` may be used as a sender by `user`: it is the user, or delivers to the user. */
export async function senderAllowed(resolver: RecipientResolver, userAddress: string, address: string): Promise<boolean> {
  const p = parseAddress(address);
  const u = parseAddress(userAddress);
  if (!p || !u) return false;
  if (addressKey(p) === addressKey(u)) return true;
  const r = await resolver.resolve(p.address);
  if (r.kind !== 'ok') return false;
  return r.local.some((t) => addressKey(parseAddress(t.user.address)!) === addressKey(u));
}

export function submissionHooks(o: SubmissionOptions): SmtpHooks {
  const reject = (s: SmtpSessionInfo, what: string, code: number, enh: string, text: string): never => {
    o.log.info({ conn: s.id, client: s.remoteAddress, user: s.user, what, result: 'reject', reply: `${code} ${enh} ${text}` }, 'NOQUEUE: reject');
    throw new SmtpReplyError(code, enh, text);
  };
  return {
    async onAuth(s, username, password) {
      if (o.throttle.isLockedOut(s.remoteAddress, username)) {
        await sleep(o.throttle.fail(s.remoteAddress, username, 'smtp'));
        throw new SmtpReplyError(535, '5.7.8', 'Error: authentication failed');
      }
      const user = await o.accounts.authenticate(username, password);
      if (!user) {
        const delay = o.throttle.fail(s.remoteAddress, username, 'smtp');
        o.log.info({ conn: s.id, client: s.remoteAddress, user: username.slice(0, 100), result: 'auth-failed' }, 'smtp auth failed');
        await sleep(delay);
        throw new SmtpReplyError(535, '5.7.8', 'Error: authentication failed');
      }
      o.throttle.succeed(s.remoteAddress, user.address);
      o.log.info({ conn: s.id, client: s.remoteAddress, user: user.address, tls: s.tls?.version ?? null, result: 'auth' }, 'smtp auth');
      return user.address;
    },

    async onMailFrom(s: SmtpSessionInfo, from: PathWithParams) {
      if (!s.user) reject(s, 'mail', 530, '5.7.0', 'Authentication required');
      if (from.address === '') reject(s, 'mail', 553, '5.7.1', 'The null sender is not allowed for submission');
      if (!(await senderAllowed(o.resolver, s.user!, from.address))) {
        reject(s, 'mail', 553, '5.7.1', `<${from.address}>: Sender address rejected: not owned by user ${s.user}`);
      }
    },

    async onRcptTo(s: SmtpSessionInfo, rcpt: Recipient, env: Envelope) {
      const p = parseAddress(rcpt.address);
      if (!p) return reject(s, rcpt.address, 501, '5.1.3', 'Bad recipient address syntax');
      const r = await o.resolver.resolve(p.address);
      switch (r.kind) {
        case 'relay-denied':
          rcpt.data = { local: [], remote: [p.address] } satisfies RcptData; // authenticated: may relay
          return;
        case 'unknown':
          return reject(s, rcpt.address, 550, '5.1.1', `<${rcpt.address}>: Recipient address rejected: User unknown`);
        case 'disabled':
          return reject(s, rcpt.address, 550, '5.2.1', `<${rcpt.address}>: Recipient address rejected: mailbox disabled`);
        case 'ok': {
          const full = await refuseAtRcpt(o.quota, rcpt.address, r.local, r.remote.length, env.declaredSize);
          if (full) return reject(s, rcpt.address, full.responseCode, full.enhancedCode, full.message.slice(full.enhancedCode.length + 1));
          rcpt.data = { local: r.local, remote: r.remote } satisfies RcptData;
          return;
        }
      }
    },

    async onData(s: SmtpSessionInfo, env: Envelope): Promise<MessageSink> {
      const id = newQueueId();
      const user = s.user!;
      const byUser = new Map<number, DeliveryTarget>();
      const remote = new Map<string, { address: string; original: string }>();
      for (const rcpt of env.rcptTo) {
        const d = rcpt.data as RcptData;
        for (const t of d.local) {
          if (byUser.has(t.user.id)) continue;
          const at = t.user.address.lastIndexOf('@');
          byUser.set(t.user.id, { address: t.user.address, maildir: userMaildir(o.dataDir, t.user.address.slice(at + 1), t.user.address.slice(0, at)) });
        }
        for (const a of d.remote) remote.set(a.toLowerCase(), { address: a, original: rcpt.address });
      }
      const targets = [...byUser.values()];
      const base = { queueId: id, conn: s.id, client: s.remoteAddress, user, from: env.mailFrom.address, to: env.rcptTo.map((r) => r.address) };
      // RFC 5321 §4.4: final delivery adds Return-Path. The file is shared with the queued copy, so it is added only
      // when there are local recipients (as the MX does); a receiving MTA drops it (Postfix drop_headers).
      const prefix = (targets.length ? returnPathHeader(env.mailFrom.address) : '') + receivedHeader({
        helo: s.helo ?? 'unknown',
        clientHostname: s.clientHostname,
        clientAddress: s.remoteAddress,
        byHost: o.hostname,
        protocol: s.tls ? 'ESMTPSA' : 'ESMTPA',
        id,
        tls: s.tls,
        forRecipient: env.rcptTo.length === 1 ? env.rcptTo[0]!.address : null,
      });
      let fromAddresses: string[] = [];
      const sink = await openIntake({
        spoolDir: o.spoolDir,
        id,
        prefix,
        targets,
        headerHook: (header) => {
          const froms = decodedHeaderValue(header, 'From');
          if (froms.length !== 1) throw new SmtpReplyError(550, '5.6.0', 'Message must have exactly one From: header (RFC 5322 section 3.6)');
          fromAddresses = parseAddressList(froms[0]!)
            .filter((a) => a[2] !== null && a[3] !== null)
            .map((a) => `${a[2]}@${a[3]}`);
          if (!fromAddresses.length) throw new SmtpReplyError(550, '5.6.0', 'From: header has no address');
          let add = '';
          if (!decodedHeaderValue(header, 'Date').length) add += `Date: ${rfc5322Date()}\r\n`;
          if (!decodedHeaderValue(header, 'Message-ID').length) add += `Message-ID: <${id}.${randomBytes(6).toString('hex')}@${o.hostname}>\r\n`;
          return { prepend: add };
        },
        remote: remote.size
          ? {
              queue: o.queue,
              entry: newQueueEntry({
                id,
                sender: env.mailFrom.address,
                recipients: remote.values(),
                body8bit: env.body8bit,
                smtputf8: env.smtputf8,
                origin: user,
                dsnRet: env.mailFrom.params.get('RET') === 'FULL' ? 'FULL' : env.mailFrom.params.get('RET') === 'HDRS' ? 'HDRS' : undefined,
                envid: typeof env.mailFrom.params.get('ENVID') === 'string' ? (env.mailFrom.params.get('ENVID') as string) : undefined,
              }),
            }
          : null,
        // RFC 6376: sign after the last change to the message (Date/Message-ID added above), with the From domain.
        finalize: o.dkimKeys
          ? async (content) => {
              const domain = await signingDomain(o.resolver, fromAddresses);
              if (!domain) return {};
              try {
                const keys = await o.dkimKeys!(domain);
                if (!keys.length) return {};
                const headers = await signMessage(content.buffer ?? createReadStream(content.path!), { domain, keys, hostname: o.hostname });
                return { headers };
              } catch (err) {
                // Sending unsigned beats not sending: the failure is logged loudly for the admin.
                o.log.error({ ...base, err: (err as Error).message, domain }, 'DKIM signing failed; the message is sent unsigned');
                return {};
              }
            }
          : undefined,
        beforeCommit: async () => {
          // RFC 6409 §6.1 and Postfix's reject_sender_login_mismatch, applied to the header From: too.
          for (const a of fromAddresses) {
            if (!(await senderAllowed(o.resolver, user, a))) {
              o.log.info({ ...base, header_from: a, result: 'reject' }, 'message rejected: From: not owned by the user');
              throw new SmtpReplyError(553, '5.7.1', `From: <${a}> is not one of your addresses (${user})`);
            }
          }
        },
        quota: quotaIntake(o.quota, o.queue, env),
        onDelivered: (e) => {
          o.log.info({ ...base, size: e.size, delivered: e.targets.map((t) => t.address), result: 'delivered' }, 'message delivered');
          o.onDelivered?.(e);
        },
        onQueued: (e) => {
          o.log.info({ ...base, size: e.size, queued: e.recipients.map((r) => r.address), result: 'queued' }, 'message queued');
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

/** The hosted domain that signs: the From domain or its closest hosted parent (DMARC relaxed alignment). */
export async function signingDomain(resolver: RecipientResolver, fromAddresses: string[]): Promise<string | null> {
  const domains = new Set(fromAddresses.map((a) => a.slice(a.lastIndexOf('@') + 1).toLowerCase()));
  if (domains.size !== 1) return null; // one d= cannot align with several From domains
  const labels = [...domains][0]!.split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = labels.slice(i).join('.');
    if (await resolver.isHostedDomain(d)) return d;
  }
  return null;
}
