/**
 * Inbound message authentication on the MX: SPF (RFC 7208) for MAIL FROM and HELO, DKIM verification (RFC 6376,
 * RFC 8463), DMARC (RFC 7489) with alignment, ARC verification (RFC 8617), all through the mailauth package, and
 * one Authentication-Results header (RFC 8601) with our authserv-id (the hostname). The policy decides what a
 * failure does: DMARC p=reject -> 550 5.7.1, p=quarantine -> Junk; SPF "-all" fail without a DKIM pass -> reject or
 * Junk (configurable). A temporary DNS error never rejects (at most it is recorded as temperror).
 */
import './pubkey-cache.js'; // first: installs the parsed-public-key cache before mailauth's verifiers load
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import type { AuthenticateResult } from 'mailauth';
import { authenticateConcurrently } from './authenticate.js';
import type { MessageContent } from '../intake/sink.js';
import type { MailauthResolver } from './resolver.js';

export type FailAction = 'reject' | 'junk' | 'none';

export interface InboundPolicy {
  /** DMARC fail where the domain's policy is p=reject. */
  dmarcReject: FailAction;
  /** DMARC fail where the domain's policy is p=quarantine. */
  dmarcQuarantine: FailAction;
  /** SPF fail (the domain says -all) and no DKIM signature passed. */
  spfFail: FailAction;
}

export const DEFAULT_INBOUND_POLICY: InboundPolicy = { dmarcReject: 'reject', dmarcQuarantine: 'junk', spfFail: 'junk' };

export interface InboundVerdict {
  /** Headers to prepend (Authentication-Results, Received-SPF, ARC-Seal... when sealing), CRLF-terminated. */
  headers: string;
  action: 'accept' | 'junk' | 'reject';
  reason?: string;
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  dmarcPolicy?: string;
  headerFromDomain?: string;
}

export interface InboundContext {
  ip: string;
  helo: string;
  /** MAIL FROM ("" for the null sender). */
  sender: string;
  /** Our authserv-id (RFC 8601 §2.5): the MX hostname. */
  hostname: string;
  resolver: MailauthResolver;
  policy: InboundPolicy;
  /** Sealers whose passing ARC chain may override a DMARC or SPF failure (lower-case domains). */
  trustedArcSealers?: readonly string[];
  /** ARC-seal the message (RFC 8617 §5.1) with this key: done for messages we forward to remote addresses. */
  seal?: { signingDomain: string; selector: string; privateKey: string } | null;
}

function input(c: MessageContent): Readable | Buffer {
  return c.buffer ?? createReadStream(c.path!);
}

export async function checkInbound(c: MessageContent, ctx: InboundContext): Promise<InboundVerdict> {
  let r: AuthenticateResult;
  try {
    // SPF runs while DKIM is verified (mailauth's authenticate() runs them one after the other).
    r = await authenticateConcurrently(input(c), {
      ip: ctx.ip.startsWith('::ffff:') ? ctx.ip.slice(7) : ctx.ip,
      helo: ctx.helo,
      ...(ctx.sender ? { sender: ctx.sender } : {}),
      mta: ctx.hostname,
      resolver: ctx.resolver,
      ...(ctx.seal ? { seal: ctx.seal } : {}),
    });
  } catch (err) {
    // A bug or a pathological message must not lose mail: accept with a temperror note.
    return {
      headers: `Authentication-Results: ${ctx.hostname}; none (checks failed: ${(err as Error).message.replace(/[\r\n]/g, ' ').slice(0, 100)})\r\n`,
      action: 'accept',
      spf: 'temperror',
      dkim: 'temperror',
      dmarc: 'temperror',
      arc: 'temperror',
    };
  }
  let headers = r.headers.replace(/\r?\n/g, '\r\n').replace(/(\r\n)?$/, '\r\n');
  // mailauth reports a body hash mismatch as "neutral"; it is a verification failure (RFC 6376 §6.1.3, RFC 8601
  // §2.7.1: the signature was acceptable but did not verify).
  for (const d of r.dkim?.results ?? []) {
    if (d.status.result === 'neutral' && /body hash did not verify/.test(String(d.status.comment ?? ''))) {
      d.status.result = 'fail';
      headers = headers.replace(/\bdkim=neutral \(body hash did not verify\)/, 'dkim=fail (body hash did not verify)');
    }
  }
  // mailauth 4.13 ignores adkim=s / aspf=s (its alignment check always falls back to organisational domains):
  // re-check strict alignment ourselves (RFC 7489 §3.1: the domains must be identical).
  if (r.dmarc && r.dmarc.status.result === 'pass' && r.dmarc.alignment && (r.dmarc.alignment.dkim.strict || r.dmarc.alignment.spf.strict)) {
    const from = String(r.dmarc.status.header?.d ?? '').toLowerCase();
    const same = (d: unknown) => typeof d === 'string' && d.toLowerCase().replace(/\.$/, '') === from;
    const dkimOk = r.dmarc.alignment.dkim.strict
      ? (r.dkim?.results ?? []).some((d) => d.status.result === 'pass' && same(d.signingDomain))
      : Boolean(r.dmarc.alignment.dkim.result);
    const spfOk = r.dmarc.alignment.spf.strict
      ? Boolean(r.spf && r.spf.status.result === 'pass' && same(r.spf.domain))
      : Boolean(r.dmarc.alignment.spf.result);
    if (!dkimOk && !spfOk) {
      r.dmarc.status.result = 'fail';
      headers = headers.replace(/^(Authentication-Results:[^]*?\bdmarc=)pass\b/m, '$1fail');
    }
  }
  const spf = r.spf ? r.spf.status.result : 'none';
  const dkimResults = r.dkim?.results ?? [];
  const dkimPass = dkimResults.some((d) => d.status.result === 'pass');
  const dkim = dkimResults.length ? (dkimPass ? 'pass' : dkimResults[0]!.status.result) : 'none';
  const dmarc = r.dmarc ? r.dmarc.status.result : 'none';
  const arc = r.arc ? r.arc.status.result : 'none';
  const v: InboundVerdict = { headers, action: 'accept', spf, dkim, dmarc, arc };
  if (r.dmarc) {
    v.dmarcPolicy = r.dmarc.policy;
    v.headerFromDomain = r.dmarc.domain;
  }
  // RFC 7489 §6.6.2: act on the policy only for a DMARC "fail"; an ARC pass from a sealer may override (§7.2.1 of
  // RFC 8617 leaves this to local policy: we honour a valid ARC chain as forwarding evidence).
  // RFC 8617 §7.2: a valid chain proves only who sealed it. It vouches for a forwarded message only when the most
  // recent sealer is one we trust (anyone can publish a key and seal a forged message).
  const sealer = r.arc && r.arc.signature ? String(r.arc.signature.signingDomain ?? '').toLowerCase() : '';
  const trusted = (ctx.trustedArcSealers ?? []).map((d) => d.toLowerCase());
  const arcPass = arc === 'pass' && sealer !== '' && trusted.includes(sealer);
  if (dmarc === 'fail' && !arcPass) {
    const policy = (r.dmarc && (r.dmarc.policy || r.dmarc.p)) || 'none';
    const action = policy === 'reject' ? ctx.policy.dmarcReject : policy === 'quarantine' ? ctx.policy.dmarcQuarantine : 'none';
    if (action !== 'none') {
      v.action = action;
      v.reason = `DMARC policy of ${v.headerFromDomain ?? 'the sender domain'} (p=${policy}) failed: no aligned SPF or DKIM pass`;
      return v;
    }
  }
  if (spf === 'fail' && !dkimPass && !arcPass && ctx.policy.spfFail !== 'none') {
    v.action = ctx.policy.spfFail;
    v.reason = `SPF of ${(r.spf && r.spf.domain) || 'the sender'} does not authorise ${ctx.ip} (-all) and no DKIM signature passed`;
  }
  return v;
}

/**
 * RFC 8601 §5: remove Authentication-Results headers that claim to be ours (a sender could forge them to look
 * trusted). Works on the header block; returns null when nothing was removed.
 */
export function stripForgedResults(header: Buffer, authservId: string): Buffer | null {
  const text = header.toString('latin1');
  if (!/authentication-results/i.test(text)) return null; // the common case: nothing to look at line by line
  const lines = text.split(/(?<=\r\n)/);
  const out: string[] = [];
  let removed = false;
  let skipping = false;
  const id = authservId.toLowerCase();
  for (const line of lines) {
    if (skipping && /^[ \t]/.test(line)) continue;
    skipping = false;
    const m = /^(authentication-results|arc-authentication-results)\s*:\s*(?:i=\d+\s*;\s*)?([^;\s(]+)/i.exec(line);
    if (m && m[1]!.toLowerCase() === 'authentication-results' && m[2]!.toLowerCase() === id) {
      removed = true;
      skipping = true;
      continue;
    }
    out.push(line);
  }
  return removed ? Buffer.from(out.join(''), 'latin1') : null;
}
