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

/** Case fold for matching: Unicode NFC then lower case. */
export function foldCase(s: string): string {
  return s.normalize('NFC').toLowerCase();
}

/** RFC 3501 §6.4.4 substring match, case-insensitive, on Unicode text. An empty needle matches everything. */
export function matchesText(haystack: string, needle: string): boolean {
  if (needle === '') return true;
  return foldCase(haystack).includes(foldCase(needle));
}
