/**
 * Argument readers shared by the command parsers: mailbox, flags, sequence sets, dates.
 *
 * Standards: RFC 3501 §9 `mailbox` (with §5.1 INBOX case-insensitivity and §5.1.3 modified UTF-7),
 * `flag`, `flag-list`, `flag-keyword`, `flag-extension`, `sequence-set`, `date`, `date-time`;
 * RFC 6855 (UTF8=ACCEPT mailbox names).
 * Untrusted input: all of it; failures are ImapParseError (BAD) with the command tag.
 */
import type { Lexer } from './lexer.js';
import { ATOM_CHAR } from './lexer.js';
import { decodeMailboxName } from './utf7.js';
import { ImapParseError } from './errors.js';
import { parseSequenceSet, type SequenceSet } from './sequence.js';
import { parseImapDate, parseImapDateTime } from './datetime.js';

export interface ParseOptions {
  /** Maximum parenthesis nesting (default 16). */
  maxDepth?: number;
  /**
   * RFC 6855 UTF8=ACCEPT is enabled: mailbox names are UTF-8 as sent. Otherwise they are decoded
   * from modified UTF-7 (RFC 3501 §5.1.3), and invalid names are BAD.
   */
  utf8Mailboxes?: boolean;
}

/** Turn a wire mailbox name into the Unicode name (see ParseOptions.utf8Mailboxes). */
export function decodeMailbox(raw: Buffer, options: ParseOptions, tag: string | undefined, isPattern = false): string {
  let name: string;
  if (options.utf8Mailboxes) {
    name = raw.toString('utf8');
    if (name.includes('\u0000') || name.includes('\ufffd')) throw new ImapParseError('Invalid mailbox name', { tag });
  } else {
    try {
      name = decodeMailboxName(raw.toString('latin1'));
    } catch (err) {
      if (err instanceof ImapParseError) throw new ImapParseError(err.message, { tag });
      throw err;
    }
  }
  // RFC 3501 §5.1: "INBOX" is case-insensitive.
  if (!isPattern && name.toUpperCase() === 'INBOX') return 'INBOX';
  return name;
}

/** RFC 3501 §9 mailbox = "INBOX" / astring */
export function readMailbox(lx: Lexer, options: ParseOptions): string {
  return decodeMailbox(lx.astring('mailbox name'), options, lx.tag);
}

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'];
const SYSTEM_BY_UPPER = new Map(SYSTEM_FLAGS.map((f) => [f.toUpperCase(), f]));

/** Normalize system flags to their RFC 3501 §2.3.2 spelling; keywords are returned unchanged. */
export function normalizeFlag(flag: string): string {
  return flag.startsWith('\\') ? (SYSTEM_BY_UPPER.get(flag.toUpperCase()) ?? flag) : flag;
}

/** RFC 3501 §9 flag = "\Answered" / ... / flag-keyword / flag-extension ("\" atom) */
export function readFlag(lx: Lexer): string {
  const slash = lx.take(0x5c);
  const a = lx.readWhile(ATOM_CHAR);
  if (a === '') lx.fail('Invalid flag');
  return normalizeFlag(slash ? `\\${a}` : a);
}

/** RFC 3501 §9 flag-list = "(" [flag *(SP flag)] ")" */
export function readFlagList(lx: Lexer): string[] {
  return lx.list(() => readFlag(lx), true, 'flag list');
}

/** RFC 3501 §9 flag-keyword = atom (for KEYWORD / UNKEYWORD) */
export function readKeyword(lx: Lexer): string {
  return lx.atom('keyword');
}

const SEQ_CHAR = new Uint8Array(256);
for (const c of '0123456789:*,$') SEQ_CHAR[c.charCodeAt(0)] = 1;

/** True if the next byte can start a sequence set (digit, "*" or "$"). */
export function atSequenceSet(lx: Lexer): boolean {
  const c = lx.peek();
  return (c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24;
}

/** RFC 3501 §9 sequence-set (RFC 5182 "$" too) */
export function readSequenceSet(lx: Lexer): SequenceSet {
  const text = lx.readWhile(SEQ_CHAR);
  if (text === '') lx.fail('Expected sequence set');
  return parseSequenceSet(text, lx.tag);
}

/** RFC 3501 §9 date = date-text / DQUOTE date-text DQUOTE -> Date at UTC midnight */
export function readDate(lx: Lexer): Date {
  let text: string;
  if (lx.peek() === 0x22) text = lx.quoted().toString('latin1');
  else text = lx.atom('date');
  const d = parseImapDate(text);
  if (!d) lx.fail(`Invalid date "${text.slice(0, 30)}"`);
  return d;
}

/** RFC 3501 §9 date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
export function readDateTime(lx: Lexer): Date {
  const text = lx.quoted().toString('latin1');
  const d = parseImapDateTime(text);
  if (!d) lx.fail(`Invalid date-time "${text.slice(0, 30)}"`);
  return d;
}
