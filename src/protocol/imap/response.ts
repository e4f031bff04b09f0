/**
 * IMAP response formatting: strings (quoted or literal), NIL, lists, FLAGS, INTERNALDATE,
 * `* n FETCH (...)`, tagged/untagged status responses with response codes, continuation requests.
 *
 * Standards: RFC 3501 §7 (server responses), §7.1 (status responses, `resp-text-code`),
 * §7.4.2 (FETCH response, `msg-att`), §7.5 (continuation), §9 (`quoted`, `literal`, `nstring`,
 * `flag-list`, `date-time`, `section` in responses); RFC 3516 literal8; RFC 6855 (UTF-8 quoted);
 * RFC 4315 (uid-set for APPENDUID/COPYUID, see compressSequenceSet in sequence.ts).
 * Untrusted input: values that came from messages or clients (envelope fields, mailbox names,
 * error texts). A value is sent as a quoted string only when it is safe; anything with CR, LF,
 * NUL, 8-bit (unless `utf8`) or longer than `maxQuoted` becomes a literal. Human-readable texts
 * have CR/LF replaced, so no value can inject a response line.
 *
 * Values (ResponseValue):
 *   string | Buffer  -> IMAP string (quoted if safe, else literal)
 *   number | bigint  -> number;  null -> NIL;  array -> parenthesized list (items joined by SP)
 *   atom('\\Seen')   -> written verbatim (caller guarantees syntax; CR/LF are refused)
 *   literal(buf)     -> always a literal ({n}, or ~{n} for binary)
 *   deferredLiteral(size, source) -> only with serializeParts: the "{size}\r\n" header is written
 *                       and the caller streams `size` bytes from `source` itself (large bodies).
 */
import type { FetchAttribute } from './types.js';
import type { ImapParseError } from './errors.js';
import { formatImapDateTime } from './datetime.js';
import { ASTRING_CHAR } from './lexer.js';
import { formatSequenceSet, compressSequenceSet } from './sequence.js';

export { compressSequenceSet, formatSequenceSet };

export class Atom {
  constructor(readonly text: string) {
    if (/[\r\n]/.test(text)) throw new Error('atom must not contain CR or LF');
  }
}

export class ForcedLiteral {
  constructor(
    readonly data: Buffer,
    readonly binary: boolean,
  ) {}
}

export interface DeferredLiteral<T = unknown> {
  readonly kind: 'deferred';
  readonly size: number;
  readonly binary: boolean;
  readonly source: T;
}

export type ResponseValue =
  | string | Buffer | number | bigint | null | Atom | ForcedLiteral | DeferredLiteral | readonly ResponseValue[];

export const atom = (text: string): Atom => new Atom(text);
export const literal = (data: Buffer | string, binary = false): ForcedLiteral =>
  new ForcedLiteral(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, binary);
export const deferredLiteral = <T>(size: number, source: T, binary = false): DeferredLiteral<T> =>
  ({ kind: 'deferred', size, binary, source });

export interface SerializeOptions {
  /** RFC 6855 UTF8=ACCEPT enabled: 8-bit UTF-8 may be sent in quoted strings. */
  utf8?: boolean;
  /** Longest string sent quoted (default 1024); longer ones become literals. */
  maxQuoted?: number;
}

const CRLF = Buffer.from('\r\n');

/** Can these bytes go in a quoted string (RFC 3501 §9 QUOTED-CHAR)? */
function quotable(data: Buffer, options: SerializeOptions): boolean {
  if (data.length > (options.maxQuoted ?? 1024)) return false;
  for (const c of data) {
    if (c === 0 || c === 0x0d || c === 0x0a) return false;
    if (c >= 0x80 && !options.utf8) return false;
  }
  return true;
}

/** An IMAP string (RFC 3501 §9 string = quoted / literal) as bytes. */
export function formatString(value: string | Buffer, options: SerializeOptions = {}): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (!quotable(data, options)) return Buffer.concat([Buffer.from(`{${data.length}}\r\n`), data]);
  let n = 0;
  for (const c of data) if (c === 0x22 || c === 0x5c) n++;
  const out = Buffer.allocUnsafe(data.length + n + 2);
  let i = 0;
  out[i++] = 0x22;
  for (const c of data) {
    if (c === 0x22 || c === 0x5c) out[i++] = 0x5c;
    out[i++] = c;
  }
  out[i] = 0x22;
  return out;
}

/** RFC 3501 §9 astring: an atom when every byte is an ASTRING-CHAR (and not "NIL"), else a string. */
export function formatAString(value: string | Buffer, options: SerializeOptions = {}): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (data.length > 0 && data.every((c) => ASTRING_CHAR[c] === 1) && data.toString('latin1').toUpperCase() !== 'NIL') {
    return data;
  }
  return formatString(data, options);
}

/** RFC 3501 §9 nstring */
export function formatNString(value: string | Buffer | null, options: SerializeOptions = {}): Buffer {
  return value === null ? Buffer.from('NIL') : formatString(value, options);
}

/** Serialize into parts: Buffers, and DeferredLiterals whose bytes the caller writes. */
export function serializeParts(value: ResponseValue, options: SerializeOptions = {}): Array<Buffer | DeferredLiteral> {
  const parts: Array<Buffer | DeferredLiteral> = [];
  let text: Buffer[] = [];
  const flush = (): void => {
    if (text.length) parts.push(text.length === 1 ? text[0]! : Buffer.concat(text));
    text = [];
  };
  const walk = (v: ResponseValue): void => {
    if (v === null) text.push(Buffer.from('NIL'));
    else if (typeof v === 'number' || typeof v === 'bigint') text.push(Buffer.from(String(v)));
    else if (typeof v === 'string' || Buffer.isBuffer(v)) text.push(formatString(v, options));
    else if (v instanceof Atom) text.push(Buffer.from(v.text, 'utf8'));
    else if (v instanceof ForcedLiteral) {
      text.push(Buffer.from(`${v.binary ? '~' : ''}{${v.data.length}}\r\n`), v.data);
    } else if (Array.isArray(v)) {
      text.push(Buffer.from('('));
      v.forEach((item, i) => {
        if (i > 0) text.push(Buffer.from(' '));
        walk(item);
      });
      text.push(Buffer.from(')'));
    } else {
      const d = v as DeferredLiteral;
      text.push(Buffer.from(`${d.binary ? '~' : ''}{${d.size}}\r\n`));
      flush();
      parts.push(d);
    }
  };
  walk(value);
  flush();
  return parts;
}

/** Serialize a value fully into one Buffer. Throws (a bug) if it contains a DeferredLiteral. */
export function serializeValue(value: ResponseValue, options: SerializeOptions = {}): Buffer {
  const parts = serializeParts(value, options);
  if (parts.some((p) => !Buffer.isBuffer(p))) throw new Error('serializeValue: use serializeParts for deferred literals');
  return Buffer.concat(parts as Buffer[]);
}

/** RFC 3501 §9 flag-list as an Atom, e.g. (\Seen $Forwarded) */
export function formatFlags(flags: readonly string[]): Atom {
  return new Atom(`(${flags.join(' ')})`);
}

/** RFC 3501 §9 date-time in DQUOTEs, e.g. "17-Jul-1996 02:44:25 -0700", as an Atom. */
export function formatInternalDate(date: Date, offsetMinutes = 0): Atom {
  return new Atom(`"${formatImapDateTime(date, offsetMinutes)}"`);
}

/**
 * The msg-att name to echo for a FETCH item (RFC 3501 §7.4.2): BODY.PEEK answers as BODY, a
 * partial shows only its origin: BODY[HEADER.FIELDS (DATE FROM)]<0>, BINARY[1]<0>, BINARY.SIZE[1].
 */
export function fetchItemName(attr: FetchAttribute): string {
  switch (attr.type) {
    case 'BODY[]': {
      const s = attr.section;
      let spec = s.part.join('.');
      if (s.specifier) spec += (spec ? '.' : '') + s.specifier;
      if (s.fields) spec += ` (${s.fields.map((f) => formatAString(f).toString('utf8')).join(' ')})`;
      return `BODY[${spec}]${attr.partial ? `<${attr.partial.start}>` : ''}`;
    }
    case 'BINARY[]':
      return `BINARY[${attr.part.join('.')}]${attr.partial ? `<${attr.partial.start}>` : ''}`;
    case 'BINARY.SIZE':
      return `BINARY.SIZE[${attr.part.join('.')}]`;
    default:
      return attr.type;
  }
}

export type FetchItem = readonly [name: string, value: ResponseValue];

/** `* seq FETCH (name value name value ...)\r\n` as parts (for streamed bodies). */
export function fetchResponseParts(seq: number, items: readonly FetchItem[], options: SerializeOptions = {}): Array<Buffer | DeferredLiteral> {
  const flat: ResponseValue[] = [];
  for (const [name, value] of items) flat.push(new Atom(name), value);
  const parts = serializeParts(flat, options);
  // Merge the prefix and the CRLF into the neighbouring text parts: fewer, larger writes.
  const first = parts[0] as Buffer; // a list always starts with "(" text
  parts[0] = Buffer.concat([Buffer.from(`* ${seq} FETCH `), first]);
  const last = parts[parts.length - 1]!;
  if (Buffer.isBuffer(last)) parts[parts.length - 1] = Buffer.concat([last, CRLF]);
  else parts.push(CRLF);
  return parts;
}

/** `* seq FETCH (...)\r\n`, e.g. fetchResponse(12, [['UID', 4], ['FLAGS', formatFlags(['\\Seen'])]]). */
export function fetchResponse(seq: number, items: readonly FetchItem[], options: SerializeOptions = {}): Buffer {
  const parts = fetchResponseParts(seq, items, options);
  if (parts.some((p) => !Buffer.isBuffer(p))) throw new Error('fetchResponse: use fetchResponseParts for deferred literals');
  return Buffer.concat(parts as Buffer[]);
}

/** Human-readable text (RFC 3501 §9 text = 1*TEXT-CHAR): no CR/LF, never empty. */
function cleanText(text: string): string {
  const t = text.replace(/[\r\n\0]+/g, ' ');
  return t === '' ? 'OK' : t;
}

function statusLine(prefix: string, status: string, text: string, code?: string): Buffer {
  const c = code ? `[${cleanText(code)}] ` : '';
  return Buffer.from(`${prefix} ${status} ${c}${cleanText(text)}\r\n`, 'utf8');
}

export type TaggedStatus = 'OK' | 'NO' | 'BAD';

/** RFC 3501 §7.1 tagged: `tag OK [code] text\r\n` */
export function taggedResponse(tag: string, status: TaggedStatus, text: string, code?: string): Buffer {
  return statusLine(tag, status, text, code);
}

/** RFC 3501 §7.1 untagged: `* OK [UIDNEXT 5] Predicted next UID\r\n` (also NO BAD PREAUTH BYE) */
export function untaggedStatus(status: TaggedStatus | 'PREAUTH' | 'BYE', text: string, code?: string): Buffer {
  return statusLine('*', status, text, code);
}

/** Untagged data: `* ` + values joined by SP + CRLF, e.g. untagged(23, atom('EXISTS')). */
export function untagged(...values: ResponseValue[]): Buffer {
  const parts: Buffer[] = [Buffer.from('* ')];
  values.forEach((v, i) => {
    if (i > 0) parts.push(Buffer.from(' '));
    parts.push(serializeValue(v));
  });
  parts.push(CRLF);
  return Buffer.concat(parts);
}

/** RFC 3501 §7.5 continuation request: `+ text\r\n` (text may be base64 for AUTHENTICATE). */
export function continuationResponse(text = 'Ready for literal data'): Buffer {
  return Buffer.from(`+ ${text.replace(/[\r\n]+/g, ' ')}\r\n`);
}

/** The reply to an ImapParseError: `tag BAD text` / `tag NO [CODE] text`, or `* BAD text`. */
export function parseErrorResponse(err: ImapParseError): Buffer {
  return statusLine(err.tag ?? '*', err.status, err.message, err.code);
}
