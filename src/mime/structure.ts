/**
 * MIME tree of a raw RFC 5322 message with byte offsets, for IMAP FETCH (BODY[section], BODYSTRUCTURE) and SEARCH.
 *
 * Standards: RFC 5322 §2.1-§2.2 (header/body), RFC 2045 §5-§8 (Content-Type, -Transfer-Encoding, -ID,
 * -Description), RFC 2046 §5.1.1 (boundary delimiter lines), §5.1.5 (multipart/digest default), §5.2.1
 * (message/rfc822), RFC 2183 (Content-Disposition), RFC 3282 (Content-Language), RFC 2557 (Content-Location),
 * RFC 1864 (Content-MD5), RFC 2231 (parameters), RFC 3501 §6.4.5 (part numbering).
 *
 * Untrusted input: the whole message. parseStructure never throws. A hand-written scanner (synchronous, no
 * streams) handles bare-LF line endings, a missing final boundary (the last part runs to the end of its parent),
 * headers without a blank line (the body is empty), 8-bit headers (read as UTF-8), and bounds nesting
 * (MAX_DEPTH) and the number of parts (MAX_PARTS): past a bound, content stays inside the enclosing leaf.
 *
 * Boundary lines are matched strictly (RFC 2046: "--" boundary ["--"] then only whitespace to the end of the line);
 * Dovecot also accepts any line that merely starts with "--boundary" — a deliberate difference.
 *
 * Cost: each nesting level scans its own byte range with native Buffer searches, so the work is
 * O(size x depth) at worst (about 1.4 s for a hostile 20 MB message nested MAX_DEPTH deep on the dev machine,
 * ~150 ms for 20 MB in 5000 parts).
 *
 * The tree is plain data (JSON round-trips) so the store can cache it next to the message.
 */
import { buildEnvelopeFromBlock, type Envelope } from './envelope.js';
import { firstField, parseMimeValue, scanHeader, type HeaderBlock, type RawParam } from './headers.js';

export const MAX_DEPTH = 32;
export const MAX_PARTS = 5000;

const LF = 0x0a;
const CR = 0x0d;

export interface ContentType {
  /** Lower-case type and subtype ("text", "plain"). */
  type: string;
  subtype: string;
  /** Decoded parameters (RFC 2231 joined and charset-decoded, RFC 2047 words decoded), lower-case keys. */
  params: Record<string, string>;
  /** Parameters in header order for BODYSTRUCTURE: names lower-case, RFC 2231 continuations joined. */
  rawParams: RawParam[];
  /** True when there was no usable Content-Type and the RFC 2045 §5.2 / RFC 2046 §5.1.5 default applied. */
  defaulted: boolean;
}

export interface Disposition {
  /** Lower-case disposition type ("inline", "attachment"). */
  type: string;
  params: Record<string, string>;
  rawParams: RawParam[];
}

/**
 * One MIME entity. Offsets index the raw message Buffer: header is raw[headerStart, headerEnd) (field lines only),
 * the blank line (if any) is raw[headerEnd, bodyStart), the body is raw[bodyStart, bodyEnd).
 */
export interface MimeNode {
  /** IMAP part number (RFC 3501 §6.4.5): "" for the top-level message, "1", "1.2"... An encapsulated message (in
   *  `message`) carries the part number of its message/rfc822 part. */
  part: string;
  headerStart: number;
  headerEnd: number;
  bodyStart: number;
  bodyEnd: number;
  contentType: ContentType;
  contentId: string | null;
  contentDescription: string | null;
  /** As written, trimmed and lower-cased ("base64"); null when absent. */
  contentTransferEncoding: string | null;
  disposition: Disposition | null;
  language: string[] | null;
  location: string | null;
  md5: string | null;
  /** Body size in bytes (bodyEnd - bodyStart). */
  size: number;
  /** Number of LF in the body (RFC 3501 body-fld-lines); computed for text/* and message/* only, else 0. */
  lines: number;
  /** Children of a multipart (empty otherwise). */
  children: MimeNode[];
  /** For message/rfc822 (7bit/8bit/binary): the encapsulated message, its own header at this node's bodyStart. */
  message: MimeNode | null;
  /** For an encapsulated message node (and the root): its ENVELOPE, so BODYSTRUCTURE needs no raw bytes. */
  envelope: Envelope | null;
}

interface Ctx {
  raw: Buffer;
  parts: number;
}

/**
 * Parse the MIME structure of a raw message. Never throws. `envelope: false` leaves the root's ENVELOPE out
 * (null; encapsulated messages still get theirs): BODYSTRUCTURE and SEARCH do not use it, and building it was
 * a quarter of a BODY search's parse.
 */
export function parseStructure(raw: Buffer, opts: { envelope?: boolean } = {}): MimeNode {
  const ctx: Ctx = { raw, parts: 0 };
  try {
    const root = parseEntity(ctx, 0, raw.length, '', 0, 'text/plain', opts.envelope ?? true);
    return root;
  } catch {
    // Defensive: a bug must not take a FETCH down. Fall back to one opaque text/plain part.
    return leafFallback(raw);
  }
}

function leafFallback(raw: Buffer): MimeNode {
  const block = safeScan(raw, 0, raw.length);
  return {
    part: '',
    headerStart: 0,
    headerEnd: block.headerEnd,
    bodyStart: block.bodyStart,
    bodyEnd: raw.length,
    contentType: { type: 'text', subtype: 'plain', params: Object.create(null), rawParams: [], defaulted: true },
    contentId: null,
    contentDescription: null,
    contentTransferEncoding: null,
    disposition: null,
    language: null,
    location: null,
    md5: null,
    size: raw.length - block.bodyStart,
    lines: countLines(raw, block.bodyStart, raw.length),
    children: [],
    message: null,
    envelope: null,
  };
}

function safeScan(raw: Buffer, start: number, end: number): HeaderBlock {
  try {
    return scanHeader(raw, start, end);
  } catch {
    return { fields: [], headerEnd: start, bodyStart: start };
  }
}

export function countLines(raw: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (raw[i] === LF) n++;
  return n;
}

function parseContentType(value: string | null, defaultType: string): ContentType {
  if (value !== null) {
    const pv = parseMimeValue(value);
    const m = /^([^\s/]+)\s*\/\s*([^\s/]+)$/.exec(pv.value);
    if (m) {
      return {
        type: m[1]!.toLowerCase(),
        subtype: m[2]!.toLowerCase(),
        params: pv.params,
        rawParams: pv.rawParams,
        defaulted: false,
      };
    }
  }
  const [type, subtype] = defaultType.split('/') as [string, string];
  return { type, subtype, params: Object.create(null), rawParams: [], defaulted: true };
}

/**
 * Parse one entity (header + body) in raw[start, end).
 * @param isMessage true for the top-level message and encapsulated messages (they get an ENVELOPE).
 */
function parseEntity(
  ctx: Ctx,
  start: number,
  end: number,
  part: string,
  depth: number,
  defaultType: string,
  isMessage: boolean,
): MimeNode {
  const { raw } = ctx;
  ctx.parts++;
  const block = scanHeader(raw, start, end);
  const get = (name: string) => firstField(raw, block, name);
  const contentType = parseContentType(get('content-type'), defaultType);
  const cte = get('content-transfer-encoding');
  const disp = get('content-disposition');
  let disposition: Disposition | null = null;
  if (disp !== null) {
    const pv = parseMimeValue(disp);
    if (pv.value) disposition = { type: pv.value.toLowerCase(), params: pv.params, rawParams: pv.rawParams };
  }
  const lang = get('content-language');
  const language =
    lang === null
      ? null
      : lang
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean)
          .slice(0, 50);
  const location = get('content-location');
  const node: MimeNode = {
    part,
    headerStart: start,
    headerEnd: block.headerEnd,
    bodyStart: block.bodyStart,
    bodyEnd: end,
    contentType,
    contentId: get('content-id'),
    contentDescription: get('content-description'),
    contentTransferEncoding: cte === null ? null : cte.toLowerCase(),
    disposition,
    language: language && language.length > 0 ? language : null,
    location: location === null ? null : location.replace(/[ \t]+/g, ' '),
    md5: get('content-md5'),
    size: end - block.bodyStart,
    // Only text/* and message/rfc822 report lines (RFC 3501 body-fld-lines); others skip the scan.
    lines: contentType.type === 'text' || contentType.type === 'message' ? countLines(raw, block.bodyStart, end) : 0,
    children: [],
    message: null,
    envelope: isMessage ? buildEnvelopeFromBlock(raw, block) : null,
  };

  const canNest = depth < MAX_DEPTH && ctx.parts < MAX_PARTS;
  if (contentType.type === 'multipart') {
    const boundary = contentType.params['boundary'];
    if (canNest && boundary) {
      const childDefault = contentType.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
      const ranges = splitMultipart(raw, node.bodyStart, end, boundary);
      let n = 0;
      for (const [s, e] of ranges) {
        if (ctx.parts >= MAX_PARTS) break;
        n++;
        const childPart = part === '' ? String(n) : `${part}.${n}`;
        node.children.push(parseEntity(ctx, s, e, childPart, depth + 1, childDefault, false));
      }
    }
    if (node.children.length === 0) {
      // RFC 3501 needs at least one body in a multipart: an empty text/plain, as Dovecot sends.
      const at = node.bodyEnd;
      ctx.parts++;
      node.children.push({
        ...leafFallback(Buffer.alloc(0)),
        part: part === '' ? '1' : `${part}.1`,
        headerStart: at,
        headerEnd: at,
        bodyStart: at,
        bodyEnd: at,
        size: 0,
        lines: 0,
      });
    }
  } else if (
    contentType.type === 'message' &&
    contentType.subtype === 'rfc822' &&
    canNest &&
    (cte === null || /^(7bit|8bit|binary)$/i.test(cte.trim()))
  ) {
    node.message = parseEntity(ctx, node.bodyStart, end, part, depth + 1, 'text/plain', true);
  }
  return node;
}

/**
 * Split a multipart body raw[start, end) at delimiter lines for `boundary` (RFC 2046 §5.1.1). Returns the byte
 * ranges of the body parts: each starts after its delimiter line and ends before the line break that precedes the
 * next delimiter. Text before the first delimiter (preamble) and after the close delimiter (epilogue) is skipped.
 * Without a close delimiter the last part runs to `end`.
 */
export function splitMultipart(raw: Buffer, start: number, end: number, boundary: string): [number, number][] {
  const delim = Buffer.from('--' + boundary, 'utf8');
  const nlDelim = Buffer.from('\n--' + boundary, 'utf8');
  const ranges: [number, number][] = [];
  let partStart = -1;
  let lineStart = start;
  while (lineStart < end) {
    // Candidate: a line starting with the delimiter.
    if (lineStart + delim.length <= end && raw.compare(delim, 0, delim.length, lineStart, lineStart + delim.length) === 0) {
      let p = lineStart + delim.length;
      let close = false;
      if (p + 2 <= end && raw[p] === 0x2d && raw[p + 1] === 0x2d) {
        close = true;
        p += 2;
      }
      while (p < end && (raw[p] === 0x20 || raw[p] === 0x09)) p++;
      const atEol = p >= end || raw[p] === LF || (raw[p] === CR && (p + 1 >= end || raw[p + 1] === LF));
      if (atEol) {
        const nextLine = p >= end ? end : raw[p] === LF ? p + 1 : Math.min(end, p + 2);
        if (partStart >= 0) {
          // The CRLF (or LF) before the delimiter belongs to the delimiter.
          let e = lineStart;
          if (e > partStart && raw[e - 1] === LF) e--;
          if (e > partStart && raw[e - 1] === CR) e--;
          ranges.push([partStart, Math.max(partStart, e)]);
          if (ranges.length >= MAX_PARTS) return ranges;
        }
        if (close) return ranges;
        partStart = nextLine;
        lineStart = nextLine;
        continue;
      }
    }
    // Next line that starts with the delimiter (native search).
    const i = raw.subarray(lineStart, end).indexOf(nlDelim);
    if (i < 0) break;
    lineStart = lineStart + i + 1;
  }
  if (partStart >= 0) ranges.push([partStart, Math.max(partStart, end)]);
  return ranges;
}

/** Depth-first list of all nodes (parts and encapsulated messages), root first. */
export function walk(node: MimeNode, visit: (n: MimeNode) => void): void {
  const stack: MimeNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    visit(n);
    if (n.message) stack.push(n.message);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
}
