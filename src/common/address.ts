/**
 * Mail addresses and domain names: parsing and normalisation.
 * Standards: RFC 5321 §4.1.2 (Mailbox, Local-part, Domain), RFC 6531 (UTF-8 local parts), RFC 1035 §2.3.1 (labels).
 * Untrusted input: everything here is fed addresses from SMTP clients and the CLI; all functions are total
 * (they return null or throw UserError, never crash) and bound lengths per RFC 5321 §4.5.3.1.
 */
import { domainToASCII } from 'node:url';
import { UserError } from './errors.js';

export const MAX_LOCAL_PART = 64; // RFC 5321 §4.5.3.1.1
export const MAX_DOMAIN = 255; // RFC 5321 §4.5.3.1.2
export const MAX_PATH = 256; // RFC 5321 §4.5.3.1.3

export interface ParsedAddress {
  localPart: string;
  domain: string; // lower-case, A-label (punycode) form
  address: string; // localPart@domain with the domain normalised
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Normalise a domain name to lower-case A-labels, or return null when it is not a valid host name. */
export function normalizeDomain(input: string): string | null {
  let d = input.trim();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (!d || d.length > MAX_DOMAIN) return null;
  const ascii = domainToASCII(d.toLowerCase());
  if (!ascii || ascii.length > MAX_DOMAIN) return null;
  const labels = ascii.split('.');
  if (!labels.every((l) => LABEL.test(l))) return null;
  return ascii;
}

/** True when the name has at least two labels and a non-numeric top label: what a mail host name must be. */
export function isFqdn(name: string): boolean {
  const d = normalizeDomain(name);
  if (!d) return false;
  const labels = d.split('.');
  return labels.length >= 2 && !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

// RFC 5321 atext plus "." for Dot-string; UTF-8 allowed per RFC 6531. Quoted strings are accepted too.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+)*$/u;
const QUOTED = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uFFFF]|\\[\x20-\x7e])*"$/u;

/** Parse "local@domain" (no angle brackets). Returns null for anything that is not a valid mailbox. */
export function parseAddress(input: string): ParsedAddress | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_PATH) return null;
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) return null;
  const localPart = input.slice(0, at);
  const domainRaw = input.slice(at + 1);
  if (Buffer.byteLength(localPart) > MAX_LOCAL_PART) return null;
  if (!DOT_ATOM.test(localPart) && !QUOTED.test(localPart)) return null;
  // Address literals ([1.2.3.4]) are valid SMTP but never name one of our hosted domains.
  const domain = normalizeDomain(domainRaw);
  if (!domain) return null;
  return { localPart, domain, address: `${localPart}@${domain}` };
}

/** Like parseAddress, for the CLI: throws a UserError naming what is wrong. */
export function requireAddress(input: string, what = 'address'): ParsedAddress {
  const p = parseAddress(input);
  if (!p) throw new UserError(`invalid ${what} '${input}': expected local-part@domain (RFC 5321)`);
  return p;
}

export function requireDomain(input: string): string {
  const d = normalizeDomain(input);
  if (!d || !d.includes('.')) throw new UserError(`invalid domain '${input}': expected a name such as example.com`);
  return d;
}

/**
 * The key under which an address is stored and looked up: the local part lower-cased (we treat local parts as
 * case-insensitive, as every major server does) and the domain normalised.
 */
export function addressKey(p: ParsedAddress): string {
  return `${p.localPart.toLowerCase()}@${p.domain}`;
}

/** Split plus-addressing: "user+tag" -> { base: "user", detail: "tag" } (Postfix recipient_delimiter "+"). */
export function splitDetail(localPart: string, delimiter = '+'): { base: string; detail: string | null } {
  const i = localPart.indexOf(delimiter);
  if (i <= 0) return { base: localPart, detail: null };
  return { base: localPart.slice(0, i), detail: localPart.slice(i + 1) };
}
