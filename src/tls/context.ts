/**
 * The server's TLS contexts, swappable at run time: the default certificate (tls.cert/tls.key, an ACME certificate,
 * or the self-signed fallback), more certificates chosen by SNI (RFC 6066 §3; tls.certificates, ACME), and the
 * short-lived tls-alpn-01 challenge certificates (RFC 8737). A reload builds new SecureContexts; handshakes that
 * start afterwards use them, open connections keep the one they negotiated.
 *
 * Policy: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers (Mozilla "intermediate"), server-preferred order off
 * (clients pick ChaCha20 on hardware without AES).
 * Untrusted input: the SNI server name of each ClientHello (only compared with configured names).
 */
import { createSecureContext, type SecureContext, type TLSSocketOptions } from 'node:tls';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { UserError } from '../common/errors.js';
import type { TlsMaterial } from './certs.js';

/** Mozilla intermediate (v5.7) TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults (all AEAD). */
export const MODERN_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

export function modernContext(cert: Buffer | string, key: Buffer | string): SecureContext {
  return createSecureContext({ cert, key, minVersion: 'TLSv1.2', ciphers: MODERN_CIPHERS, honorCipherOrder: false });
}

export interface CertificateInfo {
  /** Names the certificate is chosen for (SNI); "*" for the default. */
  names: string[];
  source: 'file' | 'acme' | 'self-signed';
  subjectAltNames: string[];
  issuer: string;
  notAfter: string;
  serial: string;
  path?: string;
}

interface Entry {
  names: string[];
  ctx: SecureContext;
  info: CertificateInfo;
}

export interface CertSource {
  names: string[];
  cert: string;
  key: string;
}

function describe(pem: Buffer, names: string[], source: CertificateInfo['source'], path?: string): CertificateInfo {
  const x = new X509Certificate(pem);
  const sans = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  const issuer = /CN=([^\n]+)/.exec(x.issuer)?.[1] ?? x.issuer;
  return { names, source, subjectAltNames: sans, issuer, notAfter: new Date(x.validTo).toISOString(), serial: x.serialNumber, path };
}

function readPair(c: CertSource, what: string): { cert: Buffer; key: Buffer } {
  let cert: Buffer, key: Buffer;
  try {
    cert = readFileSync(c.cert);
    key = readFileSync(c.key);
    new X509Certificate(cert);
    createSecureContext({ cert, key });
  } catch (err) {
    throw new UserError(`${what}: cannot load ${c.cert} / ${c.key}: ${(err as Error).message}`, 2);
  }
  return { cert, key };
}

/** A name matches "mail.example.com" exactly or "*.example.com" for one label. */
export function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase().replace(/\.$/, '');
  if (p === n) return true;
  if (p.startsWith('*.')) {
    const i = n.indexOf('.');
    return i > 0 && n.slice(i + 1) === p.slice(2);
  }
  return false;
}

/**
 * The one object every listener and STARTTLS path asks for TLS options (`serverTlsOptions`). `material` is the
 * default certificate, updated in place on reload so holders of the object see the current one.
 */
export class TlsContexts {
  private defaultCtx: SecureContext;
  private defaultInfo: CertificateInfo;
  private files: CertSource[] = [];
  private fileEntries: Entry[] = [];
  private acmeEntries: Entry[] = [];
  private readonly alpn = new Map<string, SecureContext>();
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | null = null;
  /** Called after every successful reload (tests, status). */
  readonly reloaded = new Set<() => void>();

  constructor(
    readonly material: TlsMaterial,
    private readonly log: Logger,
  ) {
    this.defaultCtx = modernContext(material.cert, material.key);
    this.defaultInfo = describe(material.cert, ['*'], material.selfSigned ? 'self-signed' : 'file', material.certPath);
  }

  /** The SecureContext of new handshakes without (or with an unknown) SNI name. */
  get current(): SecureContext {
    return this.defaultCtx;
  }

  /** Configure the SNI certificates (tls.certificates); throws a UserError naming the bad entry. */
  setFileCertificates(list: CertSource[]): void {
    const entries = list.map((c, i) => {
      const { cert, key } = readPair(c, `tls.certificates[${i}]`);
      return { names: c.names, ctx: modernContext(cert, key), info: describe(cert, c.names, 'file', c.cert) };
    });
    this.files = list;
    this.fileEntries = entries;
  }

  /** Install (or replace) an ACME certificate for its names; `asDefault` also makes it the default. */
  setAcmeCertificate(names: string[], cert: Buffer, key: Buffer, asDefault: boolean, path?: string): void {
    const entry = { names, ctx: modernContext(cert, key), info: describe(cert, names, 'acme', path) };
    this.acmeEntries = [...this.acmeEntries.filter((e) => e.names.join() !== names.join()), entry];
    if (asDefault) {
      this.defaultCtx = entry.ctx;
      this.defaultInfo = { ...entry.info };
      Object.assign(this.material, { cert, key, certPath: path ?? this.material.certPath, selfSigned: false, notAfter: new Date(entry.info.notAfter) });
    }
    this.log.info({ names, notAfter: entry.info.notAfter, issuer: entry.info.issuer }, 'ACME certificate installed');
    this.reloaded.forEach((f) => f());
  }

  /** tls-alpn-01 (RFC 8737): the challenge certificate for a name while its validation runs; null removes it. */
  setAlpnChallenge(name: string, pair: { cert: Buffer; key: Buffer } | null): void {
    if (pair) this.alpn.set(name.toLowerCase(), createSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }));
    else this.alpn.delete(name.toLowerCase());
  }

  get hasAlpnChallenges(): boolean {
    return this.alpn.size > 0;
  }

  alpnChallenge(name: string): SecureContext | null {
    return this.alpn.get(name.toLowerCase()) ?? null;
  }

  /** The context for an SNI name: configured files first, then ACME, else the default. */
  contextFor(servername: string | undefined): SecureContext {
    if (servername) {
      for (const e of [...this.fileEntries, ...this.acmeEntries]) if (e.names.some((p) => nameMatches(p, servername))) return e.ctx;
    }
    return this.defaultCtx;
  }

  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  /** Options for a server-side TLSSocket (implicit TLS and STARTTLS). */
  socketOptions(): TLSSocketOptions {
    return { isServer: true, secureContext: this.defaultCtx, SNICallback: this.sniCallback };
  }

  /**
   * Re-read every certificate file (default and SNI). On any error the old contexts stay in use and the error is
   * returned (and logged); open connections are never touched.
   */
  reload(): { ok: boolean; error?: string } {
    try {
      const m = this.material;
      let next: { ctx: SecureContext; info: CertificateInfo; cert: Buffer; key: Buffer } | null = null;
      if (this.defaultInfo.source === 'file') {
        const { cert, key } = readPair({ names: ['*'], cert: m.certPath, key: m.keyPath }, 'tls.cert');
        next = { ctx: modernContext(cert, key), info: describe(cert, ['*'], 'file', m.certPath), cert, key };
      }
      const files = this.files.map((c, i) => {
        const { cert, key } = readPair(c, `tls.certificates[${i}]`);
        return { names: c.names, ctx: modernContext(cert, key), info: describe(cert, c.names, 'file', c.cert) };
      });
      if (next) {
        this.defaultCtx = next.ctx;
        this.defaultInfo = next.info;
        Object.assign(m, { cert: next.cert, key: next.key, notAfter: new Date(next.info.notAfter) });
      }
      this.fileEntries = files;
      this.log.info({ certificates: this.list().map((c) => ({ names: c.names, notAfter: c.notAfter, serial: c.serial })) }, 'TLS certificates reloaded');
      this.reloaded.forEach((f) => f());
      return { ok: true };
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'TLS reload failed; keeping the previous certificates');
      return { ok: false, error: (err as Error).message };
    }
  }

  /** Watch the certificate files (their directories, as tools replace files by rename) and reload on change. */
  watchFiles(debounceMs = 500): void {
    this.unwatch();
    const paths = new Set<string>();
    if (this.defaultInfo.source === 'file') paths.add(this.material.certPath).add(this.material.keyPath);
    for (const f of this.files) paths.add(f.cert).add(f.key);
    const dirs = new Map<string, Set<string>>();
    for (const p of paths) {
      const d = dirname(p);
      if (!dirs.has(d)) dirs.set(d, new Set());
      dirs.get(d)!.add(basename(p));
    }
    for (const [d, names] of dirs) {
      try {
        const w = watch(d, { persistent: false }, (_ev, file) => {
          if (file && !names.has(file.toString()) && !/^\.\.|\.pem$|\.crt$|\.key$/.test(file.toString())) return;
          if (this.debounce) clearTimeout(this.debounce);
          this.debounce = setTimeout(() => {
            this.debounce = null;
            this.reload();
          }, debounceMs);
          this.debounce.unref();
        });
        w.on('error', () => {});
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ dir: d, err: (err as Error).message }, 'cannot watch certificate directory; reload with SIGHUP');
      }
    }
  }

  unwatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Every certificate in use (default first). */
  list(): CertificateInfo[] {
    return [this.defaultInfo, ...this.fileEntries.map((e) => e.info), ...this.acmeEntries.map((e) => e.info).filter((i) => i.serial !== this.defaultInfo.serial)];
  }
}

/** What listeners and sessions hold: a fixed SecureContext (unit tests) or the server's TlsContexts. */
export type ServerTls = SecureContext | TlsContexts;

/** Options for a server-side TLSSocket from either form. */
export function serverTlsOptions(t: ServerTls): TLSSocketOptions {
  return t instanceof TlsContexts ? t.socketOptions() : { isServer: true, secureContext: t };
}
