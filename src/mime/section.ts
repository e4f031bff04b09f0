/**
 * BODY[section]<partial> extraction (RFC 3501 §6.4.5, grammar `section` / `section-spec` in §9), plus
 * RFC822.HEADER / RFC822.TEXT (§6.4.5: equivalent to BODY.PEEK[HEADER] / BODY[TEXT]).
 *
 * Part numbering semantics follow RFC 3501 §6.4.5 and match Dovecot 2.3 (checked against recorded answers):
 * - a non-multipart message has only part 1, its body; `1.MIME` is then the message header;
 * - a message/rfc822 part's `n.HEADER` / `n.TEXT` / `n.HEADER.FIELDS` address the encapsulated message, and `n.1`
 *   is the encapsulated message's first part (its body if that message is not multipart);
 * - `1` of any non-multipart part is the part itself; anything that does not exist gives an empty result;
 * - HEADER / TEXT on a part that is not message/rfc822 is empty;
 * - HEADER.FIELDS keeps the matching fields with their folding in message order and ends with CRLF;
 *   HEADER.FIELDS.NOT keeps everything else, ending as the header did (its blank line, if it had one).
 *
 * Untrusted input: the message bytes (via offsets from parseStructure) and the client's section text.
 * Nothing throws; a section text that does not parse gives null from parseSection.
 */
import type { MimeNode } from './structure.js';
import { scanHeader } from './headers.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part path, e.g. [1, 2] for "1.2"; empty for the top-level message. */
  part: number[];
  text: SectionText | null;
  /** Field names for HEADER.FIELDS / HEADER.FIELDS.NOT (any case). */
  fields?: string[];
}

/**
 * Parse the text between the brackets of BODY[...]: "", "HEADER", "1.2.MIME", "2.HEADER.FIELDS (From To)".
 * Returns null for anything not allowed by the RFC 3501 grammar (zero part numbers, MIME without a part, ...).
 */
export function parseSection(input: string): SectionSpec | null {
  const s = input.trim();
  const part: number[] = [];
  let i = 0;
  while (i < s.length && s[i]! >= '0' && s[i]! <= '9') {
    let j = i;
    while (j < s.length && s[j]! >= '0' && s[j]! <= '9') j++;
    if (s[i] === '0' || j - i > 9) return null; // nz-number
    part.push(Number(s.slice(i, j)));
    i = j;
    if (i === s.length) break;
    if (s[i] !== '.' || i + 1 === s.length) return null;
    i++;
  }
  const rest = s.slice(i);
  if (rest === '') return { part, text: null };
  const m = /^(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?:\s*\((.*)\))?$/is.exec(rest);
  if (!m) return null;
  const text = m[1]!.toUpperCase() as SectionText;
  if (text === 'MIME' && part.length === 0) return null;
  const hasList = m[2] !== undefined;
  if ((text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') !== hasList) return null;
  const spec: SectionSpec = { part, text };
  if (hasList) {
    const fields = (m[2]!.match(/"(?:[^"\\]|\\.)*"|[^\s"]+/g) ?? []).map((f) =>
      f.startsWith('"') ? f.slice(1, -1).replace(/\\(.)/g, '$1') : f,
    );
    if (fields.length === 0) return null;
    spec.fields = fields;
  }
  return spec;
}

/** Resolve a part path to the node acting as that part, or null when it does not exist. */
export function findPart(root: MimeNode, path: number[]): MimeNode | null {
  let cur = root;
  let isMessage = true; // cur is a message (root or encapsulated) rather than a body part
  for (const n of path) {
    if (!isMessage && cur.message) {
      cur = cur.message;
      isMessage = true;
    }
    if (cur.children.length > 0) {
      const c = cur.children[n - 1];
      if (!c) return null;
      cur = c;
    } else if (n !== 1) {
      return null;
    }
    isMessage = false;
  }
  return cur;
}

const EMPTY = Buffer.alloc(0);

function slice(raw: Buffer, start: number, end: number): Buffer {
  if (!(start >= 0 && end <= raw.length && end > start)) return EMPTY;
  return raw.subarray(start, end);
}

/**
 * The bytes of BODY[section]. `spec` may be the bracket text ("1.2.MIME") or a parsed SectionSpec. Returns a view
 * into `raw` where possible (no copy); an invalid or missing section gives an empty Buffer.
 */
export function extractSection(raw: Buffer, tree: MimeNode, spec: SectionSpec | string): Buffer {
  try {
    const s = typeof spec === 'string' ? parseSection(spec) : spec;
    if (!s) return EMPTY;
    let msg: MimeNode | null;
    if (s.part.length === 0) {
      msg = tree;
      if (s.text === null) return raw;
    } else {
      const p = findPart(tree, s.part);
      if (!p) return EMPTY;
      if (s.text === null) return slice(raw, p.bodyStart, p.bodyEnd);
      if (s.text === 'MIME') return slice(raw, p.headerStart, p.bodyStart);
      msg = p.message;
      if (!msg) return EMPTY;
    }
    switch (s.text) {
      case 'HEADER':
        return slice(raw, msg.headerStart, msg.bodyStart);
      case 'TEXT':
        return slice(raw, msg.bodyStart, msg.bodyEnd);
      case 'HEADER.FIELDS':
      case 'HEADER.FIELDS.NOT':
        return headerFields(raw, msg, s.fields ?? [], s.text === 'HEADER.FIELDS.NOT');
      default:
        return EMPTY;
    }
  } catch {
    return EMPTY;
  }
}

function headerFields(raw: Buffer, msg: MimeNode, names: string[], not: boolean): Buffer {
  const want = new Set(names.map((n) => n.toLowerCase()));
  const block = scanHeader(raw, msg.headerStart, msg.bodyStart);
  const chunks: Buffer[] = [];
  if (!not) {
    for (const f of block.fields) {
      if (!want.has(f.name)) continue;
      chunks.push(raw.subarray(f.start, f.end));
      if (raw[f.end - 1] !== 0x0a) chunks.push(Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from('\r\n'));
  } else {
    let pos = msg.headerStart;
    for (const f of block.fields) {
      if (!want.has(f.name)) continue;
      if (f.start > pos) chunks.push(raw.subarray(pos, f.start));
      pos = f.end;
    }
    if (msg.bodyStart > pos) chunks.push(raw.subarray(pos, msg.bodyStart));
  }
  return Buffer.concat(chunks);
}

/** RFC822.HEADER: the message header including the blank line. */
export function rfc822Header(raw: Buffer, tree: MimeNode): Buffer {
  return slice(raw, tree.headerStart, tree.bodyStart);
}

/** RFC822.TEXT: the message body. */
export function rfc822Text(raw: Buffer, tree: MimeNode): Buffer {
  return slice(raw, tree.bodyStart, tree.bodyEnd);
}

/**
 * The `<origin.count>` partial of a section (RFC 3501 §6.4.5): bytes from origin, at most count of them; empty when
 * origin is past the end. The FETCH response names it BODY[section]<origin>.
 */
export function partial(data: Buffer, origin: number, count?: number): Buffer {
  if (!Number.isSafeInteger(origin) || origin < 0 || origin >= data.length) return EMPTY;
  const end = count === undefined ? data.length : Math.min(data.length, origin + Math.max(0, count));
  return data.subarray(origin, end);
}
