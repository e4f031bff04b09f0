/**
 * Token-level reading of one complete IMAP command as delivered by the reader (reader.ts).
 *
 * Standards: RFC 3501 §9 (formal syntax): `atom`, `ATOM-CHAR`, `atom-specials`, `ASTRING-CHAR`,
 * `tag`, `quoted`, `QUOTED-CHAR`, `literal`, `string`, `astring`, `nstring`, `number`,
 * `nz-number`, `list-mailbox`; RFC 7888 §8 `literal` with "+" (LITERAL+), RFC 3516 `literal8`.
 * Untrusted input: everything. Every failure is an ImapParseError carrying the tag once read;
 * parenthesized nesting is bounded (`maxDepth`) so hostile input cannot exhaust the stack.
 *
 * A RawCommand is the text of the command split at its literals: `segments[i]` (without CRLF)
 * ends with the literal spec "{N}", "{N+}" or "~{N}" whose bytes are `literals[i]`;
 * segments.length === literals.length + 1 for a complete command.
 */
import { ImapParseError } from './errors.js';

/** An APPEND message literal that the reader streamed to the session instead of buffering. */
export interface StreamedLiteral {
  readonly kind: 'streamed';
  /** Declared size in octets. */
  readonly size: number;
  /** literal8 (`~{N}`, RFC 3516). */
  readonly binary: boolean;
}

export type RawLiteral = Buffer | StreamedLiteral;

/** One complete command as read from the wire (see file header). */
export interface RawCommand {
  readonly segments: readonly Buffer[];
  readonly literals: readonly RawLiteral[];
}

/** Generic parenthesized data (select/create parameters and the like). */
export type ImapValue =
  | { readonly type: 'atom'; readonly value: string }
  | { readonly type: 'string'; readonly value: Buffer }
  | { readonly type: 'nil' }
  | { readonly type: 'list'; readonly items: readonly ImapValue[] };

/** A literal token: its bytes, or 'pending' when the spec ends a partial command (APPEND head). */
export interface LiteralToken {
  readonly value: RawLiteral | 'pending';
  readonly binary: boolean;
}

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}
// RFC 3501 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
const ATOM_SPECIALS = new Set([0x28, 0x29, 0x7b, 0x20, 0x25, 0x2a, 0x22, 0x5c, 0x5d]);
/** ATOM-CHAR = <any CHAR except atom-specials>; CHAR = %x01-7F; CTL = %x00-1F / %x7F. */
export const ATOM_CHAR = table((c) => c > 0x1f && c < 0x7f && !ATOM_SPECIALS.has(c));
/** ASTRING-CHAR = ATOM-CHAR / resp-specials */
export const ASTRING_CHAR = table((c) => ATOM_CHAR[c] === 1 || c === 0x5d);
/** tag = 1*<any ASTRING-CHAR except "+"> */
export const TAG_CHAR = table((c) => ASTRING_CHAR[c] === 1 && c !== 0x2b);
const DIGIT = table((c) => c >= 0x30 && c <= 0x39);
/** list-char = ATOM-CHAR / list-wildcards / resp-specials */
export const LIST_CHAR = table((c) => ASTRING_CHAR[c] === 1 || c === 0x25 || c === 0x2a);

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface LexerOptions {
  /** Maximum nesting of parenthesized lists (default 16). */
  maxDepth?: number;
  /** Accept a literal spec with no literal bytes at the end of the last segment (APPEND head). */
  allowPending?: boolean;
}

export class Lexer {
  tag: string | undefined;
  private seg = 0;
  private pos = 0;
  private depth = 0;
  readonly maxDepth: number;
  private readonly allowPending: boolean;

  constructor(
    readonly raw: RawCommand,
    options: LexerOptions = {},
  ) {
    this.maxDepth = options.maxDepth ?? 16;
    this.allowPending = options.allowPending ?? false;
    if (raw.segments.length === 0) throw new ImapParseError('Empty command');
  }

  fail(message: string, status: 'BAD' | 'NO' = 'BAD', code?: string): never {
    throw new ImapParseError(message, { tag: this.tag, status, code });
  }

  private get buf(): Buffer {
    return this.raw.segments[this.seg]!;
  }

  /** Next byte of the current segment, or -1 at its end. */
  peek(offset = 0): number {
    const b = this.buf;
    return this.pos + offset < b.length ? b[this.pos + offset]! : -1;
  }

  /** True at the end of the whole command. */
  eof(): boolean {
    return this.seg === this.raw.segments.length - 1 && this.pos >= this.buf.length;
  }

  /** True at the end of the current segment (end of command or a literal's position). */
  private segmentEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  expect(ch: number, what: string): void {
    if (this.peek() !== ch) this.fail(`Expected ${what}`);
    this.pos++;
  }

  /** Consume `ch` if it is next. */
  take(ch: number): boolean {
    if (this.peek() !== ch) return false;
    this.pos++;
    return true;
  }

  /** Exactly one SP (RFC 3501 §9 SP). */
  sp(what = 'argument'): void {
    if (this.peek() !== SP) {
      const missing = this.eof() || this.segmentEnd() || this.peek() === 0x29 || this.peek() === 0x5d;
      this.fail(missing ? `Missing ${what}` : `Expected space before ${what}`);
    }
    this.pos++;
    if (this.peek() === SP) this.fail('Unexpected extra space');
  }

  /** Require the end of the command (no trailing garbage). */
  end(): void {
    if (!this.eof()) this.fail(this.peek() === SP ? 'Unexpected extra arguments' : 'Unexpected characters after command');
  }

  /** Bytes while table matches, as a latin1 string (may be empty). */
  readWhile(t: Uint8Array): string {
    const b = this.buf;
    const start = this.pos;
    while (this.pos < b.length && t[b[this.pos]!] === 1) this.pos++;
    return b.toString('latin1', start, this.pos);
  }

  /** RFC 3501 §9 atom = 1*ATOM-CHAR */
  atom(what = 'atom'): string {
    const s = this.readWhile(ATOM_CHAR);
    if (s === '') this.fail(`Expected ${what}`);
    return s;
  }

  /** RFC 3501 §9 tag; remembered for later errors. */
  readTag(): string {
    const s = this.readWhile(TAG_CHAR);
    if (s === '' || (this.peek() !== SP && !this.segmentEnd())) this.fail('Invalid tag');
    this.tag = s;
    return s;
  }

  /** RFC 3501 §9 number = 1*DIGIT (32-bit unsigned). */
  number(what = 'number'): number {
    const s = this.readWhile(DIGIT);
    if (s === '' || s.length > 10 || Number(s) > 4294967295) this.fail(`Invalid ${what}`);
    return Number(s);
  }

  /** RFC 3501 §9 nz-number */
  nzNumber(what = 'number'): number {
    const n = this.number(what);
    if (n === 0) this.fail(`Invalid ${what}`);
    return n;
  }

  /** RFC 7162 §7 mod-sequence-value = 1*DIGIT (up to 2^63-1), as bigint. */
  number64(what = 'mod-sequence value'): bigint {
    const s = this.readWhile(DIGIT);
    if (s === '' || s.length > 19) this.fail(`Invalid ${what}`);
    const n = BigInt(s);
    if (n > 9223372036854775807n) this.fail(`Invalid ${what}`);
    return n;
  }

  /** RFC 3501 §9 quoted = DQUOTE *QUOTED-CHAR DQUOTE, with \" and \\ escapes. 8-bit allowed (RFC 6855). */
  quoted(): Buffer {
    this.expect(DQUOTE, 'quoted string');
    const b = this.buf;
    const out: number[] = [];
    for (;;) {
      if (this.pos >= b.length) this.fail('Unterminated quoted string');
      const c = b[this.pos++]!;
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const n = this.pos < b.length ? b[this.pos]! : -1;
        if (n !== DQUOTE && n !== BACKSLASH) this.fail('Invalid escape in quoted string');
        out.push(n);
        this.pos++;
        continue;
      }
      if (c === 0 || c === 0x0d || c === 0x0a) this.fail('Invalid character in quoted string');
      out.push(c);
    }
    return Buffer.from(out);
  }

  /** Is a literal spec ("{", or "~{" for literal8) next? */
  atLiteral(): boolean {
    const c = this.peek();
    return c === 0x7b || (c === 0x7e && this.peek(1) === 0x7b);
  }

  /** Is the next token the literal spec that ends a partial command (no bytes yet)? */
  atPendingLiteral(): boolean {
    return this.allowPending && this.atLiteral() && this.seg === this.raw.literals.length;
  }

  /** RFC 3501 §9 literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 7888 "+", RFC 3516 "~"). */
  literalToken(): LiteralToken {
    const binary = this.take(0x7e);
    this.expect(0x7b, 'literal');
    this.readWhile(DIGIT);
    this.take(0x2b);
    this.expect(0x7d, 'literal "}"');
    if (!this.segmentEnd()) this.fail('Literal must end the line');
    const index = this.seg;
    if (index < this.raw.literals.length) {
      this.seg++;
      this.pos = 0;
      return { value: this.raw.literals[index]!, binary };
    }
    if (this.allowPending && index === this.raw.segments.length - 1) return { value: 'pending', binary };
    return this.fail('Missing literal data');
  }

  /** A literal whose bytes were buffered (not a streamed APPEND message); NUL is refused (CHAR8). */
  bufferedLiteral(): Buffer {
    const t = this.literalToken();
    if (t.binary) this.fail('literal8 not allowed here');
    if (!Buffer.isBuffer(t.value)) return this.fail('Unexpected literal');
    if (t.value.includes(0)) this.fail('NUL in literal');
    return t.value;
  }

  /** RFC 3501 §9 string = quoted / literal */
  string(what = 'string'): Buffer {
    if (this.peek() === DQUOTE) return this.quoted();
    if (this.atLiteral()) return this.bufferedLiteral();
    return this.fail(`Expected ${what}`);
  }

  /** RFC 3501 §9 astring = 1*ASTRING-CHAR / string */
  astring(what = 'string'): Buffer {
    if (this.peek() === DQUOTE || this.atLiteral()) return this.string(what);
    const s = this.readWhile(ASTRING_CHAR);
    if (s === '') this.fail(`Expected ${what}`);
    return Buffer.from(s, 'latin1');
  }

  /** astring decoded as UTF-8 text. */
  astringText(what = 'string'): string {
    return this.astring(what).toString('utf8');
  }

  /** RFC 3501 §9 nstring = string / nil */
  nstring(what = 'string'): Buffer | null {
    if (this.peek() === DQUOTE || this.atLiteral()) return this.string(what);
    const a = this.atom(what);
    if (a.toUpperCase() !== 'NIL') this.fail(`Expected ${what} or NIL`);
    return null;
  }

  /** RFC 3501 §9 list-mailbox = 1*list-char / string */
  listMailbox(): Buffer {
    if (this.peek() === DQUOTE || this.atLiteral()) return this.string('mailbox pattern');
    const s = this.readWhile(LIST_CHAR);
    if (s === '') this.fail('Expected mailbox pattern');
    return Buffer.from(s, 'latin1');
  }

  /** Enter one level of nesting; throws when deeper than maxDepth. Pair with leave(). */
  enter(): void {
    if (++this.depth > this.maxDepth) this.fail('Too deeply nested');
  }

  leave(): void {
    this.depth--;
  }

  /**
   * "(" item *(SP item) ")" — RFC 3501 uses this shape for flag-list, header-list, status atts, ...
   * `allowEmpty` permits "()".
   */
  list<T>(item: () => T, allowEmpty: boolean, what = 'list'): T[] {
    this.expect(0x28, `"(" for ${what}`);
    this.enter();
    const out: T[] = [];
    if (this.take(0x29)) {
      if (!allowEmpty) this.fail(`Empty ${what}`);
      this.leave();
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.take(0x29)) break;
      if (this.eof()) this.fail(`Unbalanced parentheses in ${what}`);
      this.sp(`${what} item`);
    }
    this.leave();
    return out;
  }

  /** Any atom / string / NIL / nested list, for extension parameters we only check syntactically. */
  value(): ImapValue {
    const c = this.peek();
    if (c === 0x28) return { type: 'list', items: this.list(() => this.value(), true, 'parameter list') };
    if (c === DQUOTE || this.atLiteral()) return { type: 'string', value: this.string() };
    // Atoms here may include "[" ... "]" (e.g. section specs inside extension data).
    const s = this.readWhile(ASTRING_CHAR);
    if (s === '') this.fail('Expected parameter');
    return s.toUpperCase() === 'NIL' ? { type: 'nil' } : { type: 'atom', value: s };
  }
}

