/**
 * Client autoconfiguration served on the HTTP listener, so a mail client needs only an address and a password:
 *  - Thunderbird autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat, version 1.1)
 *    at /.well-known/autoconfig/mail/config-v1.1.xml and /mail/config-v1.1.xml?emailaddress=...;
 *  - Microsoft Autodiscover (POX, [MS-OXDSCLI] "outlook" response schema 2006a) at POST /autodiscover/autodiscover.xml
 *    (and /Autodiscover/Autodiscover.xml);
 *  - an Apple configuration profile (.mobileconfig, unsigned) with an IMAP account payload at /apple/mobileconfig?email=.
 * Implicit TLS (993/465, RFC 8314) is preferred; STARTTLS ports are listed second.
 * Untrusted input: the email address in the query or the request body (validated, XML-escaped).
 */
import { createHash } from 'node:crypto';
import { withMethods, type HttpRoute, type HttpResponse } from '../server/http/server.js';

export interface AutoconfigServers {
  hostname: string;
  displayName?: string;
  /** Ports clients should use (the listeners that are on). */
  ports: { imaps?: number; imap?: number; pop3s?: number; pop3?: number; submissions?: number; submission?: number };
}

const EMAIL = /^[^\s@<>&"']{1,64}@[A-Za-z0-9.-]{1,253}$/;

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function domainOf(email: string | null, fallback: string): string {
  return email && EMAIL.test(email) ? email.slice(email.lastIndexOf('@') + 1).toLowerCase() : fallback;
}

export function thunderbirdXml(s: AutoconfigServers, domain: string): string {
  const h = xmlEscape(s.hostname);
  const name = xmlEscape(s.displayName ?? domain);
  const server = (kind: 'incomingServer' | 'outgoingServer', type: string, port: number, socketType: string) =>
    `    <${kind} type="${type}">\n      <hostname>${h}</hostname>\n      <port>${port}</port>\n      <socketType>${socketType}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILADDRESS%</username>\n    </${kind}>\n`;
  const p = s.ports;
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n  <emailProvider id="${xmlEscape(domain)}">\n    <domain>${xmlEscape(domain)}</domain>\n    <displayName>${name}</displayName>\n    <displayShortName>${name}</displayShortName>\n`;
  if (p.imaps) out += server('incomingServer', 'imap', p.imaps, 'SSL');
  if (p.imap) out += server('incomingServer', 'imap', p.imap, 'STARTTLS');
  if (p.pop3s) out += server('incomingServer', 'pop3', p.pop3s, 'SSL');
  if (p.pop3) out += server('incomingServer', 'pop3', p.pop3, 'STARTTLS');
  if (p.submissions) out += server('outgoingServer', 'smtp', p.submissions, 'SSL');
  if (p.submission) out += server('outgoingServer', 'smtp', p.submission, 'STARTTLS');
  return out + '  </emailProvider>\n</clientConfig>\n';
}

export function autodiscoverXml(s: AutoconfigServers, email: string): string {
  const proto = (type: string, port: number, ssl: boolean, encryption?: string) =>
    `      <Protocol>\n        <Type>${type}</Type>\n        <Server>${xmlEscape(s.hostname)}</Server>\n        <Port>${port}</Port>\n        <DomainRequired>off</DomainRequired>\n        <LoginName>${xmlEscape(email)}</LoginName>\n        <SPA>off</SPA>\n        <SSL>${ssl ? 'on' : 'off'}</SSL>\n${encryption ? `        <Encryption>${encryption}</Encryption>\n` : ''}        <AuthRequired>on</AuthRequired>\n      </Protocol>\n`;
  const p = s.ports;
  let protocols = '';
  if (p.imaps) protocols += proto('IMAP', p.imaps, true, 'SSL');
  else if (p.imap) protocols += proto('IMAP', p.imap, true, 'TLS');
  if (p.pop3s) protocols += proto('POP3', p.pop3s, true, 'SSL');
  if (p.submissions) protocols += proto('SMTP', p.submissions, true, 'SSL');
  else if (p.submission) protocols += proto('SMTP', p.submission, true, 'TLS');
  return `<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">\n  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">\n    <User>\n      <DisplayName>${xmlEscape(email)}</DisplayName>\n    </User>\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n${protocols}    </Account>\n  </Response>\n</Autodiscover>\n`;
}

/** A stable UUID (v4 layout) from a seed, so the same address gets the same profile identifiers. */
function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

export function mobileconfig(s: AutoconfigServers, email: string): string {
  const p = s.ports;
  const inPort = p.imaps ?? p.imap ?? 993;
  const outPort = p.submissions ?? p.submission ?? 465;
  const host = xmlEscape(s.hostname);
  const e = xmlEscape(email);
  const domain = email.slice(email.lastIndexOf('@') + 1);
  const rev = s.hostname.split('.').reverse().join('.');
  const str = (k: string, v: string) => `\t\t\t<key>${k}</key>\n\t\t\t<string>${v}</string>\n`;
  const int = (k: string, v: number) => `\t\t\t<key>${k}</key>\n\t\t\t<integer>${v}</integer>\n`;
  const bool = (k: string, v: boolean) => `\t\t\t<key>${k}</key>\n\t\t\t<${v}/>\n`;
  const account =
    str('EmailAccountDescription', e) +
    str('EmailAccountName', e) +
    str('EmailAccountType', 'EmailTypeIMAP') +
    str('EmailAddress', e) +
    str('IncomingMailServerAuthentication', 'EmailAuthPassword') +
    str('IncomingMailServerHostName', host) +
    int('IncomingMailServerPortNumber', inPort) +
    bool('IncomingMailServerUseSSL', true) +
    str('IncomingMailServerUsername', e) +
    str('OutgoingMailServerAuthentication', 'EmailAuthPassword') +
    str('OutgoingMailServerHostName', host) +
    int('OutgoingMailServerPortNumber', outPort) +
    bool('OutgoingMailServerUseSSL', true) +
    str('OutgoingMailServerUsername', e) +
    bool('OutgoingPasswordSameAsIncomingPassword', true) +
    str('PayloadDescription', `Mail account ${e}`) +
    str('PayloadDisplayName', `Mail (${xmlEscape(domain)})`) +
    str('PayloadIdentifier', `${xmlEscape(rev)}.mailwright.mail.${uuidFrom('mail' + email)}`) +
    str('PayloadType', 'com.apple.mail.managed') +
    str('PayloadUUID', uuidFrom('mail' + email)) +
    int('PayloadVersion', 1) +
    bool('PreventAppSheet', false) +
    bool('PreventMove', false) +
    bool('SMIMEEnabled', false);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n` +
    `\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n${account}\t\t</dict>\n\t</array>\n` +
    `\t<key>PayloadDescription</key>\n\t<string>Mail settings for ${e}</string>\n` +
    `\t<key>PayloadDisplayName</key>\n\t<string>${xmlEscape(s.displayName ?? domain)} mail</string>\n` +
    `\t<key>PayloadIdentifier</key>\n\t<string>${xmlEscape(rev)}.mailwright.${uuidFrom('profile' + email)}</string>\n` +
    `\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n` +
    `\t<key>PayloadType</key>\n\t<string>Configuration</string>\n` +
    `\t<key>PayloadUUID</key>\n\t<string>${uuidFrom('profile' + email)}</string>\n` +
    `\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n`
  );
}

/** The routes, for the HTTP listener's route table. `servers()` is read per request (ports known after binding). */
export function autoconfigRoutes(servers: () => AutoconfigServers): Array<[string, HttpRoute]> {
  const tb: HttpRoute = (req): HttpResponse => {
    const s = servers();
    const email = req.query.get('emailaddress');
    const domain = domainOf(email, req.host.replace(/^(autoconfig|autodiscover)\./, '') || s.hostname);
    return { status: 200, contentType: 'application/xml; charset=utf-8', body: thunderbirdXml(s, domain) };
  };
  const ad: HttpRoute = withMethods(['GET', 'POST'], (req): HttpResponse => {
    const m = /<EMailAddress>\s*([^<\s]+)\s*<\/EMailAddress>/i.exec(req.body.toString('utf8'));
    const email = m?.[1] ?? req.query.get('email') ?? '';
    if (!EMAIL.test(email)) return { status: 400, body: 'expected an Autodiscover request with <EMailAddress>\n' };
    return { status: 200, contentType: 'application/xml; charset=utf-8', body: autodiscoverXml(servers(), email) };
  });
  const apple: HttpRoute = (req): HttpResponse => {
    const email = req.query.get('email') ?? req.query.get('emailaddress') ?? '';
    if (!EMAIL.test(email)) return { status: 400, body: 'use /apple/mobileconfig?email=you@example.com\n' };
    return {
      status: 200,
      contentType: 'application/x-apple-aspen-config; charset=utf-8',
      body: mobileconfig(servers(), email),
      headers: { 'content-disposition': `attachment; filename="${email.replace(/[^A-Za-z0-9@._-]/g, '_')}.mobileconfig"` },
    };
  };
  return [
    ['/.well-known/autoconfig/mail/config-v1.1.xml', tb],
    ['/mail/config-v1.1.xml', tb],
    ['/autodiscover/autodiscover.xml', ad],
    ['/Autodiscover/Autodiscover.xml', ad],
    ['/apple/mobileconfig', apple],
  ];
}
