/**
 * Where each user's Maildir lives: <dataDir>/mail/<domain>/<localpart>/ (tmp, new, cur inside).
 * Untrusted input: local parts come from SMTP and may legally contain "/", "..", quotes and any UTF-8 (RFC 5321
 * atext, RFC 6531). They are encoded so that no name can escape its domain directory or clash with Maildir++
 * folder names (which start with "."): every byte outside [a-z0-9_+=-] and a leading "." become %XX.
 */
import { join } from 'node:path';

const SAFE = /^[a-z0-9_+=-]$/;

/** Encode one path segment (lower-cased). The result is never "", ".", ".." and contains no "/". */
export function encodePathSegment(name: string): string {
  const lower = name.toLowerCase();
  let out = '';
  const bytes = Buffer.from(lower, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    if (b < 0x80 && (SAFE.test(ch) || (ch === '.' && i > 0 && i < bytes.length - 1))) out += ch;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** The Maildir root of a user. `domain` must already be normalised (lower-case A-labels). */
export function userMaildir(dataDir: string, domain: string, localPart: string): string {
  return join(dataDir, 'mail', encodePathSegment(domain), encodePathSegment(localPart));
}
