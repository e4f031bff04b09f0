/**
 * Production operation of a running server, wired from main.ts in a few calls: privilege drop, reloadable TLS and
 * ACME, abuse limits shared by every listener (PROXY protocol, connection and command rates, login throttle,
 * DNSBL and greylisting on the MX), graceful stop, configuration reload (SIGHUP / control command `reload`),
 * Prometheus metrics and client autoconfiguration on the HTTP listener, and the `status` summary.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import type { TlsMaterial } from '../tls/certs.js';
import { TlsContexts } from '../tls/context.js';
import { AcmeManager } from '../tls/acme.js';
import { Listener, type ListenerOps } from '../server/net/listener.js';
import { SmtpListener } from '../server/smtp/listener.js';
import { CidrList } from '../server/net/proxy.js';
import { CommandRateLimiter, TokenBuckets } from '../server/net/ratelimit.js';
import { ShutdownSignal } from '../server/net/shutdown.js';
import { LoginThrottle, type ThrottleOptions } from '../auth/throttle.js';
import { Greylist, guardMxHooks, type MxGuardOptions } from '../abuse/mx-guard.js';
import type { SmtpHooks } from '../server/smtp/types.js';
import { isLoopback, type Resolver } from '../dns/resolver.js';
import type { HttpRoute } from '../server/http/server.js';
import { autoconfigRoutes } from '../autoconfig/index.js';
import { Metrics, tapLogger, type DnsCheckSnapshot } from './metrics.js';
import { dropPrivileges, type UnixUser } from './privileges.js';
import { takePrebound } from './prebind.js';

function throttleOptions(c: Config): Partial<ThrottleOptions> {
  return {
    windowMs: c.limits.loginWindowSeconds * 1000,
    maxFailuresPerIp: c.limits.loginFailuresPerIp,
    maxFailuresPerAccount: c.limits.loginFailuresPerAccount,
    lockoutMs: c.limits.loginLockoutSeconds * 1000,
  };
}

function limitsFor(c: Config, name: string) {
  const s = name.startsWith('imap') ? c.imap : name.startsWith('pop3') ? c.pop3 : name.startsWith('http') ? c.http : c.smtp;
  return { maxConnections: s.maxConnections, maxConnectionsPerIp: s.maxConnectionsPerIp };
}

/** Config keys that change only with a restart. */
const RESTART_KEYS = ['hostname', 'dataDir', 'database', 'listen', 'user', 'group', 'acme', 'dns', 'queue', 'delivery', 'authentication', 'pop3', 'imap', 'mtaSts', 'monitoring', 'deliverability', 'publicAddresses', 'dnsbl'] as const;

export interface ReloadResult {
  applied: string[];
  /** Changed keys that take effect only after a restart. */
  restartNeeded: string[];
  tls: { ok: boolean; error?: string };
}

export class ServerOps {
  readonly shutdown = new ShutdownSignal();
  readonly throttle: LoginThrottle;
  readonly commandRate: CommandRateLimiter;
  readonly connectionRate: TokenBuckets;
  private limitsExemptLoopback: boolean;
  readonly greylist: Greylist;
  readonly metrics: Metrics | null;
  readonly listenerOps: ListenerOps;
  readonly log: Logger;
  readonly user: UnixUser | null;
  readonly startedAt = new Date();
  tls!: TlsContexts;
  acme: AcmeManager | null = null;
  private readonly loggers = new Set<Logger>();
  private readonly listeners: Array<{ name: string; l: Listener }> = [];
  private readonly mxGuard: MxGuardOptions;
  private alpnListener: Listener | null = null;
  private queueCounts: () => Promise<Record<string, number>> = async () => ({});
  private dnsChecks: () => DnsCheckSnapshot | null = () => null;
  private extraStatus: () => Promise<Record<string, unknown>> = async () => ({});
  private addresses: Record<string, { host: string; port: number } | undefined> = {};
  config: Config;

  private constructor(config: Config, log: Logger, user: UnixUser | null) {
    this.config = config;
    this.user = user;
    this.metrics = config.metrics.enabled
      ? new Metrics({ queueCounts: () => this.queueCounts(), certificates: () => (this.tls ? this.tls.list() : []), dnsChecks: () => this.dnsChecks() })
      : null;
    const m = this.metrics;
    this.log = m ? tapLogger(log, (ev, msg) => m.onLog(ev, msg), {}, this.loggers) : log;
    this.loggers.add(log);
    this.throttle = new LoginThrottle(throttleOptions(config));
    if (m) this.throttle.onFailure.add((e) => m.authFailures.inc({ protocol: e.protocol }));
    this.limitsExemptLoopback = config.limits.exemptLoopback;
    this.commandRate = new CommandRateLimiter({ perSecond: config.limits.commandsPerSecond, burst: config.limits.commandBurst }, (ip, dropped) =>
      this.log.info({ client: ip, dropped }, dropped ? 'client dropped: too many commands' : 'client slowed: too many commands'),
    );
    this.connectionRate = new TokenBuckets({ rate: config.limits.connectionsPerMinute / 60, burst: config.limits.connectionBurst });
    // Local clients (webmail, scripts, a proxy on the same host) are not rate limited unless asked for.
    const exempt = (ip: string) => this.limitsExemptLoopback && isLoopback(ip);
    this.commandRate.exempt = exempt;
    this.connectionRate.exempt = exempt;
    this.listenerOps = {
      proxyTrusted: config.proxyProtocol.trusted.length ? new CidrList(config.proxyProtocol.trusted) : null,
      proxyTimeoutMs: config.proxyProtocol.timeoutSeconds * 1000,
      connectionRate: this.connectionRate,
      onEvent: m ? m.onListenerEvent : undefined,
    };
    this.greylist = new Greylist({ delaySeconds: config.smtp.greylisting.delaySeconds, expireDays: config.smtp.greylisting.expireDays });
    this.mxGuard = {
      dnsbl: { zones: config.smtp.dnsbl, checkLoopback: config.smtp.dnsblCheckLoopback, resolver: null as never },
      greylisting: { ...config.smtp.greylisting },
      log: this.log.child({ component: 'smtp' }),
      onDecision: m ? (check, result) => m.abuse.inc({ check, result }) : undefined,
    };
  }

  /** First step of startServer: bind and drop privileges (root + `user`), then the tapped logger and limits. */
  static async prepare(config: Config, log: Logger): Promise<ServerOps> {
    const user = await dropPrivileges(config, log);
    return new ServerOps(config, log, user);
  }

  /** The server's TLS contexts (default certificate + tls.certificates by SNI), watched when tls.watch is on. */
  initTls(material: TlsMaterial): TlsContexts {
    this.tls = new TlsContexts(material, this.log.child({ component: 'tls' }));
    this.tls.setFileCertificates(this.config.tls.certificates);
    if (this.config.tls.watch) this.tls.watchFiles();
    return this.tls;
  }

  /** Give a listener the shared limits and its name (call before listen). */
  attach(l: Listener | SmtpListener, name: string): void {
    const n = l instanceof SmtpListener ? l.net : l;
    n.ops = this.listenerOps;
    n.label = name;
    this.listeners.push({ name, l: n });
  }

  /** DNSBL and greylisting around the MX hooks. */
  guardMx(hooks: SmtpHooks, resolver: Pick<Resolver, 'resolve4' | 'resolveTxt'>): SmtpHooks {
    this.mxGuard.dnsbl.resolver = resolver;
    return guardMxHooks(hooks, this.mxGuard, this.greylist);
  }

  /** After the listeners are up: HTTP routes (ACME, autoconfig, metrics), ACME, the tls-alpn-01 listener. */
  async afterListen(o: {
    addresses: Record<string, { host: string; port: number } | undefined>;
    routes: Map<string, HttpRoute>;
    queueList: () => Promise<Array<{ state: string }>>;
    status: () => Promise<Record<string, unknown>>;
    /** The latest periodic dns check results (metrics). */
    dnsChecks?: () => DnsCheckSnapshot | null;
  }): Promise<void> {
    const c = this.config;
    this.addresses = o.addresses;
    this.queueCounts = async () => {
      const counts: Record<string, number> = { incoming: 0, active: 0, deferred: 0, hold: 0 };
      for (const e of await o.queueList()) counts[e.state] = (counts[e.state] ?? 0) + 1;
      return counts;
    };
    this.extraStatus = o.status;
    if (o.dnsChecks) this.dnsChecks = o.dnsChecks;
    if (this.metrics) {
      const m = this.metrics;
      // Loopback always; other sources only when listed in metrics.allow (read at each request: SIGHUP applies it).
      let allow: { key: string; list: CidrList } = { key: '', list: new CidrList([]) };
      o.routes.set('/metrics', async (req) => {
        const key = this.config.metrics.allow.join(',');
        if (allow.key !== key) allow = { key, list: new CidrList(this.config.metrics.allow) };
        if (!isLoopback(req.remoteAddress) && !allow.list.has(req.remoteAddress)) {
          return { status: 403, body: 'forbidden: /metrics is readable from loopback and the addresses in metrics.allow\n' };
        }
        return { status: 200, contentType: m.registry.contentType, body: await m.text() };
      });
    }
    if (c.autoconfig.enabled) {
      const port = (n: string) => o.addresses[n]?.port;
      const servers = () => ({
        hostname: this.config.hostname,
        displayName: this.config.autoconfig.displayName,
        ports: { imaps: port('imaps'), imap: port('imap'), pop3s: port('pop3s'), pop3: port('pop3'), submissions: port('submissions'), submission: port('submission') },
      });
      for (const [path, route] of autoconfigRoutes(servers)) o.routes.set(path, route);
    }
    if (c.acme) {
      this.acme = new AcmeManager(c.acme, { dataDir: c.dataDir, hostname: c.hostname, tls: this.tls, log: this.log.child({ component: 'acme' }) });
      o.routes.set('/.well-known/acme-challenge/*', this.acme.httpRoute);
      if (c.acme.tlsAlpnListen) {
        const l = new Listener({
          name: 'acme-tls-alpn',
          implicitTls: true,
          secureContext: this.tls,
          maxConnections: 100,
          maxConnectionsPerIp: 10,
          busyLine: () => '',
          handle: async (s) => void s.end(),
          log: this.log.child({ component: 'acme' }),
        });
        const i = c.acme.tlsAlpnListen.lastIndexOf(':');
        const host = c.acme.tlsAlpnListen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
        const port = Number(c.acme.tlsAlpnListen.slice(i + 1));
        const a = await l.listen(host, port, takePrebound(`${host}:${port}`));
        this.alpnListener = l;
        this.addresses.acmeTlsAlpn = { host: a.address, port: a.port };
      }
      await this.acme.start();
    }
  }

  /** Apply a new configuration where that can be done live; report what needs a restart. */
  reload(next?: Config): ReloadResult {
    const old = this.config;
    const c = next ?? (old.source && old.source !== 'defaults' && old.source !== 'test' ? loadConfig(old.source) : old);
    const applied: string[] = [];
    const live = new Set(['maxConnections', 'maxConnectionsPerIp', 'dnsbl', 'dnsblCheckLoopback', 'greylisting']);
    const strip = (v: unknown) => JSON.stringify(v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => !live.has(k))) : v);
    const restartNeeded: string[] = [...RESTART_KEYS, 'smtp' as const, 'http' as const].filter((k) => strip(old[k]) !== strip(c[k]));
    // TLS: certificate files are re-read even when the paths are the same (renewed in place).
    let tls: ReloadResult['tls'] = { ok: true };
    if (JSON.stringify(old.tls.certificates) !== JSON.stringify(c.tls.certificates)) {
      try {
        this.tls.setFileCertificates(c.tls.certificates);
      } catch (err) {
        tls = { ok: false, error: (err as Error).message };
      }
    }
    if (old.tls.cert !== c.tls.cert || old.tls.key !== c.tls.key) {
      if (c.tls.cert && c.tls.key) Object.assign(this.tls.material, { certPath: c.tls.cert, keyPath: c.tls.key });
      else restartNeeded.push('tls');
    }
    if (tls.ok) tls = this.tls.reload();
    if (c.tls.watch) this.tls.watchFiles();
    else this.tls.unwatch();
    applied.push('tls');
    if (old.log.level !== c.log.level) {
      for (const l of this.loggers) l.level = c.log.level;
      applied.push('log.level');
    }
    for (const { name, l } of this.listeners) l.setLimits(limitsFor(c, name));
    this.throttle.setOptions(throttleOptions(c));
    this.commandRate.set({ perSecond: c.limits.commandsPerSecond, burst: c.limits.commandBurst });
    this.limitsExemptLoopback = c.limits.exemptLoopback;
    this.connectionRate.opts = { rate: c.limits.connectionsPerMinute / 60, burst: c.limits.connectionBurst };
    this.listenerOps.proxyTrusted = c.proxyProtocol.trusted.length ? new CidrList(c.proxyProtocol.trusted) : null;
    this.listenerOps.proxyTimeoutMs = c.proxyProtocol.timeoutSeconds * 1000;
    this.mxGuard.dnsbl.zones = c.smtp.dnsbl;
    this.mxGuard.dnsbl.checkLoopback = c.smtp.dnsblCheckLoopback;
    Object.assign(this.mxGuard.greylisting, c.smtp.greylisting);
    this.greylist.opts = { delaySeconds: c.smtp.greylisting.delaySeconds, expireDays: c.smtp.greylisting.expireDays };
    applied.push('limits', 'proxyProtocol', 'smtp.dnsbl', 'smtp.greylisting', 'connection limits');
    // Keys the code reads from the config object at use time.
    Object.assign(this.config, { shutdownTimeoutSeconds: c.shutdownTimeoutSeconds, autoconfig: c.autoconfig, log: c.log, metrics: { ...this.config.metrics, allow: c.metrics.allow } });
    applied.push('metrics.allow');
    this.config.limits = { ...this.config.limits, authCacheSeconds: c.limits.authCacheSeconds };
    this.log.info({ applied, restartNeeded, tls }, 'configuration reloaded');
    return { applied, restartNeeded, tls };
  }

  async status(): Promise<Record<string, unknown>> {
    const listeners = Object.entries(this.addresses)
      .filter(([, a]) => a)
      .map(([name, a]) => ({ name, address: `${a!.host}:${a!.port}`, connections: this.listeners.find((x) => x.name === name)?.l.connectionCount ?? null }));
    return {
      hostname: this.config.hostname,
      pid: process.pid,
      uid: process.getuid?.() ?? null,
      user: this.user?.name ?? null,
      startedAt: this.startedAt.toISOString(),
      draining: this.shutdown.draining,
      listeners,
      queue: await this.queueCounts(),
      certificates: this.tls.list(),
      acme: this.acme?.status() ?? null,
      logins: this.throttle.lockouts(),
      ...(await this.extraStatus()),
    };
  }

  /** Control socket commands: status, reload, acme.renew. */
  async control(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    if (cmd === 'status') return this.status();
    if (cmd === 'reload') return this.reload();
    if (cmd === 'acme.renew') {
      if (!this.acme) throw new Error('acme is not configured');
      return { ok: await this.acme.check({ force: args.force !== false }), status: this.acme.status() };
    }
    throw new Error(`unknown control command ${cmd}`);
  }

  /** Graceful stop, step 1: tell every session to finish. */
  beginShutdown(): void {
    this.shutdown.begin();
  }

  async stop(): Promise<void> {
    this.tls?.unwatch();
    await this.acme?.stop();
    await this.alpnListener?.close(0);
  }
}
