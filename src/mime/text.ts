/**
 * Decoded text for IMAP SEARCH (RFC 3501 §6.4.4: HEADER, SUBJECT/FROM/TO/..., BODY, TEXT are case-insensitive
 * substring matches) over a raw message and its MIME tree.
 *
 * Standards: RFC 2045 §6.7-§6.8 (quoted-printable, base64), RFC 2047 (encoded words, decoded with libmime),
 * RFC 2046 §4.1.2 (charset; decoded with iconv-lite, unknown charsets read as UTF-8), RFC 5322 §2.2.3 (unfolding).
 *
 * Untrusted input: the message. Decoded body text is capped at MAX_TEXT_CHARS in total and at most MAX_TEXT_PARTS
 * parts are decoded, so a hostile message cannot blow up memory; nothing throws.
 */
import { decodeCharset, decodeEncodedWords, fieldValue, scanHeader } from './headers.js';
import { walk, type MimeNode } from './structure.js';

/** Cap on decoded body text (characters, about 10 MiB of ASCII). */
export const MAX_TEXT_CHARS = 10 * 1024 * 1024;
export const MAX_TEXT_PARTS = 200;

/**
 * Every occurrence of header field `name` in the top-level header of `raw` (a message or just its header),
 * unfolded, trimmed and with RFC 2047 encoded words decoded, in message order.
 */
export function decodedHeaderValue(raw: Buffer, name: string): string[] {
  try {
    const lname = name.toLowerCase();
    const block = scanHeader(raw, 0, raw.length);
    return block.fields.filter((f) => f.name === lname).map((f) => decodeEncodedWords(fieldValue(raw, f)));
  } catch {
    return [];
  }
}

/** The whole top-level header as decoded text ("Name: value" lines), for SEARCH TEXT. */
export function headerText(raw: Buffer): string {
  try {
    const block = scanHeader(raw, 0, raw.length);
    return block.fields
      .map((f) => `${raw.toString('utf8', f.start, f.valueStart - 1)}: ${decodeEncodedWords(fieldValue(raw, f))}`)
      .join('\n');
  } catch {
    return '';
  }
}

/** Decode a quoted-printable body (RFC 2045 §6.7), tolerant of bad escapes (kept literally). */
export function decodeQuotedPrintable(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  const hex = (c: number): number =>
    c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 55 : c >= 0x61 && c <= 0x66 ? c - 87 : -1;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    // Soft line break: "=" then optional whitespace then CRLF / LF.
    let j = i + 1;
    while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j < buf.length && buf[j] === 0x0d && buf[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (j < buf.length && buf[j] === 0x0a) {
      i = j;
      continue;
    }
    if (j >= buf.length) {
      i = j;
      continue;
    }
    const h1 = i + 2 < buf.length ? hex(buf[i + 1]!) : -1;
    const h2 = i + 2 < buf.length ? hex(buf[i + 2]!) : -1;
    if (h1 >= 0 && h2 >= 0) {
      out[o++] = h1 * 16 + h2;
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

/** The decoded content of one part's body (transfer encoding and charset undone). */
export function decodePartText(raw: Buffer, node: MimeNode): string {
  let body = raw.subarray(node.bodyStart, node.bodyEnd);
  const cte = (node.contentTransferEncoding ?? '').trim();
  if (cte === 'base64') body = Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  else if (cte === 'quoted-printable') body = decodeQuotedPrintable(body);
  return decodeCharset(body, node.contentType.params['charset'] ?? 'us-ascii');
}

/**
 * Decoded text of all text/* parts (including those inside attached messages), joined with newlines, at most
 * MAX_TEXT_CHARS characters. HTML is searched as decoded source.
 */
export function bodyText(raw: Buffer, tree: MimeNode, maxChars = MAX_TEXT_CHARS): string {
  const out: string[] = [];
  let total = 0;
  let parts = 0;
  try {
    walk(tree, (n) => {
      if (total >= maxChars || parts >= MAX_TEXT_PARTS) return;
      if (n.children.length > 0 || n.message || n.contentType.type !== 'text') return;
      parts++;
      // Never decode more input than can contribute (base64 is 4:3, QP and charsets expand at most ~4x).
      const limited: MimeNode =
        n.bodyEnd - n.bodyStart > (maxChars - total) * 4 + 4
          ? { ...n, bodyEnd: n.bodyStart + (maxChars - total) * 4 + 4 }
          : n;
      let t = decodePartText(raw, limited);
      if (t.length > maxChars - total) t = t.slice(0, maxChars - total);
      out.push(t);
      total += t.length;
    });
  } catch {
    /* return what we have */
  }
  return out.join('\n');
}

/** Simple titlecase mappings that differ from the simple uppercase ones (UnicodeData.txt: the Latin digraphs). */
const TITLECASE: Record<string, string> = {
  '\u01c4': '\u01c5', '\u01c5': '\u01c5', '\u01c6': '\u01c5',
  '\u01c7': '\u01c8', '\u01c8': '\u01c8', '\u01c9': '\u01c8',
  '\u01ca': '\u01cb', '\u01cb': '\u01cb', '\u01cc': '\u01cb',
  '\u01f1': '\u01f2', '\u01f2': '\u01f2', '\u01f3': '\u01f2',
};

function titlecaseChar(c: string): string {
  const t = TITLECASE[c];
  if (t) return t;
  const u = c.toUpperCase();
  // Only simple (one code point) mappings: "ß" stays "ß", as UnicodeData.txt's simple titlecase has it.
  return u.length === c.length || [...u].length === 1 ? u : c;
}

/**
 * The i;unicode-casemap collation's canonical form (RFC 5051 §2, the default collation of I18NLEVEL=1, RFC 5255):
 * each character to its simple titlecase, then canonical decomposition (NFD). Two strings are equal under the
 * collation when their forms are equal, one matches another as a substring when its form is a substring, and
 * they order by the forms' code points. "café", "CAFÉ" and "Cafe\u0301" all map to "CAFE\u0301".
 */
export function unicodeCasemap(s: string): string {
  // Pure ASCII (nearly every key): titlecase is upper case, NFD changes nothing.
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(s)) return s.toUpperCase();
  const ascii = s.replace(/[a-z]+/g, (m) => m.toUpperCase());
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(ascii)) return ascii;
  return ascii.replace(/[^\x00-\x7f]/gu, titlecaseChar).normalize('NFD');
}

/** Case fold for matching (SEARCH): the i;unicode-casemap form. */
export function foldCase(s: string): string {
  return unicodeCasemap(s);
}

/** RFC 3501 §6.4.4 substring match, case-insensitive, on Unicode text. An empty needle matches everything. */
export function matchesText(haystack: string, needle: string): boolean {
  if (needle === '') return true;
  return foldCase(haystack).includes(foldCase(needle));
}
