/**
 * Prometheus metrics (text exposition format 0.0.4) at /metrics on the HTTP listener, with prom-client and one
 * registry per server. Sources:
 *  - listener events (connections by listener, active, refused by reason);
 *  - the login throttle (auth failures by protocol);
 *  - the structured log events the SMTP, queue and delivery code already writes (one code path for logs and
 *    numbers): "message delivered/queued" (messages in, SPF/DKIM/DMARC results), the queue's per-recipient results
 *    sent/bounced/deferred (messages out) and "queued" (for the queue-to-delivery latency);
 *  - at scrape time: queue size by state, certificate expiry, the latest periodic `dns check` results (issue 6:
 *    monitoring exposes its results) as one gauge per domain and check (0 pass, 1 warn, 2 fail).
 */
import client from 'prom-client';
import type { Logger } from 'pino';
import type { ListenerEvent } from '../server/net/listener.js';

type LogEvent = Record<string, unknown>;

/** What the metrics need of DnsServices.status(): the latest report of each domain. */
export interface DnsCheckSnapshot {
  lastRun: string | null;
  domains: Record<string, { checks: Array<{ id: string; status: 'pass' | 'warn' | 'fail' }> }>;
}

export const DNS_CHECK_VALUE = { pass: 0, warn: 1, fail: 2 } as const;

export class Metrics {
  readonly registry = new client.Registry();
  readonly connections: client.Counter<'listener'>;
  readonly active: client.Gauge<'listener'>;
  readonly refused: client.Counter<'listener' | 'reason'>;
  readonly messagesIn: client.Counter<'listener' | 'result'>;
  readonly messagesOut: client.Counter<'result'>;
  readonly latency: client.Histogram<'result'>;
  readonly authFailures: client.Counter<'protocol'>;
  readonly mailauth: client.Counter<'method' | 'result'>;
  readonly abuse: client.Counter<'check' | 'result'>;
  private readonly queuedAt = new Map<string, number>();

  constructor(o: {
    queueCounts: () => Promise<Record<string, number>>;
    certificates: () => Array<{ names: string[]; notAfter: string }>;
    dnsChecks?: () => DnsCheckSnapshot | null;
  }) {
    const r = [this.registry];
    this.connections = new client.Counter({ name: 'mailwright_connections_total', help: 'Accepted connections by listener', labelNames: ['listener'], registers: r });
    this.active = new client.Gauge({ name: 'mailwright_connections_active', help: 'Open connections by listener', labelNames: ['listener'], registers: r });
    this.refused = new client.Counter({ name: 'mailwright_connections_refused_total', help: 'Refused connections by listener and reason', labelNames: ['listener', 'reason'], registers: r });
    this.messagesIn = new client.Counter({ name: 'mailwright_messages_received_total', help: 'Messages accepted (250 after DATA) by listener and what happened (delivered locally / queued)', labelNames: ['listener', 'result'], registers: r });
    this.messagesOut = new client.Counter({ name: 'mailwright_messages_delivered_total', help: 'Recipient deliveries by result (local, sent, bounced, deferred)', labelNames: ['result'], registers: r });
    this.latency = new client.Histogram({
      name: 'mailwright_delivery_latency_seconds',
      help: 'Time from queueing to the final result of remote deliveries',
      labelNames: ['result'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers: r,
    });
    this.authFailures = new client.Counter({ name: 'mailwright_auth_failures_total', help: 'Failed logins by protocol', labelNames: ['protocol'], registers: r });
    this.mailauth = new client.Counter({ name: 'mailwright_mailauth_results_total', help: 'SPF, DKIM, DMARC and ARC results of inbound mail', labelNames: ['method', 'result'], registers: r });
    this.abuse = new client.Counter({ name: 'mailwright_abuse_checks_total', help: 'DNSBL and greylisting decisions', labelNames: ['check', 'result'], registers: r });
    new client.Gauge({
      name: 'mailwright_queue_messages',
      help: 'Messages in the queue by state',
      labelNames: ['state'],
      registers: r,
      async collect() {
        const counts = await o.queueCounts();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new client.Gauge({
      name: 'mailwright_tls_certificate_expiry_timestamp_seconds',
      help: 'Expiry (notAfter) of each certificate in use',
      labelNames: ['names'],
      registers: r,
      collect() {
        this.reset();
        for (const c of o.certificates()) this.set({ names: c.names.join(',') }, Math.floor(new Date(c.notAfter).getTime() / 1000));
      },
    });
    new client.Gauge({
      name: 'mailwright_dns_check_status',
      help: 'Latest periodic dns check result by domain and check: 0 pass, 1 warn, 2 fail',
      labelNames: ['domain', 'check'],
      registers: r,
      collect() {
        this.reset();
        for (const [domain, report] of Object.entries(o.dnsChecks?.()?.domains ?? {})) {
          for (const c of report.checks) this.set({ domain, check: c.id }, DNS_CHECK_VALUE[c.status]);
        }
      },
    });
    new client.Gauge({
      name: 'mailwright_dns_check_last_run_timestamp_seconds',
      help: 'When the periodic dns check last finished (absent before the first run)',
      registers: r,
      collect() {
        this.reset();
        const last = o.dnsChecks?.()?.lastRun;
        if (last) this.set(Math.floor(Date.parse(last) / 1000));
      },
    });
  }

  onListenerEvent = (e: ListenerEvent): void => {
    if (e.type === 'connect') {
      this.connections.inc({ listener: e.listener });
      this.active.inc({ listener: e.listener });
    } else if (e.type === 'close') this.active.dec({ listener: e.listener });
    else this.refused.inc({ listener: e.listener, reason: e.reason ?? 'other' });
  };

  /** One structured log event (bindings merged in). */
  onLog(ev: LogEvent, msg: string | undefined): void {
    const result = ev.result;
    if (msg === 'queued' && typeof ev.queueId === 'string') {
      this.queuedAt.set(ev.queueId, Date.now());
      if (this.queuedAt.size > 200_000) this.queuedAt.delete(this.queuedAt.keys().next().value!);
      return;
    }
    if (typeof ev.conn === 'string' && (result === 'delivered' || result === 'queued') && typeof ev.queueId === 'string') {
      const listener = String(ev.component ?? 'smtp');
      this.messagesIn.inc({ listener, result: String(result) });
      if (Array.isArray(ev.delivered)) this.messagesOut.inc({ result: 'local' }, ev.delivered.length);
      const auth = ev.auth as Record<string, unknown> | undefined;
      if (auth && typeof auth === 'object') {
        for (const m of ['spf', 'dkim', 'dmarc', 'arc']) if (typeof auth[m] === 'string') this.mailauth.inc({ method: m, result: auth[m] as string });
      }
      return;
    }
    if (typeof ev.queueId === 'string' && typeof ev.to === 'string' && (result === 'sent' || result === 'bounced' || result === 'deferred')) {
      this.messagesOut.inc({ result });
      const t = this.queuedAt.get(ev.queueId);
      if (t !== undefined && result !== 'deferred') this.latency.observe({ result }, (Date.now() - t) / 1000);
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * A logger that passes every call through to `log` and also hands the event to `tap` (whatever the log level, so
 * the numbers do not depend on it). Children keep tapping with their bindings merged in.
 */
export function tapLogger(log: Logger, tap: (ev: LogEvent, msg: string | undefined) => void, bindings: LogEvent = {}, all?: Set<Logger>): Logger {
  all?.add(log);
  const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'child') {
        return (b: LogEvent, opts?: object) => tapLogger(target.child(b, opts), tap, { ...bindings, ...b }, all);
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop === 'string' && levels.has(prop) && typeof v === 'function') {
        return (...args: unknown[]) => {
          try {
            const first = args[0];
            if (first && typeof first === 'object' && !(first instanceof Error)) tap({ ...bindings, ...(first as LogEvent) }, typeof args[1] === 'string' ? args[1] : undefined);
            else tap({ ...bindings }, typeof first === 'string' ? first : undefined);
          } catch {
            /* metrics never break logging */
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value);
    },
  }) as Logger;
}
