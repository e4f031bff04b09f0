/**
 * MTA-STS (RFC 8461): the policy we serve at https://mta-sts.DOMAIN/.well-known/mta-sts.txt and the id of its
 * _mta-sts TXT record. The id is derived from the policy text, so it changes exactly when the policy changes
 * (senders re-fetch the policy when the id changes, §3.1).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Config } from '../config/schema.js';

const require = createRequire(import.meta.url);
const { parsePolicy } = require('mailauth/lib/mta-sts') as {
  parsePolicy: (file: string) => { version?: string; mode?: string; mx?: string[]; maxAge?: number };
};

export interface MtaStsPolicy {
  mode: 'testing' | 'enforce' | 'none';
  mx: string[];
  maxAge: number;
}

export function mtaStsPolicy(config: Pick<Config, 'hostname' | 'mtaSts'>): MtaStsPolicy {
  return { mode: config.mtaSts.mode, mx: [config.hostname.toLowerCase()], maxAge: config.mtaSts.maxAgeSeconds };
}

/** The policy file (§3.2): key: value lines separated by CRLF. */
export function policyText(p: MtaStsPolicy): string {
  return ['version: STSv1', `mode: ${p.mode}`, ...p.mx.map((m) => `mx: ${m}`), `max_age: ${p.maxAge}`].join('\r\n') + '\r\n';
}

/** 1-32 alphanumerics (§3.1): the first 20 hex digits of the SHA-256 of the policy text. */
export function policyId(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 20);
}

export function stsTxtValue(id: string): string {
  return `v=STSv1; id=${id}`;
}

export function tlsRptValue(domain: string): string {
  return `v=TLSRPTv1; rua=mailto:tls-reports@${domain}`;
}

/** Parses a _mta-sts TXT value: { id } or an error (§3.1: v=STSv1 first, id= 1-32 alphanumerics). */
export function parseStsTxt(value: string): { ok: true; id: string } | { ok: false; error: string } {
  const tags = value
    .split(';')
    .map((t) => t.trim())
    .filter(Boolean);
  if (!tags.length || !/^v\s*=\s*STSv1$/.test(tags[0]!)) return { ok: false, error: 'does not start with v=STSv1' };
  const id = tags.map((t) => /^id\s*=\s*(.*)$/.exec(t)).find(Boolean)?.[1];
  if (id === undefined) return { ok: false, error: 'has no id=' };
  if (!/^[A-Za-z0-9]{1,32}$/.test(id)) return { ok: false, error: `id=${id.slice(0, 40)} is not 1-32 letters and digits` };
  return { ok: true, id };
}

/** Parses a served policy with mailauth's parser (what senders using mailauth do). */
export function parsePolicyText(text: string): MtaStsPolicy | null {
  try {
    const p = parsePolicy(text);
    if (p.version !== 'STSv1' || !p.mode || !['testing', 'enforce', 'none'].includes(p.mode)) return null;
    return { mode: p.mode as MtaStsPolicy['mode'], mx: p.mx ?? [], maxAge: p.maxAge ?? 0 };
  } catch {
    return null;
  }
}

export function samePolicy(a: MtaStsPolicy, b: MtaStsPolicy): boolean {
  return a.mode === b.mode && a.maxAge === b.maxAge && [...a.mx].sort().join(',') === [...b.mx].sort().join(',');
}
