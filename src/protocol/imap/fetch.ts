/**
 * FETCH argument parsing: macros, fetch-att, sections, partials and fetch modifiers.
 *
 * Standards: RFC 3501 §6.4.5 and §9 `fetch`, `fetch-att`, `section`, `section-spec`,
 * `section-msgtext`, `section-part`, `section-text`, `header-list`; RFC 3516 §4.4 BINARY,
 * BINARY.PEEK, BINARY.SIZE and `section-binary`; RFC 7162 §3.1.4.1 CHANGEDSINCE, §3.2.6 VANISHED,
 * §3.1.4 MODSEQ fetch-att; RFC 4466 §2.4 fetch-modifiers.
 * Untrusted input: all of it; failures are ImapParseError (BAD).
 */
import type { Lexer } from './lexer.js';
import type { BodySection, FetchAttribute, Partial } from './types.js';

const NAME_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.') NAME_CHAR[c.charCodeAt(0)] = 1;

const SIMPLE = new Set([
  'FLAGS', 'INTERNALDATE', 'RFC822', 'RFC822.HEADER', 'RFC822.SIZE', 'RFC822.TEXT',
  'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'UID', 'MODSEQ',
]);

export const FETCH_MACROS: Record<'ALL' | 'FAST' | 'FULL', readonly FetchAttribute[]> = {
  // RFC 3501 §6.4.5: ALL = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE), FAST = (FLAGS INTERNALDATE
  // RFC822.SIZE), FULL = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)
  ALL: [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }, { type: 'ENVELOPE' }],
  FAST: [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }],
  FULL: [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }, { type: 'ENVELOPE' }, { type: 'BODY' }],
};

/** RFC 3501 §9 section-part = nz-number *("." nz-number); stops before a non-numeric component. */
function readPart(lx: Lexer): number[] {
  const part: number[] = [];
  while (lx.peek() >= 0x30 && lx.peek() <= 0x39) {
    part.push(lx.nzNumber('section part'));
    if (lx.peek() !== 0x2e) break;
    lx.take(0x2e);
    if (!(lx.peek() >= 0x30 && lx.peek() <= 0x39)) break; // "." then section-text
  }
  return part;
}

/** RFC 3501 §9 section = "[" [section-spec] "]" */
function readSection(lx: Lexer): BodySection {
  lx.expect(0x5b, '"["');
  const part = readPart(lx);
  if (part.length > 0 && lx.peek() === 0x5d) {
    lx.take(0x5d);
    return { part };
  }
  if (lx.take(0x5d)) return { part: [] };
  const spec = lx.readWhile(NAME_CHAR).toUpperCase();
  let section: BodySection;
  switch (spec) {
    case 'HEADER':
    case 'TEXT':
      section = { part, specifier: spec };
      break;
    case 'MIME':
      // section-text = section-msgtext / "MIME": MIME only after a section-part.
      if (part.length === 0) lx.fail('MIME requires a part number');
      section = { part, specifier: 'MIME' };
      break;
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT': {
      lx.sp('header list');
      // header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring
      const fields = lx.list(
        () => {
          const f = lx.astringText('header field name');
          // RFC 5322 §3.6.8 field-name = 1*ftext (printable US-ASCII except ":")
          if (!/^[\x21-\x39\x3b-\x7e]+$/.test(f)) lx.fail('Invalid header field name');
          return f;
        },
        false,
        'header list',
      );
      section = { part, specifier: spec, fields };
      break;
    }
    default:
      return lx.fail(`Invalid section "${spec.slice(0, 30)}"`);
  }
  lx.expect(0x5d, '"]"');
  return section;
}

/** "<" number "." nz-number ">" */
function readPartial(lx: Lexer): Partial | undefined {
  if (!lx.take(0x3c)) return undefined;
  const start = lx.number('partial start');
  lx.expect(0x2e, '"." in partial');
  const length = lx.nzNumber('partial length');
  lx.expect(0x3e, '">"');
  return { start, length };
}

/** RFC 3516 section-binary = "[" [section-part] "]" */
function readBinarySection(lx: Lexer): number[] {
  lx.expect(0x5b, '"["');
  const part = readPart(lx);
  lx.expect(0x5d, '"]"');
  return part;
}

/** RFC 3501 §9 fetch-att (plus MODSEQ and BINARY*) */
export function readFetchAttribute(lx: Lexer): FetchAttribute {
  const name = lx.readWhile(NAME_CHAR).toUpperCase();
  if (name === '') lx.fail('Expected fetch attribute');
  if ((name === 'BODY' || name === 'BODY.PEEK') && lx.peek() === 0x5b) {
    const section = readSection(lx);
    const partial = readPartial(lx);
    return { type: 'BODY[]', peek: name === 'BODY.PEEK', section, ...(partial ? { partial } : {}) };
  }
  if (name === 'BINARY' || name === 'BINARY.PEEK') {
    const part = readBinarySection(lx);
    const partial = readPartial(lx);
    return { type: 'BINARY[]', peek: name === 'BINARY.PEEK', part, ...(partial ? { partial } : {}) };
  }
  if (name === 'BINARY.SIZE') return { type: 'BINARY.SIZE', part: readBinarySection(lx) };
  if (SIMPLE.has(name)) return { type: name as 'FLAGS' };
  return lx.fail(`Unknown fetch attribute "${name.slice(0, 30)}"`);
}

export interface FetchItems {
  items: FetchAttribute[];
  macro?: 'ALL' | 'FAST' | 'FULL';
}

/** ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")") */
export function readFetchItems(lx: Lexer): FetchItems {
  if (lx.peek() === 0x28) return { items: lx.list(() => readFetchAttribute(lx), false, 'fetch attribute list') };
  const word = peekWord(lx);
  const next = lx.peek(word.length);
  if ((word === 'ALL' || word === 'FAST' || word === 'FULL') && (next === -1 || next === 0x20)) {
    lx.readWhile(NAME_CHAR);
    return { items: [...FETCH_MACROS[word]], macro: word };
  }
  return { items: [readFetchAttribute(lx)] };
}

function peekWord(lx: Lexer): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const c = lx.peek(i);
    if (c < 0 || NAME_CHAR[c] !== 1) break;
    s += String.fromCharCode(c);
  }
  return s.toUpperCase();
}

export interface FetchModifiers {
  changedSince?: bigint;
  vanished: boolean;
}

/** RFC 4466 fetch-modifiers: SP "(" fetch-modifier *(SP fetch-modifier) ")" */
export function readFetchModifiers(lx: Lexer): FetchModifiers {
  const out: FetchModifiers = { vanished: false };
  lx.list(
    () => {
      const name = lx.atom('fetch modifier').toUpperCase();
      if (name === 'CHANGEDSINCE') {
        lx.sp('mod-sequence');
        out.changedSince = lx.number64();
      } else if (name === 'VANISHED') {
        out.vanished = true;
      } else {
        lx.fail(`Unknown fetch modifier "${name.slice(0, 30)}"`);
      }
    },
    false,
    'fetch modifiers',
  );
  return out;
}
