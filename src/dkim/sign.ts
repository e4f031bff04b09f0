/**
 * DKIM signing (RFC 6376, RFC 8463) with mailauth: relaxed/relaxed, one signature per key (RSA and Ed25519).
 * Canonicalization, hashing and signing are mailauth's; this module picks the header list and over-signs.
 *
 * Over-signing (RFC 6376 §8.15, §5.4.2): a field name listed in h= once more than it occurs in the message signs
 * its absence, so a second From (or Subject, To, ...) added later breaks the signature. mailauth 4.13.3 has no
 * option for it: its signer lists exactly the fields present. Its h= value is built from each parsed field's
 * `casedKey`, while the signed data comes from the field's `line`; a non-existent field contributes nothing to the
 * signed data (RFC 6376 §5.4), so appending ": From" to the casedKey of the topmost From yields h=...:From:From
 * with exactly the data a verifier computes. The subclass below does only that, after mailauth parsed the header.
 *
 * Private keys are parsed once: mailauth's signer parses the PEM on every message and for each key (about 0.4 ms
 * each with OpenSSL 3, the largest single cost of signing). The subclass below replaces mailauth's finalize() with
 * the same steps (its header list, canonicalization and signature formatting; node:crypto's sign) but takes a
 * KeyObject from a cache keyed by domain and selector; the cached entry is used only while the PEM it was parsed from
 * is the one the caller passes, so a rotated key (a new selector) or a changed key is parsed at its first use.
 * test/dkim/sign.test.ts checks that the result is byte-identical to mailauth's own dkimSign.
 *
 * Sign after the last change to the message (the caller prepends the returned lines, nothing else may follow).
 */
import { createPrivateKey, createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import type { DkimAlgorithm, DkimKey } from './keys.js';
import { normalizeDomain } from '../common/address.js';
import { feedMessage, type MessageParserLike } from '../mailauth/feed.js';

const require = createRequire(import.meta.url);

interface ParsedField {
  key: string | null;
  casedKey: string | undefined;
  line: Buffer;
}
interface ParsedHeaders {
  parsed: ParsedField[];
  original: Buffer;
}
interface SignatureData {
  type?: string;
  signingDomain: string;
  selector: string;
  privateKey: string;
  algorithm: string;
  canonicalization: string;
  maxBodyLength?: number | '';
}
interface SignerInstance extends MessageParserLike {
  signatureHeaders: string[];
  errors: { selector?: string; signingDomain?: string; err: Error }[];
  headers: ParsedHeaders | false;
  headerList: string;
  signTime?: Date;
  expires?: Date;
  signatureData: SignatureData[];
  bodyHashes: Map<string, { hash: string | null }>;
  messageHeaders(headers: ParsedHeaders): Promise<void>;
  finalize(): Promise<void>;
}
interface SignerOptions {
  canonicalization: string;
  headerList: string;
  signatureData: SignatureData[];
  signTime?: Date;
}
const { DkimSigner } = require('mailauth/lib/dkim/dkim-signer') as { DkimSigner: new (opts: SignerOptions) => SignerInstance };
interface SigningHeaderLines {
  keys: string;
  headers: ParsedField[];
}
const { getSigningHeaderLines, formatSignatureHeaderLine, formatRelaxedLine, getCurTime, validateAlgorithm } = require('mailauth/lib/tools') as {
  getSigningHeaderLines: (parsed: ParsedField[], fieldNames: string) => SigningHeaderLines;
  formatSignatureHeaderLine: (type: string, values: Record<string, unknown>, folded: boolean) => string;
  formatRelaxedLine: (line: Buffer | string, suffix?: string) => Buffer;
  getCurTime: (t?: Date) => Date;
  validateAlgorithm: (algorithm: string) => void;
};
const { generateCanonicalizedHeader } = require('mailauth/lib/dkim/header') as {
  generateCanonicalizedHeader: (
    type: string,
    signingHeaderLines: SigningHeaderLines,
    options: Record<string, unknown>,
  ) => { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> };
};

/**
 * mailauth 4.13.3's relaxedHeaders (lib/dkim/header/relaxed.js) for a new DKIM signature, with the relaxed form of
 * the signed fields computed by the caller once for all signatures of a message (mailauth computes it again for
 * each key; only the DKIM-Signature field itself differs between them). Same steps, same result: the signed
 * fields, then the DKIM-Signature field formatted with a placeholder b= (so that it folds as the real one) in its
 * relaxed form with the b= value removed; dkimHeaderOpts are the tags the caller formats the real field from.
 */
function relaxedSignedHeader(
  signedFields: Buffer,
  keys: string,
  o: { algorithm: string; canonicalization: string; selector: string; signingDomain: string; bodyHash: string | null; signTime?: Date; expires?: Date },
): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> } {
  const opts: Record<string, unknown> = { a: o.algorithm, c: o.canonicalization, s: o.selector, d: o.signingDomain, h: keys, bh: o.bodyHash };
  if (o.signTime) opts.t = Math.floor(getCurTime(o.signTime).getTime() / 1000);
  if (o.expires) opts.x = Math.floor(getCurTime(o.expires).getTime() / 1000);
  const line = formatSignatureHeaderLine('DKIM', Object.assign({ b: 'a'.repeat(73) }, opts), true);
  const own = Buffer.from(formatRelaxedLine(line).toString('binary').replace(/([;:\s]+b=)[^;]+/, '$1'), 'binary');
  return { canonicalizedHeader: Buffer.concat([signedFields, own], signedFields.length + own.length), dkimHeaderOpts: opts };
}

// ---------------------------------------------------------------------------------------------------------------
// Parsed private keys

const KEY_CACHE_MAX = 1000;
/** A key not used for this long is dropped (a rotated-out key does not stay in memory after `dkim retire`). */
const KEY_IDLE_MS = 10 * 60_000;
const keyCache = new Map<string, { pem: string; key: KeyObject; lastUse: number }>();
let lastSweep = 0;
/** How many PEM parses the cache has done (tests check that a second message does not parse again). */
export const keyCacheStats = { parses: 0 };

/**
 * The KeyObject of a signing key: parsed at its first use and kept per domain and selector while the PEM is the same
 * (a rotation brings a new selector; a changed PEM under the same selector is parsed again). Bounded: the oldest
 * entries go first, and keys unused for 10 minutes are dropped.
 */
export function parsedPrivateKey(domain: string, selector: string, pem: string, now = Date.now()): KeyObject {
  if (Math.abs(now - lastSweep) > 60_000) {
    lastSweep = now;
    for (const [k, e] of keyCache) if (now - e.lastUse > KEY_IDLE_MS) keyCache.delete(k);
  }
  const id = `${selector}._domainkey.${domain}`;
  const hit = keyCache.get(id);
  if (hit && hit.pem === pem) {
    hit.lastUse = now;
    return hit.key;
  }
  const key = createPrivateKey({ key: pem, format: 'pem' });
  keyCacheStats.parses++;
  keyCache.delete(id);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(id, { pem, key, lastUse: now });
  return key;
}

/** Number of parsed keys held (tests). */
export function keyCacheSize(): number {
  return keyCache.size;
}

/** Forget every parsed key (tests). */
export function clearKeyCache(): void {
  keyCache.clear();
}

/** Fields signed when present (RFC 6376 §5.4.1's list, plus RFC 8058's List-Unsubscribe-Post and BIMI-Selector). */
export const SIGNED_HEADERS: readonly string[] = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'In-Reply-To',
  'References',
  'Resent-Date',
  'Resent-From',
  'Resent-Sender',
  'Resent-To',
  'Resent-Cc',
  'Resent-Message-ID',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
  'BIMI-Selector',
];

/**
 * Fields listed once more than they occur (when they occur): adding another instance after signing breaks the
 * signature. From is always present (a message without From is refused), so From is always over-signed.
 */
export const OVERSIGNED_HEADERS: readonly string[] = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
];

class OversigningSigner extends DkimSigner {
  constructor(
    opts: SignerOptions,
    private readonly oversign: readonly string[],
  ) {
    super(opts);
  }
  override async messageHeaders(headers: ParsedHeaders): Promise<void> {
    await super.messageHeaders(headers);
    for (const name of this.oversign) {
      const lc = name.toLowerCase();
      // mailauth lists signed fields bottom-up, so the topmost instance comes last among its name's instances.
      const top = headers.parsed.find((f) => f.key === lc);
      if (top) top.casedKey = `${top.casedKey}: ${name}`;
    }
  }

  /**
   * mailauth 4.13.3's DkimSigner.finalize for DKIM signatures (relaxed/relaxed, no l=), with the private key from
   * parsedPrivateKey instead of a PEM parse per message. Same header lines, canonicalized header, tag order and
   * folding; errors are collected in this.errors as mailauth does.
   */
  override async finalize(): Promise<void> {
    if (!this.headers) return;
    const signingHeaderLines = getSigningHeaderLines(this.headers.parsed, this.headerList);
    // The relaxed form of the signed fields: the same for every signature of this message, computed once.
    let relaxedFields: Buffer | undefined;
    for (const sd of this.signatureData) {
      if (!sd.privateKey) continue;
      const algorithm = sd.algorithm.toLowerCase().trim();
      const signAlgo = algorithm.split('-')[0]!;
      const hashAlgo = algorithm.split('-').pop()!;
      const fail = (err: Error) => this.errors.push({ selector: sd.selector, signingDomain: sd.signingDomain, err });
      let key: KeyObject;
      try {
        key = parsedPrivateKey(sd.signingDomain, sd.selector, sd.privateKey);
        if (key.asymmetricKeyType !== signAlgo) {
          throw Object.assign(new Error(`Invalid key type: "${key.asymmetricKeyType}" (expecting "${signAlgo}")`), { code: 'EINVALIDTYPE' });
        }
        validateAlgorithm(algorithm);
      } catch (err) {
        fail(err as Error);
        continue;
      }
      const bodyCanon = (sd.canonicalization.split('/')[1] || 'simple').toLowerCase().trim();
      const hashKey = `${bodyCanon}:${hashAlgo}:${sd.maxBodyLength ?? ''}`;
      const bodyHash = this.bodyHashes.get(hashKey)?.hash ?? null;
      const headerCanon = (sd.canonicalization.split('/')[0] || 'simple').toLowerCase().trim();
      const { canonicalizedHeader, dkimHeaderOpts } =
        headerCanon === 'relaxed'
          ? relaxedSignedHeader(
              (relaxedFields ??= Buffer.concat(signingHeaderLines.headers.map((f) => formatRelaxedLine(f.line, '\r\n')))),
              signingHeaderLines.keys,
              { ...sd, algorithm, bodyHash, signTime: this.signTime, expires: this.expires },
            )
          : generateCanonicalizedHeader('DKIM', signingHeaderLines, {
              ...sd,
              instance: false, // ARC only ('instance' in mailauth's this.arc is false for a DKIM-only signer)
              algorithm,
              canonicalization: sd.canonicalization,
              signTime: this.signTime,
              expires: this.expires,
              bodyHash,
            });
      try {
        // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalized header (PureEdDSA over the hash).
        // (Signing on the thread pool, crypto.sign with a callback, was measured and not kept: bench/README.md.)
        const data = signAlgo === 'rsa' ? canonicalizedHeader : createHash('sha256').update(canonicalizedHeader).digest();
        dkimHeaderOpts.b = cryptoSign(signAlgo === 'rsa' ? algorithm : null, data, key).toString('base64');
        this.signatureHeaders.push(formatSignatureHeaderLine('DKIM', dkimHeaderOpts, true));
      } catch (err) {
        fail(err as Error);
      }
    }
  }
}

export class DkimSignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DkimSignError';
  }
}

export type SigningKey = Pick<DkimKey, 'selector' | 'algorithm' | 'privateKey'>;

export interface SignOptions {
  /** The d= domain (a hosted domain, see signingDomainFor). */
  domain: string;
  /** One signature per key, in this order (DkimKeyStore.activeKeys gives RSA, then Ed25519). */
  keys: SigningKey[];
  /** This server's host name: named in errors only (no tag of the signature carries it). */
  hostname?: string;
  /** Override the signed fields (default SIGNED_HEADERS) and the over-signed ones (default OVERSIGNED_HEADERS). */
  headers?: readonly string[];
  oversign?: readonly string[];
  /** t= (default now). */
  signTime?: Date;
}

const ALGORITHMS: readonly DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];

/**
 * Signs a message and returns the DKIM-Signature header fields (folded, each CRLF-terminated) to prepend to it.
 * Throws DkimSignError when a key cannot sign (the caller decides whether to send unsigned or to defer).
 * Private keys never appear in error messages.
 */
export async function signMessage(raw: Buffer | Readable, opts: SignOptions): Promise<string> {
  const domain = normalizeDomain(opts.domain);
  if (!domain) throw new DkimSignError(`DKIM: invalid signing domain '${opts.domain}'`);
  if (!opts.keys.length) throw new DkimSignError(`DKIM: no signing keys for ${domain}`);
  for (const k of opts.keys) {
    if (!ALGORITHMS.includes(k.algorithm)) throw new DkimSignError(`DKIM: unsupported algorithm '${k.algorithm}' (selector ${k.selector})`);
    if (!k.privateKey) throw new DkimSignError(`DKIM: key ${k.selector}._domainkey.${domain} has no private key (retired?)`);
  }
  const signer = new OversigningSigner(
    {
      canonicalization: 'relaxed/relaxed',
      headerList: (opts.headers ?? SIGNED_HEADERS).join(':'),
      signatureData: opts.keys.map((k) => ({
        signingDomain: domain,
        selector: k.selector,
        privateKey: k.privateKey,
        algorithm: k.algorithm,
        canonicalization: 'relaxed/relaxed',
      })),
      // Always an explicit t=: without one, mailauth's formatSignatureHeaderLine fills in Math.round(Date.now() / 1000)
      // each time it formats the field, once for the signed (canonicalized) form and again for the field sent after
      // the RSA operation, and a message signed across a half-second boundary got a t= that its b= does not cover.
      signTime: opts.signTime ?? new Date(),
    },
    opts.oversign ?? OVERSIGNED_HEADERS,
  );
  await feedMessage(signer, raw); // in-memory messages skip mailauth's stream machinery (src/mailauth/feed.ts)
  const where = opts.hostname ? ` on ${opts.hostname}` : '';
  if (!signer.headers) throw new DkimSignError(`DKIM signing for ${domain}${where} failed: the message has no header/body separator`);
  if (!signer.headers.parsed.some((f) => f.key === 'from')) {
    throw new DkimSignError(`DKIM signing for ${domain}${where} failed: the message has no From header field`);
  }
  if (signer.errors.length) {
    const e = signer.errors[0]!;
    throw new DkimSignError(`DKIM signing for ${domain}${where} failed (selector ${e.selector ?? '?'}): ${e.err?.message ?? e.err}`);
  }
  if (signer.signatureHeaders.length !== opts.keys.length) {
    throw new DkimSignError(`DKIM signing for ${domain}${where} failed: ${signer.signatureHeaders.length} of ${opts.keys.length} signatures made`);
  }
  return signer.signatureHeaders.map((h) => h.replace(/\r?\n/g, '\r\n') + '\r\n').join('');
}

/**
 * The hosted domain that signs a message with this From header field value ("Name <a@b.example>", a list, or a
 * bare address): the From domain itself when hosted, else its closest hosted parent (sub.example.com signed with
 * d=example.com aligns under DMARC's relaxed mode). null when no hosted domain matches, when the field has no
 * address, or when its addresses are in different domains (one d= cannot align with all of them).
 */
export function signingDomainFor(headerFrom: string, hostedDomains: Iterable<string>): string | null {
  let value = headerFrom.replace(/\r?\n[ \t]/g, ' ');
  const m = /^\s*from\s*:/i.exec(value);
  if (m) value = value.slice(m[0].length);
  let addresses: { address: string }[];
  try {
    addresses = addressparser(value, { flatten: true });
  } catch {
    return null;
  }
  const domains = new Set<string>();
  for (const a of addresses) {
    const at = a.address.lastIndexOf('@');
    const d = at > 0 ? normalizeDomain(a.address.slice(at + 1)) : null;
    if (!d) return null;
    domains.add(d);
  }
  if (domains.size !== 1) return null;
  const hosted = new Set<string>();
  for (const h of hostedDomains) {
    const d = normalizeDomain(h);
    if (d) hosted.add(d);
  }
  let d: string = [...domains][0]!;
  for (;;) {
    if (hosted.has(d)) return d;
    const dot = d.indexOf('.');
    if (dot < 0) return null;
    d = d.slice(dot + 1);
    if (!d.includes('.')) return null; // never sign with a top-level domain
  }
}
