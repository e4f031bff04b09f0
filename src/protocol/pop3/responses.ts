/**
 * POP3 responses (RFC 1939 §3): "+OK text" / "-ERR [CODE] text" status lines (response codes: RFC 2449 §8,
 * RFC 3206), multi-line responses terminated by "." with dot-stuffing, and the SASL continuation "+ " (RFC 5034).
 * Pure string building. Reply text never contains CR or LF (checked).
 */

/** RFC 2449 §8.1 IN-USE, LOGIN-DELAY; RFC 3206 SYS/TEMP, SYS/PERM, AUTH. */
export type Pop3ResponseCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

/** An error that becomes a "-ERR" reply; thrown from any depth and caught once by the session's dispatcher. */
export class Pop3Error extends Error {
  constructor(
    message: string,
    readonly code?: Pop3ResponseCode,
    /** Close the connection after the reply. */
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'Pop3Error';
  }
}

function clean(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export function ok(text = ''): string {
  return text ? `+OK ${clean(text)}\r\n` : '+OK\r\n';
}

export function err(text: string, code?: Pop3ResponseCode): string {
  return `-ERR ${code ? `[${code}] ` : ''}${clean(text)}\r\n`;
}

/** A multi-line response from short lines (CAPA, LIST, UIDL): each line dot-stuffed, then the terminating ".". */
export function multiline(status: string, lines: Iterable<string>): string {
  let out = ok(status);
  for (const l of lines) out += (l.startsWith('.') ? '.' : '') + clean(l) + '\r\n';
  return out + '.\r\n';
}

/** The server challenge of AUTH (RFC 5034 §4): "+ " followed by base64 (empty for PLAIN). */
export function continuation(base64 = ''): string {
  return `+ ${base64}\r\n`;
}
