/**
 * The deliverability self-test (what mail-tester.com does, inside the server): a message is analysed as a
 * receiving MX would see it — SPF, DKIM, DMARC and their alignment (mailauth with our resolver), PTR/FCrDNS and the
 * HELO name of the client, DNS blocklists, TLS, header hygiene, and SpamAssassin's score when spamd is reachable —
 * and scored out of 10: start at 10, subtract the documented deduction of each problem (DEDUCTIONS), never below 0.
 */
import { authenticate, type AuthenticateResult } from 'mailauth';
import addressparser from 'nodemailer/lib/addressparser';
import { randomBytes } from 'node:crypto';
import type { Resolver } from '../dns/resolver.js';
import { CachingResolver } from '../mailauth/resolver.js';
import { isFqdn } from '../common/address.js';
import { rfc5322Date } from '../intake/headers.js';
import { lookupPtr, sameIp } from './addresses.js';
import { checkDnsbls } from './dnsbl.js';
import { spamcReport, type SpamResult } from './spamc.js';

/** Every deduction the score can get, in points (documented in README.md). */
export const DEDUCTIONS = {
  spfFail: 2,
  spfSoftfail: 1,
  spfNone: 1,
  spfPermerror: 1.5,
  spfTemperror: 0.5,
  dkimNone: 1.5,
  dkimFail: 2,
  dkimUnaligned: 0.5,
  dmarcNone: 0.5,
  dmarcFail: 1.5,
  ptrNone: 1.5,
  ptrNotConfirmed: 1,
  heloMismatch: 0.5,
  heloNotFqdn: 0.5,
  blocklisted: 3,
  noTls: 0.5,
  messageIdMissing: 1,
  messageIdInvalid: 0.5,
  dateMissing: 1,
  dateInvalid: 0.5,
  fromMissing: 2,
  fromInvalid: 2,
  subjectMissing: 0.5,
  mimeMissing: 0.5,
  bareLf: 1,
  tooBig: 0.5,
  /** SpamAssassin: its score is subtracted when positive, at most this much. */
  spamAssassinMax: 5,
} as const;

export const MAX_SIZE = 10 * 1024 * 1024;

export type ItemStatus = 'pass' | 'warn' | 'fail' | 'info';

export interface SelfTestItem {
  section: string;
  status: ItemStatus;
  message: string;
}

export interface Deduction {
  points: number;
  what: string;
  why: string;
  fix: string;
}

export interface SelfTestReport {
  score: number;
  deductions: Deduction[];
  items: SelfTestItem[];
  tested: { ip: string; helo: string; sender: string; tls: string | null };
  message: { from: string | null; subject: string | null; messageId: string | null; size: number };
  auth: { spf: string; dkim: string; dmarc: string; spfAligned: boolean; dkimAligned: boolean; dkimDomains: string[] };
  spamassassin: (SpamResult & { checked: true }) | { checked: false; reason: string };
  text: string;
}

export interface SelfTestOptions {
  message: Buffer;
  ip: string;
  helo: string;
  /** MAIL FROM ('' = null sender). */
  sender: string;
  /** TLS of the SMTP session; undefined: read it from the topmost Received header. */
  tls?: { version: string; cipher?: string } | null;
  hostname: string;
  resolver: Resolver & { resolve(name: string, rrtype: string): Promise<unknown[]> };
  dnsblZones: string[];
  spamd?: { address: string; timeoutMs: number } | null;
}

interface HeaderField {
  name: string;
  value: string;
}

/** The header fields (unfolded) and whether the header ends properly. */
export function parseHeader(raw: Buffer): { fields: HeaderField[]; bodyOffset: number } {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const head = m ? text.slice(0, m.index) : text;
  const fields: HeaderField[] = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1]!.value += ' ' + line.trim();
    else {
      const i = line.indexOf(':');
      if (i > 0) fields.push({ name: line.slice(0, i).trim().toLowerCase(), value: line.slice(i + 1).trim() });
    }
  }
  return { fields, bodyOffset: m ? m.index + m[0].length : text.length };
}

/** Counts LF not preceded by CR. */
export function countBareLf(raw: Buffer): number {
  let n = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 0x0a && (i === 0 || raw[i - 1] !== 0x0d)) n++;
  return n;
}

/** TLS from the topmost Received header: "(using TLSv1.3 ...)" or "with ESMTPS/ESMTPSA". */
export function tlsFromReceived(fields: HeaderField[]): string | null | undefined {
  const r = fields.find((f) => f.name === 'received');
  if (!r) return undefined;
  const using = /\busing (TLSv?[\d.]+|SSLv?[\d.]+)/i.exec(r.value);
  if (using) return using[1]!;
  // RFC 3848 protocol types: the S means TLS.
  return /\bwith\s+(ESMTPS|ESMTPSA|UTF8SMTPS|UTF8SMTPSA|LMTPS|LMTPSA)\b/i.test(r.value) ? 'TLS' : null;
}

function orgAligned(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.endsWith('.' + y) || y.endsWith('.' + x);
}

export async function runSelfTest(o: SelfTestOptions): Promise<SelfTestReport> {
  const items: SelfTestItem[] = [];
  const deductions: Deduction[] = [];
  const add = (section: string, status: ItemStatus, message: string) => items.push({ section, status, message });
  const deduct = (points: number, what: string, why: string, fix: string) => deductions.push({ points, what, why, fix });
  const resolver = new CachingResolver(o.resolver).resolve;
  const { fields } = parseHeader(o.message);
  const get = (n: string) => fields.filter((f) => f.name === n);
  const fromField = get('from');
  const subject = get('subject')[0]?.value ?? null;
  const messageId = get('message-id')[0]?.value ?? null;
  const ip = o.ip.replace(/^::ffff:/i, '');

  // --- SPF, DKIM, DMARC (what a receiving MX computes)
  let r: AuthenticateResult | null = null;
  try {
    r = await authenticate(o.message, { ip, helo: o.helo, sender: o.sender || undefined, mta: o.hostname, resolver: resolver as never, disableBimi: true });
  } catch (err) {
    add('authentication', 'warn', `the authentication checks failed: ${(err as Error).message}`);
  }
  const spf = r?.spf ? r.spf.status.result : 'none';
  const spfDomain = r?.spf ? r.spf.domain : o.sender.slice(o.sender.lastIndexOf('@') + 1) || o.helo;
  // mailauth reports an unsigned message as one result 'none' without a signing domain.
  const dkimResults = (r?.dkim?.results ?? []).filter((d) => d.signingDomain && d.status.result !== 'none');
  const dkimPass = dkimResults.filter((d) => d.status.result === 'pass');
  const dkim = dkimResults.length ? (dkimPass.length ? 'pass' : dkimResults[0]!.status.result) : 'none';
  const dmarc = r?.dmarc ? r.dmarc.status.result : 'none';
  const fromDomain = (r?.dkim?.headerFrom?.[0] ?? '').split('@').pop() || '';
  // mailauth reports "no DMARC record" as a result with status none (and no alignment evaluated).
  const dmarcResult = r?.dmarc && dmarc !== 'none' ? r.dmarc : null;
  const spfAligned = dmarcResult ? Boolean(dmarcResult.alignment?.spf?.result) : spf === 'pass' && !!fromDomain && orgAligned(spfDomain, fromDomain);
  const dkimAligned = dmarcResult ? Boolean(dmarcResult.alignment?.dkim?.result) : dkimPass.some((d) => !!fromDomain && orgAligned(d.signingDomain, fromDomain));
  const spfComment = r?.spf && r.spf.status.comment ? ` (${r.spf.status.comment})` : '';
  add('SPF', spf === 'pass' ? 'pass' : spf === 'fail' || spf === 'permerror' ? 'fail' : 'warn', `SPF ${spf} for ${spfDomain} from ${ip}${spfComment}${spf === 'pass' ? (spfAligned ? ', aligned with From' : ', not aligned with From') : ''}`);
  const spfFix = `Authorise ${ip} in the SPF record of ${spfDomain} (see 'mailwright dns records ${spfDomain}').`;
  if (spf === 'fail') deduct(DEDUCTIONS.spfFail, 'SPF fail', `${spfDomain}'s SPF record says ${ip} may not send its mail (-all): receivers reject or junk it`, spfFix);
  else if (spf === 'softfail') deduct(DEDUCTIONS.spfSoftfail, 'SPF softfail', `${spfDomain}'s SPF record does not authorise ${ip} (~all)`, spfFix);
  else if (spf === 'permerror') deduct(DEDUCTIONS.spfPermerror, 'SPF permerror', `${spfDomain}'s SPF record is broken${spfComment}`, `Fix the SPF record of ${spfDomain}: one v=spf1 record with at most 10 DNS-querying terms.`);
  else if (spf === 'temperror') deduct(DEDUCTIONS.spfTemperror, 'SPF temperror', 'the SPF record could not be looked up (DNS error)', 'Check the DNS servers of the domain and try again.');
  else if (spf !== 'pass') deduct(DEDUCTIONS.spfNone, `SPF ${spf}`, `${spfDomain} has no SPF record that authorises ${ip}`, spfFix);

  const dkimDomains = dkimResults.map((d) => d.signingDomain);
  if (!dkimResults.length) {
    add('DKIM', 'fail', 'no DKIM signature');
    deduct(DEDUCTIONS.dkimNone, 'no DKIM signature', 'unsigned mail is treated with suspicion by most receivers and cannot pass DMARC through forwarding', 'Send through this server\'s submission port (it signs with the domain\'s DKIM keys) and publish the keys (mailwright dkim show).');
  } else {
    for (const d of dkimResults) add('DKIM', d.status.result === 'pass' ? 'pass' : 'fail', `DKIM ${d.status.result} d=${d.signingDomain} s=${d.selector ?? '?'}${d.status.comment ? ` (${d.status.comment})` : ''}`);
    if (!dkimPass.length) {
      deduct(DEDUCTIONS.dkimFail, `DKIM ${dkim}`, 'no DKIM signature verifies (changed in transit, or the published key does not match)', `Publish the key printed by 'mailwright dkim show ${dkimDomains[0]}' and check it with 'mailwright dkim test'.`);
    } else if (!dkimAligned) {
      deduct(DEDUCTIONS.dkimUnaligned, 'DKIM not aligned', `the signing domain (${dkimPass.map((d) => d.signingDomain).join(', ')}) is not the From domain ${fromDomain}`, `Sign with a key of ${fromDomain} (host ${fromDomain} here so that its mail is signed with its own key).`);
    }
  }

  if (!dmarcResult) {
    add('DMARC', 'warn', `${fromDomain || 'the From domain'} has no DMARC record`);
    deduct(DEDUCTIONS.dmarcNone, 'no DMARC record', `${fromDomain || 'the From domain'} publishes no DMARC policy: large receivers (Gmail, Yahoo) require one from bulk senders`, `Publish the _dmarc record from 'mailwright dns records ${fromDomain}'.`);
  } else {
    add('DMARC', dmarc === 'pass' ? 'pass' : 'fail', `DMARC ${dmarc} for ${dmarcResult.domain} (policy ${dmarcResult.policy || dmarcResult.p || 'none'}; SPF ${spfAligned ? '' : 'not '}aligned, DKIM ${dkimAligned ? '' : 'not '}aligned)`);
    if (dmarc !== 'pass') deduct(DEDUCTIONS.dmarcFail, `DMARC ${dmarc}`, `neither SPF nor DKIM passed for the From domain ${dmarcResult.domain}: receivers apply its policy (${dmarcResult.policy || dmarcResult.p || 'none'})`, 'Make SPF or (better) DKIM pass for the From domain.');
  }

  // --- PTR, FCrDNS, HELO
  let ptrNames: string[] = [];
  try {
    ptrNames = (await lookupPtr(o.resolver, ip)).map((n) => n.toLowerCase().replace(/\.$/, ''));
  } catch {
    /* none */
  }
  const helo = o.helo.toLowerCase().replace(/\.$/, '');
  if (!ptrNames.length) {
    add('PTR', 'fail', `${ip} has no PTR (reverse DNS) record`);
    deduct(DEDUCTIONS.ptrNone, 'no PTR record', `${ip} has no reverse DNS: many receivers reject such clients outright`, `Ask the owner of ${ip} (your hosting provider) to set its PTR to ${helo || 'your mail host name'}.`);
  } else {
    let confirmed: string | null = null;
    for (const n of ptrNames) {
      try {
        const addrs = ip.includes(':') ? await o.resolver.resolve6(n) : await o.resolver.resolve4(n);
        if (addrs.some((a) => sameIp(a, ip))) {
          confirmed = n;
          break;
        }
      } catch {
        /* next */
      }
    }
    if (!confirmed) {
      add('PTR', 'fail', `PTR of ${ip} is ${ptrNames.join(', ')}, which does not resolve back to ${ip}`);
      deduct(DEDUCTIONS.ptrNotConfirmed, 'PTR not forward-confirmed', `${ptrNames.join(', ')} does not resolve back to ${ip} (FCrDNS fails)`, `Publish an A/AAAA record ${ptrNames[0]} -> ${ip}, or have the PTR changed to a name that does.`);
    } else {
      add('PTR', 'pass', `PTR of ${ip} is ${confirmed}, forward-confirmed`);
    }
    if (!ptrNames.includes(helo)) {
      add('HELO', 'warn', `HELO ${o.helo} does not match the PTR name ${ptrNames.join(', ')}`);
      deduct(DEDUCTIONS.heloMismatch, 'HELO does not match PTR', `the client introduced itself as ${o.helo} but its address says ${ptrNames[0]}`, `Make the server's hostname and the PTR of ${ip} the same name.`);
    } else add('HELO', 'pass', `HELO ${o.helo} matches the PTR`);
  }
  if (!isFqdn(helo)) {
    add('HELO', 'fail', `HELO ${o.helo} is not a fully qualified domain name`);
    deduct(DEDUCTIONS.heloNotFqdn, 'HELO not an FQDN', `${o.helo} is not a fully qualified host name`, 'Set hostname to the FQDN of the server.');
  }

  // --- blocklists
  if (o.dnsblZones.length) {
    const bl = await checkDnsbls(ip, o.dnsblZones, o.resolver);
    for (const b of bl) {
      if (b.status === 'listed') {
        add('blocklists', 'fail', `${ip} is listed on ${b.zone} (${b.codes.join(', ')}${b.reason ? `: ${b.reason}` : ''})`);
        deduct(DEDUCTIONS.blocklisted, `listed on ${b.zone}`, `receivers that use ${b.zone} refuse mail from ${ip}`, `Find out why at ${b.zone}'s web site, fix the cause and request delisting.`);
      } else if (b.status === 'clean') add('blocklists', 'pass', `${ip} is not listed on ${b.zone}`);
      else add('blocklists', 'warn', `${b.zone}: not checked (${b.reason})`);
    }
  } else add('blocklists', 'info', 'no blocklists configured (dnsbl.zones)');

  // --- TLS
  const tls = o.tls === undefined ? tlsFromReceived(fields) : o.tls ? o.tls.version : null;
  if (tls === undefined) add('TLS', 'info', 'TLS not known (no Received header)');
  else if (tls) add('TLS', 'pass', `received over TLS (${tls})`);
  else {
    add('TLS', 'warn', 'received without TLS');
    deduct(DEDUCTIONS.noTls, 'no TLS', 'the message travelled in plain text (and Gmail shows a red open lock)', 'Offer STARTTLS and use it when sending (it is on by default in Mailwright).');
  }

  // --- header hygiene
  if (!fromField.length) {
    add('headers', 'fail', 'no From header');
    deduct(DEDUCTIONS.fromMissing, 'no From header', 'RFC 5322 requires exactly one From header', 'Set a From address in the mail client.');
  } else {
    let ok = fromField.length === 1;
    let list: { address?: string }[] = [];
    try {
      list = addressparser(fromField[0]!.value, { flatten: true });
    } catch {
      ok = false;
    }
    if (!list.length || !list.every((a) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(a.address ?? ''))) ok = false;
    if (ok) add('headers', 'pass', `From: ${fromField[0]!.value}`);
    else {
      add('headers', 'fail', `From header invalid: ${fromField.map((f) => f.value).join(' | ').slice(0, 100)}`);
      deduct(DEDUCTIONS.fromInvalid, 'invalid From header', fromField.length > 1 ? 'more than one From header' : 'the From header holds no valid address', 'Send with exactly one From header containing a valid address.');
    }
  }
  if (!messageId) {
    add('headers', 'fail', 'no Message-ID header');
    deduct(DEDUCTIONS.messageIdMissing, 'no Message-ID', 'messages without a Message-ID look machine-made (SpamAssassin MISSING_MID)', "Send through this server's submission port (it adds one) or have the program add a Message-ID.");
  } else if (!/^<[^<>\s@]+@[^<>\s@]+>$/.test(messageId)) {
    add('headers', 'warn', `Message-ID ${messageId.slice(0, 80)} is not <id@domain>`);
    deduct(DEDUCTIONS.messageIdInvalid, 'invalid Message-ID', 'the Message-ID is not of the form <unique@domain>', 'Generate Message-IDs as <random@your-domain>.');
  } else add('headers', 'pass', `Message-ID: ${messageId}`);
  const date = get('date')[0]?.value;
  if (!date) {
    add('headers', 'fail', 'no Date header');
    deduct(DEDUCTIONS.dateMissing, 'no Date', 'RFC 5322 requires a Date header (SpamAssassin MISSING_DATE)', "Send through this server's submission port (it adds one) or have the program add a Date.");
  } else {
    const t = Date.parse(date.replace(/\([^)]*\)/g, '').trim());
    if (Number.isNaN(t) || !/\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}/.test(date)) {
      add('headers', 'warn', `Date "${date.slice(0, 60)}" is not an RFC 5322 date`);
      deduct(DEDUCTIONS.dateInvalid, 'invalid Date', 'the Date header is not in RFC 5322 form', 'Use a date like "Fri, 27 Nov 2026 10:00:00 +0000".');
    } else if (Math.abs(Date.now() - t) > 2 * 86400_000) {
      add('headers', 'warn', `Date ${date} is more than two days off`);
      deduct(DEDUCTIONS.dateInvalid, 'Date far off', 'the Date is far from the time of sending (SpamAssassin DATE_IN_PAST/FUTURE)', 'Check the clock of the sending machine.');
    } else add('headers', 'pass', `Date: ${date}`);
  }
  if (!subject) {
    add('headers', 'warn', 'no Subject header');
    deduct(DEDUCTIONS.subjectMissing, 'no Subject', 'messages without a subject are a spam signal', 'Give the message a subject.');
  }
  const mimeVersion = get('mime-version')[0]?.value;
  const contentType = get('content-type')[0]?.value;
  const nonAscii = /[\x80-\xff]/.test(o.message.toString('latin1'));
  if ((contentType || nonAscii) && !mimeVersion) {
    add('headers', 'warn', contentType ? 'Content-Type without MIME-Version' : '8-bit text without MIME headers');
    deduct(DEDUCTIONS.mimeMissing, 'no MIME-Version', 'MIME content needs "MIME-Version: 1.0" with its Content-Type, or receivers may show it as raw text', 'Send with MIME-Version: 1.0 and a Content-Type with charset.');
  } else if (mimeVersion) add('headers', 'pass', `MIME-Version: ${mimeVersion}${contentType ? `, Content-Type: ${contentType.split(';')[0]}` : ''}`);
  const bare = countBareLf(o.message);
  if (bare) {
    add('headers', 'fail', `${bare} bare LF line ending(s)`);
    deduct(DEDUCTIONS.bareLf, 'bare LF', 'lines must end in CRLF: bare LF is refused by many servers (SMTP smuggling defence)', 'Fix the sending program to end lines with CRLF.');
  }
  if (o.message.length > MAX_SIZE) {
    add('headers', 'warn', `message is ${o.message.length} bytes`);
    deduct(DEDUCTIONS.tooBig, 'large message', `over ${MAX_SIZE / 1048576} MiB: many receivers refuse it`, 'Send large files as links.');
  } else add('headers', 'pass', `size ${o.message.length} bytes`);

  // --- SpamAssassin
  let spamassassin: SelfTestReport['spamassassin'];
  if (!o.spamd) spamassassin = { checked: false, reason: 'not checked (deliverability.spamd not configured)' };
  else {
    try {
      const s = await spamcReport(o.spamd.address, o.message, o.spamd.timeoutMs);
      spamassassin = { ...s, checked: true };
      add('SpamAssassin', s.isSpam ? 'fail' : s.score > 0 ? 'warn' : 'pass', `score ${s.score} (threshold ${s.threshold})${s.rules.length ? ': ' + s.rules.map((x) => `${x.name} ${x.score}`).join(', ') : ''}`);
      if (s.score > 0) {
        const fired = s.rules.filter((x) => x.score > 0);
        deduct(Math.min(s.score, DEDUCTIONS.spamAssassinMax), `SpamAssassin ${s.score}`, `rules that fired: ${fired.map((x) => `${x.name} (${x.score}: ${x.description})`).join('; ') || 'none listed'}`, 'Fix what the rules point at (each rule name explains itself at https://spamassassin.apache.org/).');
      }
    } catch (err) {
      spamassassin = { checked: false, reason: `not checked (spamd at ${o.spamd.address}: ${(err as Error).message})` };
    }
  }
  if (!spamassassin.checked) add('SpamAssassin', 'info', spamassassin.reason);

  const total = deductions.reduce((s, d) => s + d.points, 0);
  const score = Math.max(0, Math.round((10 - total) * 10) / 10);
  const report: Omit<SelfTestReport, 'text'> = {
    score,
    deductions,
    items,
    tested: { ip, helo: o.helo, sender: o.sender, tls: tls ?? null },
    message: { from: fromField[0]?.value ?? null, subject, messageId, size: o.message.length },
    auth: { spf, dkim, dmarc, spfAligned, dkimAligned, dkimDomains },
    spamassassin,
  };
  return { ...report, text: formatReport(report) };
}

const fmt = (n: number) => (Number.isInteger(n) ? n.toFixed(1) : String(Math.round(n * 10) / 10));

export function formatReport(r: Omit<SelfTestReport, 'text'>): string {
  const mark: Record<ItemStatus, string> = { pass: '[PASS]', warn: '[WARN]', fail: '[FAIL]', info: '[INFO]' };
  const lines = [
    `Mailwright deliverability report`,
    ``,
    `Score: ${fmt(r.score)}/10`,
    ``,
    `Message: ${r.message.subject ? `"${r.message.subject}"` : '(no subject)'} from ${r.message.from ?? '(no From)'}, ${r.message.size} bytes`,
    `Tested as: client ${r.tested.ip}, HELO ${r.tested.helo}, MAIL FROM <${r.tested.sender}>`,
    ``,
  ];
  for (const i of r.items) lines.push(`${mark[i.status]} ${i.section}: ${i.message}`);
  lines.push('');
  if (r.deductions.length) {
    lines.push('Deductions:');
    for (const d of r.deductions) {
      lines.push(`  -${fmt(d.points)}  ${d.what}: ${d.why}.`);
      lines.push(`         Fix: ${d.fix}`);
    }
  } else lines.push('No deductions: this message should be delivered to the inbox.');
  return lines.join('\n') + '\n';
}

/** The reply to the sender: a text/plain message from postmaster@HOSTNAME (Auto-Submitted, null return path). */
export function reportMessage(o: { hostname: string; to: string; report: SelfTestReport; inReplyTo?: string | null; subject?: string | null }): Buffer {
  const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
  const headers = [
    `From: Mailwright deliverability test <postmaster@${o.hostname}>`,
    `To: <${o.to}>`,
    `Subject: Deliverability report: ${fmt(o.report.score)}/10${o.subject ? ` for "${ascii(o.subject)}"` : ''}`,
    `Date: ${rfc5322Date()}`,
    `Message-ID: <${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${o.hostname}>`,
    ...(o.inReplyTo && /^<[^<>\s]+>$/.test(o.inReplyTo) ? [`In-Reply-To: ${o.inReplyTo}`, `References: ${o.inReplyTo}`] : []),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  // Long lines are folded at 900 bytes to stay under SMTP's 998-byte limit.
  const body = o.report.text
    .split('\n')
    .flatMap((l) => (l.length > 900 ? l.match(/.{1,900}/g)! : [l]))
    .join('\r\n');
  return Buffer.from(headers.join('\r\n') + '\r\n\r\n' + body, 'utf8');
}
