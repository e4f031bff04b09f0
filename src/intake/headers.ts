/**
 * Trace headers added at final delivery: Return-Path (RFC 5321 §4.4) and Received (RFC 5321 §4.4, with the
 * "with" protocol types of RFC 3848: ESMTP, ESMTPS, ESMTPA, ESMTPSA) and the TLS details in a comment.
 */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time, e.g. "Fri, 27 Nov 2026 22:10:00 +0000", in UTC. */
export function rfc5322Date(d = new Date()): string {
  return (
    `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
  );
}

export interface ReceivedInfo {
  helo: string;
  clientHostname?: string | null;
  clientAddress: string;
  byHost: string;
  protocol: 'SMTP' | 'ESMTP' | 'ESMTPS' | 'ESMTPA' | 'ESMTPSA' | 'LMTP';
  id: string;
  tls?: { version: string; cipher: string } | null;
  /** Named only when there is exactly one recipient (as Postfix does), so one copy serves all recipients. */
  forRecipient?: string | null;
  date?: Date;
}

/** Keep only characters that are safe inside a header comment or token (the HELO name is untrusted). */
function clean(s: string, max = 255): string {
  return s.replace(/[^\x21-\x7e]/g, '?').replace(/[()\\]/g, '?').slice(0, max);
}

export function addressLiteral(ip: string): string {
  const a = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return a.includes(':') ? `[IPv6:${a}]` : `[${a}]`;
}

export function receivedHeader(i: ReceivedInfo): string {
  const lines: string[] = [];
  const rdns = i.clientHostname && i.clientHostname !== addressLiteral(i.clientAddress) ? clean(i.clientHostname) : 'unknown';
  lines.push(`Received: from ${clean(i.helo || 'unknown')} (${rdns} ${addressLiteral(i.clientAddress)})`);
  if (i.tls) lines.push(`\t(using ${clean(i.tls.version)} with cipher ${clean(i.tls.cipher)})`);
  lines.push(`\tby ${i.byHost} (Mailwright) with ${i.protocol} id ${i.id}`);
  const date = rfc5322Date(i.date);
  if (i.forRecipient) lines.push(`\tfor <${clean(i.forRecipient, 320)}>; ${date}`);
  else lines[lines.length - 1] += `;`, lines.push(`\t${date}`);
  return lines.join('\r\n') + '\r\n';
}

export function returnPathHeader(mailFrom: string | null | undefined): string {
  return `Return-Path: <${mailFrom ? clean(mailFrom, 320) : ''}>\r\n`;
}
