/**
 * Remote delivery (Postfix's smtp client): sends queued messages for one destination domain to its mail exchangers,
 * or to a configured next hop / relayhost, and reports a result per message per recipient.
 * Standards: RFC 5321 §5 (MX resolution, trying hosts in order), §3.3 and §4.1.1 (transactions, RSET), §4.2
 * (reply codes), §4.5.3.2 (timeouts); RFC 7505 (null MX); RFC 3207 (STARTTLS); RFC 2920 (PIPELINING, via
 * nodemailer); RFC 6152 (8BITMIME); RFC 6531 (SMTPUTF8); RFC 4954 (AUTH to a relayhost); RFC 3463 (status codes).
 * Untrusted input: DNS answers and everything remote servers send.
 *
 * Invariants:
 * - A result is 'perm' only when a server answered 5xx or the decision is final by standard (NXDOMAIN, null MX,
 *   mail loop, missing 8BITMIME/SMTPUTF8). DNS SERVFAIL/timeouts and every connection-level failure are 'temp'.
 * - Once the end of data has been sent, a message is never sent to another host in the same attempt (a lost reply
 *   leaves it 'temp': a later duplicate is allowed, a loss is not).
 * - The body is streamed from its file; nothing holds a whole message in memory.
 * - At most maxConnectionsPerDestination sessions per destination are in use at once, across concurrent deliver()
 *   calls. Between calls a session may wait idle in the connection cache (Postfix's scache,
 *   smtp_connection_cache_time_limit): at most connectionCacheTimeMs (default 2 s), at most maxIdleConnections
 *   (default 100) in all; the next deliver() to the same host, address, port and TLS/AUTH setting takes it with
 *   RSET first. A session that had an error, answered RSET badly or was closed by the peer is never reused.
 */
import { createReadStream } from 'node:fs';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { Resolver } from '../dns/resolver.js';
import { isLoopback } from '../dns/resolver.js';
import type { RecipientResult } from '../queue/types.js';
import { KeyedLimiter } from './limiter.js';
import { type AddressFamily, findMx, resolveHostAddresses } from './mx.js';
import { type Failure, type Reply, outcomeOf, permFailure, tempFailure } from './reply.js';
import { DEFAULT_TIMEOUTS, SessionError, SmtpSession, type Timeouts, type TlsMode } from './smtp-client.js';

export interface OutboundMessage {
  /** Queue id: appears in every log line. */
  id: string;
  /** Envelope sender; "" for the null reverse-path. */
  sender: string;
  /** Recipients at this destination. */
  recipients: string[];
  /** The body has 8-bit data: needs BODY=8BITMIME (RFC 6152). */
  body8bit: boolean;
  /** UTF-8 addresses or headers: needs SMTPUTF8 (RFC 6531). */
  smtputf8: boolean;
  /** Size of the body file in bytes (SIZE=, RFC 1870). */
  size: number;
  /** The message as it goes on the wire (CRLF lines, not dot-stuffed). */
  bodyPath: string;
}

export interface NextHop {
  /** Host name or IP address; a name is resolved to A/AAAA only (no MX lookup, like Postfix's [host]). */
  host: string;
  port: number;
  auth?: { user: string; pass: string };
  /** Default 'opportunistic'. 'starttls' requires it and verifies the certificate; 'implicit' is TLS from the start. */
  tls?: TlsMode;
}

export interface RemoteDeliveryOptions {
  /** Our EHLO name. */
  hostname: string;
  resolver: Resolver;
  /** Per-domain next hop (Postfix transport_maps), keyed by lower-case domain. */
  transportMap?: Record<string, NextHop>;
  /** Smarthost for every domain without a transportMap entry (Postfix relayhost); replaces MX lookup. */
  relayhost?: NextHop | null;
  /** Port of MX hosts (25; tests use another). */
  port?: number;
  /** Source address of outbound connections. */
  localAddress?: string;
  timeouts?: Partial<Timeouts>;
  /** Concurrent connections per destination (domain, or next hop). Default 5. */
  maxConnectionsPerDestination?: number;
  /** Messages per connection before it is closed (default 100) and its maximum age (default 5 min). */
  maxMessagesPerConnection?: number;
  maxConnectionAgeMs?: number;
  /** How long an idle session waits for the next deliver() call (connection cache); 0 disables. Default 2000. */
  connectionCacheTimeMs?: number;
  /** Idle cached sessions in all (default 100). */
  maxIdleConnections?: number;
  /** Names of this host: an MX naming one of them is a loop (RFC 5321 §5.1). The EHLO hostname is included. */
  ownHostnames?: string[];
  /** Extra TLS options (e.g. ca, rejectUnauthorized) merged into every TLS connection. */
  tlsOptions?: tls.ConnectionOptions;
  /** Address families to try, in order of preference. Default ['ipv4', 'ipv6']. */
  addressFamilies?: AddressFamily[];
  log: Logger;
}

interface Target {
  host: string;
  ip: string;
  port: number;
  tls: TlsMode;
  auth?: { user: string; pass: string };
  key: string;
}

type Route = { ok: true; key: string; relay: boolean; targets: Target[]; initial?: Failure } | { ok: false; failure: Failure };

interface WorkerState {
  session: SmtpSession | null;
  target: Target | null;
}

interface IdleSession {
  session: SmtpSession;
  timer: NodeJS.Timeout;
}

const TLS_FAILURE_MEMORY_MS = 60 * 60_000;

/** The one-line form of a result, as the queue stores it in lastError: "550 5.1.1 text". */
export function formatResult(r: RecipientResult): string {
  return [r.code ? String(r.code) : '', r.enhanced ?? '', r.message].filter(Boolean).join(' ');
}

export class RemoteDelivery {
  private readonly timeouts: Timeouts;
  private readonly transportMap: Map<string, NextHop>;
  private readonly limiter: KeyedLimiter;
  private readonly open = new Set<SmtpSession>();
  /** ip:port of hosts whose TLS handshake failed recently: go plaintext there (opportunistic only). */
  private readonly noTls = new Map<string, number>();
  /** Connection cache: idle sessions by cacheKey(target), most recently parked last. */
  private readonly idle = new Map<string, IdleSession[]>();
  private idleCount = 0;
  /** Sessions opened, and sessions taken from the connection cache (logs, tests). */
  readonly stats = { opened: 0, reused: 0 };
  private closed = false;

  constructor(private readonly opts: RemoteDeliveryOptions) {
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...(opts.timeouts ?? {}) };
    this.transportMap = new Map(
      Object.entries(opts.transportMap ?? {}).map(([d, hop]) => [d.toLowerCase().replace(/\.$/, ''), hop]),
    );
    this.limiter = new KeyedLimiter(opts.maxConnectionsPerDestination ?? 5);
  }

  /**
   * Deliver messages to one destination domain, reusing connections. Never rejects: every recipient of every
   * message gets a result ('ok', 'temp' or 'perm').
   */
  async deliver(domain: string, messages: OutboundMessage[]): Promise<Map<string, RecipientResult[]>> {
    const results = new Map<string, RecipientResult[]>();
    const dom = domain.toLowerCase().replace(/\.$/, '');
    if (this.closed) {
      for (const m of messages) results.set(m.id, this.fillAll(m, tempFailure('4.3.2', 'delivery is shutting down')));
      return results;
    }
    const route = await this.route(dom);
    if (!route.ok) {
      for (const m of messages) {
        const res = this.fillAll(m, route.failure);
        results.set(m.id, res);
        this.logAttempt(m, dom, null, res, false);
      }
      return results;
    }
    const queue = [...messages];
    const dead = new Map<string, Failure>();
    const workers = Math.min(this.opts.maxConnectionsPerDestination ?? 5, queue.length);
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const release = await this.limiter.acquire(route.key);
        const state: WorkerState = { session: null, target: null };
        try {
          for (let m = queue.shift(); m; m = queue.shift()) {
            try {
              results.set(m.id, await this.deliverMessage(dom, m, route, state, dead));
            } catch (err) {
              // A bug, not a delivery problem: defer (never bounce) and keep going with the other messages.
              this.opts.log.error({ err, queueId: m.id, domain: dom }, 'remote delivery failed unexpectedly');
              results.set(m.id, this.fillAll(m, tempFailure('4.3.0', 'internal error during delivery')));
              if (state.session) await this.retire(state.session).catch(() => {});
              state.session = null;
              state.target = null;
            }
          }
        } finally {
          await this.park(state);
          release();
        }
      }),
    );
    return results;
  }

  /** Close every open session (QUIT) and refuse further work. */
  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.idle.values()) for (const e of list) clearTimeout(e.timer);
    this.idle.clear();
    this.idleCount = 0;
    const all = [...this.open];
    this.open.clear();
    await Promise.all(all.map((s) => s.quit()));
  }

  /** Choose the next hop for a domain: transportMap, relayhost, or the domain's MX hosts. */
  private async route(domain: string): Promise<Route> {
    const families = this.opts.addressFamilies ?? ['ipv4', 'ipv6'];
    const hop = this.transportMap.get(domain) ?? this.opts.relayhost ?? null;
    if (hop) {
      const { addresses, error } = await resolveHostAddresses(this.opts.resolver, hop.host, families);
      if (!addresses.length) {
        // A configured relay that cannot be resolved is a temporary problem (fix the config or DNS), never a bounce.
        return { ok: false, failure: tempFailure('4.4.3', `next hop ${hop.host}: ${error?.text ?? 'no address'}`) };
      }
      const tlsMode = hop.tls ?? 'opportunistic';
      const targets = addresses.map((ip) => ({
        host: hop.host,
        ip,
        port: hop.port,
        tls: tlsMode,
        ...(hop.auth ? { auth: hop.auth } : {}),
        key: `${ip}:${hop.port}`,
      }));
      return { ok: true, key: `hop:${hop.host}:${hop.port}`, relay: true, targets };
    }
    const own = [this.opts.hostname, ...(this.opts.ownHostnames ?? [])];
    const mx = await findMx(this.opts.resolver, domain, { ownHostnames: own, families });
    if (!mx.ok) return mx;
    const port = this.opts.port ?? 25;
    const targets: Target[] = [];
    let initial: Failure | undefined;
    for (const t of mx.targets) {
      if (!t.addresses.length) initial ??= t.addressError;
      for (const ip of t.addresses) targets.push({ host: t.host, ip, port, tls: 'opportunistic', key: `${ip}:${port}` });
    }
    return { ok: true, key: `mx:${domain}`, relay: false, targets, ...(initial ? { initial } : {}) };
  }

  private fillAll(m: OutboundMessage, f: Failure, remoteMta?: string): RecipientResult[] {
    return m.recipients.map((address) => toResult(address, f, f.outcome, remoteMta));
  }

  private retire(s: SmtpSession): Promise<void> {
    this.open.delete(s);
    return s.quit();
  }

  /** Whether a session may carry another message: not broken, below the message and age bounds. */
  private reusable(s: SmtpSession): boolean {
    return s.usable && s.messages < (this.opts.maxMessagesPerConnection ?? 100) && Date.now() - s.openedAt < (this.opts.maxConnectionAgeMs ?? 5 * 60_000);
  }

  /** Sessions are shared only between targets that would open the very same session. */
  private cacheKey(t: Target): string {
    return `${t.host}|${t.key}|${t.tls}|${t.auth?.user ?? ''}`;
  }

  /** End of a worker: put its session in the connection cache when it may be reused, else QUIT it. */
  private async park(state: WorkerState): Promise<void> {
    const s = state.session;
    const t = state.target;
    state.session = null;
    state.target = null;
    if (!s) return;
    const ttl = this.opts.connectionCacheTimeMs ?? 2000;
    if (!t || ttl <= 0 || this.closed || !this.reusable(s) || this.idleCount >= (this.opts.maxIdleConnections ?? 100)) {
      await this.retire(s);
      return;
    }
    const key = this.cacheKey(t);
    const list = this.idle.get(key) ?? [];
    const entry: IdleSession = {
      session: s,
      timer: setTimeout(() => {
        const l = this.idle.get(key);
        const i = l ? l.indexOf(entry) : -1;
        if (i < 0) return;
        l!.splice(i, 1);
        if (!l!.length) this.idle.delete(key);
        this.idleCount--;
        void this.retire(s);
      }, ttl),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
    this.idleCount++;
  }

  /** A cached idle session to t that answered RSET (RFC 5321 §4.1.1.5), or null. Broken ones are closed. */
  private async takeIdle(t: Target): Promise<SmtpSession | null> {
    const key = this.cacheKey(t);
    for (;;) {
      const list = this.idle.get(key);
      const e = list?.pop();
      if (!e) return null;
      if (!list!.length) this.idle.delete(key);
      this.idleCount--;
      clearTimeout(e.timer);
      if (this.reusable(e.session) && (await e.session.reset())) {
        this.stats.reused++;
        return e.session;
      }
      await this.retire(e.session);
    }
  }

  /**
   * A session to t: the worker's open one (after RSET) or a new one. A Failure means t cannot be used now;
   * `cached` marks a failure remembered from earlier in this deliver() call (no new attempt was made).
   */
  private async getSession(
    t: Target,
    state: WorkerState,
    dead: Map<string, Failure>,
  ): Promise<SmtpSession | { failure: Failure; cached: boolean }> {
    const maxMsgs = this.opts.maxMessagesPerConnection ?? 100;
    const maxAge = this.opts.maxConnectionAgeMs ?? 5 * 60_000;
    if (state.session && state.target?.key === t.key) {
      const s = state.session;
      // Connection reuse (RFC 5321 §4.1.1.5 RSET between transactions), bounded in messages and age.
      if (s.usable && s.messages < maxMsgs && Date.now() - s.openedAt < maxAge && (s.messages === 0 || (await s.reset()))) {
        return s;
      }
    }
    const known = dead.get(t.key);
    if (known) return { failure: known, cached: true }; // this address failed earlier in this deliver() call: skip it without a new connection
    if (state.session) {
      await this.retire(state.session);
      state.session = null;
      state.target = null;
    }
    const cached = await this.takeIdle(t);
    if (cached) {
      state.session = cached;
      state.target = t;
      return cached;
    }
    const skipUntil = this.noTls.get(t.key);
    const skipTls = t.tls === 'opportunistic' && skipUntil !== undefined && skipUntil > Date.now();
    try {
      const s = await this.openSession(t, skipTls);
      state.session = s;
      state.target = t;
      return s;
    } catch (err) {
      if (!(err instanceof SessionError)) throw err;
      if (err.tlsHandshake && t.tls === 'opportunistic') {
        // RFC 3207 §4.1 / RFC 7435: opportunistic TLS must not make delivery fail; retry this host in plaintext.
        this.noTls.set(t.key, Date.now() + TLS_FAILURE_MEMORY_MS);
        this.opts.log.warn({ mx: t.host, ip: t.ip, port: t.port, error: err.failure.text }, 'TLS handshake failed; retrying without TLS');
        try {
          const s = await this.openSession(t, true);
          state.session = s;
          state.target = t;
          return s;
        } catch (err2) {
          if (!(err2 instanceof SessionError)) throw err2;
          dead.set(t.key, err2.failure);
          return { failure: err2.failure, cached: false };
        }
      }
      dead.set(t.key, err.failure);
      return { failure: err.failure, cached: false };
    }
  }

  private async openSession(t: Target, skipTls: boolean): Promise<SmtpSession> {
    const s = await SmtpSession.open({
      host: t.host,
      ip: t.ip,
      port: t.port,
      ehloName: this.opts.hostname,
      ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      tls: t.tls,
      ...(this.opts.tlsOptions ? { tlsOptions: this.opts.tlsOptions } : {}),
      skipTls,
      timeouts: this.timeouts,
      ...(t.auth ? { auth: t.auth } : {}),
      allowPlaintextAuth: t.tls === 'none' && isLoopback(t.ip),
    });
    this.open.add(s);
    this.stats.opened++;
    if (this.closed) {
      await this.retire(s);
      throw new SessionError(tempFailure('4.3.2', 'delivery is shutting down'));
    }
    return s;
  }

  /** One message: try the targets in order until one gives final answers for the recipients (RFC 5321 §5.1). */
  private async deliverMessage(
    domain: string,
    m: OutboundMessage,
    route: Extract<Route, { ok: true }>,
    state: WorkerState,
    dead: Map<string, Failure>,
  ): Promise<RecipientResult[]> {
    const final = new Map<string, RecipientResult>();
    let last: { f: Failure; mta?: string } | null = route.initial ? { f: route.initial } : null;
    for (const t of route.targets) {
      if (m.recipients.length === 0) break;
      const got = await this.getSession(t, state, dead);
      if (!(got instanceof SmtpSession)) {
        // Connection refused, timeout, 4xx/5xx greeting, TLS required but missing: next address (RFC 5321 §5.1).
        const f = got.failure;
        const mta = f.code ? t.host : undefined; // a server answered (greeting/EHLO/AUTH reply): it is the Remote-MTA
        if (!got.cached) this.logAttempt(m, domain, t, this.fillAll(m, f, mta), false);
        last = mta ? { f, mta } : { f };
        continue;
      }
      const s = got;
      const mta = t.host;
      // RFC 6152 §3 / RFC 5321 §2.4: 8-bit data only to a server that offers 8BITMIME. No downgrade is done.
      if (m.body8bit && !s.extensions.has('8BITMIME')) {
        const res = this.fillAll(m, permFailure(554, '5.6.3', `remote server ${t.host} does not support 8BITMIME and the message has 8-bit data (no downgrade)`), mta);
        this.logAttempt(m, domain, t, res, s.secure);
        return res;
      }
      // RFC 6531 §3.2: an SMTPUTF8 message cannot go to a server that does not offer SMTPUTF8.
      if (m.smtputf8 && !s.extensions.has('SMTPUTF8')) {
        const res = this.fillAll(m, permFailure(550, '5.6.7', `remote server ${t.host} does not support SMTPUTF8 and the message needs it`), mta);
        this.logAttempt(m, domain, t, res, s.secure);
        return res;
      }
      const body = createReadStream(m.bodyPath, { highWaterMark: 64 * 1024 });
      body.on('error', () => {}); // reported through nodemailer's ESTREAM
      const tx = await s.send(
        { from: m.sender, to: m.recipients, size: m.size, body8bit: m.body8bit, smtputf8: m.smtputf8 },
        body,
      );
      if (!body.destroyed) body.destroy();
      if (tx.sessionError) {
        const res = this.fillAll(m, tx.sessionError, tx.sessionError.code ? mta : undefined);
        this.logAttempt(m, domain, t, res, s.secure);
        last = { f: tx.sessionError, ...(tx.sessionError.code ? { mta } : {}) };
        if (state.session === s) {
          await this.retire(s);
          state.session = null;
          state.target = null;
        }
        // After the end of data the message may have been delivered: stop here (RFC 5321 §4.1.1.4 and RFC 1047).
        if (tx.afterDataEnd) break;
        continue;
      }
      if (tx.mailReply) {
        const f: Failure = { outcome: outcomeOf(tx.mailReply.code) === 'perm' ? 'perm' : 'temp', ...tx.mailReply };
        const res = this.fillAll(m, f, mta);
        this.logAttempt(m, domain, t, res, s.secure);
        if (f.outcome === 'perm') return res;
        // A 4xx to MAIL FROM: another MX may take it (as Postfix does).
        last = { f, mta };
        continue;
      }
      for (const rcpt of m.recipients) {
        const r = tx.rcpt.get(rcpt);
        if (r === undefined) continue;
        if (r !== null) {
          // RFC 5321 §4.2.5 / §3.3: each RCPT reply decides for its recipient.
          final.set(rcpt, toReplyResult(rcpt, r, mta));
        } else if (tx.dataReply) {
          // RFC 5321 §4.1.1.4: the reply to the end of data applies to every accepted recipient.
          final.set(rcpt, toReplyResult(rcpt, tx.dataReply, mta));
        }
      }
      const res = m.recipients.map(
        (a) => final.get(a) ?? toResult(a, tempFailure('4.4.2', 'no reply for this recipient'), 'temp', mta),
      );
      this.logAttempt(m, domain, t, res, s.secure);
      return res;
    }
    const fallback = last?.f ?? tempFailure('4.4.1', `no mail exchanger of ${domain} could be reached`);
    return m.recipients.map((a) => final.get(a) ?? toResult(a, fallback, 'temp', last?.mta));
  }

  private logAttempt(m: OutboundMessage, domain: string, t: Target | null, res: RecipientResult[], tls: boolean): void {
    this.opts.log.info(
      {
        queueId: m.id,
        domain,
        mx: t?.host ?? null,
        ip: t?.ip ?? null,
        port: t?.port ?? null,
        tls,
        results: res.map((r) => ({ rcpt: r.address, outcome: r.outcome, code: r.code, enhanced: r.enhanced, message: r.message })),
      },
      'remote delivery attempt',
    );
  }
}

function toResult(address: string, f: Reply, outcome: 'ok' | 'temp' | 'perm', remoteMta?: string): RecipientResult {
  return {
    address,
    outcome,
    code: f.code,
    ...(f.enhanced ? { enhanced: f.enhanced } : {}),
    message: f.text,
    ...(remoteMta ? { remoteMta } : {}),
  };
}

function toReplyResult(address: string, r: Reply, mta: string): RecipientResult {
  return toResult(address, r, outcomeOf(r.code), mta);
}
