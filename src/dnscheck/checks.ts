/**
 * `mailwright dns check DOMAIN`: the setup doctor. Each check answers pass/warn/fail with the fix in one sentence:
 * host name (FQDN, resolves to us: the classic "deferred" cause), A/AAAA, MX, PTR with FCrDNS and the EHLO name,
 * SPF (a real evaluation with mailauth for each of our addresses, and for the host name's own SPF), DKIM (published
 * key = our key), DMARC, MTA-STS (TXT id and served policy agree with ours), TLS-RPT, DNS blocklists and the TLS
 * certificate. All lookups go through the configured resolver (dns.servers).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { spf as spfCheck } from 'mailauth';
import type { Config } from '../config/schema.js';
import type { Resolver } from '../dns/resolver.js';
import { CachingResolver } from '../mailauth/resolver.js';
import type { DkimKeyStore } from '../dkim/keys.js';
import { testDomain } from '../dkim/test.js';
import { isFqdn } from '../common/address.js';
import { allAddresses, isPrivateAddress, lookupPtr, sameIp, type PublicAddresses } from './addresses.js';
import { checkDnsbls } from './dnsbl.js';
import { mtaStsPolicy, parsePolicyText, parseStsTxt, policyId, policyText, samePolicy, stsTxtValue } from './mtasts.js';
import { DMARC_VALUE, HOST_SPF_VALUE, spfValue } from './records.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** The fix, one sentence (absent on pass). */
  fix?: string;
}

export interface CheckReport {
  domain: string;
  hostname: string;
  checkedAt: string;
  checks: CheckResult[];
  summary: Record<CheckStatus, number>;
}

export interface CheckContext {
  config: Pick<Config, 'hostname' | 'listen' | 'mtaSts' | 'dnsbl' | 'tls' | 'dataDir'>;
  domain: string;
  addresses: PublicAddresses;
  resolver: Resolver & { resolve(name: string, rrtype: string): Promise<unknown[]> };
  /** DKIM keys; null skips the DKIM check (reported as warn). */
  dkim: DkimKeyStore | null;
  /** The certificate in use (PEM), null when none exists yet. */
  certificate: { pem: Buffer | string; selfSigned?: boolean } | null;
  /** Fetches the policy we serve; null = could not fetch (server not running). Default: our listen.http. */
  fetchPolicy?: (domain: string) => Promise<string | null>;
  now?: Date;
  /** Called as each check finishes (progress in the web admin); the report is the same without it. */
  onCheck?: (result: CheckResult) => void;
}

const dnsCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;
const isNoRecord = (err: unknown) => ['ENOTFOUND', 'ENODATA'].includes((err as NodeJS.ErrnoException).code ?? '');

async function lookup<T>(fn: () => Promise<T[]>): Promise<{ ok: true; values: T[] } | { ok: false; none: boolean; code: string }> {
  try {
    return { ok: true, values: await fn() };
  } catch (err) {
    return { ok: false, none: isNoRecord(err), code: dnsCode(err) };
  }
}

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

export async function checkHostname(ctx: CheckContext): Promise<CheckResult> {
  const host = ctx.config.hostname;
  const base = { id: 'hostname', title: `host name ${host}` };
  if (!isFqdn(host)) {
    return { ...base, status: 'fail', message: `${host} is not a fully qualified domain name`, fix: 'Set hostname to the FQDN of this server, e.g. mail.example.com.' };
  }
  const [a, aaaa] = await Promise.all([lookup(() => ctx.resolver.resolve4(host)), lookup(() => ctx.resolver.resolve6(host))]);
  const found = [...(a.ok ? a.values : []), ...(aaaa.ok ? aaaa.values : [])];
  if (!found.length) {
    const temp = [a, aaaa].find((r) => !r.ok && !r.none) as { code: string } | undefined;
    if (temp) return { ...base, status: 'warn', message: `could not resolve ${host} (${temp.code})`, fix: 'Check that dns.servers can be reached, then run the check again.' };
    return {
      ...base,
      status: 'fail',
      message: `${host} does not resolve (no A/AAAA record): remote servers defer or reject mail from and to this host`,
      fix: `Publish an A record (and AAAA for IPv6) for ${host} with this server's public address.`,
    };
  }
  const ours = allAddresses(ctx.addresses);
  if (ours.length && !found.some((ip) => ours.some((o) => sameIp(o, ip)))) {
    return {
      ...base,
      status: 'fail',
      message: `${host} resolves to ${found.join(', ')}, none of which is ours (${ours.join(', ')})`,
      fix: `Point the A/AAAA records of ${host} at ${ours.join(', ')} (or correct publicAddresses).`,
    };
  }
  return { ...base, status: 'pass', message: `${host} is an FQDN and resolves to ${found.join(', ')}` };
}

export async function checkAddresses(ctx: CheckContext): Promise<CheckResult> {
  const host = ctx.config.hostname;
  const base = { id: 'addresses', title: `A/AAAA of ${host}` };
  const { ipv4, ipv6, warnings } = ctx.addresses;
  if (!ipv4.length && !ipv6.length) {
    return { ...base, status: 'warn', message: warnings.join('; ') || 'no public address known', fix: 'Set publicAddresses.ipv4/ipv6 in the configuration.' };
  }
  const problems: string[] = [];
  let fail = false;
  for (const [type, ours, get] of [
    ['A', ipv4, () => ctx.resolver.resolve4(host)],
    ['AAAA', ipv6, () => ctx.resolver.resolve6(host)],
  ] as const) {
    const r = await lookup(get);
    if (!r.ok && !r.none) {
      problems.push(`${type} lookup failed (${r.code})`);
      continue;
    }
    const published = r.ok ? r.values : [];
    const missing = ours.filter((o) => !published.some((p) => sameIp(p, o)));
    const foreign = published.filter((p) => !ours.some((o) => sameIp(p, o)));
    if (foreign.length) {
      fail = true;
      problems.push(`${type} has ${foreign.join(', ')}, not ours`);
    }
    if (missing.length) {
      if (!published.length && ours.length) fail = true;
      problems.push(`${type} lacks ${missing.join(', ')}`);
    }
  }
  if (warnings.length) problems.push(...warnings);
  if (!problems.length) return { ...base, status: 'pass', message: `${host} -> ${[...ipv4, ...ipv6].join(', ')} (${ctx.addresses.source})` };
  return {
    ...base,
    status: fail ? 'fail' : 'warn',
    message: problems.join('; '),
    fix: `Publish exactly these for ${host}: ${[...ipv4.map((x) => `A ${x}`), ...ipv6.map((x) => `AAAA ${x}`)].join(', ')} (see 'mailwright dns records').`,
  };
}

export async function checkMx(ctx: CheckContext): Promise<CheckResult> {
  const d = ctx.domain;
  const host = norm(ctx.config.hostname);
  const base = { id: 'mx', title: `MX of ${d}` };
  const r = await lookup(() => ctx.resolver.resolveMx(d));
  if (!r.ok) {
    if (!r.none) return { ...base, status: 'warn', message: `MX lookup failed (${r.code})`, fix: 'Check that dns.servers can be reached, then run the check again.' };
    return { ...base, status: 'fail', message: `${d} has no MX record: mail for it cannot reach this server`, fix: `Publish "${d}. IN MX 10 ${host}.".` };
  }
  const mx = [...r.values].sort((a, b) => a.priority - b.priority);
  const list = mx.map((m) => `${m.priority} ${m.exchange || '.'}`).join(', ');
  const ours = mx.filter((m) => norm(m.exchange) === host);
  if (!ours.length) return { ...base, status: 'fail', message: `MX is ${list}, not ${host}`, fix: `Point the MX of ${d} at ${host} ("${d}. IN MX 10 ${host}.").` };
  if (ours[0]!.priority > mx[0]!.priority) {
    return { ...base, status: 'warn', message: `MX is ${list}: ${host} is not the preferred one`, fix: `Give ${host} the lowest MX priority unless the other host is a backup MX you run.` };
  }
  return { ...base, status: 'pass', message: `MX ${list}` };
}

export async function checkPtr(ctx: CheckContext): Promise<CheckResult> {
  const host = norm(ctx.config.hostname);
  const base = { id: 'ptr', title: 'PTR (reverse DNS) of our addresses' };
  const ips = allAddresses(ctx.addresses);
  if (!ips.length) return { ...base, status: 'warn', message: 'no public address known', fix: 'Set publicAddresses.ipv4/ipv6 in the configuration.' };
  const parts: string[] = [];
  const fixes: string[] = [];
  let status: CheckStatus = 'pass';
  const worse = (s: CheckStatus) => (status = s === 'fail' || status === 'fail' ? 'fail' : s === 'warn' || status === 'warn' ? 'warn' : 'pass');
  for (const ip of ips) {
    const r = await lookup(() => lookupPtr(ctx.resolver, ip));
    if (!r.ok || !r.values.length) {
      if (r.ok || r.none) {
        worse('fail');
        parts.push(`${ip}: no PTR record`);
        fixes.push(`ask your hosting provider to set the PTR of ${ip} to ${host}`);
      } else {
        worse('warn');
        parts.push(`${ip}: PTR lookup failed (${r.code})`);
      }
      continue;
    }
    const names = r.values.map(norm);
    // FCrDNS: some PTR name must resolve back to the address.
    let confirmed: string | null = null;
    for (const n of names) {
      const f = await lookup(() => (ip.includes(':') ? ctx.resolver.resolve6(n) : ctx.resolver.resolve4(n)));
      if (f.ok && f.values.some((a) => sameIp(a, ip))) {
        confirmed = n;
        break;
      }
    }
    if (!confirmed) {
      worse('fail');
      parts.push(`${ip}: PTR ${names.join(', ')} does not resolve back to ${ip} (not forward-confirmed)`);
      fixes.push(names.includes(host) ? `publish the A/AAAA record ${host} -> ${ip}` : `ask your hosting provider to set the PTR of ${ip} to ${host}`);
      continue;
    }
    if (!names.includes(host)) {
      worse('warn');
      parts.push(`${ip}: PTR ${names.join(', ')} is forward-confirmed but is not our EHLO name ${host}`);
      fixes.push(`ask your hosting provider to set the PTR of ${ip} to ${host}`);
      continue;
    }
    parts.push(`${ip}: PTR ${host}, forward-confirmed`);
  }
  return { ...base, status, message: parts.join('; '), ...(fixes.length ? { fix: capital(fixes.join('; ')) + '.' } : {}) };
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

async function evaluateSpf(ctx: CheckContext, sender: string, id: string, title: string, expected: string): Promise<CheckResult> {
  const base = { id, title };
  const ips = allAddresses(ctx.addresses);
  if (!ips.length) return { ...base, status: 'warn', message: 'no public address known', fix: 'Set publicAddresses.ipv4/ipv6 in the configuration.' };
  const resolver = new CachingResolver(ctx.resolver).resolve;
  const parts: string[] = [];
  let status: CheckStatus = 'pass';
  let record: string | undefined;
  for (const ip of ips) {
    let result: string, comment: string | undefined;
    try {
      const r = await spfCheck({ sender, ip, helo: ctx.config.hostname, mta: ctx.config.hostname, resolver: resolver as never });
      result = r.status.result;
      comment = r.status.comment;
      record ??= r.rr;
    } catch (err) {
      result = 'temperror';
      comment = (err as Error).message;
    }
    if (result !== 'pass') status = result === 'temperror' && status === 'pass' ? 'warn' : 'fail';
    parts.push(`${ip}: ${result}${comment && result !== 'pass' ? ` (${comment})` : ''}`);
  }
  const domain = sender.slice(sender.lastIndexOf('@') + 1);
  const msg = `${parts.join('; ')}${record ? ` [record: ${record}]` : ''}`;
  if (status === 'pass') return { ...base, status, message: msg };
  const permerror = parts.some((p) => /permerror/.test(p));
  return {
    ...base,
    status,
    message: msg,
    fix: permerror
      ? `Fix the SPF record of ${domain} (at most 10 DNS-querying terms such as include/a/mx, one v=spf1 record), e.g. "${expected}".`
      : status === 'warn'
        ? 'Check that dns.servers can be reached, then run the check again.'
        : `Publish an SPF record for ${domain} that authorises our addresses: "${expected}".`,
  };
}

export function checkSpf(ctx: CheckContext): Promise<CheckResult> {
  return evaluateSpf(ctx, `dns-check@${ctx.domain}`, 'spf', `SPF of ${ctx.domain}`, spfValue(ctx.config.hostname, ctx.addresses));
}

/** The HELO identity and the SRS sender domain (forwarded mail) is the host name: it needs its own SPF. */
export function checkHostSpf(ctx: CheckContext): Promise<CheckResult> {
  const host = norm(ctx.config.hostname);
  return evaluateSpf(ctx, `postmaster@${host}`, 'spf-host', `SPF of ${host} (HELO, SRS)`, HOST_SPF_VALUE);
}

export async function checkDkim(ctx: CheckContext): Promise<CheckResult> {
  const base = { id: 'dkim', title: `DKIM keys of ${ctx.domain}` };
  if (!ctx.dkim) return { ...base, status: 'warn', message: 'DKIM keys not available to this check', fix: `Run 'mailwright dkim test ${ctx.domain}'.` };
  let r: Awaited<ReturnType<typeof testDomain>>;
  try {
    r = await testDomain(ctx.dkim, ctx.domain, ctx.resolver);
  } catch (err) {
    return { ...base, status: 'fail', message: (err as Error).message, fix: `Run 'mailwright dkim show ${ctx.domain}' and publish the records it prints.` };
  }
  const notOk = r.results.filter((x) => x.verdict !== 'ok');
  const msg = r.results.map((x) => `${x.selector} (${x.algorithm}${x.state === 'retiring' ? ', retiring' : ''}): ${x.verdict}`).join('; ');
  if (!notOk.length) return { ...base, status: 'pass', message: msg };
  const temp = notOk.every((x) => x.verdict === 'temperror');
  const activeBad = notOk.some((x) => x.state === 'active' && x.verdict !== 'temperror');
  return {
    ...base,
    status: activeBad ? 'fail' : 'warn',
    message: `${msg}. ${notOk.map((x) => x.message).join('; ')}`,
    fix: temp ? 'Check that dns.servers can be reached, then run the check again.' : `Publish the key record(s) printed by 'mailwright dkim show ${ctx.domain}' (${notOk.map((x) => x.name).join(', ')}).`,
  };
}

export type DmarcParse = { ok: true; tags: Record<string, string>; p: string } | { ok: false; error: string };

/** RFC 7489 §6.3/§6.4: v=DMARC1 first, tag=value pairs, p= required (none/quarantine/reject). */
export function parseDmarc(record: string): DmarcParse {
  const specs = record.split(';').map((s) => s.trim());
  if (specs[specs.length - 1] === '') specs.pop();
  const tags: Record<string, string> = {};
  for (const spec of specs) {
    const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(spec);
    if (!m) return { ok: false, error: `"${spec.slice(0, 40)}" is not tag=value (missing ";"?)` };
    const k = m[1]!.toLowerCase();
    if (k in tags) return { ok: false, error: `tag ${k}= appears twice` };
    tags[k] = m[2]!.trim();
  }
  if (specs[0] === undefined || !/^v\s*=\s*DMARC1$/.test(specs[0])) return { ok: false, error: 'must start with v=DMARC1' };
  const p = tags.p;
  if (p === undefined) return { ok: false, error: 'has no p= (policy) tag' };
  if (!['none', 'quarantine', 'reject'].includes(p.toLowerCase())) return { ok: false, error: `p=${p} is not none, quarantine or reject` };
  if (tags.sp !== undefined && !['none', 'quarantine', 'reject'].includes(tags.sp.toLowerCase())) return { ok: false, error: `sp=${tags.sp} is not none, quarantine or reject` };
  for (const k of ['adkim', 'aspf']) if (tags[k] !== undefined && !/^[rs]$/i.test(tags[k]!)) return { ok: false, error: `${k}=${tags[k]} is not r or s` };
  if (tags.pct !== undefined && !(/^\d{1,3}$/.test(tags.pct) && Number(tags.pct) <= 100)) return { ok: false, error: `pct=${tags.pct} is not 0-100` };
  for (const k of ['rua', 'ruf']) {
    if (tags[k] === undefined) continue;
    for (const uri of tags[k]!.split(',')) if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(uri.trim())) return { ok: false, error: `${k}= has an invalid URI "${uri.trim().slice(0, 40)}"` };
  }
  return { ok: true, tags, p: p.toLowerCase() };
}

export async function checkDmarc(ctx: CheckContext): Promise<CheckResult> {
  const d = ctx.domain;
  const base = { id: 'dmarc', title: `DMARC of ${d}` };
  const fix = `Publish "_dmarc.${d}. IN TXT \\"${DMARC_VALUE(d)}\\"".`;
  const r = await lookup(() => ctx.resolver.resolveTxt(`_dmarc.${d}`));
  if (!r.ok && !r.none) return { ...base, status: 'warn', message: `lookup failed (${r.code})`, fix: 'Check that dns.servers can be reached, then run the check again.' };
  const recs = (r.ok ? r.values : []).map((c) => c.join(''));
  const dmarc = recs.filter((x) => /^\s*v\s*=\s*DMARC1/i.test(x));
  if (!dmarc.length) {
    return { ...base, status: 'fail', message: recs.length ? `no v=DMARC1 record at _dmarc.${d} (found "${recs[0]!.slice(0, 60)}")` : `no DMARC record at _dmarc.${d}`, fix };
  }
  if (dmarc.length > 1) return { ...base, status: 'fail', message: `${dmarc.length} DMARC records (receivers then ignore DMARC)`, fix: `Keep exactly one: ${fix}` };
  const p = parseDmarc(dmarc[0]!);
  if (!p.ok) return { ...base, status: 'fail', message: `"${dmarc[0]!.slice(0, 80)}" is malformed: ${p.error}`, fix };
  if (p.p === 'none') return { ...base, status: 'warn', message: `p=none: monitoring only, forged mail is still delivered`, fix: 'Move to p=quarantine (then p=reject) once the aggregate reports show only legitimate senders.' };
  if (!p.tags.rua) return { ...base, status: 'warn', message: `p=${p.p} but no rua= (no aggregate reports)`, fix: `Add rua=mailto:dmarc-reports@${d} to see who sends as ${d}.` };
  return { ...base, status: 'pass', message: `p=${p.p}${p.tags.rua ? `, rua=${p.tags.rua}` : ''}` };
}

/** GET http://<listen.http>/.well-known/mta-sts.txt with Host: mta-sts.DOMAIN. */
export function fetchOwnPolicy(listen: string | false | null | undefined, domain: string, timeoutMs = 3000): Promise<string | null> {
  if (!listen) return Promise.resolve(null);
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  if (!host || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const port = Number(listen.slice(i + 1));
  if (!port) return Promise.resolve(null);
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/.well-known/mta-sts.txt', headers: { host: `mta-sts.${domain}` }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length + body.length > 65536 ? '' : c));
      res.on('end', () => resolve(res.statusCode === 200 ? body : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

export async function checkMtaSts(ctx: CheckContext): Promise<CheckResult> {
  const d = ctx.domain;
  const base = { id: 'mta-sts', title: `MTA-STS of ${d}` };
  const ours = mtaStsPolicy(ctx.config);
  const id = policyId(policyText(ours));
  const fixTxt = `Publish "_mta-sts.${d}. IN TXT \\"${stsTxtValue(id)}\\"".`;
  const r = await lookup(() => ctx.resolver.resolveTxt(`_mta-sts.${d}`));
  if (!r.ok && !r.none) return { ...base, status: 'warn', message: `lookup failed (${r.code})`, fix: 'Check that dns.servers can be reached, then run the check again.' };
  const recs = (r.ok ? r.values : []).map((c) => c.join('')).filter((x) => /^v\s*=\s*STSv1/.test(x));
  if (!recs.length) return { ...base, status: 'warn', message: `no _mta-sts.${d} TXT record: senders may deliver without TLS`, fix: fixTxt };
  if (recs.length > 1) return { ...base, status: 'fail', message: `${recs.length} STSv1 records (senders then ignore MTA-STS)`, fix: `Keep exactly one: ${fixTxt}` };
  const t = parseStsTxt(recs[0]!);
  if (!t.ok) return { ...base, status: 'fail', message: `_mta-sts.${d} TXT ${t.error}`, fix: fixTxt };
  const served = await (ctx.fetchPolicy ?? ((dom) => fetchOwnPolicy(ctx.config.listen.http, dom)))(d);
  const parts = [`TXT id=${t.id}`];
  if (served === null) {
    const bad = t.id !== id;
    return {
      ...base,
      status: bad ? 'fail' : 'warn',
      message: `${parts[0]}${bad ? ` but our policy's id is ${id}` : ''}; the policy could not be fetched from our HTTP listener (listen.http off or the server not running)`,
      fix: bad ? fixTxt : 'Start the server with listen.http on and serve https://mta-sts.' + d + '/.well-known/mta-sts.txt through it.',
    };
  }
  const p = parsePolicyText(served);
  if (!p) return { ...base, status: 'fail', message: `the served policy does not parse: "${served.slice(0, 80)}"`, fix: 'Restart the server so that it serves the current policy.' };
  if (!samePolicy(p, ours)) {
    return { ...base, status: 'fail', message: `the served policy (mode ${p.mode}, mx ${p.mx.join(',')}) differs from the configured one (mode ${ours.mode}, mx ${ours.mx.join(',')})`, fix: 'Restart the server so that it serves the current configuration.' };
  }
  const servedId = policyId(served);
  if (t.id !== servedId) {
    return { ...base, status: 'fail', message: `TXT id=${t.id} does not match the served policy (id ${servedId}): senders keep using a cached old policy`, fix: fixTxt };
  }
  return { ...base, status: 'pass', message: `TXT id=${t.id} matches the served policy (mode ${p.mode}, mx ${p.mx.join(', ')}, max_age ${p.maxAge})` };
}

export async function checkTlsRpt(ctx: CheckContext): Promise<CheckResult> {
  const d = ctx.domain;
  const base = { id: 'tls-rpt', title: `TLS-RPT of ${d}` };
  const r = await lookup(() => ctx.resolver.resolveTxt(`_smtp._tls.${d}`));
  if (!r.ok && !r.none) return { ...base, status: 'warn', message: `lookup failed (${r.code})`, fix: 'Check that dns.servers can be reached, then run the check again.' };
  const recs = (r.ok ? r.values : []).map((c) => c.join('')).filter((x) => /^v\s*=\s*TLSRPTv1/.test(x));
  const fix = `Publish "_smtp._tls.${d}. IN TXT \\"v=TLSRPTv1; rua=mailto:tls-reports@${d}\\"".`;
  if (recs.length !== 1) return { ...base, status: 'warn', message: recs.length ? `${recs.length} TLSRPTv1 records` : 'no TLS-RPT record: you will not hear about TLS failures', fix };
  if (!/rua\s*=\s*(mailto:|https:)/i.test(recs[0]!)) return { ...base, status: 'warn', message: `"${recs[0]}" has no rua=mailto:/https: address`, fix };
  return { ...base, status: 'pass', message: recs[0]! };
}

export async function checkBlocklists(ctx: CheckContext): Promise<CheckResult> {
  const base = { id: 'dnsbl', title: 'DNS blocklists' };
  const ips = allAddresses(ctx.addresses);
  const zones = ctx.config.dnsbl.zones;
  if (!zones.length) return { ...base, status: 'pass', message: 'no blocklists configured (dnsbl.zones)' };
  if (!ips.length) return { ...base, status: 'warn', message: 'no public address known', fix: 'Set publicAddresses.ipv4/ipv6 in the configuration.' };
  const results = (await Promise.all(ips.map((ip) => checkDnsbls(ip, zones, ctx.resolver)))).flat();
  const listed = results.filter((r) => r.status === 'listed');
  const unsure = results.filter((r) => r.status === 'refused' || r.status === 'error');
  const privateOnly = ips.every(isPrivateAddress);
  const clean = `${ips.join(', ')} not listed on ${zones.join(', ')}`;
  if (listed.length) {
    return {
      ...base,
      status: 'fail',
      message: listed.map((r) => `${r.ip} is listed on ${r.zone} (${r.codes.join(', ')}${r.reason ? `: ${r.reason}` : ''})`).join('; '),
      fix: `Request delisting at each list's web site (${[...new Set(listed.map((r) => r.zone))].join(', ')}) after fixing the cause, or send from another address.`,
    };
  }
  if (unsure.length) {
    return { ...base, status: 'warn', message: unsure.map((r) => `${r.ip} on ${r.zone}: ${r.reason}`).join('; '), fix: 'Use a recursive resolver of your own in dns.servers (public resolvers are refused by Spamhaus), then check again.' };
  }
  return { ...base, status: 'pass', message: privateOnly ? `${clean} (private addresses: lists never contain them)` : clean };
}

/** The certificate in use: tls.cert, or the generated self-signed one. */
export function readCertificate(config: Pick<Config, 'tls' | 'dataDir'>): { pem: Buffer; selfSigned: boolean } | null {
  const path = config.tls.cert ?? join(config.dataDir, 'tls', 'selfsigned-cert.pem');
  if (!existsSync(path)) return null;
  try {
    return { pem: readFileSync(path), selfSigned: !config.tls.cert };
  } catch {
    return null;
  }
}

export async function checkCertificate(ctx: CheckContext): Promise<CheckResult> {
  const host = norm(ctx.config.hostname);
  const base = { id: 'tls-cert', title: `TLS certificate for ${host}` };
  if (!ctx.certificate) {
    return { ...base, status: 'warn', message: 'no certificate yet (a self-signed one is made when the server starts)', fix: `Configure tls.cert/tls.key with a certificate for ${host} (e.g. from Let's Encrypt).` };
  }
  let x: X509Certificate;
  try {
    x = new X509Certificate(ctx.certificate.pem);
  } catch (err) {
    return { ...base, status: 'fail', message: `the certificate cannot be parsed: ${(err as Error).message}`, fix: 'Configure tls.cert with a PEM certificate.' };
  }
  const now = (ctx.now ?? new Date()).getTime();
  const notAfter = new Date(x.validTo).getTime();
  const notBefore = new Date(x.validFrom).getTime();
  const renew = `Renew the certificate for ${host} (e.g. certbot renew) and restart or reload the server.`;
  if (!x.checkHost(host)) return { ...base, status: 'fail', message: `the certificate is for ${x.subjectAltName ?? x.subject}, not ${host}`, fix: `Get a certificate whose names include ${host}.` };
  if (notAfter <= now) return { ...base, status: 'fail', message: `the certificate expired on ${x.validTo}`, fix: renew };
  if (notBefore > now) return { ...base, status: 'fail', message: `the certificate is not valid before ${x.validFrom}`, fix: 'Check the system clock, or use a certificate that is valid now.' };
  const days = Math.floor((notAfter - now) / 86400_000);
  const selfSigned = ctx.certificate.selfSigned || (x.issuer === x.subject && x.verify(x.publicKey));
  if (days < 14) return { ...base, status: 'warn', message: `the certificate expires in ${days} day(s) (${x.validTo})`, fix: renew };
  if (selfSigned) {
    return { ...base, status: 'warn', message: `self-signed (valid until ${x.validTo}): MTAs accept it for opportunistic TLS, mail clients and MTA-STS enforce do not`, fix: `Configure tls.cert/tls.key with a CA-issued certificate for ${host}.` };
  }
  return { ...base, status: 'pass', message: `valid for ${host} until ${x.validTo} (${days} days), issued by ${x.issuer.replace(/\n/g, ', ')}` };
}

const CHECKS = [checkHostname, checkAddresses, checkMx, checkPtr, checkSpf, checkHostSpf, checkDkim, checkDmarc, checkMtaSts, checkTlsRpt, checkBlocklists, checkCertificate];

export async function runChecks(ctx: CheckContext): Promise<CheckReport> {
  const checks = await Promise.all(
    CHECKS.map((c) =>
      c(ctx)
        .catch(
          (err): CheckResult => ({ id: c.name.replace(/^check/, '').toLowerCase(), title: c.name, status: 'warn', message: `the check failed: ${(err as Error).message}`, fix: 'Report this as a bug.' }),
        )
        .then((r) => {
          ctx.onCheck?.(r);
          return r;
        }),
    ),
  );
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status]++;
  return { domain: ctx.domain, hostname: norm(ctx.config.hostname), checkedAt: (ctx.now ?? new Date()).toISOString(), checks, summary };
}

/** The human table: status, check, what was found; the fix on the next line. */
export function formatChecks(r: CheckReport): string[] {
  const mark: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
  const w = Math.max(...r.checks.map((c) => c.title.length));
  const out = [`dns check ${r.domain} (mail host ${r.hostname})`];
  for (const c of r.checks) {
    out.push(`${mark[c.status]}  ${c.title.padEnd(w)}  ${c.message}`);
    if (c.fix) out.push(`      ${''.padEnd(w)}  fix: ${c.fix}`);
  }
  out.push(`${r.summary.pass} passed, ${r.summary.warn} warning(s), ${r.summary.fail} failed`);
  return out;
}
