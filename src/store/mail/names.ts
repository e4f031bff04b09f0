/**
 * Mailbox names: validation, normalisation, and the on-disk Maildir++ folder name.
 *
 * API names are Unicode strings with "/" as the hierarchy separator ("Archive/2024"). "INBOX" is case-insensitive
 * as the first level ("inbox/x" is "INBOX/x"); every other level is case-sensitive.
 *
 * On disk (Dovecot's Maildir++ layout): INBOX is the user's Maildir root; every other mailbox is the folder
 * ".<level1>.<level2>..." directly under the root. Each level is encoded so that the result is a single, safe,
 * unambiguous path component:
 *   - printable ASCII other than the characters below is kept as is (so plain names look exactly as in Dovecot);
 *   - non-ASCII runs and "&" use modified UTF-7 (RFC 3501 §5.1.3: "Entwürfe" -> "Entw&APw-rfe", "&" -> "&-"),
 *     which is what Dovecot itself writes by default;
 *   - "." "/" "%" "\" "*" "?" ":" '"' "<" ">" "|" and "~" become %XX (so no level can contain the separator, be
 *     "." or "..", start with a dot, or contain a path separator).
 * Control characters (U+0000-U+001F, U+007F-U+009F), lone surrogates, empty levels, more than MAX_DEPTH levels and
 * names longer than MAX_NAME_CHARS characters or MAX_DIR_BYTES encoded bytes are rejected (MailboxNameError).
 * encodeDir/decodeDir are exact inverses; decodeDir rejects anything that encodeDir would not produce, so a
 * directory made by another program either maps to exactly one name or is ignored.
 */

export const HIERARCHY_SEPARATOR = '/';
export const MAX_DEPTH = 16;
export const MAX_NAME_CHARS = 200;
/** Encoded folder name limit (NAME_MAX is 255; leave room for temporary names). */
export const MAX_DIR_BYTES = 220;

export class MailboxNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailboxNameError';
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

/** ASCII characters percent-encoded in a level. */
const PERCENT = new Set(['.', '/', '%', '\\', '*', '?', ':', '"', '<', '>', '|', '~']);

function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/**
 * Validate and normalise a mailbox name. Returns the canonical name ("INBOX" upper-cased as the first level).
 * Throws MailboxNameError.
 */
export function normalizeMailboxName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new MailboxNameError('mailbox name is empty');
  if (name.length > MAX_NAME_CHARS) throw new MailboxNameError(`mailbox name is longer than ${MAX_NAME_CHARS} characters`);
  const levels = name.split(HIERARCHY_SEPARATOR);
  if (levels.length > MAX_DEPTH) throw new MailboxNameError(`mailbox name has more than ${MAX_DEPTH} levels`);
  for (const level of levels) {
    if (level.length === 0) throw new MailboxNameError('mailbox name has an empty hierarchy level');
    for (let i = 0; i < level.length; i++) {
      const c = level.charCodeAt(i);
      if (isControl(c)) throw new MailboxNameError('mailbox name contains a control character');
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = level.charCodeAt(i + 1);
        if (!(d >= 0xdc00 && d <= 0xdfff)) throw new MailboxNameError('mailbox name is not valid Unicode');
        i++;
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        throw new MailboxNameError('mailbox name is not valid Unicode');
      }
    }
  }
  if (levels[0]!.toUpperCase() === 'INBOX') levels[0] = 'INBOX';
  const out = levels.join(HIERARCHY_SEPARATOR);
  if (out !== 'INBOX' && Buffer.byteLength(encodeDir(out)) > MAX_DIR_BYTES) {
    throw new MailboxNameError('mailbox name is too long');
  }
  return out;
}

export function isInbox(name: string): boolean {
  return name.toUpperCase() === 'INBOX';
}

/** Parent name of a normalised name, or null for a top-level name. */
export function parentName(name: string): string | null {
  const i = name.lastIndexOf(HIERARCHY_SEPARATOR);
  return i < 0 ? null : name.slice(0, i);
}

/** All ancestors, outermost first: "a/b/c" -> ["a", "a/b"]. */
export function ancestors(name: string): string[] {
  const levels = name.split(HIERARCHY_SEPARATOR);
  const out: string[] = [];
  for (let i = 1; i < levels.length; i++) out.push(levels.slice(0, i).join(HIERARCHY_SEPARATOR));
  return out;
}

function encodeUtf7Run(units: number[]): string {
  let out = '&';
  let bits = 0;
  let acc = 0;
  for (const u of units) {
    acc = (acc << 16) | u;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += B64[(acc >> bits) & 0x3f];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B64[(acc << (6 - bits)) & 0x3f];
  return out + '-';
}

function encodeLevel(level: string): string {
  let out = '';
  let run: number[] = [];
  for (let i = 0; i < level.length; i++) {
    const c = level.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      if (run.length) {
        out += encodeUtf7Run(run);
        run = [];
      }
      const ch = level[i]!;
      if (ch === '&') out += '&-';
      else if (PERCENT.has(ch)) out += '%' + c.toString(16).toUpperCase().padStart(2, '0');
      else out += ch;
    } else {
      run.push(c);
    }
  }
  if (run.length) out += encodeUtf7Run(run);
  return out;
}

/** Folder name for a normalised mailbox name: "" for INBOX, ".Archive.2024" for "Archive/2024". */
export function encodeDir(name: string): string {
  if (name === 'INBOX') return '';
  return '.' + name.split(HIERARCHY_SEPARATOR).map(encodeLevel).join('.');
}

function decodeLevel(s: string): string | null {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (ch === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 3;
    } else if (ch === '&') {
      const end = s.indexOf('-', i + 1);
      if (end < 0) return null;
      if (end === i + 1) {
        out += '&';
      } else {
        let bits = 0;
        let acc = 0;
        for (let j = i + 1; j < end; j++) {
          const v = B64_VALUE[s.charCodeAt(j)] ?? -1;
          if (v < 0 || s.charCodeAt(j) > 127) return null;
          acc = (acc << 6) | v;
          bits += 6;
          if (bits >= 16) {
            bits -= 16;
            out += String.fromCharCode((acc >> bits) & 0xffff);
            acc &= (1 << bits) - 1;
          }
        }
      }
      i = end + 1;
    } else if (c >= 0x20 && c <= 0x7e) {
      out += ch;
      i++;
    } else {
      return null;
    }
  }
  return out;
}

/**
 * Mailbox name for a folder name found on disk, or null when the folder is not one this encoding produces
 * (then it is ignored: not a mailbox, or a temporary/trashed folder).
 */
export function decodeDir(dir: string): string | null {
  if (dir === '') return 'INBOX';
  if (!dir.startsWith('.') || dir === '.' || dir === '..') return null;
  const parts = dir.slice(1).split('.');
  const levels: string[] = [];
  for (const p of parts) {
    if (!p) return null;
    const l = decodeLevel(p);
    if (l === null || l === '') return null;
    levels.push(l);
  }
  const name = levels.join(HIERARCHY_SEPARATOR);
  let norm: string;
  try {
    norm = normalizeMailboxName(name);
  } catch {
    return null;
  }
  // Canonical form only: exactly one directory per name (and "INBOX" only as INBOX's children's parent level).
  if (norm === 'INBOX' || encodeDir(norm) !== dir) return null;
  return norm;
}
