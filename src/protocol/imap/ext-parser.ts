/**
 * Parsing of extension commands beside parser.ts: SORT and THREAD (RFC 5256 §5, RFC 5957 display sort keys) and
 * GETQUOTA / GETQUOTAROOT / SETQUOTA (RFC 9208 §7), COMPRESS (RFC 4978 §5). Called by parseArguments for names it does not know;
 * returns undefined for a name that is not one of these. Failures are ImapParseError via lx.fail.
 */
import type { Lexer } from './lexer.js';
import { readMailbox, type ParseOptions } from './args.js';
import { readReturnOptions, readSearchProgram, SUPPORTED_CHARSETS } from './search.js';
import type { ImapCommand, SortKey } from './types.js';
import { parseNotify } from './notify-parser.js';

/** Extension commands that may follow "UID". */
export const EXT_UID_COMMANDS = new Set(['SORT', 'THREAD']);

const SORT_KEYS = new Set<SortKey>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);
const MAX_SORT_KEYS = 20;

export function parseExtension(lx: Lexer, tag: string, name: string, uid: boolean, options: ParseOptions): ImapCommand | undefined {
  switch (name) {
    case 'SORT': {
      // RFC 5256 §5 sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
      // sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"; sort-criterion = ["REVERSE" SP] sort-key
      // RFC 5267 §3 (ESORT): "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria
      lx.sp('sort criteria');
      const ret = readReturnOptions(lx);
      if (ret) lx.sp('sort criteria');
      const sortCriteria: Array<{ key: SortKey; reverse: boolean }> = [];
      let reverse = false;
      lx.list(
        () => {
          const k = lx.atom('sort key').toUpperCase();
          if (k === 'REVERSE' && !reverse) {
            reverse = true;
            return;
          }
          if (!SORT_KEYS.has(k as SortKey)) lx.fail(`Unknown sort key "${k.slice(0, 30)}"`);
          sortCriteria.push({ key: k as SortKey, reverse });
          reverse = false;
        },
        false,
        'sort criteria',
      );
      if (reverse) lx.fail('REVERSE must be followed by a sort key');
      if (sortCriteria.length > MAX_SORT_KEYS) lx.fail('Too many sort keys');
      const { charset, criteria } = readCharsetAndCriteria(lx);
      return { tag, name, uid, sortCriteria, charset, criteria, ...(ret ?? {}) };
    }
    case 'THREAD': {
      // RFC 5256 §5 thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
      lx.sp('threading algorithm');
      const alg = lx.atom('threading algorithm').toUpperCase();
      if (alg !== 'ORDEREDSUBJECT' && alg !== 'REFERENCES') lx.fail(`Unsupported threading algorithm "${alg.slice(0, 30)}"`);
      const { charset, criteria } = readCharsetAndCriteria(lx);
      return { tag, name, uid, algorithm: alg, charset, criteria };
    }
    case 'CANCELUPDATE': {
      // RFC 5267 §4.3 cancelupdate = "CANCELUPDATE" 1*(SP quoted)   (tag-string = string)
      const tags: string[] = [];
      do {
        lx.sp('tag string');
        tags.push(lx.string('tag string').toString('utf8'));
      } while (lx.peek() === 0x20);
      return { tag, name, tags };
    }
    case 'GETQUOTAROOT':
      // RFC 9208 §7 getquotaroot = "GETQUOTAROOT" SP mailbox
      lx.sp('mailbox name');
      return { tag, name, root: readMailbox(lx, options) };
    case 'GETQUOTA':
      // getquota = "GETQUOTA" SP quota-root-name; quota-root-name = astring
      lx.sp('quota root');
      return { tag, name, root: lx.astringText('quota root') };
    case 'SETQUOTA': {
      // setquota = "SETQUOTA" SP quota-root-name SP setquota-list;
      // setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"; setquota-resource = resource-name SP number64
      lx.sp('quota root');
      const root = lx.astringText('quota root');
      lx.sp('quota limits');
      const limits: Array<[string, number]> = [];
      lx.list(
        () => {
          const res = lx.atom('resource name').toUpperCase();
          lx.sp('resource limit');
          limits.push([res, lx.number('resource limit')]);
        },
        true,
        'quota limits',
      );
      return { tag, name, root, limits };
    }
    case 'COMPRESS':
      // RFC 4978 §5 compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE" (any atom parses; the handler decides)
      lx.sp('compression algorithm');
      return { tag, name, algorithm: lx.atom('compression algorithm').toUpperCase() };
    case 'NOTIFY':
      // RFC 5465 §8 (notify-parser.ts)
      return parseNotify(lx, tag, options);
    default:
      return undefined;
  }
}

/** SP charset SP search-key *(SP search-key) (RFC 5256 §5: the charset is required). */
function readCharsetAndCriteria(lx: Lexer) {
  lx.sp('charset');
  const charset = lx.astringText('charset').toUpperCase();
  if (!SUPPORTED_CHARSETS.includes(charset)) {
    lx.fail(`Unsupported charset ${charset.slice(0, 40)}`, 'NO', `BADCHARSET (${SUPPORTED_CHARSETS.join(' ')})`);
  }
  const prog = readSearchProgram(lx);
  if (prog.charset !== undefined || prog.returnOptions !== undefined) lx.fail('Unexpected CHARSET or RETURN in search criteria');
  return { charset, criteria: prog.criteria };
}
