/**
 * `mailwright dns records DOMAIN`: every DNS record a hosted domain needs, as zone-file lines with a comment per
 * group, or as JSON. MX -> our hostname; A/AAAA of the hostname; SPF of the domain and of the hostname (the HELO
 * identity and SRS sender domain); DKIM keys (active and retiring); DMARC; MTA-STS and TLS-RPT; RFC 6186 SRV
 * records for mail clients; and the PTR records only the owner of the address block (the hosting provider) can set.
 */
import { isIP } from 'node:net';
import type { Config, ListenerName } from '../config/schema.js';
import type { DkimDnsRecord } from '../dkim/keys.js';
import { txtStrings } from '../dkim/record.js';
import { reverseName, type PublicAddresses } from './addresses.js';
import { mtaStsPolicy, policyId, policyText, stsTxtValue, tlsRptValue } from './mtasts.js';

export type RecordType = 'MX' | 'A' | 'AAAA' | 'TXT' | 'SRV' | 'PTR' | 'CNAME';

export interface DnsRecord {
  /** Which need the record serves: mx, address, spf, spf-host, dkim, dmarc, mta-sts, tls-rpt, srv, ptr. */
  purpose: string;
  /** Owner name without the trailing dot. */
  name: string;
  type: RecordType;
  /** RDATA in presentation form; for TXT the whole value (its strings joined). */
  value: string;
  /** TXT only: the character-strings (each at most 255 bytes). */
  strings?: string[];
  /** Zone-file line. */
  zone: string;
}

export interface RecordsReport {
  domain: string;
  hostname: string;
  addresses: PublicAddresses;
  /** Comment lines that go before each purpose's records. */
  comments: Record<string, string[]>;
  records: DnsRecord[];
  mtaSts: { id: string; policy: string; url: string };
  warnings: string[];
}

export const DMARC_VALUE = (domain: string) => `v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@${domain}; adkim=r; aspf=r`;

/** SPF of the domain: our addresses when known, else the hostname's A/AAAA (one more DNS lookup for receivers). */
export function spfValue(hostname: string, a: Pick<PublicAddresses, 'ipv4' | 'ipv6'>): string {
  const ips = [...a.ipv4.map((x) => `ip4:${x}`), ...a.ipv6.map((x) => `ip6:${x}`)];
  return ips.length ? `v=spf1 mx ${ips.join(' ')} -all` : `v=spf1 mx a:${hostname} -all`;
}

export const HOST_SPF_VALUE = 'v=spf1 a -all';

const quote = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

/** Splits a TXT value into character-strings of at most 255 bytes (RFC 1035 §3.3.14; the values are ASCII). */
export function chunk255(value: string): string[] {
  const out: string[] = [];
  for (let s = 0; s < value.length; s += 255) out.push(value.slice(s, s + 255));
  return out.length ? out : [''];
}

/** A TXT record; DKIM keys are split after the tags, before p= (like 'mailwright dkim show'). */
function txtRecord(purpose: string, name: string, value: string, strings = chunk255(value)): DnsRecord {
  const body = strings.length === 1 ? quote(strings[0]!) : `( ${strings.map(quote).join(' ')} )`;
  return { purpose, name, type: 'TXT', value, strings, zone: `${name}. IN TXT ${body}` };
}

function rec(purpose: string, name: string, type: RecordType, value: string): DnsRecord {
  return { purpose, name, type, value, zone: `${name}. IN ${type} ${value}` };
}

/** Port of a configured listener, or null when it is off. */
export function listenerPort(config: Pick<Config, 'listen'>, name: ListenerName): number | null {
  const v = config.listen[name];
  if (!v) return null;
  const port = Number(v.slice(v.lastIndexOf(':') + 1));
  return port > 0 ? port : null;
}

/** RFC 6186 (and RFC 8314 §5.1 for _submissions): the client autoconfiguration services. */
export const SRV_SERVICES: { service: string; listener: ListenerName }[] = [
  { service: '_submissions._tcp', listener: 'submissions' },
  { service: '_submission._tcp', listener: 'submission' },
  { service: '_imaps._tcp', listener: 'imaps' },
  { service: '_imap._tcp', listener: 'imap' },
  { service: '_pop3s._tcp', listener: 'pop3s' },
  { service: '_pop3._tcp', listener: 'pop3' },
];

export function buildRecords(
  config: Pick<Config, 'hostname' | 'listen' | 'mtaSts'>,
  domain: string,
  addresses: PublicAddresses,
  dkim: DkimDnsRecord[],
): RecordsReport {
  const host = config.hostname.toLowerCase().replace(/\.$/, '');
  const d = domain.toLowerCase().replace(/\.$/, '');
  const records: DnsRecord[] = [];
  const comments: Record<string, string[]> = {};
  const warnings = [...addresses.warnings];
  const srcNote = addresses.source === 'configured' ? 'configured in publicAddresses' : 'detected on this machine';

  comments.mx = [`MX: mail for ${d} goes to this server (${host})`];
  records.push(rec('mx', d, 'MX', `10 ${host}.`));

  comments.address = [`A/AAAA: ${host} must resolve to this server's public addresses (${srcNote})`];
  for (const ip of addresses.ipv4) records.push(rec('address', host, 'A', ip));
  for (const ip of addresses.ipv6) records.push(rec('address', host, 'AAAA', ip));
  if (!addresses.ipv4.length && !addresses.ipv6.length) {
    comments.address.push(`(no public address known: set publicAddresses.ipv4/ipv6 and run again)`);
    warnings.push('no public address known: the A/AAAA, SPF and PTR records cannot be given');
  }

  comments.spf = [`SPF: only this server may send mail with a sender address at ${d} ("-all": everything else fails)`];
  records.push(txtRecord('spf', d, spfValue(host, addresses)));
  if (host !== d) {
    comments['spf-host'] = [`SPF of the host name: the HELO name and the SRS sender domain of forwarded mail (${host})`];
    records.push(txtRecord('spf-host', host, HOST_SPF_VALUE));
  }

  const active = dkim.filter((r) => r.state === 'active');
  const retiring = dkim.filter((r) => r.state === 'retiring');
  comments.dkim = [`DKIM: public keys of the keys that sign mail from ${d} (${active.map((r) => `${r.selector} ${r.algorithm}`).join(', ') || 'none yet'})`];
  if (retiring.length) comments.dkim.push(`retiring keys stay published until 'mailwright dkim retire ${d}': ${retiring.map((r) => r.selector).join(', ')}`);
  if (!dkim.length) warnings.push(`${d} has no DKIM keys yet: run 'mailwright dkim show ${d}'`);
  for (const r of [...active, ...retiring]) records.push(txtRecord('dkim', r.name, r.value, txtStrings(r.value)));

  comments.dmarc = [
    `DMARC: receivers quarantine (junk) mail that claims to be from ${d} but passes neither aligned SPF nor DKIM;`,
    `daily aggregate reports go to dmarc-reports@${d} (create that mailbox or an alias). adkim=r/aspf=r allow`,
    `subdomains to align. Start with p=none to only watch the reports, move to p=reject once they are clean.`,
  ];
  records.push(txtRecord('dmarc', `_dmarc.${d}`, DMARC_VALUE(d)));

  const policy = policyText(mtaStsPolicy(config));
  const id = policyId(policy);
  const url = `https://mta-sts.${d}/.well-known/mta-sts.txt`;
  comments['mta-sts'] = [
    `MTA-STS (RFC 8461): senders that support it require TLS to ${host}. The policy is served at`,
    `${url} by this server's HTTP listener`,
    `(listen.http${config.listen.http ? ` = ${config.listen.http}` : ': OFF, turn it on'}); put HTTPS with a valid certificate for mta-sts.${d} in front.`,
    `The id changes whenever the policy changes. Policy:`,
    ...policy.trimEnd().split('\r\n').map((l) => `  ${l}`),
  ];
  records.push(txtRecord('mta-sts', `_mta-sts.${d}`, stsTxtValue(id)));
  records.push(rec('mta-sts', `mta-sts.${d}`, 'CNAME', `${host}.`));

  comments['tls-rpt'] = [`TLS-RPT (RFC 8460): reports about TLS failures towards ${host} go to tls-reports@${d}`];
  records.push(txtRecord('tls-rpt', `_smtp._tls.${d}`, tlsRptValue(d)));

  comments.srv = [`SRV (RFC 6186, RFC 8314): mail clients find the servers and ports; target "." = service not offered`];
  for (const s of SRV_SERVICES) {
    const port = listenerPort(config, s.listener);
    records.push(rec('srv', `${s.service}.${d}`, 'SRV', port ? `0 1 ${port} ${host}.` : '0 0 0 .'));
  }

  comments.ptr = [`PTR: reverse DNS of each address -> ${host}. Only the owner of the address (your hosting provider) can`, `set these: ask them, or use their control panel. Receivers reject or junk mail from addresses without it.`];
  for (const ip of [...addresses.ipv4, ...addresses.ipv6]) if (isIP(ip)) records.push(rec('ptr', reverseName(ip), 'PTR', `${host}.`));

  return { domain: d, hostname: host, addresses, comments, records, mtaSts: { id, policy, url }, warnings };
}

/** The zone-file text: comment lines (";") before each group. */
export function formatRecords(r: RecordsReport): string[] {
  const out: string[] = [`; DNS records for ${r.domain} (mail host ${r.hostname}), generated by mailwright`];
  for (const w of r.warnings) out.push(`; WARNING: ${w}`);
  let last = '';
  for (const x of r.records) {
    if (x.purpose !== last) {
      out.push('');
      for (const c of r.comments[x.purpose] ?? []) out.push(`; ${c}`);
      last = x.purpose;
    }
    out.push(x.zone);
  }
  for (const p of Object.keys(r.comments)) {
    if (!r.records.some((x) => x.purpose === p)) {
      out.push('');
      for (const c of r.comments[p]!) out.push(`; ${c}`);
    }
  }
  return out;
}

export function recordsJson(r: RecordsReport): unknown {
  return {
    domain: r.domain,
    hostname: r.hostname,
    addresses: { ipv4: r.addresses.ipv4, ipv6: r.addresses.ipv6, source: r.addresses.source },
    warnings: r.warnings,
    records: r.records.map((x) => ({ purpose: x.purpose, name: x.name, type: x.type, value: x.value, ...(x.strings ? { strings: x.strings } : {}) })),
    mtaSts: r.mtaSts,
  };
}
