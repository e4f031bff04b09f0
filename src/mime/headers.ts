/**
 * Header-block scanning and MIME parameter parsing over raw message bytes.
 *
 * Standards: RFC 5322 §2.2 (header fields, folding), §3.2.2 (comments/CFWS), RFC 2045 §5.1 (Content-Type
 * parameters), RFC 2231 §3-§4 (parameter continuations, charset/language), RFC 2047 §6.3 (encoded words, decoded
 * for search only).
 *
 * Untrusted input: everything here reads attacker-controlled bytes (any octets, bare LF, NUL, 8-bit, unbalanced
 * quotes/comments). Nothing throws; limits bound the number of header fields and parameters kept.
 */
import iconv from 'iconv-lite';
import libmime from 'libmime';

const LF = 0x0a;
const CR = 0x0d;

/** At most this many header fields are indexed per header block (the rest stay in the raw bytes). */
export const MAX_HEADER_FIELDS = 2000;
/** At most this many header lines are examined for fields (the header's extent is still found exactly). */
export const MAX_HEADER_LINES = 20000;
/** At most this many parameters per Content-Type / Content-Disposition. */
export const MAX_PARAMS = 100;

/** One header field: byte offsets of the whole field (name through the final line ending, folding included). */
export interface HeaderField {
  /** Field name lower-cased (trailing whitespace before the colon removed). */
  name: string;
  start: number;
  end: number;
  /** Offset of the first byte after the colon. */
  valueStart: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** End of the last header line (before the blank line). */
  headerEnd: number;
  /** First byte of the body: after the blank line, or `end` when there is none. */
  bodyStart: number;
}

/**
 * Scan a header block in raw[start, end). The header ends at the first empty line (CRLF or bare LF); when there is
 * none, the whole range is header and the body is empty.
 */
export function scanHeader(raw: Buffer, start: number, end: number): HeaderBlock {
  // Find the blank line natively first: at the very start, or the first "\n\n" / "\n\r\n".
  let headerEnd = end;
  let bodyStart = end;
  if (raw[start] === LF && start < end) {
    headerEnd = start;
    bodyStart = start + 1;
  } else if (raw[start] === CR && start + 1 < end && raw[start + 1] === LF) {
    headerEnd = start;
    bodyStart = start + 2;
  } else {
    // Bounded native searches: first "\n\r\n" within the entity, then "\n\n" only before it.
    const view = raw.subarray(start, end);
    const b = view.indexOf('\n\r\n', 0, 'latin1');
    const a = (b >= 0 ? view.subarray(0, b + 2) : view).indexOf('\n\n', 0, 'latin1');
    if (a >= 0) {
      headerEnd = start + a + 1;
      bodyStart = start + a + 2;
    } else if (b >= 0) {
      headerEnd = start + b + 1;
      bodyStart = start + b + 3;
    }
  }
  const fields: HeaderField[] = [];
  let pos = start;
  let lines = 0;
  let cur: HeaderField | null = null;
  while (pos < headerEnd && lines++ < MAX_HEADER_LINES) {
    const nl = raw.indexOf(LF, pos);
    const lineEnd = nl < 0 || nl >= headerEnd ? headerEnd : nl + 1;
    const first = raw[pos];
    if ((first === 0x20 || first === 0x09) && cur) {
      cur.end = lineEnd; // continuation line
    } else {
      if (cur) fields.push(cur);
      cur = null;
      if (fields.length >= MAX_HEADER_FIELDS) break;
      let colon = -1;
      for (let i = pos; i < lineEnd; i++) {
        if (raw[i] === 0x3a) {
          colon = i;
          break;
        }
      }
      if (colon >= 0) {
        let nameEnd = colon;
        while (nameEnd > pos && (raw[nameEnd - 1] === 0x20 || raw[nameEnd - 1] === 0x09)) nameEnd--;
        const name = raw.toString('latin1', pos, nameEnd).toLowerCase();
        if (name.length > 0 && !/[\x00-\x20\x7f]/.test(name)) {
          cur = { name, start: pos, end: lineEnd, valueStart: colon + 1 };
        }
      }
    }
    pos = lineEnd;
  }
  if (cur) fields.push(cur);
  return { fields, headerEnd, bodyStart };
}

/** The value of a field as UTF-8 text (invalid sequences become U+FFFD), unfolded, leading/trailing WSP trimmed. */
export function fieldValue(raw: Buffer, f: HeaderField): string {
  return unfold(raw.toString('utf8', f.valueStart, f.end)).replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Remove CR/LF of folding (RFC 5322 §2.2.3); a line break not followed by WSP becomes a space. */
export function unfold(s: string): string {
  // Most values are one line: nothing to do but drop the final line ending.
  const nl = s.indexOf('\n');
  const cr = s.indexOf('\r');
  if (nl < 0 && cr < 0) return s;
  if (nl === s.length - 1 && (cr < 0 || (cr === nl - 1 && s.indexOf('\r', cr + 1) < 0))) return s.slice(0, cr < 0 ? nl : cr);
  return s.replace(/\r?\n(?=[ \t])|\r?\n$/g, '').replace(/\r?\n/g, ' ').replace(/\r/g, '');
}

/** First field named `name` (lower-case), or null. */
export function firstField(raw: Buffer, block: HeaderBlock, name: string): string | null {
  for (const f of block.fields) if (f.name === name) return fieldValue(raw, f);
  return null;
}

/** Last field named `name` (Dovecot's ENVELOPE takes the last Subject/Date/...). */
export function lastField(raw: Buffer, block: HeaderBlock, name: string): string | null {
  for (let i = block.fields.length - 1; i >= 0; i--) {
    const f = block.fields[i]!;
    if (f.name === name) return fieldValue(raw, f);
  }
  return null;
}

/** Remove RFC 5322 comments outside quoted strings. */
export function stripComments(s: string): string {
  if (!s.includes('(')) return s; // no comment: the loop below would copy s unchanged
  let out = '';
  let depth = 0;
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (inQuote || depth > 0)) {
      if (depth === 0) out += c + (s[i + 1] ?? '');
      i++;
      continue;
    }
    if (depth === 0 && c === '"') inQuote = !inQuote;
    if (!inQuote) {
      if (c === '(') {
        depth++;
        continue;
      }
      if (c === ')' && depth > 0) {
        depth--;
        if (depth === 0) out += ' ';
        continue;
      }
    }
    if (depth === 0) out += c;
  }
  return out;
}

/** A parameter as it appears in the header (RFC 2231 continuations joined, `name*` kept in extended form). */
export type RawParam = [name: string, value: string];

export interface ParsedMimeValue {
  /** The value before the first ';', comments removed, trimmed (e.g. "text/plain", "attachment"). */
  value: string;
  /** Parameters for IMAP BODYSTRUCTURE, in header order; names lower-cased. See joinRfc2231. */
  rawParams: RawParam[];
  /** Parameters decoded to Unicode (RFC 2231 charsets and RFC 2047 encoded words), keyed by lower-case name. */
  params: Record<string, string>;
}

/** Parse `value; a=b; c="d"` (RFC 2045 §5.1), tolerant of junk. */
export function parseMimeValue(input: string): ParsedMimeValue {
  const s = stripComments(input);
  const list: RawParam[] = [];
  let i = s.indexOf(';');
  const value = (i < 0 ? s : s.slice(0, i)).trim();
  while (i >= 0 && i < s.length && list.length < MAX_PARAMS * 4) {
    i++; // past ';'
    while (i < s.length && /[ \t;]/.test(s[i]!)) i++;
    const eq = s.indexOf('=', i);
    const semi = s.indexOf(';', i);
    if (eq < 0 || (semi >= 0 && semi < eq)) {
      i = semi;
      continue;
    }
    const name = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    let val = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        val += s[i];
        i++;
      }
      i++; // closing quote (or end)
      const next = s.indexOf(';', i);
      i = next;
    } else {
      const next = s.indexOf(';', i);
      val = (next < 0 ? s.slice(i) : s.slice(i, next)).trim();
      i = next;
    }
    if (name && !/[\s"]/.test(name)) list.push([name, val]);
  }
  const rawParams = joinRfc2231(list).slice(0, MAX_PARAMS);
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, v] of rawParams) {
    if (name.endsWith('*')) {
      const base = name.slice(0, -1);
      params[base] = decodeRfc2231Value(v);
    } else if (!(name in params)) {
      params[name] = decodeEncodedWords(v);
    }
  }
  return { value, rawParams, params };
}

const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

function pctEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += ATTR_CHAR.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * RFC 2231 §3: join `name*0`, `name*1*`... into one parameter. As Dovecot does, a result that had any extended
 * (`*`-suffixed) segment is kept as `name*` = `charset'lang'pct-encoded` (7-bit, so it can be sent in
 * BODYSTRUCTURE as it is); plain segments are percent-encoded when merged into an extended value.
 */
export function joinRfc2231(list: RawParam[]): RawParam[] {
  const out: RawParam[] = [];
  const groups = new Map<string, { index: number; segs: Map<number, { v: string; ext: boolean }> }>();
  for (const [name, value] of list) {
    const m = /^(.+?)\*(\d{1,3})(\*?)$/.exec(name);
    if (!m) {
      if (!out.some(([n]) => n === name)) out.push([name, value]);
      continue;
    }
    const base = m[1]!;
    let g = groups.get(base);
    if (!g) {
      g = { index: out.length, segs: new Map() };
      groups.set(base, g);
      out.push([base, '']); // placeholder keeps header order
    }
    const n = Number(m[2]);
    if (!g.segs.has(n)) g.segs.set(n, { v: value, ext: m[3] === '*' });
  }
  for (const [base, g] of groups) {
    let anyExt = false;
    const segs: { v: string; ext: boolean }[] = [];
    for (let n = 0; g.segs.has(n); n++) {
      const seg = g.segs.get(n)!;
      segs.push(seg);
      if (seg.ext) anyExt = true;
    }
    if (segs.length === 0) {
      out[g.index] = [base, ''];
      continue;
    }
    if (!anyExt) {
      out[g.index] = [base, segs.map((x) => x.v).join('')];
    } else {
      let v = '';
      segs.forEach((seg, n) => {
        if (n === 0 && !seg.ext) v += "''" + pctEncode(seg.v);
        else v += seg.ext ? seg.v : pctEncode(seg.v);
      });
      out[g.index] = [base + '*', v];
    }
  }
  // A plain `name` and a joined `name*0..` may both exist; keep the first of each spelling.
  const seen = new Set<string>();
  return out.filter(([n]) => (seen.has(n) ? false : (seen.add(n), true)));
}

/** Decode an RFC 2231 extended value `charset'lang'%XX...` to Unicode. */
export function decodeRfc2231Value(v: string): string {
  const m = /^([^']*)'[^']*'(.*)$/s.exec(v);
  const charset = m ? m[1]! : 'us-ascii';
  const data = m ? m[2]! : v;
  const bytes: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(data.slice(i + 1, i + 3))) {
      bytes.push(parseInt(data.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return decodeCharset(Buffer.from(bytes), charset || 'us-ascii');
}

/** Bytes in `charset` to a JS string; unknown charsets decode as UTF-8 (US-ASCII is read as UTF-8 too). */
export function decodeCharset(buf: Buffer, charset: string): string {
  let cs = charset.trim().toLowerCase().replace(/^"|"$/g, '');
  if (cs === '' || cs === 'us-ascii' || cs === 'ascii' || cs === 'utf8' || cs === 'unicode-1-1-utf-8') cs = 'utf-8';
  if (cs === 'utf-8') return buf.toString('utf8');
  if (/^(iso-?8859-8-[ie])$/.test(cs)) cs = 'iso-8859-8';
  if (cs === 'ks_c_5601-1987') cs = 'cp949';
  try {
    if (iconv.encodingExists(cs)) return iconv.decode(buf, cs);
  } catch {
    /* fall through */
  }
  return buf.toString('utf8');
}

/**
 * Decode RFC 2047 encoded words (§6.2, §6.3) to Unicode with libmime, which joins adjacent words of one charset
 * before decoding. Never throws: on any failure the text is returned as it was.
 */
export function decodeEncodedWords(s: string): string {
  if (!s.includes('=?')) return s;
  try {
    return libmime.decodeWords(s);
  } catch {
    return s;
  }
}
