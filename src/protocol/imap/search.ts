/**
 * SEARCH argument parsing into a typed tree (types.ts `SearchKey`).
 *
 * Standards: RFC 3501 §6.4.4 and §9 `search`, `search-key`; RFC 4466 §2.6 / RFC 4731 §3
 * `search-return-opts` (ESEARCH RETURN: MIN MAX ALL COUNT), RFC 5182 SAVE; RFC 7162 §3.1.5
 * MODSEQ search key; RFC 5032 OLDER/YOUNGER.
 * Untrusted input: all of it. Parentheses nest at most `maxDepth`; NOT/OR recursion is bounded by
 * MAX_SEARCH_RECURSION so that `NOT NOT NOT ...` cannot exhaust the stack.
 * A charset other than UTF-8/US-ASCII gives ImapParseError status NO, code
 * "BADCHARSET (UTF-8 US-ASCII)" (RFC 3501 §6.4.4), which the session sends as is.
 */
import type { Lexer } from './lexer.js';
import type { SearchKey } from './types.js';
import { atSequenceSet, readDate, readKeyword, readSequenceSet } from './args.js';
import { ImapParseError } from './errors.js';

export const SUPPORTED_CHARSETS = ['UTF-8', 'US-ASCII'];
export const MAX_SEARCH_RECURSION = 100;
/** RFC 4731 §3 MIN MAX ALL COUNT; RFC 5182 §2 SAVE; RFC 5267 §4 UPDATE, CONTEXT, §4.4 PARTIAL. */
const RETURN_OPTIONS = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE', 'UPDATE', 'CONTEXT', 'PARTIAL']);

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  RECENT: ['\\Recent', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
  OLD: ['\\Recent', false],
};
const HEADER_KEYS = new Set(['BCC', 'CC', 'FROM', 'SUBJECT', 'TO']);
const DATE_KEYS: Record<string, ['internal' | 'sent', 'before' | 'on' | 'since']> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
};

class SearchParser {
  private recursion = 0;
  constructor(private readonly lx: Lexer) {}

  /** RFC 3501 §9 search-key */
  key(): SearchKey {
    const lx = this.lx;
    if (++this.recursion > MAX_SEARCH_RECURSION) lx.fail('Search program too deeply nested');
    try {
      if (lx.peek() === 0x28) {
        return { type: 'AND', keys: lx.list(() => this.key(), false, 'search group') };
      }
      if (atSequenceSet(lx)) return { type: 'SEQUENCE', set: readSequenceSet(lx) };
      const name = lx.atom('search key').toUpperCase();
      const flag = FLAG_KEYS[name];
      if (flag) return { type: 'FLAG', flag: flag[0], present: flag[1] };
      if (HEADER_KEYS.has(name)) {
        lx.sp(`${name} value`);
        return { type: 'HEADER', field: name, value: lx.astringText() };
      }
      const dateKey = DATE_KEYS[name];
      if (dateKey) {
        lx.sp('date');
        return { type: 'DATE', field: dateKey[0], comparison: dateKey[1], date: readDate(lx) };
      }
      switch (name) {
        case 'ALL':
          return { type: 'ALL' };
        case 'NEW': // RFC 3501 §6.4.4: "functionally equivalent to (RECENT UNSEEN)"
          return {
            type: 'AND',
            keys: [
              { type: 'FLAG', flag: '\\Recent', present: true },
              { type: 'FLAG', flag: '\\Seen', present: false },
            ],
          };
        case 'KEYWORD':
        case 'UNKEYWORD':
          lx.sp('keyword');
          return { type: 'FLAG', flag: readKeyword(lx), present: name === 'KEYWORD' };
        case 'BODY':
        case 'TEXT':
          lx.sp('string');
          return { type: name, value: lx.astringText() };
        case 'HEADER': {
          lx.sp('header field name');
          const field = lx.astringText('header field name');
          lx.sp('header value');
          return { type: 'HEADER', field, value: lx.astringText() };
        }
        case 'LARGER':
        case 'SMALLER':
          lx.sp('size');
          return { type: 'SIZE', comparison: name === 'LARGER' ? 'larger' : 'smaller', size: lx.number('size') };
        case 'OLDER':
        case 'YOUNGER':
          lx.sp('interval');
          return { type: 'AGE', comparison: name === 'OLDER' ? 'older' : 'younger', seconds: lx.nzNumber('interval') };
        case 'UID':
          lx.sp('sequence set');
          return { type: 'UID', set: readSequenceSet(lx) };
        case 'NOT':
          lx.sp('search key');
          return { type: 'NOT', key: this.key() };
        case 'OR': {
          lx.sp('search key');
          const left = this.key();
          lx.sp('search key');
          return { type: 'OR', left, right: this.key() };
        }
        case 'MODSEQ': {
          // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
          lx.sp('mod-sequence');
          if (lx.peek() === 0x22) {
            const entryName = lx.quoted().toString('utf8');
            lx.sp('entry type');
            const entryType = lx.atom('entry type').toLowerCase();
            if (entryType !== 'priv' && entryType !== 'shared' && entryType !== 'all') lx.fail('Invalid entry type');
            lx.sp('mod-sequence');
            return { type: 'MODSEQ', modSeq: lx.number64(), entryName, entryType };
          }
          return { type: 'MODSEQ', modSeq: lx.number64() };
        }
        default:
          return lx.fail(`Unknown search key "${name.slice(0, 30)}"`);
      }
    } finally {
      this.recursion--;
    }
  }
}

export interface SearchProgram {
  charset?: string;
  returnOptions?: string[];
  /** RFC 5267 §4.4 PARTIAL low:high (1-based positions in the result). */
  partial?: { low: number; high: number };
  criteria: SearchKey;
}

export interface ReturnOptions {
  returnOptions: string[];
  partial?: { low: number; high: number };
}

/**
 * RFC 4466 §2.6 search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")", after
 * "SEARCH" or (RFC 5267 §3) "SORT". Undefined when the next word is not RETURN. Consumes the options, not the SP
 * after them. PARTIAL (RFC 5267 §4.4) takes a range n:m of positive numbers and excludes ALL.
 */
export function readReturnOptions(lx: Lexer): ReturnOptions | undefined {
  if (!peekWordIs(lx, 'RETURN')) return undefined;
  lx.atom();
  lx.sp('return options');
  let partial: { low: number; high: number } | undefined;
  const returnOptions = lx.list(
    () => {
      const opt = lx.atom('return option').toUpperCase();
      if (!RETURN_OPTIONS.has(opt)) lx.fail(`Unknown search return option "${opt.slice(0, 30)}"`);
      if (opt === 'PARTIAL') {
        lx.sp('partial range');
        const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(lx.atom('partial range'));
        const a = m ? Number(m[1]) : 0;
        const b = m ? Number(m[2]) : 0;
        if (!a || !b || a > 4294967295 || b > 4294967295) lx.fail('PARTIAL range broken');
        partial = { low: Math.min(a, b), high: Math.max(a, b) };
      }
      return opt;
    },
    true,
    'return options',
  );
  if (partial && returnOptions.includes('ALL')) lx.fail('PARTIAL conflicts with ALL');
  return { returnOptions, ...(partial ? { partial } : {}) };
}

/**
 * After "SEARCH" (or "UID SEARCH"): [SP "RETURN" SP "(" opts ")"] SP ["CHARSET" SP astring SP]
 * search-key *(SP search-key). Consumes through the end of the command.
 */
export function readSearchProgram(lx: Lexer): SearchProgram {
  const out: Partial<SearchProgram> = {};
  lx.sp('search criteria');
  const ret = readReturnOptions(lx);
  if (ret) {
    out.returnOptions = ret.returnOptions;
    if (ret.partial) out.partial = ret.partial;
    lx.sp('search criteria');
  }
  if (peekWordIs(lx, 'CHARSET')) {
    lx.atom();
    lx.sp('charset');
    const charset = lx.astringText('charset').toUpperCase();
    if (!SUPPORTED_CHARSETS.includes(charset)) {
      throw new ImapParseError(`Unsupported charset ${charset.slice(0, 40)}`, {
        tag: lx.tag,
        status: 'NO',
        code: `BADCHARSET (${SUPPORTED_CHARSETS.join(' ')})`,
        resetsSearchResult: out.returnOptions?.includes('SAVE') ?? false,
      });
    }
    out.charset = charset;
    lx.sp('search criteria');
  }
  const parser = new SearchParser(lx);
  const keys: SearchKey[] = [parser.key()];
  while (lx.peek() === 0x20) {
    lx.sp('search key');
    keys.push(parser.key());
  }
  return { ...out, criteria: { type: 'AND', keys } };
}

function peekWordIs(lx: Lexer, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = lx.peek(i);
    if (c < 0 || String.fromCharCode(c).toUpperCase() !== word[i]) return false;
  }
  const next = lx.peek(word.length);
  return next === 0x20 || next === -1;
}
