/**
 * UIDL values (RFC 1939 §7 "unique-id listing"): 1 to 70 characters in 0x21..0x7E, the same for a message for as
 * long as it exists. Mailwright uses the Maildir unique name (the part before ":2,"), which survives restarts,
 * reindexing and flag changes by IMAP. A name that is too long or has other characters gets a stable hash form:
 * "H" + the 43 base64url characters of its SHA-256 (a function of the name only, so it is stable too).
 */
import { createHash } from 'node:crypto';

const VALID = /^[\x21-\x7e]{1,70}$/;

export function uidlOf(base: string): string {
  if (VALID.test(base)) return base;
  return 'H' + createHash('sha256').update(base, 'utf8').digest('base64url');
}
