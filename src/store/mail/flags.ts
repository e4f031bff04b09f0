/**
 * Message flags: IMAP system flags and keywords, and their Maildir file-name letters.
 *
 * In the index, system flags are a bit mask (column sysflags) and keywords a space-separated list (column keywords).
 * In a file name "<base>:2,<letters>" the letters are (Maildir spec, sorted ASCII):
 *   D \Draft, F \Flagged, P "passed" (exposed as the keyword $Forwarded), R \Answered, S \Seen, T \Deleted.
 * Other letters in a name (e.g. Dovecot's a..z keyword letters) are kept untouched when we rename the file, but not
 * interpreted: keywords live in the index only. \Recent is not stored (see store.ts).
 */

export const SEEN = 1;
export const ANSWERED = 2;
export const FLAGGED = 4;
export const DELETED = 8;
export const DRAFT = 16;
export const PASSED = 32;

const SYSTEM: ReadonlyArray<readonly [string, number, string]> = [
  ['\\Seen', SEEN, 'S'],
  ['\\Answered', ANSWERED, 'R'],
  ['\\Flagged', FLAGGED, 'F'],
  ['\\Deleted', DELETED, 'T'],
  ['\\Draft', DRAFT, 'D'],
];
const PASSED_KEYWORD = '$Forwarded';

const BY_LOWER = new Map<string, number>(SYSTEM.map(([n, b]) => [n.toLowerCase(), b]));
const LETTER_BIT = new Map<string, number>([...SYSTEM.map(([, b, l]) => [l, b] as [string, number]), ['P', PASSED]]);

export const MAX_KEYWORD_LENGTH = 128;
export const MAX_KEYWORDS_PER_MESSAGE = 64;

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/** A flag set in index form. */
export interface FlagSet {
  sysflags: number;
  /** Keywords without $Forwarded (that one is the PASSED bit), in insertion order, unique case-insensitively. */
  keywords: string[];
}

// atom-char minus "]" (RFC 3501 flag-keyword = atom; resp-specials excluded), printable ASCII only.
const ATOM = /^[!#$&'+,\-./0-9:;<=>?@A-Z[^_`a-z|}~]+$/;

/**
 * Parse IMAP flags as a client gives them. System flags are matched case-insensitively and canonicalised; "\Recent"
 * is ignored (it cannot be stored); another backslash flag or an invalid keyword throws FlagError.
 */
export function parseFlags(flags: Iterable<string>): FlagSet {
  let sysflags = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    if (typeof f !== 'string' || f.length === 0) throw new FlagError('empty flag');
    const lower = f.toLowerCase();
    if (f.startsWith('\\')) {
      if (lower === '\\recent') continue;
      const bit = BY_LOWER.get(lower);
      if (bit === undefined) throw new FlagError(`unknown system flag ${f}`);
      sysflags |= bit;
      continue;
    }
    if (lower === PASSED_KEYWORD.toLowerCase()) {
      sysflags |= PASSED;
      continue;
    }
    if (f.length > MAX_KEYWORD_LENGTH || !ATOM.test(f)) throw new FlagError(`invalid keyword ${JSON.stringify(f)}`);
    if (seen.has(lower)) continue;
    seen.add(lower);
    keywords.push(f);
  }
  if (keywords.length > MAX_KEYWORDS_PER_MESSAGE) throw new FlagError('too many keywords');
  return { sysflags, keywords };
}

/** IMAP flag list: system flags first (fixed order), then $Forwarded, then keywords. */
export function flagsToList(sysflags: number, keywords: readonly string[]): string[] {
  const out: string[] = [];
  for (const [name, bit] of SYSTEM) if (sysflags & bit) out.push(name);
  if (sysflags & PASSED) out.push(PASSED_KEYWORD);
  for (const k of keywords) out.push(k);
  return out;
}

export function keywordsFromColumn(s: string | null | undefined): string[] {
  return s ? s.split(' ').filter(Boolean) : [];
}

export function keywordsToColumn(k: readonly string[]): string {
  return k.join(' ');
}

/** Apply a STORE-style change. Returns the new set (new arrays). */
export function applyFlags(cur: FlagSet, mode: 'add' | 'remove' | 'replace', change: FlagSet): FlagSet {
  if (mode === 'replace') return { sysflags: change.sysflags, keywords: [...change.keywords] };
  if (mode === 'add') {
    const have = new Set(cur.keywords.map((k) => k.toLowerCase()));
    const keywords = [...cur.keywords];
    for (const k of change.keywords) if (!have.has(k.toLowerCase())) keywords.push(k);
    if (keywords.length > MAX_KEYWORDS_PER_MESSAGE) throw new FlagError('too many keywords');
    return { sysflags: cur.sysflags | change.sysflags, keywords };
  }
  const drop = new Set(change.keywords.map((k) => k.toLowerCase()));
  return { sysflags: cur.sysflags & ~change.sysflags, keywords: cur.keywords.filter((k) => !drop.has(k.toLowerCase())) };
}

export function sameFlags(a: FlagSet, b: FlagSet): boolean {
  if (a.sysflags !== b.sysflags || a.keywords.length !== b.keywords.length) return false;
  for (let i = 0; i < a.keywords.length; i++) if (a.keywords[i] !== b.keywords[i]) return false;
  return true;
}

/** System flag bits from Maildir info letters (the part after ":2,"). Unknown letters are ignored. */
export function lettersToSysflags(letters: string): number {
  let bits = 0;
  for (const ch of letters) bits |= LETTER_BIT.get(ch) ?? 0;
  return bits;
}

/**
 * Maildir info letters for `sysflags`, keeping letters of `previous` that we do not interpret (e.g. Dovecot keyword
 * letters), sorted in ASCII order as the Maildir spec requires.
 */
export function sysflagsToLetters(sysflags: number, previous = ''): string {
  const set = new Set<string>();
  for (const [letter, bit] of LETTER_BIT) if (sysflags & bit) set.add(letter);
  for (const ch of previous) if (!LETTER_BIT.has(ch) && /^[\x21-\x7e]$/.test(ch) && ch !== '/' && ch !== ',') set.add(ch);
  return [...set].sort().join('');
}

/** Split a Maildir file name into base and info letters. `info` null means the name had no ":2," part. */
export function parseMaildirName(name: string): { base: string; letters: string | null } {
  const i = name.indexOf(':');
  if (i < 0) return { base: name, letters: null };
  const info = name.slice(i + 1);
  return { base: name.slice(0, i), letters: info.startsWith('2,') ? info.slice(2) : null };
}
