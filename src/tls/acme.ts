/**
 * ACME (RFC 8555) certificates with acme-client: issuance at start when <dataDir>/acme/ holds no valid
 * certificate for the configured names, renewal `renewDays` before expiry (checked every 12 hours), challenges
 * http-01 (RFC 8555 §8.3, served by the HTTP listener at /.well-known/acme-challenge/) or tls-alpn-01 (RFC 8737,
 * answered by the implicit-TLS listeners and the optional dedicated acme.tlsAlpnListen). A new certificate is
 * installed into the running TLS contexts at once (new handshakes use it; open connections keep theirs).
 * Files: account.key, <name>.key, <name>.crt (mode 0600). Failures are logged and retried (1 h, then 12 h).
 * Untrusted input: the ACME server's answers (parsed by acme-client); HTTP challenge paths (looked up by token).
 */
import { promises as fsp, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { TlsContexts } from './context.js';
import type { HttpRoute } from '../server/http/server.js';

export type AcmeConfig = NonNullable<Config['acme']>;

export interface AcmeStatus {
  names: string[];
  challenge: string;
  notAfter: string | null;
  lastAttempt: string | null;
  lastError: string | null;
  nextCheck: string | null;
}

export class AcmeManager {
  readonly dir: string;
  readonly names: string[];
  private readonly tokens = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  private stopped = false;
  private notAfter: Date | null = null;
  private lastAttempt: Date | null = null;
  private lastError: string | null = null;
  private nextCheck: Date | null = null;

  constructor(
    private readonly cfg: AcmeConfig,
    private readonly o: { dataDir: string; hostname: string; tls: TlsContexts; log: Logger; checkIntervalMs?: number },
  ) {
    this.dir = join(o.dataDir, 'acme');
    this.names = (cfg.names?.length ? cfg.names : [o.hostname]).map((n) => n.toLowerCase());
    if (cfg.caCert) {
      // A private ACME server (pebble, step-ca): trust its HTTPS certificate for the API calls only.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(cfg.caCert) });
    }
  }

  private get base(): string {
    return join(this.dir, this.names[0]!.replace(/[^a-z0-9.-]/g, '_'));
  }

  /** The HTTP listener's route for http-01 (RFC 8555 §8.3). */
  readonly httpRoute: HttpRoute = (req) => {
    const token = req.path.slice('/.well-known/acme-challenge/'.length);
    const ka = this.tokens.get(token);
    if (!ka) return { status: 404, body: 'no such challenge\n' };
    this.o.log.info({ token, host: req.host, client: req.remoteAddress }, 'ACME http-01 challenge served');
    return { status: 200, contentType: 'application/octet-stream', body: ka };
  };

  /** Install the stored certificate if it is valid for our names; then issue/renew as needed and schedule checks. */
  async start(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      const cert = await fsp.readFile(`${this.base}.crt`);
      const key = await fsp.readFile(`${this.base}.key`);
      const x = new X509Certificate(cert);
      const sans = (x.subjectAltName ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '').toLowerCase());
      if (this.names.every((n) => sans.includes(n)) && new Date(x.validTo) > new Date()) {
        this.install(cert, key);
      }
    } catch {
      /* none yet */
    }
    this.schedule(0);
  }

  private install(cert: Buffer, key: Buffer) {
    this.notAfter = new Date(new X509Certificate(cert).validTo);
    this.o.tls.setAcmeCertificate(this.names, cert, key, true, `${this.base}.crt`);
  }

  private schedule(ms: number) {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextCheck = new Date(Date.now() + ms);
    this.timer = setTimeout(() => {
      void this.check().then((ok) => this.schedule(ok ? (this.o.checkIntervalMs ?? 12 * 3600_000) : 3600_000));
    }, ms);
    this.timer.unref();
  }

  /** True when the certificate is missing or expires within renewDays of `now`. */
  needsRenewal(now = new Date()): boolean {
    return !this.notAfter || this.notAfter.getTime() - now.getTime() < this.cfg.renewDays * 86400_000;
  }

  /**
   * Issue or renew when needed (`now` lets tests pretend time has passed; `force` renews regardless).
   * Resolves to false when an attempt failed.
   */
  async check(opts: { now?: Date; force?: boolean } = {}): Promise<boolean> {
    if (!opts.force && !this.needsRenewal(opts.now)) return true;
    if (this.running) return this.running;
    this.running = this.issue().finally(() => (this.running = null));
    return this.running;
  }

  private async accountKey(): Promise<Buffer> {
    const p = join(this.dir, 'account.key');
    try {
      return await fsp.readFile(p);
    } catch {
      const k = await acme.crypto.createPrivateEcdsaKey();
      await fsp.writeFile(p, k, { mode: 0o600 });
      return k;
    }
  }

  private async issue(): Promise<boolean> {
    this.lastAttempt = new Date();
    const log = this.o.log;
    log.info({ names: this.names, directory: this.cfg.directory, challenge: this.cfg.challenge, renewing: Boolean(this.notAfter) }, 'requesting an ACME certificate');
    try {
      const client = new acme.Client({ directoryUrl: this.cfg.directory, accountKey: await this.accountKey(), backoffAttempts: 10, backoffMin: 500, backoffMax: 5000 });
      const [key, csr] = await acme.crypto.createCsr({ commonName: this.names[0], altNames: this.names }, await acme.crypto.createPrivateEcdsaKey());
      const cert = await client.auto({
        csr,
        email: this.cfg.email,
        termsOfServiceAgreed: true,
        challengePriority: [this.cfg.challenge],
        // acme-client's own pre-check would resolve the names with the system resolver and connect to port 80/443
        // from here; the CA validates anyway.
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === 'http-01') this.tokens.set(challenge.token, keyAuthorization);
          else if ((challenge.type as string) === 'tls-alpn-01') {
            const [ckey, ccert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
            this.o.tls.setAlpnChallenge(authz.identifier.value, { cert: ccert, key: ckey });
          }
        },
        challengeRemoveFn: async (authz, challenge) => {
          if (challenge.type === 'http-01') this.tokens.delete(challenge.token);
          else if ((challenge.type as string) === 'tls-alpn-01') this.o.tls.setAlpnChallenge(authz.identifier.value, null);
        },
      });
      const certBuf = Buffer.from(cert);
      await fsp.writeFile(`${this.base}.key.new`, key, { mode: 0o600 });
      await fsp.writeFile(`${this.base}.crt.new`, certBuf, { mode: 0o600 });
      await fsp.rename(`${this.base}.key.new`, `${this.base}.key`);
      await fsp.rename(`${this.base}.crt.new`, `${this.base}.crt`);
      this.install(certBuf, key);
      this.lastError = null;
      log.info({ names: this.names, notAfter: this.notAfter?.toISOString() }, 'ACME certificate issued');
      return true;
    } catch (err) {
      this.lastError = (err as Error).message;
      log.error({ err: this.lastError, names: this.names }, 'ACME certificate request failed; retrying later');
      return false;
    }
  }

  status(): AcmeStatus {
    return {
      names: this.names,
      challenge: this.cfg.challenge,
      notAfter: this.notAfter?.toISOString() ?? null,
      lastAttempt: this.lastAttempt?.toISOString() ?? null,
      lastError: this.lastError,
      nextCheck: this.nextCheck?.toISOString() ?? null,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }
}
