/**
 * The one place that wires concrete parts together: config -> database -> stores -> listeners.
 * `startServer` is what `mailwright serve` runs and what end-to-end tests start in-process.
 */
import './mailauth/pubkey-cache.js'; // first: installs the parsed-public-key cache before mailauth's verifiers load
import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import type { Config, ListenerName } from './config/schema.js';
import { openDatabase } from './store/sql/db.js';
import { SqlAccountStore } from './store/sql/accounts.js';
import { RecipientResolver } from './accounts/recipients.js';
import { NodeResolver } from './dns/resolver.js';
import { loadTls, type TlsMaterial } from './tls/certs.js';
import { SmtpListener } from './server/smtp/listener.js';
import { mxHooks } from './server/smtp/mx.js';
import { spoolDir } from './intake/sink.js';
import { ensureMaildir, cleanTmp } from './store/maildir/maildir.js';
import type { AccountStore } from './store/types.js';
import type { DeliveredEvent } from './intake/sink.js';
import { QueueStore } from './queue/store.js';
import { QueueManager } from './queue/manager.js';
import { queueCommand, type QueueCommand } from './queue/admin.js';
import { RemoteDelivery, type NextHop } from './delivery/remote.js';
import { deliverLocalBuffer } from './intake/local.js';
import { LocalTransport } from './delivery/local.js';
import type { QuotaPolicy } from './intake/quota.js';
import { submissionHooks } from './server/smtp/submission.js';
import { startControlServer } from './server/control.js';
import { CachingResolver } from './mailauth/resolver.js';
import { Srs } from './mailauth/srs.js';
import { DkimKeyStore } from './dkim/keys.js';
import { UserError } from './common/errors.js';
import { MailStore } from './store/mail/index.js';
import { AccountService } from './accounts/service.js';
import { VerifiedCredentialCache } from './auth/cache.js';
import { ServerOps, type ReloadResult } from './ops/runtime.js';
import { releasePrebound } from './ops/prebind.js';
import { imapListener } from './server/imap/listener.js';
import { ParsePool, defaultParseWorkers } from './server/imap/parse-pool.js';
import { pop3Listener, MaildropLocks, DEFAULT_POP3_LIMITS } from './server/pop3/index.js';
import type { Listener } from './server/net/listener.js';
import { DnsServices, type DnsStatus } from './dnscheck/service.js';
import type { CheckReport } from './dnscheck/checks.js';
import { WebApp } from './web/app.js';
import { httpListener } from './server/http/server.js';
import { AdminStore } from './web/admins.js';

export interface RunningServer {
  config: Config;
  store: AccountStore;
  mail: MailStore;
  /** Worker threads for large first-time FETCH ENVELOPEs (src/server/imap/parse-pool.ts). */
  parsePool: ParsePool;
  queue: QueueManager;
  tls: TlsMaterial;
  /** Bound addresses by listener name (port 0 in the config becomes the port the OS picked). */
  addresses: Partial<Record<ListenerName, { host: string; port: number }>>;
  /** Called after each local delivery (the IMAP index subscribes to it). */
  deliveries: Set<(e: DeliveredEvent) => void>;
  /** HTTP listener (MTA-STS policy), DNS monitoring and the deliverability self-test. */
  dns: DnsServices;
  /** Latest periodic `dns check` results of every hosted domain (for metrics and the web admin). */
  dnsStatus(): DnsStatus;
  /** Run `dns check` now (one domain or all). */
  dnsCheck(domain?: string): Promise<CheckReport[]>;
  /** Production operation: TLS contexts, ACME, metrics, limits, graceful stop (src/ops/runtime.ts). */
  ops: ServerOps;
  /** Apply a changed configuration live (SIGHUP); without an argument the config file is read again. */
  reload(next?: Config): ReloadResult;
  /** The web admin and self-service pages on listen.http (null when web.enabled is false). */
  web: WebApp | null;
  stop(): Promise<void>;
}

export function splitHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  let host = v.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(v.slice(i + 1)) };
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  // Started as root with `user`: bind every port now, then run as that user before touching any file.
  const ops = await ServerOps.prepare(config, log);
  log = ops.log;
  await fsp.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await checkDataDir(config.dataDir, log);
  const opened = await openDatabase(config.database);
  const store = new SqlAccountStore(opened.db, opened.close);
  const tls = await loadTls({ hostname: config.hostname, dataDir: config.dataDir, cert: config.tls.cert, key: config.tls.key });
  const secureContext = ops.initTls(tls);
  const dns = new NodeResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs });
  const spool = spoolDir(config.dataDir);
  await ensureMaildir(spool);
  // Anything left in the spool's tmp/ at start was never acknowledged (or was already linked into a Maildir).
  await cleanTmp(spool, Number.POSITIVE_INFINITY);

  const mail = await MailStore.open({
    db: opened.db,
    dataDir: config.dataDir,
    quota: (key) => store.getUser(key).then((u) => u?.quotaBytes),
    log: log.child({ component: 'store' }),
    recordCacheMessages: config.imap.indexCacheMessages,
  });
  // Worker threads for large first-time FETCH ENVELOPEs (src/server/imap/parse-pool.ts); none start until used.
  const parsePool = new ParsePool(config.imap.parseWorkers ?? defaultParseWorkers(), 30_000, (err) =>
    log.warn({ err: err.message }, 'IMAP parse worker failed; large FETCH ENVELOPE and SEARCH BODY run on the main thread meanwhile'),
  );
  const deliveries = new Set<(e: DeliveredEvent) => void>();
  deliveries.add((e) => void mail.onDelivered(e));
  // One verified-credential cache for SMTP AUTH, IMAP, POP3 and the web admin's account changes (invalidation).
  const authCache = new VerifiedCredentialCache({ ttlMs: () => ops.config.limits.authCacheSeconds * 1000 });
  const accounts = new AccountService(store, { authCache });
  const throttle = ops.throttle;
  const listeners: Array<SmtpListener | Listener> = [];
  const recipientResolver = new RecipientResolver(store, config.smtp.recipientDelimiter);
  const srs = await Srs.open(config.dataDir, config.hostname);
  const dkimKeys = new DkimKeyStore(opened.db);
  const queueStore = new QueueStore(config.dataDir);
  const mailauthResolver = new CachingResolver(dns);
  const hop = (h: Config['delivery']['transportMap'][string]): NextHop => ({
    host: h.host,
    port: h.port,
    tls: h.tls,
    auth: h.user && h.password ? { user: h.user, pass: h.password } : undefined,
  });
  const t = config.delivery.commandTimeoutSeconds * 1000;
  const transport = new RemoteDelivery({
    hostname: config.hostname,
    resolver: mailauthResolver.asResolver(),
    port: config.delivery.port,
    relayhost: config.delivery.relayhost ? hop(config.delivery.relayhost) : null,
    transportMap: Object.fromEntries(Object.entries(config.delivery.transportMap).map(([d, h]) => [d.toLowerCase(), hop(h)])),
    maxConnectionsPerDestination: config.delivery.maxConnectionsPerDestination,
    connectionCacheTimeMs: config.delivery.connectionCacheSeconds * 1000,
    localAddress: config.delivery.localAddress,
    timeouts: { connect: Math.min(t, 30_000), greeting: t, mail: t, rcpt: t, dataInit: Math.min(t, 120_000), dataBlock: Math.min(t, 180_000), dataEnd: Math.max(t, 600_000) },
    log: log.child({ component: 'delivery' }),
  });
  const quotaPolicy: QuotaPolicy = { state: (address) => mail.quotaState(address), action: config.smtp.quotaExceeded };
  const queue = new QueueManager({
    store: queueStore,
    // Hosted domains are delivered into Maildirs (recipients queued because their mailbox was full); others by SMTP.
    transport: new LocalTransport({
      resolver: recipientResolver,
      dataDir: config.dataDir,
      spoolDir: spool,
      quota: quotaPolicy,
      next: transport,
      onDelivered: (e) => deliveries.forEach((f) => f(e)),
      log: log.child({ component: 'delivery' }),
    }),
    hostname: config.hostname,
    retry: {
      baseDelayMs: config.queue.retryBaseSeconds * 1000,
      maxDelayMs: config.queue.retryMaxSeconds * 1000,
      maxLifetimeMs: config.queue.maxLifetimeHours * 3600_000,
      delayWarningMs: config.queue.delayWarningHours * 3600_000,
    },
    concurrency: config.queue.concurrency,
    deliverLocal: (address, data) =>
      deliverLocalBuffer({ resolver: recipientResolver, dataDir: config.dataDir, spoolDir: spool, onDelivered: (e) => deliveries.forEach((f) => f(e)) }, address, data),
    log: log.child({ component: 'queue' }),
  });
  await queue.start();
  const dnsServices = new DnsServices({
    config,
    db: opened.db,
    store,
    resolver: dns,
    tls,
    deliverLocal: (address, data) =>
      deliverLocalBuffer({ resolver: recipientResolver, dataDir: config.dataDir, spoolDir: spool, onDelivered: (e) => deliveries.forEach((f) => f(e)) }, address, data),
    enqueue: (data, sender, rcpts, origin) => queue.enqueueBuffer(data, sender, rcpts, origin),
    log: log.child({ component: 'dnscheck' }),
  });
  const stopControl = await startControlServer(
    config.dataDir,
    async (req) => {
      if (req.cmd.startsWith('queue.')) return queueCommand(queue, req.cmd.slice(6) as QueueCommand, (req.args ?? {}) as never);
      if (req.cmd.startsWith('dns.')) return dnsServices.control(req.cmd.slice(4), req.args ?? {});
      if (req.cmd === 'status' || req.cmd === 'reload' || req.cmd.startsWith('acme.')) return ops.control(req.cmd, req.args ?? {});
      throw new Error(`unknown control command ${req.cmd}`);
    },
    log,
  );
  const addresses: RunningServer['addresses'] = {};
  const web = config.web.enabled
    ? new WebApp({
        config, store, accounts: new AccountService(store, { dkim: dkimKeys, authCache }), admins: new AdminStore(opened.db), mail, queue, dkim: dkimKeys, tls, addresses,
        dnsStatus: () => dnsServices.status(), dnsCheck: (d, onStep) => dnsServices.checkAll(d, onStep), deliverability: dnsServices, throttle, routes: dnsServices.httpRoutes, log: log.child({ component: 'web' }),
      })
    : null;
  web?.register(dnsServices.httpRoutes);
  if (web) dnsServices.httpRedirect = (req) => web.httpsRedirect(req);

  const common = {
    hostname: config.hostname,
    secureContext,
    maxMessageSize: config.smtp.maxMessageSize,
    maxRecipients: config.smtp.maxRecipients,
    idleTimeoutMs: config.smtp.idleTimeoutSeconds * 1000,
    maxLineLength: 4096,
    maxErrors: 20,
    allowInsecureAuth: config.smtp.allowInsecureAuthOnLoopback,
    rejectBareNewlines: true,
    maxConnections: config.smtp.maxConnections,
    maxConnectionsPerIp: config.smtp.maxConnectionsPerIp,
    resolver: config.smtp.reverseLookup ? dns : null,
    shutdown: ops.shutdown,
    commandRate: ops.commandRate,
  };

  /** Bind a listener to its configured address, register it, and log it; a clear error names the key. */
  const bind = async (name: ListenerName, addr: string, l: SmtpListener | Listener): Promise<void> => {
    ops.attach(l, name);
    const { host, port } = splitHostPort(addr);
    const a = await l.listen(host, port).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`listen.${name}: cannot listen on ${addr}: ${err.code ?? err.message}${err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''}`, 2);
    });
    addresses[name] = { host: a.address, port: a.port };
    listeners.push(l);
    log.info({ listener: name, address: `${a.address}:${a.port}` }, 'listening');
  };

  try {
    if (config.listen.smtp) {
      const mx = new SmtpListener({
        ...common,
        implicitTls: false,
        authRequired: false,
        hooks: ops.guardMx(dnsServices.wrapHooks('mx', mxHooks({
          hostname: config.hostname,
          dataDir: config.dataDir,
          spoolDir: spool,
          resolver: recipientResolver,
          log: log.child({ component: 'smtp' }),
          onDelivered: (e) => deliveries.forEach((f) => f(e)),
          queue: queueStore,
          onQueued: (e) => queue.enqueued(e.id, e, { log: true }),
          srs,
          quota: quotaPolicy,
          sealKey: async (domain) => {
            const rsa = (await dkimKeys.signingKeys(domain)).find((k) => k.algorithm === 'rsa-sha256');
            return rsa ? { selector: rsa.selector, privateKey: rsa.privateKey } : null;
          },
          inbound: config.authentication.checkInbound
            ? {
                resolver: mailauthResolver.resolve,
                checkLoopback: config.authentication.checkLoopback,
                trustedArcSealers: config.authentication.trustedArcSealers,
                policy: {
                  dmarcReject: config.authentication.dmarcReject,
                  dmarcQuarantine: config.authentication.dmarcQuarantine,
                  spfFail: config.authentication.spfFail,
                },
              }
            : null,
        })), dns),
        log: log.child({ component: 'smtp' }),
      });
      await bind('smtp', config.listen.smtp, mx);
    }
    for (const name of ['submission', 'submissions'] as const) {
      const addr = config.listen[name];
      if (!addr) continue;
      const sub = new SmtpListener({
        ...common,
        implicitTls: name === 'submissions',
        authRequired: true,
        rejectBareNewlines: true,
        resolver: config.smtp.reverseLookup ? dns : null,
        hooks: dnsServices.wrapHooks('submission', submissionHooks({
          hostname: config.hostname,
          dataDir: config.dataDir,
          spoolDir: spool,
          resolver: recipientResolver,
          accounts,
          throttle,
          queue: queueStore,
          dkimKeys: async (domain) => {
            let keys = await dkimKeys.signingKeys(domain);
            if (!keys.length) keys = await dkimKeys.ensureKeys(domain);
            return keys;
          },
          log: log.child({ component: name }),
          quota: quotaPolicy,
          onDelivered: (e) => deliveries.forEach((f) => f(e)),
          onQueued: (e) => queue.enqueued(e.id, e, { log: true }),
        })),
        log: log.child({ component: name }),
      });
      await bind(name, addr, sub);
    }
    const imapLog = log.child({ component: 'imap' });
    const imapCtx = {
      hostname: config.hostname,
      secureContext,
      allowInsecureAuth: config.imap.allowInsecureAuth,
      accounts,
      mail,
      throttle,
      limits: {
        maxLineLength: 64 * 1024,
        maxLiteralSize: 1024 * 1024,
        maxAppendSize: config.imap.maxAppendSize,
        autologoutMs: config.imap.autologoutMinutes * 60_000,
        preAuthTimeoutMs: 60_000,
        maxConnectionsPerUser: config.imap.maxConnectionsPerUser,
      },
      log: imapLog,
      userSessions: new Map<number, number>(),
      shutdown: ops.shutdown,
      commandRate: ops.commandRate,
      parsePool,
    };
    for (const name of ['imap', 'imaps'] as const) {
      const addr = config.listen[name];
      if (!addr) continue;
      const l = imapListener(imapCtx, {
        implicitTls: name === 'imaps',
        maxConnections: config.imap.maxConnections,
        maxConnectionsPerIp: config.imap.maxConnectionsPerIp,
      });
      await bind(name, addr, l);
    }
    // POP3 (110 with STLS, 995 implicit TLS): INBOX of the same store, the same login throttle as IMAP.
    const pop3Ctx = {
      hostname: config.hostname,
      secureContext,
      allowInsecureAuth: config.pop3.allowInsecureAuth,
      markSeen: config.pop3.markSeen,
      accounts,
      mail,
      throttle,
      locks: new MaildropLocks(),
      limits: { ...DEFAULT_POP3_LIMITS, idleTimeoutMs: config.pop3.idleTimeoutMinutes * 60_000 },
      log: log.child({ component: 'pop3' }),
      commandRate: ops.commandRate,
    };
    for (const name of ['pop3', 'pop3s'] as const) {
      const addr = config.listen[name];
      if (!addr) continue;
      const l = pop3Listener(pop3Ctx, {
        implicitTls: name === 'pop3s',
        maxConnections: config.pop3.maxConnections,
        maxConnectionsPerIp: config.pop3.maxConnectionsPerIp,
      });
      await bind(name, addr, l);
    }
    // HTTP (listen.http) and HTTPS (listen.https): the same routes (MTA-STS, ACME http-01, autoconfig, metrics, web
    // admin), bounded like the mail listeners (connections per IP, connection and request rate, PROXY protocol).
    const httpBounds = {
      routes: dnsServices.httpRoutes,
      maxConnections: config.http.maxConnections,
      maxConnectionsPerIp: config.http.maxConnectionsPerIp,
      maxHeaderBytes: config.http.maxHeaderBytes,
      timeouts: {
        headersMs: config.http.headersTimeoutSeconds * 1000,
        requestMs: config.http.requestTimeoutSeconds * 1000,
        keepAliveMs: config.http.keepAliveTimeoutSeconds * 1000,
      },
      requestRate: (ip: string) => ops.commandRate.command(ip),
    };
    if (config.listen.http) {
      const l = httpListener({ ...httpBounds, name: 'http', redirect: (req) => dnsServices.httpRedirect?.(req) ?? null, log: log.child({ component: 'http' }) });
      await bind('http', config.listen.http, l);
      dnsServices.httpAddress = addresses.http ?? null;
    }
    if (config.listen.https) {
      const l = httpListener({ ...httpBounds, name: 'https', tls: secureContext, hstsMaxAgeSeconds: config.web.hstsMaxAgeSeconds, log: log.child({ component: 'https' }) });
      await bind('https', config.listen.https, l);
    }
    await dnsServices.start();
    await ops.afterListen({
      addresses,
      routes: dnsServices.httpRoutes,
      queueList: () => queue.list(),
      status: async () => ({ dns: dnsServices.status() }),
      dnsChecks: () => dnsServices.status(),
    });
  } catch (err) {
    releasePrebound();
    await ops.stop();
    await dnsServices.stop();
    await Promise.all(listeners.map((l) => l.close()));
    await stopControl();
    await queue.stop();
    await parsePool.close();
    await store.close();
    throw err;
  }

  return {
    config,
    store,
    mail,
    parsePool,
    tls,
    addresses,
    deliveries,
    queue,
    dns: dnsServices,
    ops,
    reload: (next) => ops.reload(next),
    dnsStatus: () => dnsServices.status(),
    dnsCheck: (domain) => dnsServices.checkAll(domain),
    web,
    async stop() {
      // Graceful stop: stop accepting, sessions finish their transaction (SMTP 421 / IMAP BYE after it), cut the rest.
      ops.beginShutdown();
      // Long web admin actions (DNS checks, deliverability tests) end before the stores close.
      if (web) await Promise.race([web.jobs.idle(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await dnsServices.stop();
      const grace = config.shutdownTimeoutSeconds * 1000;
      await Promise.all(listeners.map((l) => l.close(/pop3/.test(l instanceof SmtpListener ? '' : l.label) ? Math.min(grace, 2000) : grace)));
      await ops.stop();
      await stopControl();
      await queue.stop();
      await parsePool.close();
      await store.close();
    },
  };
}

/** The data directory must be ours and not readable by others (mail is private). Clear messages otherwise. */
/** The data directory: ours, writable, and closed to others (mail is private): a wider mode is narrowed, with a warning. */
async function checkDataDir(dir: string, log: Logger): Promise<void> {
  const st = await fsp.stat(dir);
  if (!st.isDirectory()) throw new UserError(`dataDir ${dir} is not a directory`, 2);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new UserError(`dataDir ${dir} is owned by uid ${st.uid}, but Mailwright runs as uid ${process.getuid()}: chown it to this user`, 2);
  }
  try {
    await fsp.access(dir, fsp.constants?.W_OK ?? 2);
  } catch {
    throw new UserError(`dataDir ${dir} is not writable by uid ${process.getuid?.()}`, 2);
  }
  if (st.mode & 0o077) {
    await fsp.chmod(dir, st.mode & 0o700);
    log.warn({ dataDir: dir, mode: (st.mode & 0o777).toString(8), now: (st.mode & 0o700).toString(8) }, 'dataDir was open to other users; narrowed its mode to owner only');
  }
}
