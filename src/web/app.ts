/**
 * The web admin (/admin) and the self-service pages of mail users (/account), served by the HTTPS listener
 * (listen.https; on listen.http they redirect there, see httpsRedirect) through the shared route table.
 * Server-rendered HTML, no build step, plus a JSON API under /admin/api/ and /account/api/ for the same actions.
 * Long actions (DNS checks, deliverability tests, imports, queue actions on many messages) run as jobs with a
 * progress page (jobs.ts); errors say what went wrong and what to do (webAdvice for the stores' CLI wording).
 *
 * Every action calls the functions the CLI uses (AccountService, the AccountStore, queueCommand, buildRecords,
 * the DNS checks): there is no second implementation. Security:
 *  - every page and API call needs a session (pages redirect to the login, the API answers 401); admin pages and
 *    the admin API refuse mail-user sessions (403), and the self-service pages only ever use the session's own
 *    address (no address parameter is read);
 *  - sessions live in memory: random 32-byte ids in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS), idle
 *    expiry web.sessionIdleMinutes; a new id at each login;
 *  - CSRF: every POST carries the session's token (hidden field `_csrf`, or header X-CSRF-Token for the API);
 *    the login forms use a pre-login token cookie; API calls must be application/json; a foreign Origin is refused;
 *  - logins are rate limited by the shared LoginThrottle (per IP and per account, like IMAP/SMTP AUTH);
 *  - every admin action is logged with the admin's name; passwords are never logged;
 *  - responses carry CSP default-src 'self', X-Frame-Options DENY, nosniff, no-referrer and Cache-Control no-store.
 */
import type { Logger } from 'pino';
import type { Config, ListenerName } from '../config/schema.js';
import type { AccountStore } from '../store/types.js';
import type { AccountService } from '../accounts/service.js';
import { generatePassword, parseQuota } from '../accounts/service.js';
import type { MailStore } from '../store/mail/index.js';
import type { QueueManager, QueueListItem } from '../queue/manager.js';
import { queueCommand, selectIds, type QueueCommand } from '../queue/admin.js';
import type { DkimKeyStore } from '../dkim/keys.js';
import type { TlsMaterial } from '../tls/certs.js';
import type { DnsStatus, DeliverabilityResult } from '../dnscheck/service.js';
import { JobRunner, type Job, type Progress } from './jobs.js';
import type { CheckReport } from '../dnscheck/checks.js';
import { buildRecords, listenerPort, recordsJson, type RecordsReport } from '../dnscheck/records.js';
import { publicAddresses } from '../dnscheck/addresses.js';
import { LoginThrottle, sleep } from '../auth/throttle.js';
import { UserError, NotFoundError, ConflictError } from '../common/errors.js';
import { withMethods, type HttpRequestInfo, type HttpResponse, type HttpRoute } from '../server/http/server.js';
import { AdminStore, requireAdminName } from './admins.js';
import { SessionStore, randomToken, sameToken, type Session, type SessionKind } from './sessions.js';
import { CSS, JOBS_JS, form, html, page, raw, type Html } from './html.js';

export interface WebDeps {
  config: Config;
  store: AccountStore;
  /** AccountService with the DKIM hook (keys are made when a domain is added), as the CLI builds it. */
  accounts: AccountService;
  admins: AdminStore;
  mail: Pick<MailStore, 'quotaUsage'>;
  queue: QueueManager;
  dkim: DkimKeyStore;
  tls: Pick<TlsMaterial, 'notAfter' | 'selfSigned'>;
  /** Bound listener addresses (filled in while the server starts). */
  addresses: Partial<Record<ListenerName, { host: string; port: number }>>;
  dnsStatus(): DnsStatus;
  dnsCheck(domain?: string, onStep?: Progress): Promise<CheckReport[]>;
  /** The deliverability self-test of a hosted domain and the latest results (DnsServices). */
  deliverability: {
    testDomain(domain: string, onStep?: Progress): Promise<DeliverabilityResult>;
    deliverabilityResults(): Record<string, DeliverabilityResult>;
  };
  throttle: LoginThrottle;
  /** The HTTP listener's route table (the web routes are added to it; autoconfig links appear when it has them). */
  routes: Map<string, HttpRoute>;
  log: Logger;
}

type Params = Record<string, unknown>;
interface ActionResult {
  message: string;
  data?: unknown;
  /** Shown once (a generated password). */
  secret?: string;
}

const SESSION_COOKIE = 'mw_session';
const PRE_COOKIE = 'mw_login';
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const ADMIN_NAV: Array<[string, string]> = [
  ['/admin/status', 'Status'],
  ['/admin/domains', 'Domains'],
  ['/admin/users', 'Users'],
  ['/admin/aliases', 'Aliases'],
  ['/admin/queue', 'Queue'],
  ['/admin/jobs', 'Progress'],
  ['/admin/admins', 'Admins'],
];
const QUEUE_STATES = ['incoming', 'active', 'deferred', 'hold'] as const;
/** Queue ids per queueCommand call in a long queue action (progress after each batch). */
const QUEUE_BATCH = 200;
/** Actions that query the network: always jobs when started from a form. */
const SLOW_ACTIONS = new Set(['domains/check', 'domains/check-all', 'domains/deliverability', 'users/import']);
/** Lines of one users/import. */
const MAX_IMPORT = 5000;

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
const opt = (v: unknown): string | undefined => str(v) || undefined;
const bool = (v: unknown): boolean => v === true || v === 'on' || v === 'true' || v === '1' || v === 'yes';
const list = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(str).filter(Boolean) : str(v).split(/[\s,]+/).filter(Boolean);
const need = (v: unknown, what: string): string => {
  const s = str(v);
  if (!s) throw new UserError(`${what} is missing: fill it in and try again`);
  return s;
};

/**
 * The stores and the CLI word some errors for the command line ("use --force", "mailwright domain add"): in the
 * web they say what to do on the page instead, and errors that only said what went wrong get the next step.
 */
const WEB_ADVICE: Array<[RegExp, string]> = [
  [/: remove them first, or use --force$/, ': remove them first, or tick "with its users and aliases" to remove everything'],
  [/^(domain \S+ is not hosted here) \(add it first: mailwright domain add \S+\)$/, '$1: add it first on the Domains page (or reload the page if it was just removed)'],
  [/^(domain \S+ already exists)$/, '$1: it is in the list already'],
  [/^(user \S+ already exists)$/, '$1: set its password in the list instead, or pick another address'],
  [/^(no such user: \S+)$/, '$1: it may have been removed; reload the Users page'],
  [/^(no such alias: .+)$/, '$1: it may have been removed; reload the Aliases page'],
  [/^(alias .+ already exists)$/, '$1: nothing to do'],
  [/^(\S+ is a user; an alias cannot have the same address)$/, '$1: pick another source address, or remove the user first'],
  [/^(alias \S+ cannot point to itself)$/, '$1: enter another destination'],
  [/^(invalid [a-z ]*address '.*': expected local-part@domain) \(RFC 5321\)$/, '$1, e.g. alice@example.com'],
  [/^name the messages: .*$/, 'no messages selected: send "ids" (queue ids), "sender", "domain" or "all": true'],
  [/^(no message \S+ in the queue)$/, '$1: it was delivered, bounced or deleted; reload the queue page'],
];

export function webAdvice(message: string): string {
  for (const [re, to] of WEB_ADVICE) if (re.test(message)) return message.replace(re, to);
  return message;
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function fmtBytes(n: number): string {
  if (!n) return '0';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** A refused action that is the client's fault but not a bad request: wrong current password (403), lockout (429). */
class ForbiddenError extends UserError {}
class TooManyError extends UserError {}

function statusOf(err: unknown): number {
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof TooManyError) return 429;
  if (err instanceof ConflictError) return 409;
  return 400;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class WebApp {
  readonly sessions: SessionStore;
  /** Waits after a failed login as long as the throttle says (tests replace it). */
  failDelay: (ms: number) => Promise<void> = sleep;
  private readonly d: WebDeps;
  private readonly actions: Record<string, (p: Params, who: string, progress: Progress) => Promise<ActionResult>>;
  /** Long actions: the forms run them as jobs with a progress page (the JSON API also via jobs/start). */
  readonly jobs: JobRunner;
  private readonly views: Record<string, (q: URLSearchParams) => Promise<unknown>>;

  constructor(deps: WebDeps) {
    this.d = deps;
    this.sessions = new SessionStore(deps.config.web.sessionIdleMinutes * 60_000);
    const { accounts, store, queue } = deps;
    this.jobs = new JobRunner({ onError: (job, err) => deps.log.error({ err, admin: job.admin, action: job.action, job: job.id }, 'web job failed') });
    const queueAction = (cmd: QueueCommand) => async (p: Params, _who: string, progress: Progress) => {
      // `filter`: every message the queue page lists with these filters (the page's "all shown" buttons).
      const ids = bool(p.filter) ? (await this.queueData(new URLSearchParams({ sender: str(p.fsender), domain: str(p.fdomain), state: str(p.fstate) }))).map((i) => i.id) : list(p.ids);
      if (bool(p.filter) && !ids.length) throw new UserError('no message in the queue matches the filter any more: reload the queue page');
      const args = { ids, sender: p.sender === undefined ? undefined : str(p.sender), domain: opt(p.domain), all: bool(p.all) };
      const verb = cmd === 'flush' ? 'scheduled for delivery now' : cmd === 'delete' ? 'deleted' : cmd === 'hold' ? 'put on hold' : cmd === 'release' ? 'released' : 'requeued';
      if (cmd === 'flush' && !ids.length) {
        // Every message not on hold: one pass over the queue in memory.
        const r = (await queueCommand(queue, 'flush', {})) as { count: number };
        progress(`${r.count} message(s) ${verb}`, 'pass');
        return { message: `${r.count} message(s) ${verb}`, data: r };
      }
      // The same selection as the CLI (queue ids, sender, recipient domain, all), worked through in batches so
      // that a long run reports its progress.
      const targets = cmd === 'flush' ? ids : selectIds(await queue.list(), args);
      progress(`${targets.length} message(s) selected`, 'info');
      let count = 0;
      for (let i = 0; i < targets.length; i += QUEUE_BATCH) {
        const batch = targets.slice(i, i + QUEUE_BATCH);
        count += ((await queueCommand(queue, cmd, { ids: batch })) as { count: number }).count;
        progress(`${Math.min(i + QUEUE_BATCH, targets.length)}/${targets.length} done (${count} ${verb})`, 'pass');
      }
      if (!count && (ids.length || targets.length)) {
        throw new UserError(
          targets.length
            ? `none of the ${targets.length} selected message(s) was ${verb}: they left the queue meanwhile or are already in that state (only held messages can be released); reload the queue page`
            : 'none of the selected messages is in the queue any more (delivered, bounced or deleted): reload the queue page',
        );
      }
      return { message: `${count} message(s) ${verb}`, data: { count } };
    };
    this.actions = {
      'domains/add': async (p) => {
        const d = await accounts.addDomain(need(p.name, 'the domain name'));
        return { message: `domain ${d.name} added (DKIM keys created): publish its DNS records`, data: { name: d.name } };
      },
      'domains/remove': async (p) => {
        const name = need(p.name, 'the domain name');
        await store.removeDomain(name, { force: bool(p.force) });
        return { message: `domain ${name} removed` };
      },
      'domains/check': async (p, _who, progress) => {
        const name = need(p.name, 'the domain name');
        const d = await store.getDomain(name);
        if (!d) throw new NotFoundError(`domain ${name} is not hosted here: add it on the Domains page first`);
        const [r] = await this.d.dnsCheck(d.name, progress);
        if (!r) throw new Error('the DNS check did not run (see the server log)');
        return { message: `DNS check of ${d.name}: ${r.summary.pass} pass, ${r.summary.warn} warn, ${r.summary.fail} fail${r.summary.fail ? ': the fix for each failure is on the domain page' : ''}`, data: r };
      },
      'domains/check-all': async (_p, _who, progress) => {
        if (!(await store.listDomains()).length) throw new UserError('no domains are hosted yet: add one on the Domains page first');
        const reports = await this.d.dnsCheck(undefined, progress);
        if (!reports.length) throw new Error('the DNS check did not run (see the server log)');
        const fail = reports.reduce((n, r) => n + r.summary.fail, 0);
        return { message: `DNS check of ${reports.length} domain(s): ${fail} failed check(s)${fail ? ': open each domain for the fixes' : ''}`, data: reports };
      },
      'domains/deliverability': async (p, _who, progress) => {
        const name = need(p.name, 'the domain name');
        const d = await store.getDomain(name);
        if (!d) throw new NotFoundError(`domain ${name} is not hosted here: add it on the Domains page first`);
        const r = await this.d.deliverability.testDomain(d.name, progress);
        const { text, ...rest } = r.report;
        return { message: `deliverability of ${d.name}: ${r.report.score}/10${r.report.deductions.length ? ` (${r.report.deductions.length} problem(s): the fixes are on the domain page)` : ''}`, data: { ...r, report: { ...rest, text } } };
      },
      'users/add': async (p) => {
        const r = await accounts.addUser(need(p.address, 'the address'), opt(p.password), { quotaBytes: parseQuota(opt(p.quota)) });
        return {
          message: `user ${r.user.address} added${r.generated ? ' with a generated password' : ''}`,
          data: { address: r.user.address, ...(r.generated ? { password: r.password } : {}) },
          secret: r.generated ? r.password : undefined,
        };
      },
      'users/import': async (p, _who, progress) => {
        // One user per line: "address[,password[,quota]]" (empty password: generated); # starts a comment.
        const lines = str(p.lines).split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
        if (!lines.length) throw new UserError('no users to import: enter one per line as address,password,quota (password and quota may be empty)');
        if (lines.length > MAX_IMPORT) throw new UserError(`${lines.length} lines is too many for one import: split them into parts of at most ${MAX_IMPORT}`);
        progress(`${lines.length} line(s) to import`, 'info');
        const added: string[] = [];
        const failed: Array<{ line: number; text: string; error: string }> = [];
        const generated: string[] = [];
        for (const [i, line] of lines.entries()) {
          // The password is everything between the first and the last comma (so it may contain commas itself).
          const parts = line.split(',');
          const address = parts[0]!.trim();
          const password = parts.length > 2 ? parts.slice(1, -1).join(',').trim() : (parts[1] ?? '').trim();
          const quota = parts.length > 2 ? parts[parts.length - 1]!.trim() : '';
          try {
            const r = await accounts.addUser(address, password || undefined, { quotaBytes: parseQuota(quota || undefined) });
            added.push(r.user.address);
            if (r.generated) generated.push(`${r.user.address} ${r.password}`);
            progress(`line ${i + 1}: ${r.user.address} added${r.generated ? ' (generated password)' : ''}`, 'pass');
          } catch (err) {
            if (!(err instanceof UserError)) throw err;
            const error = webAdvice(err.message);
            failed.push({ line: i + 1, text: address, error });
            progress(`line ${i + 1}: ${address || '(empty address)'}: ${error}`, 'fail');
          }
        }
        return {
          message: `${added.length} user(s) added, ${failed.length} line(s) failed${failed.length ? ': fix those lines (listed above) and import them again' : ''}`,
          data: { added, failed },
          secret: generated.length ? generated.join('\n') : undefined,
        };
      },
      'users/password': async (p) => {
        const address = need(p.address, 'the address');
        const r = await accounts.setPassword(address, opt(p.password));
        this.sessions.destroyAll('user', (await store.getUser(address))?.address ?? address);
        return {
          message: `password of ${address} changed${r.generated ? ' to a generated one' : ''}`,
          data: r.generated ? { password: r.password } : {},
          secret: r.generated ? r.password : undefined,
        };
      },
      'users/quota': async (p) => {
        const address = need(p.address, 'the address');
        const q = parseQuota(need(p.quota, 'the quota (0 = unlimited)'))!;
        await store.setQuota(address, q);
        return { message: `quota of ${address} set to ${q ? fmtBytes(q) : 'unlimited'}` };
      },
      'users/disable': async (p) => {
        const address = need(p.address, 'the address');
        await store.setEnabled(address, false);
        this.sessions.destroyAll('user', (await store.getUser(address))?.address ?? address);
        return { message: `user ${address} disabled (cannot log in; mail is still accepted)` };
      },
      'users/enable': async (p) => {
        const address = need(p.address, 'the address');
        await store.setEnabled(address, true);
        return { message: `user ${address} enabled` };
      },
      'users/remove': async (p) => {
        const address = need(p.address, 'the address');
        const u = await store.getUser(address);
        await store.removeUser(address);
        if (u) this.sessions.destroyAll('user', u.address);
        return { message: `user ${address} removed (its Maildir on disk is kept)` };
      },
      'aliases/add': async (p) => {
        const source = need(p.source, 'the alias source (user@domain, or @domain for a catch-all)');
        const dests = list(p.destination);
        if (!dests.length) throw new UserError('the destination is missing: enter one or more addresses (separated by commas)');
        const added = [];
        for (const dst of dests) added.push(await store.addAlias(source, dst));
        return { message: added.map((a) => `alias ${a.source} -> ${a.destination} added`).join('; '), data: added.map((a) => ({ source: a.source, destination: a.destination })) };
      },
      'admins/add': async (p) => {
        const given = typeof p.password === 'string' && p.password !== '' ? p.password : undefined;
        if (given !== undefined && given.length < 8) throw new UserError('the password must have at least 8 characters: choose a longer one, or leave it empty to generate one');
        const pw = given ?? generatePassword();
        const a = await this.d.admins.add(need(p.name, 'the admin name (e.g. alice)'), pw);
        return {
          message: `admin ${a.name} added${given ? '' : ' with a generated password'}: they log in at /admin/login`,
          data: { name: a.name, ...(given ? {} : { password: pw }) },
          secret: given ? undefined : pw,
        };
      },
      'admins/remove': async (p, who) => {
        const name = requireAdminName(need(p.name, 'the admin name'));
        await this.d.admins.remove(name);
        this.sessions.destroyAll('admin', name);
        return { message: `admin ${name} removed${name === who ? ' (that was you: you are logged out)' : ''}` };
      },
      'admins/password': async (p, who) => {
        // Only one's own password, and only with the current one (a stolen session cannot lock the admin out).
        const current = typeof p.current === 'string' ? p.current : '';
        const next = typeof p.password === 'string' ? p.password : '';
        const confirm = p.confirm === undefined ? next : typeof p.confirm === 'string' ? p.confirm : '';
        const ip = str(p._ip);
        const key = `admin:${who}`;
        if (this.d.throttle.isLockedOut(ip, key)) throw new TooManyError(`too many wrong passwords: wait ${Math.ceil(this.d.config.limits.loginLockoutSeconds / 60)} minutes, then try again`);
        if (next.length < 8) throw new UserError('the new password must have at least 8 characters: choose a longer one');
        if (next !== confirm) throw new UserError('the two new passwords differ: type the same one twice');
        if (!(await this.d.admins.authenticate(who, current))) {
          await this.failDelay(this.d.throttle.fail(ip, key, 'web-admin'));
          throw new ForbiddenError('the current password is wrong: type the password you logged in with');
        }
        await this.d.admins.setPassword(who, next);
        this.sessions.destroyAll('admin', who, (p._session as string | undefined) ?? undefined);
        return { message: 'your admin password was changed; your other sessions were logged out' };
      },
      'aliases/remove': async (p) => {
        const n = await store.removeAlias(need(p.source, 'the alias source'), opt(p.destination));
        return { message: `${n} alias entr${n === 1 ? 'y' : 'ies'} removed`, data: { count: n } };
      },
      'queue/flush': queueAction('flush'),
      'queue/hold': queueAction('hold'),
      'queue/release': queueAction('release'),
      'queue/delete': queueAction('delete'),
      'queue/requeue': queueAction('requeue'),
    };
    this.views = {
      domains: () => this.domainsData(),
      'domains/show': (q) => this.domainData(need(q.get('name'), 'name')),
      users: async (q) => (await store.listUsers(opt(q.get('domain')))).map((u) => ({ address: u.address, quotaBytes: u.quotaBytes, enabled: u.enabled })),
      aliases: async (q) => (await store.listAliases(opt(q.get('domain')))).map((a) => ({ source: a.source, destination: a.destination })),
      queue: (q) => this.queueData(q),
      'queue/show': (q) => this.queueShow(need(q.get('id'), 'id')),
      status: () => this.statusData(),
      jobs: async () => this.jobs.list().map((j) => jobJson(j)),
      admins: async () => (await this.d.admins.list()).map((a) => ({ name: a.name, createdAt: a.createdAt.toISOString() })),
    };
  }

  /** Adds the routes to the HTTP listener's table. */
  register(routes: Map<string, HttpRoute>): void {
    const h = withMethods(['GET', 'HEAD', 'POST'], (req) => this.handle(req));
    for (const p of ['/admin', '/admin/*', '/account', '/account/*']) routes.set(p, h);
  }

  async handle(req: HttpRequestInfo): Promise<HttpResponse> {
    let r: HttpResponse;
    try {
      r = await this.route(req);
    } catch (err) {
      if (err instanceof HttpError) r = this.errorResponse(req, err.status, err.message);
      else throw err;
    }
    return { ...r, headers: { ...SECURITY_HEADERS, ...r.headers } };
  }

  // ------------------------------------------------------------------------------------------------ plumbing

  /** Over HTTPS: our own listen.https, or a reverse proxy that says so. */
  private viaHttps(req: HttpRequestInfo): boolean {
    return req.secure || String(req.headers['x-forwarded-proto'] ?? '').toLowerCase() === 'https';
  }

  private secure(req: HttpRequestInfo): boolean {
    const mode = this.d.config.web.secureCookies;
    if (mode === 'always') return true;
    if (mode === 'never') return false;
    return this.viaHttps(req);
  }

  /**
   * With listen.https on (and web.httpsRedirect), the admin and self-service pages on plain HTTP move to HTTPS:
   * the redirect target, or null. Everything else on listen.http (ACME http-01, MTA-STS, autoconfig) stays.
   */
  httpsRedirect(req: HttpRequestInfo): string | null {
    const https = this.d.addresses.https;
    if (!https || !this.d.config.web.httpsRedirect || this.viaHttps(req)) return null;
    if (!/^\/(admin|account)(\/|$)/.test(req.path)) return null;
    // The name the browser used (when it is a plain host name or address), else the configured hostname.
    let host = /^([a-z0-9-]+\.)*[a-z0-9-]+$/.test(req.host) || /^[0-9a-f:.]+$/.test(req.host) ? req.host : this.d.config.hostname;
    if (host.includes(':')) host = `[${host}]`;
    const port = https.port === 443 ? '' : `:${https.port}`;
    const qs = req.query.toString();
    return `https://${host}${port}${req.path}${qs ? `?${qs}` : ''}`;
  }

  private cookie(req: HttpRequestInfo, name: string, value: string, maxAge?: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict${this.secure(req) ? '; Secure' : ''}${maxAge !== undefined ? `; Max-Age=${maxAge}` : ''}`;
  }

  private session(req: HttpRequestInfo): Session | undefined {
    return this.sessions.get(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
  }

  private isApi(req: HttpRequestInfo): boolean {
    return req.path.startsWith('/admin/api/') || req.path.startsWith('/account/api/');
  }

  private errorResponse(req: HttpRequestInfo, status: number, message: string): HttpResponse {
    if (this.isApi(req)) return json(status, { error: message });
    return { status, contentType: 'text/html; charset=utf-8', body: page({ title: `Error ${status}` }, html`<p>${message}</p><p><a href="/admin">Admin</a> · <a href="/account">Account</a></p>`) };
  }

  /** A foreign Origin (another site posting here) is refused whatever else the request carries. */
  private checkOrigin(req: HttpRequestInfo): void {
    const origin = req.headers.origin;
    if (!origin || origin === 'null') return;
    let host: string;
    try {
      host = new URL(origin).host.toLowerCase();
    } catch {
      throw new HttpError(403, 'bad Origin header');
    }
    if (host !== String(req.headers.host ?? '').toLowerCase()) throw new HttpError(403, 'cross-origin request refused');
  }

  private params(req: HttpRequestInfo): Params {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (this.isApi(req)) {
      if (!ct.startsWith('application/json')) throw new HttpError(415, 'send application/json');
      if (!req.body.length) return {};
      try {
        const v = JSON.parse(req.body.toString('utf8')) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error();
        return v as Params;
      } catch {
        throw new HttpError(400, 'the body is not a JSON object');
      }
    }
    const out: Params = {};
    for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev as string, v];
    }
    return out;
  }

  /** The session of the right kind; pages redirect to the login, the API answers 401/403. POSTs need the CSRF token. */
  private require(req: HttpRequestInfo, kind: SessionKind, p?: Params): Session | HttpResponse {
    const s = this.session(req);
    const base = kind === 'admin' ? '/admin' : '/account';
    if (!s) {
      if (this.isApi(req)) return json(401, { error: 'log in first' });
      if (req.method === 'POST') return this.errorResponse(req, 401, 'your session has expired: log in again');
      return redirect(`${base}/login?next=${encodeURIComponent(req.path)}`);
    }
    if (s.kind !== kind) {
      return this.errorResponse(req, 403, kind === 'admin' ? 'this page is for administrators; you are logged in as a mail user' : 'this page is for mail users; log in with your mail address');
    }
    if (req.method === 'POST') {
      const token = this.isApi(req) ? String(req.headers['x-csrf-token'] ?? '') : str(p?._csrf);
      if (!sameToken(token, s.csrf)) return this.errorResponse(req, 403, 'missing or wrong CSRF token: reload the page and try again');
    }
    return s;
  }

  private async route(req: HttpRequestInfo): Promise<HttpResponse> {
    const path = req.path.replace(/\/+$/, '') || '/';
    if (path === '/admin/style.css') return { status: 200, contentType: 'text/css; charset=utf-8', body: CSS, headers: { 'cache-control': 'no-cache' } };
    if (path === '/admin/jobs.js') return { status: 200, contentType: 'text/javascript; charset=utf-8', body: JOBS_JS, headers: { 'cache-control': 'no-cache' } };
    if (req.method === 'POST') this.checkOrigin(req);
    if (path.startsWith('/account')) return this.routeAccount(req, path);
    if (path === '/admin') return redirect('/admin/status');
    if (path === '/admin/login') return req.method === 'POST' ? this.login(req, 'admin') : this.loginPage(req, 'admin');
    if (path === '/admin/api/login') return req.method === 'POST' ? this.login(req, 'admin') : json(405, { error: 'POST' });

    const p = req.method === 'POST' ? this.params(req) : undefined;
    const s = this.require(req, 'admin', p);
    if (!('kind' in s)) return s;

    if (path === '/admin/logout' || path === '/admin/api/logout') {
      if (req.method !== 'POST') throw new HttpError(405, 'log out with POST');
      return this.logout(req, s, '/admin/login');
    }
    if (path.startsWith('/admin/api/')) {
      const name = path.slice('/admin/api/'.length);
      if (name === 'me') return json(200, { kind: s.kind, name: s.name, csrf: s.csrf });
      if (name === 'jobs/show' && req.method !== 'POST') {
        const job = this.jobs.get(str(req.query.get('id')));
        if (!job) return json(404, { error: 'no such job: it finished more than an hour ago or the server restarted; start the action again' });
        // Generated passwords of an import: once, to the admin who started it.
        return json(200, jobJson(job, this.jobs.takeSecret(job, s.name)));
      }
      if (name === 'jobs/start') {
        if (req.method !== 'POST') return json(405, { error: 'POST {"action": "...", ...the action\'s fields}' });
        const action = str(p!.action);
        if (!this.actions[action]) return json(404, { error: `no action ${action || '(missing "action")'}: see docs/configuration.md (Web admin) for the list` });
        try {
          const job = this.startJob(action, p!, s, '/admin/jobs');
          return json(202, { ok: true, id: job.id, state: job.state, url: `/admin/jobs/view?id=${job.id}` });
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          return json(429, { error: err.message });
        }
      }
      if (req.method === 'POST') {
        const action = this.actions[name];
        if (!action) return json(404, { error: `no action ${name}: see docs/configuration.md (Web admin) for the actions` });
        try {
          p!._ip = req.remoteAddress;
          const r = await this.runAction(name, p!, s);
          return json(200, { ok: true, message: r.message, ...(r.data !== undefined ? { result: r.data } : {}), ...(r.secret ? { secret: r.secret } : {}) });
        } catch (err) {
          if (!(err instanceof UserError)) return json(500, { error: this.unexpected(name, s, err) });
          return json(statusOf(err), { error: err.message });
        }
      }
      const view = this.views[name];
      if (!view) return json(404, { error: `no such resource ${name}: see docs/configuration.md (Web admin) for the API` });
      try {
        return json(200, await view(req.query));
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        return json(statusOf(err), { error: webAdvice(err.message) });
      }
    }
    if (path.startsWith('/admin/action/')) {
      if (req.method !== 'POST') throw new HttpError(405, 'actions are POSTed by the forms');
      const name = path.slice('/admin/action/'.length);
      if (!this.actions[name]) throw new HttpError(404, `no action ${name}`);
      const back = str(p!._return);
      const to = /^\/admin\/[a-z/]*(\?[\w=&%.@+-]*)?$/.test(back) ? back : '/admin/status';
      if (this.isLong(name, p!)) {
        try {
          const job = this.startJob(name, p!, s, to);
          return redirect(`/admin/jobs/view?id=${job.id}`);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          s.flash = { kind: 'error', text: err.message };
          return redirect(to);
        }
      }
      try {
        p!._ip = req.remoteAddress;
        const r = await this.runAction(name, p!, s);
        s.flash = { kind: 'ok', text: r.message, secret: r.secret };
      } catch (err) {
        s.flash = { kind: 'error', text: err instanceof UserError ? err.message : this.unexpected(name, s, err) };
      }
      return redirect(to);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
    const flash = s.flash ?? null;
    s.flash = null;
    const render = async (title: string, current: string, body: () => Promise<Html>) => {
      let content: Html;
      try {
        content = await body();
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        content = html`<div class="flash error">${webAdvice(err.message)}</div>`;
      }
      return htmlPage(page({ title, nav: ADMIN_NAV, current, user: s.name, csrf: s.csrf, flash }, content));
    };
    switch (path) {
      case '/admin/status':
        return render('Status', path, () => this.statusPage());
      case '/admin/domains':
        return render('Domains', path, () => this.domainsPage(s));
      case '/admin/domains/view':
        return render(`Domain ${req.query.get('name') ?? ''}`, '/admin/domains', () => this.domainPage(s, need(req.query.get('name'), 'the domain name')));
      case '/admin/users':
        return render('Users', path, () => this.usersPage(s, req.query));
      case '/admin/aliases':
        return render('Aliases', path, () => this.aliasesPage(s));
      case '/admin/queue':
        return render('Queue', path, () => this.queuePage(s, req.query));
      case '/admin/admins':
        return render('Admins', path, () => this.adminsPage(s));
      case '/admin/jobs':
        return render('Long actions', '/admin/jobs', () => this.jobsPage());
      case '/admin/jobs/view':
        return render('Progress', '/admin/jobs', () => this.jobPage(s, need(req.query.get('id'), 'the job id')));
      case '/admin/queue/show':
        return render(`Queued message ${req.query.get('id') ?? ''}`, '/admin/queue', () => this.queueShowPage(s, need(req.query.get('id'), 'the queue id')));
    }
    throw new HttpError(404, 'no such page');
  }

  /** An error that is not the admin's fault (database down, disk full, a bug): logged in full, summarised for the page. */
  private unexpected(name: string, s: Session, err: unknown): string {
    this.d.log.error({ err, admin: s.name, action: name }, `admin ${s.name}: ${name} failed`);
    return `${name} failed unexpectedly (${(err as Error).message}): nothing or only part of it was done; see the server log (component web), fix the cause and try again`;
  }

  /** Run as a job with a progress page: the network checks, and queue actions on many messages. */
  private isLong(name: string, p: Params): boolean {
    if (SLOW_ACTIONS.has(name)) return true;
    return name.startsWith('queue/') && (bool(p.filter) || list(p.ids).length > QUEUE_BATCH);
  }

  private startJob(name: string, p: Params, s: Session, back: string): Job {
    const title = JOB_TITLES[name]?.(p) ?? name;
    const job = this.jobs.start({ action: name, title, admin: s.name, back }, async (progress) => {
      const r = await this.runAction(name, p, s, progress);
      return { message: r.message, data: r.data, secret: r.secret };
    });
    this.d.log.info({ admin: s.name, action: name, job: job.id }, `admin ${s.name} started: ${title}`);
    return job;
  }

  private async runAction(name: string, p: Params, s: Session, progress: Progress = () => {}): Promise<ActionResult> {
    p._session = s.id;
    const logged: Params = {};
    // Passwords (new, current, repeated) and the form's plumbing are never logged.
    for (const [k, v] of Object.entries(p)) if (!k.startsWith('_') && !['password', 'current', 'confirm'].includes(k)) logged[k] = v;
    // An import's lines hold passwords: only their number is logged.
    if (typeof logged.lines === 'string') logged.lines = `${logged.lines.split(/\r?\n/).filter((l) => l.trim()).length} line(s)`;
    try {
      const r = await this.actions[name]!(p, s.name, progress);
      this.d.log.info({ admin: s.name, action: name, params: logged }, `admin ${s.name}: ${r.message}`);
      return r;
    } catch (err) {
      if (err instanceof UserError) {
        err.message = webAdvice(err.message);
        this.d.log.info({ admin: s.name, action: name, params: logged, error: err.message }, `admin ${s.name}: ${name} refused`);
      }
      throw err;
    }
  }

  // ------------------------------------------------------------------------------------------------ login

  private loginPage(req: HttpRequestInfo, kind: SessionKind, error?: string, nextPath?: string): HttpResponse {
    const token = randomToken();
    const base = kind === 'admin' ? '/admin' : '/account';
    const next = nextPath ?? str(req.query.get('next') ?? '');
    const body = html`<div class="login">
${error ? html`<div class="flash error" role="alert">${error}</div>` : ''}
<form method="post" action="${base}/login"><input type="hidden" name="_csrf" value="${token}"><input type="hidden" name="next" value="${next}">
<label>${kind === 'admin' ? 'Admin name' : 'Mail address'}<br><input name="username" autocomplete="username" required autofocus></label>
<label>Password<br><input name="password" type="password" autocomplete="current-password" required></label>
<button>Log in</button></form>
<p><small>${kind === 'admin' ? html`Mail users: <a href="/account/login">your account</a>. First admin: <code>mailwright admin add NAME</code>.` : html`Administrators: <a href="/admin/login">web admin</a>.`}</small></p></div>`;
    return {
      ...htmlPage(page({ title: kind === 'admin' ? 'Admin login' : 'Your mail account' }, body), error ? 401 : 200),
      headers: { 'set-cookie': this.cookie(req, PRE_COOKIE, token, 3600) },
    };
  }

  private async login(req: HttpRequestInfo, kind: SessionKind): Promise<HttpResponse> {
    const api = this.isApi(req);
    const p = this.params(req);
    if (!api && !sameToken(str(p._csrf), parseCookies(req.headers.cookie)[PRE_COOKIE])) {
      return this.loginPage(req, kind, 'The login form expired (or cookies are blocked): try again.', str(p.next));
    }
    const username = str(p.username);
    const password = typeof p.password === 'string' ? p.password : '';
    const ip = req.remoteAddress;
    const account = `${kind}:${username.toLowerCase()}`;
    const throttle = this.d.throttle;
    const fail = async (msg: string, status = 401) => {
      this.d.log.info({ ip, [kind === 'admin' ? 'admin' : 'user']: username, web: kind }, `web login failed`);
      return api ? json(status, { error: msg }) : this.loginPage(req, kind, msg, str(p.next));
    };
    if (!username || !password) return fail(`enter both your ${kind === 'admin' ? 'admin name' : 'mail address'} and your password`, 400);
    if (throttle.isLockedOut(ip, account)) return fail(`too many failed logins: wait ${Math.ceil(this.d.config.limits.loginLockoutSeconds / 60)} minutes, then try again`, 429);
    const name = kind === 'admin' ? await this.d.admins.authenticate(username, password) : (await this.d.accounts.authenticate(username, password))?.address ?? null;
    if (!name) {
      const delay = throttle.fail(ip, account, `web-${kind}`);
      await this.failDelay(delay);
      return fail(
        kind === 'admin'
          ? 'wrong name or password: check both (another admin can set a new password, or run mailwright admin passwd NAME on the server)'
          : 'wrong address or password: log in with your full mail address; your administrator can set a new password',
      );
    }
    throttle.succeed(ip, account);
    const old = this.session(req);
    if (old) this.sessions.destroy(old.id);
    const s = this.sessions.create(kind, name);
    this.d.log.info({ ip, [kind === 'admin' ? 'admin' : 'user']: name, web: kind }, `web login: ${name}`);
    const setCookie = this.cookie(req, SESSION_COOKIE, s.id);
    if (api) return { ...json(200, { ok: true, name, csrf: s.csrf }), headers: { 'set-cookie': setCookie } };
    const next = str(p.next);
    const base = kind === 'admin' ? '/admin' : '/account';
    const to = next.startsWith(`${base}/`) && /^[\w/.-]+$/.test(next) && !next.includes('login') ? next : base;
    return withHeaders(redirect(to), { 'set-cookie': setCookie });
  }

  private logout(req: HttpRequestInfo, s: Session, to: string): HttpResponse {
    this.sessions.destroy(s.id);
    this.d.log.info({ [s.kind === 'admin' ? 'admin' : 'user']: s.name, web: s.kind }, `web logout: ${s.name}`);
    const clear = this.cookie(req, SESSION_COOKIE, '', 0);
    return withHeaders(this.isApi(req) ? json(200, { ok: true }) : redirect(to), { 'set-cookie': clear });
  }

  // ------------------------------------------------------------------------------------------------ data

  private async domainsData() {
    const status = this.d.dnsStatus();
    const users = await this.d.store.listUsers();
    return (await this.d.store.listDomains()).map((d) => ({
      name: d.name,
      users: users.filter((u) => u.address.toLowerCase().endsWith('@' + d.name)).length,
      check: status.domains[d.name]?.summary ?? null,
      checkedAt: status.domains[d.name]?.checkedAt ?? null,
      deliverability: this.d.deliverability.deliverabilityResults()[d.name.toLowerCase()]?.report.score ?? null,
    }));
  }

  private async records(domain: string): Promise<RecordsReport> {
    const d = await this.d.store.getDomain(domain);
    if (!d) throw new NotFoundError(`domain ${domain} is not hosted here: add it on the Domains page first`);
    await this.d.dkim.ensureKeys(d.name);
    return buildRecords(this.d.config, d.name, publicAddresses(this.d.config), await this.d.dkim.dnsRecords(d.name));
  }

  private async domainData(domain: string) {
    const r = await this.records(domain);
    return { records: recordsJson(r), check: this.d.dnsStatus().domains[r.domain] ?? null, deliverability: this.d.deliverability.deliverabilityResults()[r.domain] ?? null };
  }

  private async queueData(q: URLSearchParams): Promise<QueueListItem[]> {
    const sender = (q.get('sender') ?? '').trim().toLowerCase();
    const domain = (q.get('domain') ?? '').trim().toLowerCase().replace(/^@/, '');
    const state = (q.get('state') ?? '').trim();
    const items = (await queueCommand(this.d.queue, 'list')) as QueueListItem[];
    return items.filter(
      (i) =>
        (!sender || i.sender.toLowerCase().includes(sender)) &&
        (!domain || i.recipients.some((r) => r.address.toLowerCase().endsWith('@' + domain))) &&
        (!state || i.state === state),
    );
  }

  private async queueShow(id: string) {
    const r = (await queueCommand(this.d.queue, 'show', { id })) as QueueListItem & { message: string; entry: unknown };
    // The envelope and the header only: the body of someone's mail is not the admin's business here.
    const end = r.message.search(/\r?\n\r?\n/);
    const header = (end < 0 ? r.message : r.message.slice(0, end)).slice(0, 64 * 1024);
    const { message: _m, entry: _e, ...item } = r;
    return { ...item, header };
  }

  private async statusData() {
    const c = this.d.config;
    const items = (await queueCommand(this.d.queue, 'list')) as QueueListItem[];
    const byState: Record<string, number> = { incoming: 0, active: 0, deferred: 0, hold: 0 };
    for (const i of items) byState[i.state] = (byState[i.state] ?? 0) + 1;
    const failures = items
      .filter((i) => i.lastError || i.recipients.some((r) => r.lastError))
      .sort((a, b) => b.arrival.localeCompare(a.arrival))
      .slice(0, 20)
      .map((i) => ({ id: i.id, sender: i.sender, state: i.state, attempts: i.attempts, recipients: i.recipients.filter((r) => r.status !== 'delivered').map((r) => r.address), error: i.lastError ?? i.recipients.find((r) => r.lastError)?.lastError ?? '' }));
    const dns = this.d.dnsStatus();
    const notAfter = this.d.tls.notAfter;
    return {
      hostname: c.hostname,
      listeners: Object.entries(this.d.addresses).map(([name, a]) => ({ name, address: `${a!.host}:${a!.port}` })),
      certificate: { notAfter: notAfter.toISOString(), daysLeft: Math.floor((notAfter.getTime() - Date.now()) / 86400_000), selfSigned: this.d.tls.selfSigned },
      queue: { total: items.length, byState },
      failures,
      dns: {
        lastRun: dns.lastRun,
        nextRun: dns.nextRun,
        domains: Object.values(dns.domains).map((r) => ({ domain: r.domain, checkedAt: r.checkedAt, summary: r.summary, failing: r.checks.filter((x) => x.status !== 'pass') })),
        blocklists: Object.values(dns.domains)
          .map((r) => r.checks.find((x) => x.id === 'dnsbl'))
          .filter((x) => x !== undefined)[0] ?? null,
        changes: dns.changes.slice(-20),
      },
      logins: this.d.throttle.lockouts(),
    };
  }

  // ------------------------------------------------------------------------------------------------ admin pages

  private hidden(name: string, value: string): Html {
    return html`<input type="hidden" name="${name}" value="${value}">`;
  }

  private act(s: Session, name: string, fields: Html, button: string, back: string, cls = ''): Html {
    return form(`/admin/action/${name}`, s.csrf, html`${this.hidden('_return', back)}${fields}`, button, cls);
  }

  private async statusPage(): Promise<Html> {
    const st = await this.statusData();
    const cert = st.certificate;
    return html`<h2>Listeners</h2><table><tr><th>Service</th><th>Address</th></tr>${st.listeners.map((l) => html`<tr><td>${l.name}</td><td>${l.address}</td></tr>`)}</table>
<h2>Certificate</h2><p>${st.hostname}: valid until ${cert.notAfter} (<span class="${cert.daysLeft < 14 ? 'fail' : cert.daysLeft < 30 ? 'warn' : 'pass'}">${cert.daysLeft} days left</span>)${cert.selfSigned ? html` — <span class="warn">self-signed</span>: mail clients will warn; configure tls.cert/tls.key or acme.` : ''}</p>
<h2>Queue</h2><table><tr>${QUEUE_STATES.map((s) => html`<th>${s}</th>`)}<th>total</th></tr><tr>${QUEUE_STATES.map((s) => html`<td>${st.queue.byState[s] ?? 0}</td>`)}<td>${st.queue.total}</td></tr></table>
<h2>Recent delivery failures</h2>${st.failures.length ? html`<table><tr><th>Queue id</th><th>Sender</th><th>Recipients</th><th>State</th><th>Attempts</th><th>Last error</th></tr>${st.failures.map((f) => html`<tr><td><a href="/admin/queue/show?id=${encodeURIComponent(f.id)}">${f.id}</a></td><td>${f.sender || '<>'}</td><td>${f.recipients.join(', ')}</td><td>${f.state}</td><td>${f.attempts}</td><td>${f.error}</td></tr>`)}</table>` : html`<p>None in the queue.</p>`}
<h2>DNS and blocklists</h2><p>Monitoring: last run ${st.dns.lastRun ?? 'not yet'}${st.dns.nextRun ? html`, next ${st.dns.nextRun}` : ''}. Run a check from a domain's page.</p>
${st.dns.blocklists ? html`<p>Blocklists: <span class="${st.dns.blocklists.status}">${st.dns.blocklists.status}</span> — ${st.dns.blocklists.message}${st.dns.blocklists.fix ? html`<br><small>Fix: ${st.dns.blocklists.fix}</small>` : ''}</p>` : html`<p>Blocklists: not checked yet.</p>`}
${st.dns.domains.length ? html`<table><tr><th>Domain</th><th>Checked</th><th>pass</th><th>warn</th><th>fail</th><th>Problems</th></tr>${st.dns.domains.map((d) => html`<tr><td><a href="/admin/domains/view?name=${encodeURIComponent(d.domain)}">${d.domain}</a></td><td>${d.checkedAt}</td><td>${d.summary.pass}</td><td>${d.summary.warn}</td><td>${d.summary.fail}</td><td>${d.failing.map((x) => html`<div><span class="${x.status}">${x.status}</span> ${x.title}: ${x.message}</div>`)}</td></tr>`)}</table>` : ''}
<h2>Logins</h2><p>Locked out now: ${st.logins.ips} address(es), ${st.logins.accounts} account(s).</p>`;
  }

  private async domainsPage(s: Session): Promise<Html> {
    const ds = await this.domainsData();
    const back = '/admin/domains';
    return html`${this.act(s, 'domains/add', html`<label>New domain <input name="name" placeholder="example.com" required></label>`, 'Add domain', back, 'block')}
${ds.length ? html`<p>${this.act(s, 'domains/check-all', html``, 'Check DNS of all domains', back)} <small>Runs in the background and shows each check as it completes.</small></p>` : ''}
<table><tr><th>Domain</th><th>Users</th><th>DNS check</th><th>Deliverability</th><th></th></tr>
${ds.map((d) => html`<tr><td><a href="/admin/domains/view?name=${encodeURIComponent(d.name)}">${d.name}</a></td><td>${d.users}</td>
<td>${d.check ? html`<span class="pass">${d.check.pass} pass</span> <span class="warn">${d.check.warn} warn</span> <span class="fail">${d.check.fail} fail</span>` : 'not checked yet'}</td>
<td>${d.deliverability === null ? 'not tested yet' : html`<span class="${scoreClass(d.deliverability)}">${d.deliverability}/10</span>`}</td>
<td><a href="/admin/domains/view?name=${encodeURIComponent(d.name)}">DNS records</a> ${this.act(s, 'domains/remove', html`${this.hidden('name', d.name)}<label><input type="checkbox" name="force"> with its users and aliases</label>`, 'Remove', back)}</td></tr>`)}
</table>${ds.length ? '' : html`<p>No domains yet: add the first one above.</p>`}`;
  }

  private async domainPage(s: Session, name: string): Promise<Html> {
    const r = await this.records(name);
    const check = this.d.dnsStatus().domains[r.domain];
    const back = `/admin/domains/view?name=${encodeURIComponent(r.domain)}`;
    const purposes = [...new Set(r.records.map((x) => x.purpose))];
    return html`<p>Publish these records at your DNS provider. Each box can be copied as a whole (zone-file syntax).</p>
${r.warnings.map((w) => html`<div class="flash error">${w}</div>`)}
<h2>DNS records</h2>
${purposes.map((p) => html`<h3>${p}</h3>${(r.comments[p] ?? []).map((c) => html`<p><small>${c}</small></p>`)}<pre class="records" data-purpose="${p}">${r.records.filter((x) => x.purpose === p).map((x) => x.zone).join('\n')}</pre>`)}
<h3>All records</h3><pre class="records" id="all-records">${r.records.map((x) => x.zone).join('\n')}</pre>
<h3>MTA-STS policy (served at ${r.mtaSts.url})</h3><pre>${r.mtaSts.policy}</pre>
<h2>DNS check</h2>
${this.act(s, 'domains/check', this.hidden('name', r.domain), 'Check now', back)} <small>Queries the DNS, the blocklists and the certificate; takes a few seconds (a progress page shows each check).</small>
${check ? html`<p>Checked ${check.checkedAt}: ${check.summary.pass} pass, ${check.summary.warn} warn, ${check.summary.fail} fail.</p>
<table><tr><th>Check</th><th>Status</th><th>Found</th><th>Fix</th></tr>${check.checks.map((c) => html`<tr><td>${c.title}</td><td class="${c.status}">${c.status}</td><td>${c.message}</td><td>${c.fix ? html`<pre>${c.fix}</pre>` : ''}</td></tr>`)}</table>` : html`<p>Not checked yet.</p>`}
${this.deliverabilitySection(s, r.domain, back)}`;
  }

  /** The deliverability report of a domain: what `mailwright test-deliverability` prints, as a table and as text. */
  private deliverabilitySection(s: Session, domain: string, back: string): Html {
    const res = this.d.deliverability.deliverabilityResults()[domain];
    const addr = this.d.config.deliverability.address ? `${this.d.config.deliverability.address}@${this.d.config.hostname}` : null;
    const r = res?.report;
    return html`<h2>Deliverability</h2>
<p>${this.act(s, 'domains/deliverability', this.hidden('name', domain), 'Test deliverability', back)} <small>Scores a test message from postmaster@${domain} out of 10 as a receiving mail server would (SPF, DKIM, DMARC, PTR, HELO, blocklists, header${this.d.config.deliverability.spamd ? ', SpamAssassin' : ''}), like <code>mailwright test-deliverability</code>.${addr ? html` Or send any message from a mail app to <code>${addr}</code>: its report appears here too.` : ''}</small></p>
${r ? html`<div id="deliverability"><p><span class="score ${scoreClass(r.score)}" id="deliverability-score">${r.score}/10</span> — ${res!.source === 'web' ? 'test message' : html`message from ${res!.sender} to the test address`}, ${res!.at}; tested as client ${r.tested.ip}, HELO ${r.tested.helo}.</p>
<table><tr><th>Check</th><th>Status</th><th>Found</th></tr>${r.items.map((i) => html`<tr><td>${i.section}</td><td class="${i.status}">${i.status}</td><td>${i.message}</td></tr>`)}</table>
${r.deductions.length ? html`<h3>What costs points, and the fix</h3><table id="deductions"><tr><th>Points</th><th>Problem</th><th>Why it matters</th><th>Fix</th></tr>${r.deductions.map((x) => html`<tr><td class="fail">-${x.points}</td><td>${x.what}</td><td>${x.why}</td><td>${x.fix}</td></tr>`)}</table>` : html`<p class="pass">No deductions: this mail should reach the inbox.</p>`}
<details><summary>The report as text (as the CLI prints it)</summary><pre id="deliverability-text">${r.text}</pre></details></div>` : html`<p>Not tested yet.</p>`}`;
  }

  private async usersPage(s: Session, q: URLSearchParams): Promise<Html> {
    const domain = opt(q.get('domain'));
    const users = await this.d.store.listUsers(domain);
    const back = '/admin/users';
    return html`${this.act(s, 'users/add', html`<label>Address <input name="address" type="email" placeholder="user@example.com" required></label>
<label>Password <input name="password" type="password" autocomplete="new-password" placeholder="empty: generate one"></label>
<label>Quota <input name="quota" placeholder="e.g. 2G (0 = unlimited)" size="10"></label>`, 'Add user', back, 'block')}
<details><summary>Import many users</summary>${this.act(s, 'users/import', html`<label>One user per line: <code>address,password,quota</code> (an empty password is generated and shown once on the progress page; an empty quota is unlimited)<br>
<textarea name="lines" rows="6" cols="70" required placeholder="alice@example.com,,2G&#10;bob@example.com,a-good-password,"></textarea></label>`, 'Import users', back, 'block')}</details>
<table><tr><th>Address</th><th>Quota</th><th>State</th><th>Actions</th></tr>
${users.map((u) => html`<tr><td>${u.address}</td><td>${u.quotaBytes ? fmtBytes(u.quotaBytes) : 'unlimited'}</td><td>${u.enabled ? 'enabled' : html`<span class="warn">disabled</span>`}</td><td>
${this.act(s, 'users/password', html`${this.hidden('address', u.address)}<input name="password" type="password" autocomplete="new-password" placeholder="new password (empty: generate)">`, 'Set password', back)}
${this.act(s, 'users/quota', html`${this.hidden('address', u.address)}<input name="quota" size="8" placeholder="2G" required>`, 'Set quota', back)}
${this.act(s, u.enabled ? 'users/disable' : 'users/enable', this.hidden('address', u.address), u.enabled ? 'Disable' : 'Enable', back)}
${this.act(s, 'users/remove', this.hidden('address', u.address), 'Remove', back, 'danger')}</td></tr>`)}
</table>${users.length ? '' : html`<p>No users yet.</p>`}`;
  }

  private async aliasesPage(s: Session): Promise<Html> {
    const aliases = await this.d.store.listAliases();
    const back = '/admin/aliases';
    return html`${this.act(s, 'aliases/add', html`<label>Source <input name="source" placeholder="info@example.com or @example.com (catch-all)" required size="32"></label>
<label>Destination(s) <input name="destination" placeholder="user@example.com, other@example.org" required size="32"></label>`, 'Add alias', back, 'block')}
<table><tr><th>Source</th><th>Destination</th><th></th></tr>${aliases.map((a) => html`<tr><td>${a.source}${a.source.startsWith('@') ? html` <small>(catch-all)</small>` : ''}</td><td>${a.destination}</td><td>${this.act(s, 'aliases/remove', html`${this.hidden('source', a.source)}${this.hidden('destination', a.destination)}`, 'Remove', back)}</td></tr>`)}</table>
${aliases.length ? '' : html`<p>No aliases yet.</p>`}`;
  }

  private async queuePage(s: Session, q: URLSearchParams): Promise<Html> {
    const items = await this.queueData(q);
    const qs = q.toString();
    const back = `/admin/queue${qs ? `?${qs}` : ''}`;
    const st = q.get('state') ?? '';
    return html`<form method="get" action="/admin/queue" class="block"><label>Sender <input name="sender" value="${q.get('sender') ?? ''}"></label>
<label>Recipient domain <input name="domain" value="${q.get('domain') ?? ''}"></label>
<label>State <select name="state"><option value="">any</option>${QUEUE_STATES.map((x) => html`<option${x === st ? raw(' selected') : ''}>${x}</option>`)}</select></label><button>Filter</button></form>
<p>${items.length} message(s). ${this.act(s, 'queue/flush', html``, 'Retry all deferred now', back)}</p>
${items.length > 1 ? html`<p class="bulk">All ${items.length} shown: ${(['flush', 'hold', 'release', 'delete'] as const).map((c) => this.act(s, `queue/${c}`, html`${this.hidden('filter', '1')}${this.hidden('fsender', q.get('sender') ?? '')}${this.hidden('fdomain', q.get('domain') ?? '')}${this.hidden('fstate', q.get('state') ?? '')}`, { flush: 'Retry all shown', hold: 'Hold all shown', release: 'Release all shown', delete: 'Delete all shown' }[c], back, c === 'delete' ? 'danger' : ''))} <small>(runs in the background with a progress page)</small></p>` : ''}
<table><tr><th>Queue id</th><th>Arrival</th><th>Sender</th><th>Recipients</th><th>State</th><th>Size</th><th>Attempts</th><th>Last error</th><th>Actions</th></tr>
${items.map((i) => html`<tr><td><a href="/admin/queue/show?id=${encodeURIComponent(i.id)}">${i.id}</a></td><td>${i.arrival}</td><td>${i.sender || '<>'}</td>
<td>${i.recipients.filter((r) => r.status === 'pending').map((r) => html`<div>${r.address}</div>`)}</td><td>${i.state}</td><td>${fmtBytes(i.size)}</td><td>${i.attempts}</td><td>${i.lastError ?? ''}</td>
<td>${this.queueButtons(s, i, back)}</td></tr>`)}</table>`;
  }

  private queueButtons(s: Session, i: QueueListItem, back: string): Html {
    const id = this.hidden('ids', i.id);
    return html`${this.act(s, 'queue/flush', id, 'Retry now', back)}${i.state === 'hold' ? this.act(s, 'queue/release', id, 'Release', back) : this.act(s, 'queue/hold', id, 'Hold', back)}${this.act(s, 'queue/delete', id, 'Delete', back, 'danger')}`;
  }

  private async queueShowPage(s: Session, id: string): Promise<Html> {
    let r: Awaited<ReturnType<WebApp['queueShow']>>;
    try {
      r = await this.queueShow(id);
    } catch (err) {
      if (err instanceof UserError) return html`<div class="flash error">${err.message}: it was delivered, bounced or deleted.</div><p><a href="/admin/queue">Back to the queue</a></p>`;
      throw err;
    }
    return html`<table><tr><th>Queue id</th><td>${r.id}</td></tr><tr><th>State</th><td>${r.state}</td></tr><tr><th>Sender</th><td>${r.sender || '<> (a bounce)'}</td></tr>
<tr><th>Arrival</th><td>${r.arrival}</td></tr><tr><th>Size</th><td>${fmtBytes(r.size)}</td></tr><tr><th>Attempts</th><td>${r.attempts}</td></tr><tr><th>Next attempt</th><td>${r.nextAttempt ?? '-'}</td></tr>
<tr><th>Last error</th><td>${r.lastError ?? '-'}</td></tr></table>
<h2>Recipients</h2><table><tr><th>Address</th><th>Status</th><th>Last error</th></tr>${r.recipients.map((x) => html`<tr><td>${x.address}</td><td>${x.status}</td><td>${x.lastError ?? ''}</td></tr>`)}</table>
<p>${this.queueButtons(s, r, `/admin/queue`)}</p>
<h2>Header</h2><pre>${r.header}</pre>`;
  }

  private async adminsPage(s: Session): Promise<Html> {
    const admins = await this.d.admins.list();
    const back = '/admin/admins';
    return html`<p>Web admins are separate from mail users (the same accounts as <code>mailwright admin list</code>).</p>
${this.act(s, 'admins/add', html`<label>Name <input name="name" placeholder="alice" required pattern="[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}"></label>
<label>Password <input name="password" type="password" autocomplete="new-password" placeholder="empty: generate one"></label>`, 'Add admin', back, 'block')}
<table id="admins"><tr><th>Admin</th><th>Since</th><th></th></tr>${admins.map((a) => html`<tr><td>${a.name}${a.name === s.name ? html` <small>(you)</small>` : ''}</td><td>${a.createdAt.toISOString()}</td>
<td>${admins.length > 1 ? this.act(s, 'admins/remove', this.hidden('name', a.name), a.name === s.name ? 'Remove myself' : 'Remove', back, 'danger') : html`<small>the last admin cannot be removed</small>`}</td></tr>`)}</table>
<h2>Change your password</h2>
${this.act(s, 'admins/password', html`<label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
<label>New password <input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
<label>Repeat <input name="confirm" type="password" autocomplete="new-password" minlength="8" required></label>`, 'Change my password', back, 'block')}`;
  }

  private async jobsPage(): Promise<Html> {
    const jobs = this.jobs.list();
    return html`<p>DNS checks, deliverability tests and queue actions on many messages run here in the background; each shows its steps as they complete.</p>
${jobs.length ? html`<table><tr><th>Started</th><th>Action</th><th>By</th><th>State</th><th>Outcome</th></tr>${jobs.map((j) => html`<tr><td>${j.startedAt}</td><td><a href="/admin/jobs/view?id=${j.id}">${j.title}</a></td><td>${j.admin}</td><td class="${jobClass(j)}">${j.state}</td><td>${j.message ?? ''}</td></tr>`)}</table>` : html`<p>None in the last hour.</p>`}`;
  }

  private async jobPage(s: Session, id: string): Promise<Html> {
    const j = this.jobs.get(id);
    if (!j) throw new NotFoundError('no such job: it finished more than an hour ago or the server restarted; start the action again');
    const secret = this.jobs.takeSecret(j, s.name);
    return html`<div id="job" data-id="${j.id}" data-state="${j.state}">
<h2 id="job-title">${j.title}</h2>
<p>Started ${j.startedAt} by ${j.admin}. <span id="job-state" class="${jobClass(j)}">${j.state === 'running' ? 'running…' : j.state}</span></p>
<ol id="job-steps">${j.steps.map((st) => html`<li class="${st.status}">${st.text}</li>`)}</ol>
<div id="job-result" class="flash ${j.state === 'failed' ? 'error' : 'ok'}"${j.message ? '' : raw(' hidden')}>${j.message ?? ''}</div>
<div id="job-secret"${secret ? '' : raw(' hidden')}><pre class="secret">${secret ?? ''}</pre><small>Generated passwords, shown once: copy them now.</small></div>
<noscript><p>This page updates itself with JavaScript; without it, reload the page to see new steps.</p></noscript>
<p><a id="job-back" href="${j.back}">Back</a> · <a href="/admin/jobs">All long actions</a></p></div>
<script src="/admin/jobs.js"></script>`;
  }

  // ------------------------------------------------------------------------------------------------ self-service

  private async routeAccount(req: HttpRequestInfo, path: string): Promise<HttpResponse> {
    if (path === '/account/login') return req.method === 'POST' ? this.login(req, 'user') : this.loginPage(req, 'user');
    if (path === '/account/api/login') return req.method === 'POST' ? this.login(req, 'user') : json(405, { error: 'POST' });
    const p = req.method === 'POST' ? this.params(req) : undefined;
    const s = this.require(req, 'user', p);
    if (!('kind' in s)) return s;
    if (path === '/account/logout' || path === '/account/api/logout') {
      if (req.method !== 'POST') throw new HttpError(405, 'log out with POST');
      return this.logout(req, s, '/account/login');
    }
    if (path === '/account/password' || path === '/account/api/password') {
      if (req.method !== 'POST') throw new HttpError(405, 'POST the form');
      let result: { ok: boolean; message: string; status: number };
      const current = typeof p!.current === 'string' ? p!.current : '';
      const next = typeof p!.password === 'string' ? p!.password : '';
      const confirm = p!.confirm === undefined ? next : typeof p!.confirm === 'string' ? p!.confirm : '';
      if (this.d.throttle.isLockedOut(req.remoteAddress, `user:${s.name.toLowerCase()}`)) result = { ok: false, message: `too many wrong passwords: wait ${Math.ceil(this.d.config.limits.loginLockoutSeconds / 60)} minutes, then try again`, status: 429 };
      else if (next.length < 8) result = { ok: false, message: 'the new password must have at least 8 characters: choose a longer one', status: 400 };
      else if (next !== confirm) result = { ok: false, message: 'the two new passwords differ: type the same one twice', status: 400 };
      else if (!(await this.d.accounts.authenticate(s.name, current))) {
        const delay = this.d.throttle.fail(req.remoteAddress, `user:${s.name.toLowerCase()}`, 'web-user');
        await this.failDelay(delay);
        result = { ok: false, message: 'the current password is wrong: type the password you use in your mail app now', status: 403 };
      } else {
        await this.d.accounts.setPassword(s.name, next);
        this.sessions.destroyAll('user', s.name, s.id);
        this.d.log.info({ user: s.name, web: 'user' }, `user ${s.name} changed the password`);
        result = { ok: true, message: 'password changed: use the new one in your mail apps too', status: 200 };
      }
      if (path.startsWith('/account/api/')) return json(result.status, result.ok ? { ok: true, message: result.message } : { error: result.message });
      s.flash = { kind: result.ok ? 'ok' : 'error', text: result.message };
      return redirect('/account');
    }
    const me = await this.accountData(s);
    if (path === '/account/api/me') return json(200, { ...me, csrf: s.csrf });
    if (path !== '/account') throw new HttpError(404, 'no such page');
    const flash = s.flash ?? null;
    s.flash = null;
    return htmlPage(page({ title: 'Your mail account', user: s.name, csrf: s.csrf, flash, logoutAction: '/account/logout' }, this.accountPage(s, me)));
  }

  private async accountData(s: Session) {
    const user = await this.d.store.getUser(s.name);
    if (!user) {
      this.sessions.destroy(s.id);
      throw new HttpError(401, 'this account no longer exists');
    }
    const used = await this.d.mail.quotaUsage(user.address);
    const c = this.d.config;
    const port = (n: ListenerName) => listenerPort(c, n) ?? this.d.addresses[n]?.port ?? null;
    const servers: Array<{ service: string; host: string; port: number; security: string }> = [];
    const add = (service: string, n: ListenerName, security: string) => {
      const p = c.listen[n] ? port(n) : null;
      if (p) servers.push({ service, host: c.hostname, port: p, security });
    };
    add('IMAP', 'imaps', 'SSL/TLS');
    add('IMAP', 'imap', 'STARTTLS');
    add('POP3', 'pop3s', 'SSL/TLS');
    add('POP3', 'pop3', 'STARTTLS');
    add('SMTP (sending)', 'submissions', 'SSL/TLS');
    add('SMTP (sending)', 'submission', 'STARTTLS');
    const links: Array<{ label: string; href: string }> = [];
    if (this.d.routes.has('/apple/mobileconfig')) links.push({ label: 'Apple profile (.mobileconfig) for iPhone, iPad and Mac', href: `/apple/mobileconfig?email=${encodeURIComponent(user.address)}` });
    if (this.d.routes.has('/mail/config-v1.1.xml')) links.push({ label: 'Thunderbird autoconfig (found automatically)', href: `/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(user.address)}` });
    return {
      address: user.address,
      quota: { usedBytes: used.bytes, messages: used.messages, limitBytes: user.quotaBytes || null },
      servers,
      username: user.address,
      links,
    };
  }

  private accountPage(s: Session, me: Awaited<ReturnType<WebApp['accountData']>>): Html {
    const q = me.quota;
    const pct = q.limitBytes ? Math.min(100, Math.round((q.usedBytes / q.limitBytes) * 100)) : null;
    return html`<h2>Storage</h2><p>${fmtBytes(q.usedBytes)} in ${q.messages} message(s)${q.limitBytes ? html` of ${fmtBytes(q.limitBytes)} (${pct}%) <meter min="0" max="100" value="${pct}"></meter>` : ' (no quota)'}.</p>
<h2>Change password</h2>
${form('/account/password', s.csrf, html`<label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
<label>New password <input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
<label>Repeat <input name="confirm" type="password" autocomplete="new-password" minlength="8" required></label>`, 'Change password', 'block')}
<h2>Setting up your mail app</h2><p>User name: <code>${me.username}</code> (your full address) and your password.</p>
${me.servers.length ? html`<table><tr><th>Service</th><th>Server</th><th>Port</th><th>Security</th></tr>${me.servers.map((x) => html`<tr><td>${x.service}</td><td>${x.host}</td><td>${x.port}</td><td>${x.security}</td></tr>`)}</table>` : html`<p>Ask your administrator for the server names.</p>`}
${me.links.length ? html`<ul>${me.links.map((l) => html`<li><a href="${l.href}">${l.label}</a></li>`)}</ul>` : ''}
<p><small>Most apps (Thunderbird, Outlook, Apple Mail) find these settings themselves from your address.</small></p>`;
  }
}

const JOB_TITLES: Record<string, (p: Params) => string> = {
  'domains/check': (p) => `DNS check of ${str(p.name)}`,
  'domains/check-all': () => 'DNS check of every domain',
  'domains/deliverability': (p) => `Deliverability test of ${str(p.name)}`,
  'users/import': () => 'Import users',
  'queue/flush': () => 'Retry queued messages now',
  'queue/hold': () => 'Hold queued messages',
  'queue/release': () => 'Release held messages',
  'queue/delete': () => 'Delete queued messages',
  'queue/requeue': () => 'Requeue messages',
};

function jobJson(j: Job, secret?: string) {
  return { id: j.id, action: j.action, title: j.title, admin: j.admin, state: j.state, startedAt: j.startedAt, finishedAt: j.finishedAt, steps: j.steps, message: j.message, result: j.result, back: j.back, ...(secret ? { secret } : {}) };
}

function scoreClass(score: number): string {
  return score >= 9 ? 'pass' : score >= 6 ? 'warn' : 'fail';
}

function jobClass(j: Job): string {
  return j.state === 'failed' ? 'fail' : j.state === 'done' ? 'pass' : 'warn';
}

function json(status: number, body: unknown): HttpResponse {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) };
}

function withHeaders(r: HttpResponse, headers: Record<string, string>): HttpResponse {
  return { ...r, headers: { ...r.headers, ...headers } };
}

function redirect(to: string): HttpResponse {
  return { status: 303, body: '', headers: { location: to } };
}

function htmlPage(body: string, status = 200): HttpResponse {
  return { status, contentType: 'text/html; charset=utf-8', body };
}
