/**
 * POP3 command parsing (RFC 1939 §3, §4-§7; RFC 2449 CAPA; RFC 2595 STLS; RFC 5034 AUTH). Pure: a line in, a typed
 * command or a Pop3Error out. Untrusted input: the whole line. Keywords are case-insensitive; arguments are
 * separated by spaces. USER and PASS take the rest of the line as their one argument (RFC 1939 §7 allows spaces
 * in the password). Message numbers are decimal 1..2^31-1 without sign or leading zeros; TOP's line count may be 0.
 */
import { Pop3Error } from './responses.js';

export type Pop3Command =
  | { name: 'USER'; user: string }
  | { name: 'PASS'; password: string }
  | { name: 'AUTH'; mechanism: string | null; initialResponse: string | null }
  | { name: 'STLS' | 'CAPA' | 'STAT' | 'RSET' | 'NOOP' | 'QUIT' }
  | { name: 'LIST' | 'UIDL'; msg: number | null }
  | { name: 'RETR' | 'DELE'; msg: number }
  | { name: 'TOP'; msg: number; lines: number }
  | { name: 'APOP' };

export const KNOWN = new Set(['USER', 'PASS', 'AUTH', 'STLS', 'CAPA', 'STAT', 'RSET', 'NOOP', 'QUIT', 'LIST', 'UIDL', 'RETR', 'DELE', 'TOP', 'APOP']);

const MAX_NUMBER = 0x7fffffff;

/** A message number (RFC 1939 §3 "msg"): 1..2^31-1, no sign, no leading zero. */
export function parseMessageNumber(s: string | undefined, what = 'message number'): number {
  if (s === undefined || s === '') throw new Pop3Error(`Missing ${what}`);
  if (!/^[1-9][0-9]{0,9}$/.test(s) || Number(s) > MAX_NUMBER) throw new Pop3Error(`Invalid ${what}: ${printable(s)}`);
  return Number(s);
}

/** A non-negative count (TOP's line count); 0 is allowed. Huge values are capped (no message has more lines). */
export function parseCount(s: string | undefined): number {
  if (s === undefined || s === '') throw new Pop3Error('Missing number of lines');
  if (!/^[0-9]{1,20}$/.test(s)) throw new Pop3Error(`Invalid number of lines: ${printable(s)}`);
  return Math.min(Number(s), Number.MAX_SAFE_INTEGER);
}

/** A short, printable excerpt of client text for an error reply (never echo control characters). */
export function printable(s: string, max = 40): string {
  const t = s.replace(/[^\x21-\x7e]/g, '?');
  return t.length > max ? `${t.slice(0, max)}...` : t;
}

/** The keyword of a line, upper-cased (for logs and "unknown command" replies). */
export function keywordOf(line: string): string {
  const sp = line.indexOf(' ');
  return (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
}

/**
 * The message number of a line that is exactly "RETR <msg>" (RFC 1939 §7; keyword in any case, one space, the
 * number as parseMessageNumber accepts it), read from the bytes without decoding; 0 for any other line, which then
 * goes through parseCommand (the same result for every line this accepts). The fast path for RETR-all loops.
 */
export function retrNumber(line: Uint8Array): number {
  const len = line.length;
  if (len < 6 || len > 15 || line[4] !== 0x20) return 0;
  // "RETR" in any case: clearing bit 0x20 maps exactly "r"/"R" to 0x52 ('R'), "e"/"E" to 'E', "t"/"T" to 'T'.
  if ((line[0]! & 0xdf) !== 0x52 || (line[1]! & 0xdf) !== 0x45 || (line[2]! & 0xdf) !== 0x54 || (line[3]! & 0xdf) !== 0x52) return 0;
  let n = 0;
  for (let i = 5; i < len; i++) {
    const d = line[i]! - 0x30;
    if (d < 0 || d > 9 || (i === 5 && d === 0)) return 0;
    n = n * 10 + d;
  }
  return n <= MAX_NUMBER ? n : 0;
}

export function parseCommand(line: string): Pop3Command {
  const sp = line.indexOf(' ');
  const keyword = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  const args = rest.split(' ').filter((a) => a !== '');
  const noArgs = () => {
    if (args.length) throw new Pop3Error(`${keyword} takes no arguments`);
  };
  const maxArgs = (n: number) => {
    if (args.length > n) throw new Pop3Error(`Too many arguments to ${keyword}`);
  };
  switch (keyword) {
    case 'USER':
      if (!rest) throw new Pop3Error('USER needs a user name');
      return { name: 'USER', user: rest };
    case 'PASS':
      if (sp < 0) throw new Pop3Error('PASS needs a password');
      return { name: 'PASS', password: rest };
    case 'AUTH':
      maxArgs(2);
      return { name: 'AUTH', mechanism: args[0]?.toUpperCase() ?? null, initialResponse: args[1] ?? null };
    case 'STLS':
    case 'CAPA':
    case 'STAT':
    case 'RSET':
    case 'NOOP':
    case 'QUIT':
      noArgs();
      return { name: keyword };
    case 'LIST':
    case 'UIDL':
      maxArgs(1);
      return { name: keyword, msg: args.length ? parseMessageNumber(args[0]) : null };
    case 'RETR':
    case 'DELE':
      maxArgs(1);
      return { name: keyword, msg: parseMessageNumber(args[0]) };
    case 'TOP':
      maxArgs(2);
      return { name: 'TOP', msg: parseMessageNumber(args[0]), lines: parseCount(args[1]) };
    case 'APOP':
      return { name: 'APOP' };
    case '':
      throw new Pop3Error('Empty command');
    default:
      throw new Pop3Error(`Unknown command ${printable(keyword, 20)}`);
  }
}
