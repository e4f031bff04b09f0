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

export const SUPPORTED_CHARSETS = ['UTF-8', 'US-ASCII'];
export const MAX_SEARCH_RECURSION = 100;
const RETURN_OPTIONS = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);

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
  criteria: SearchKey;
}

/**
 * After "SEARCH" (or "UID SEARCH"): [SP "RETURN" SP "(" opts ")"] SP ["CHARSET" SP astring SP]
 * search-key *(SP search-key). Consumes through the end of the command.
 */
export function readSearchProgram(lx: Lexer): SearchProgram {
  const out: Partial<SearchProgram> = {};
  lx.sp('search criteria');
  if (peekWordIs(lx, 'RETURN')) {
    lx.atom();
    lx.sp('return options');
    out.returnOptions = lx.list(
      () => {
        const opt = lx.atom('return option').toUpperCase();
        if (!RETURN_OPTIONS.has(opt)) lx.fail(`Unknown search return option "${opt.slice(0, 30)}"`);
        return opt;
      },
      true,
      'return options',
    );
    lx.sp('search criteria');
  }
  if (peekWordIs(lx, 'CHARSET')) {
    lx.atom();
    lx.sp('charset');
    const charset = lx.astringText('charset').toUpperCase();
    if (!SUPPORTED_CHARSETS.includes(charset)) {
      lx.fail(`Unsupported charset ${charset.slice(0, 40)}`, 'NO', `BADCHARSET (${SUPPORTED_CHARSETS.join(' ')})`);
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
