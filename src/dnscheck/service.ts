/**
 * The DNS checks inside the running server:
 *  - the HTTP listener (listen.http) serving the MTA-STS policy;
 *  - monitoring: `dns check` of every hosted domain at start and then every monitoring.intervalHours, logging
 *    each change of a check's status (pass -> fail ...), the latest reports kept for `dnsStatus()`, the control
 *    command `dns.status` and (later) metrics and the web admin;
 *  - the deliverability self-test address deliverability@HOSTNAME on the MX and on submission: the message is
 *    analysed (selftest.ts) and the report goes back to the sender from postmaster@HOSTNAME. To never send
 *    backscatter, a report goes to a remote sender only when SPF passed for it; local senders always get it.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { NodeResolver } from '../dns/resolver.js';
import type { Db } from '../store/sql/db.js';
import type { AccountStore } from '../store/types.js';
import type { TlsMaterial } from '../tls/certs.js';
import type { SmtpHooks, SmtpSessionInfo, Envelope, MessageSink, SmtpReply } from '../server/smtp/types.js';
import { DkimKeyStore } from '../dkim/keys.js';
import { UserError } from '../common/errors.js';
import { requireAddress, requireDomain } from '../common/address.js';
import { signMessage, signingDomainFor } from '../dkim/sign.js';
import { rfc5322Date } from '../intake/headers.js';
import { newQueueId } from '../intake/queue-id.js';
import type { HttpRequestInfo, HttpRoute } from '../server/http/server.js';
import { publicAddresses } from './addresses.js';
import { runChecks, fetchOwnPolicy, type CheckReport, type CheckResult, type CheckStatus } from './checks.js';
import { mtaStsPolicy, policyText } from './mtasts.js';
import { parseHeader, reportMessage, runSelfTest, type SelfTestReport } from './selftest.js';

export interface DnsStatusChange {
  at: string;
  domain: string;
  check: string;
  from: CheckStatus | null;
  to: CheckStatus;
  message: string;
}

export interface DnsStatus {
  intervalHours: number;
  lastRun: string | null;
  nextRun: string | null;
  running: boolean;
  domains: Record<string, CheckReport>;
  /** The most recent status changes (newest last, at most 100). */
  changes: DnsStatusChange[];
}

/** The latest deliverability report of a hosted domain: a test from the web admin or a message to the test address. */
export interface DeliverabilityResult {
  domain: string;
  at: string;
  /** 'web': the admin's test message from postmaster@DOMAIN; 'message': mail sent to deliverability@HOSTNAME. */
  source: 'web' | 'message';
  sender: string;
  report: SelfTestReport;
}

/** Progress of a long check, one line per finished step. */
export type StepReporter = (text: string, status?: 'pass' | 'warn' | 'fail' | 'info') => void;

export interface DnsServicesOptions {
  config: Config;
  db: Db;
  store: Pick<AccountStore, 'listDomains'>;
  resolver: NodeResolver;
  tls: TlsMaterial;
  /** Local delivery of a generated message; false when the address is not local. */
  deliverLocal: (address: string, data: Buffer) => Promise<boolean>;
  /** Queue a generated message for remote delivery. */
  enqueue: (data: Buffer, sender: string, recipients: string[], origin: string) => Promise<string>;
  log: Logger;
  /** Delay of the first monitoring run (default 5 minutes: a short-lived server, e.g. in tests, never queries DNS). */
  firstRunDelayMs?: number;
}

const SELFTEST = Symbol('deliverability-selftest');

export class DnsServices {
  private readonly o: DnsServicesOptions;
  private readonly dkim: DkimKeyStore;
  /** Routes of the HTTP listener (exact paths). Other parts (autoconfig, metrics, web admin) may add theirs. */
  readonly httpRoutes = new Map<string, HttpRoute>();
  /** Requests on listen.http that move to HTTPS (the web admin sets it when listen.https is on). */
  httpRedirect: ((req: HttpRequestInfo) => string | null) | null = null;
  /** Where listen.http is bound (set by main.ts): the MTA-STS check fetches our own policy from it. */
  httpAddress: { host: string; port: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private current: Promise<void> | null = null;
  private readonly reports = new Map<string, CheckReport>();
  private readonly changes: DnsStatusChange[] = [];
  private readonly deliverability = new Map<string, DeliverabilityResult>();
  private lastRun: Date | null = null;
  private nextRun: Date | null = null;
  /** Self-tests still running (stop() waits for them). */
  private readonly pending = new Set<Promise<unknown>>();
  /** Called with each finished self-test (tests, later the web admin). */
  readonly selfTests = new Set<(r: { sender: string; report: SelfTestReport; replied: 'local' | 'queued' | 'none' }) => void>();

  constructor(o: DnsServicesOptions) {
    this.o = o;
    this.dkim = new DkimKeyStore(o.db);
  }

  /** Registers the MTA-STS route (served by listen.http/https, bound in main.ts) and starts the monitoring timer. */
  async start(): Promise<void> {
    const c = this.o.config;
    this.httpRoutes.set('/.well-known/mta-sts.txt', (req) => this.mtaStsRoute(req.host));
    if (c.monitoring.intervalHours > 0) this.schedule(this.o.firstRunDelayMs ?? 300_000);
  }

  private async mtaStsRoute(host: string) {
    const m = /^mta-sts\.(.+)$/.exec(host);
    if (m) {
      const hosted = (await this.o.store.listDomains()).map((d) => d.name.toLowerCase());
      if (!hosted.includes(m[1]!)) return { status: 404, body: `${m[1]} is not hosted here\n` };
    }
    return { status: 200, body: policyText(mtaStsPolicy(this.o.config)) };
  }

  private schedule(delayMs: number) {
    if (this.stopped) return;
    this.nextRun = new Date(Date.now() + delayMs);
    this.timer = setTimeout(() => {
      void this.checkAll().finally(() => this.schedule(this.o.config.monitoring.intervalHours * 3600_000));
    }, Math.min(delayMs, 2 ** 31 - 1));
    this.timer.unref();
  }

  /** Runs the checks of one domain (or all hosted domains) now; resolves to the reports. `onStep` hears each check. */
  async checkAll(domain?: string, onStep?: StepReporter): Promise<CheckReport[]> {
    if (this.current) onStep?.('waiting for the DNS check that is already running', 'info');
    while (this.current) await this.current;
    let done!: () => void;
    this.current = new Promise<void>((r) => (done = r));
    try {
      const domains = domain ? [domain.toLowerCase()] : (await this.o.store.listDomains()).map((d) => d.name);
      const out: CheckReport[] = [];
      for (const d of domains) {
        if (this.stopped) break;
        onStep?.(`checking ${d}: DNS records, PTR, blocklists, MTA-STS, certificate`, 'info');
        const report = await runChecks({
          onCheck: onStep ? (r: CheckResult) => onStep(`${d}: ${r.title}: ${r.message}`, r.status) : undefined,
          config: this.o.config,
          domain: d,
          addresses: publicAddresses(this.o.config),
          resolver: this.o.resolver,
          dkim: this.dkim,
          certificate: { pem: this.o.tls.cert, selfSigned: this.o.tls.selfSigned },
          fetchPolicy: (dom) => (this.httpAddress ? fetchOwnPolicy(`${this.httpAddress.host}:${this.httpAddress.port}`, dom) : Promise.resolve(null)),
        });
        this.record(report);
        out.push(report);
        onStep?.(`${d}: ${report.summary.pass} pass, ${report.summary.warn} warn, ${report.summary.fail} fail`, report.summary.fail ? 'fail' : report.summary.warn ? 'warn' : 'pass');
      }
      this.lastRun = new Date();
      return out;
    } catch (err) {
      this.o.log.error({ err }, 'dns check failed');
      return [];
    } finally {
      this.current = null;
      done();
    }
  }

  private record(report: CheckReport) {
    const prev = this.reports.get(report.domain);
    this.reports.set(report.domain, report);
    for (const c of report.checks) {
      const before = prev?.checks.find((x) => x.id === c.id)?.status ?? null;
      if (before === c.status) continue;
      if (before === null && c.status === 'pass') continue; // first run: only problems are news
      const change: DnsStatusChange = { at: report.checkedAt, domain: report.domain, check: c.id, from: before, to: c.status, message: c.message };
      this.changes.push(change);
      if (this.changes.length > 100) this.changes.shift();
      const level = c.status === 'fail' ? 'warn' : 'info';
      this.o.log[level]({ domain: report.domain, check: c.id, from: before, to: c.status, detail: c.message, fix: c.fix }, `dns check ${report.domain} ${c.id}: ${before ?? 'new'} -> ${c.status}`);
    }
  }

  status(): DnsStatus {
    return {
      intervalHours: this.o.config.monitoring.intervalHours,
      lastRun: this.lastRun?.toISOString() ?? null,
      nextRun: this.nextRun?.toISOString() ?? null,
      running: this.current !== null,
      domains: Object.fromEntries(this.reports),
      changes: [...this.changes],
    };
  }

  /** Control socket commands: dns.status, dns.check { domain? }, dns.deliverability { domain?, to? }. */
  async control(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    if (cmd === 'status') return this.status();
    if (cmd === 'check') return this.checkAll(typeof args.domain === 'string' ? args.domain : undefined);
    if (cmd === 'deliverability') return this.deliverabilityCommand(args);
    throw new Error(`unknown control command dns.${cmd}`);
  }

  /**
   * `mailwright test-deliverability [--domain DOMAIN] [--to ADDRESS]`: testDomain() of DOMAIN (default: the domain of
   * ADDRESS), and the report mailed to ADDRESS (delivered locally, or queued like any outgoing mail) when given.
   */
  async deliverabilityCommand(args: Record<string, unknown>): Promise<DeliverabilityResult & { to: string | null; replied: 'local' | 'queued' | 'none' }> {
    const to = typeof args.to === 'string' && args.to ? requireAddress(args.to, '--to address').address : null;
    const hosted = (await this.o.store.listDomains()).map((d) => d.name.toLowerCase());
    let domain: string;
    if (typeof args.domain === 'string' && args.domain) domain = requireDomain(args.domain);
    else if (to && hosted.includes(to.slice(to.lastIndexOf('@') + 1).toLowerCase())) domain = to.slice(to.lastIndexOf('@') + 1).toLowerCase();
    else throw new UserError(to ? `${to} is not at a hosted domain: give --domain DOMAIN (the domain whose mail is tested)` : 'give --domain DOMAIN or --to ADDRESS');
    if (!hosted.includes(domain)) throw new UserError(`domain ${domain} is not hosted here (add it first: mailwright domain add ${domain})`);
    const result = await this.testDomain(domain);
    let replied: 'local' | 'queued' | 'none' = 'none';
    if (to) {
      const reply = reportMessage({ hostname: this.o.config.hostname, to, report: result.report, subject: `Deliverability test of ${domain}` });
      if (await this.o.deliverLocal(to, reply).catch(() => false)) replied = 'local';
      else {
        await this.o.enqueue(reply, '', [to], 'deliverability');
        replied = 'queued';
      }
    }
    this.o.log.info({ domain, score: result.report.score, to, replied }, 'deliverability test (control)');
    return { ...result, to, replied };
  }

  // ------------------------------------------------------------------ deliverability self-test

  private target(): string | null {
    const lp = this.o.config.deliverability.address;
    return lp ? `${lp}@${this.o.config.hostname}`.toLowerCase() : null;
  }

  /** Wraps the MX or submission hooks so that the self-test address is accepted and analysed. */
  wrapHooks(kind: 'mx' | 'submission', inner: SmtpHooks): SmtpHooks {
    const target = this.target();
    if (!target) return inner;
    const max = this.o.config.smtp.maxMessageSize;
    return {
      ...inner,
      onRcptTo: async (s, rcpt, env) => {
        if (rcpt.address.toLowerCase() === target) {
          rcpt.data = SELFTEST;
          return;
        }
        return inner.onRcptTo(s, rcpt, env);
      },
      onData: async (s: SmtpSessionInfo, env: Envelope): Promise<MessageSink> => {
        const mine = env.rcptTo.some((r) => r.data === SELFTEST);
        if (!mine) return inner.onData(s, env);
        const others = env.rcptTo.filter((r) => r.data !== SELFTEST);
        const innerSink = others.length ? await inner.onData(s, { ...env, rcptTo: others }) : null;
        const chunks: Buffer[] = [];
        let size = 0;
        return {
          write: async (c) => {
            size += c.length;
            if (size <= max) chunks.push(c);
            if (innerSink) await innerSink.write(c);
          },
          end: async (stats): Promise<SmtpReply> => {
            const reply = innerSink ? await innerSink.end(stats) : { code: 250, enhanced: '2.0.0', text: `Ok: deliverability test accepted; the report goes to <${env.mailFrom.address}>` };
            if (reply.code < 300 && size <= max) {
              const p = this.selfTest(kind, s, env.mailFrom.address, Buffer.concat(chunks)).catch((err) =>
                this.o.log.error({ err, conn: s.id }, 'deliverability test failed'),
              );
              this.pending.add(p);
              void p.finally(() => this.pending.delete(p));
            }
            return reply;
          },
          abort: async () => {
            if (innerSink) await innerSink.abort();
          },
        };
      },
    };
  }

  private async selfTest(kind: 'mx' | 'submission', s: SmtpSessionInfo, sender: string, message: Buffer): Promise<void> {
    const c = this.o.config;
    let ip = s.remoteAddress;
    let helo = s.helo ?? '';
    let data = message;
    if (kind === 'submission') {
      // What remote receivers will see: mail leaving from our address with our HELO, with the Date and
      // Message-ID submission adds, signed with the From domain's DKIM keys.
      const a = publicAddresses(c);
      ip = a.ipv4[0] ?? a.ipv6[0] ?? ip;
      helo = c.hostname;
      data = await this.prepareSubmitted(message);
    }
    const report = await runSelfTest({
      message: data,
      ip,
      helo,
      sender,
      tls: s.tls,
      hostname: c.hostname,
      resolver: this.o.resolver,
      dnsblZones: c.dnsbl.zones,
      spamd: c.deliverability.spamd ? { address: c.deliverability.spamd, timeoutMs: c.deliverability.spamdTimeoutMs } : null,
    });
    const { fields } = parseHeader(message);
    const autoSubmitted = fields.find((f) => f.name === 'auto-submitted')?.value.toLowerCase();
    let replied: 'local' | 'queued' | 'none' = 'none';
    let why = '';
    if (!sender) why = 'null sender';
    else if (autoSubmitted && autoSubmitted !== 'no') why = `Auto-Submitted: ${autoSubmitted}`;
    else {
      const reply = reportMessage({
        hostname: c.hostname,
        to: sender,
        report,
        inReplyTo: fields.find((f) => f.name === 'message-id')?.value ?? null,
        subject: fields.find((f) => f.name === 'subject')?.value ?? null,
      });
      if (await this.o.deliverLocal(sender, reply).catch(() => false)) replied = 'local';
      else if (kind === 'submission' || report.auth.spf === 'pass') {
        await this.o.enqueue(reply, '', [sender], 'deliverability');
        replied = 'queued';
      } else why = `SPF ${report.auth.spf} for the sender (no report to unverified remote senders)`;
    }
    this.o.log.info(
      { conn: s.id, client: s.remoteAddress, from: sender, score: report.score, spf: report.auth.spf, dkim: report.auth.dkim, dmarc: report.auth.dmarc, replied, ...(why ? { noReply: why } : {}) },
      'deliverability test',
    );
    const fromDomain = (/@([^@\s>]+)>?\s*$/.exec(report.message.from ?? '')?.[1] ?? '').toLowerCase();
    if (fromDomain && (await this.o.store.listDomains()).some((d) => d.name.toLowerCase() === fromDomain)) {
      this.deliverability.set(fromDomain, { domain: fromDomain, at: new Date().toISOString(), source: 'message', sender, report });
    }
    for (const f of this.selfTests) f({ sender, report, replied });
  }

  /**
   * The deliverability report of a hosted domain without sending anything: a test message from postmaster@DOMAIN
   * goes through what the deliverability address does with submitted mail (Date, Message-ID, the domain's DKIM
   * signature, our public address and HELO) and runSelfTest scores it like `mailwright test-deliverability`.
   */
  async testDomain(domain: string, onStep?: StepReporter): Promise<DeliverabilityResult> {
    const c = this.o.config;
    const d = domain.toLowerCase();
    const a = publicAddresses(c);
    const ip = a.ipv4[0] ?? a.ipv6[0];
    if (!ip) throw new UserError('no public address is known: set publicAddresses.ipv4 (or ipv6) in the configuration, then try again');
    const sender = `postmaster@${d}`;
    onStep?.(`test message from ${sender}, as sent from ${ip} (HELO ${c.hostname})`, 'info');
    const raw = Buffer.from(
      [
        `From: <${sender}>`,
        `To: <${c.deliverability.address ?? 'deliverability'}@${c.hostname}>`,
        `Subject: Deliverability test of ${d}`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        `This message tests how receivers see mail from ${d} sent by ${c.hostname}.`,
        '',
      ].join('\r\n'),
    );
    const data = await this.prepareSubmitted(raw);
    const signed = data.toString('latin1').startsWith('DKIM-Signature:');
    onStep?.(signed ? `signed with the DKIM key of ${d}` : `not signed: ${d} has no DKIM key (mailwright dkim generate ${d})`, signed ? 'pass' : 'fail');
    onStep?.('checking SPF, DKIM, DMARC, PTR, HELO, blocklists and the header (DNS look-ups)', 'info');
    const report = await runSelfTest({
      message: data,
      ip,
      helo: c.hostname,
      sender,
      hostname: c.hostname,
      resolver: this.o.resolver,
      dnsblZones: c.dnsbl.zones,
      spamd: c.deliverability.spamd ? { address: c.deliverability.spamd, timeoutMs: c.deliverability.spamdTimeoutMs } : null,
    });
    for (const i of report.items) onStep?.(`${i.section}: ${i.message}`, i.status);
    onStep?.(`score ${report.score}/10`, report.score >= 9 ? 'pass' : report.score >= 6 ? 'warn' : 'fail');
    const result: DeliverabilityResult = { domain: d, at: new Date().toISOString(), source: 'web', sender, report };
    this.deliverability.set(d, result);
    return result;
  }

  /** The latest deliverability report of each domain (web tests and messages to the test address). */
  deliverabilityResults(): Record<string, DeliverabilityResult> {
    return Object.fromEntries(this.deliverability);
  }

  private async prepareSubmitted(message: Buffer): Promise<Buffer> {
    const c = this.o.config;
    const { fields } = parseHeader(message);
    let extra = '';
    if (!fields.some((f) => f.name === 'date')) extra += `Date: ${rfc5322Date()}\r\n`;
    if (!fields.some((f) => f.name === 'message-id')) extra += `Message-ID: <${newQueueId()}@${c.hostname}>\r\n`;
    let data = extra ? Buffer.concat([Buffer.from(extra), message]) : message;
    const from = fields.find((f) => f.name === 'from');
    if (from) {
      const hosted = (await this.o.store.listDomains()).map((d) => d.name);
      const domain = signingDomainFor(from.value, hosted);
      if (domain) {
        const keys = await this.dkim.activeKeys(domain);
        if (keys.length) data = Buffer.concat([Buffer.from(await signMessage(data, { domain, keys, hostname: c.hostname })), data]);
      }
    }
    return data;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.race([Promise.all([...this.pending]), new Promise((r) => setTimeout(r, 5000).unref())]);
    if (this.current) await this.current;
  }
}
