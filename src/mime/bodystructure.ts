/**
 * IMAP BODY and BODYSTRUCTURE (RFC 3501 §7.4.2; grammar in §9: body, body-type-1part, body-type-mpart, body-ext-1part,
 * body-ext-mpart, body-fld-*) from a parsed MIME tree.
 *
 * Output matches Dovecot 2.3 byte for byte on well-formed input (checked against recorded answers in
 * test/fixtures/mime/*.dovecot.json): text/* without a charset gets ("charset" "us-ascii") appended, a missing
 * Content-Transfer-Encoding is "7bit", RFC 2231 parameters are sent joined but still encoded (`filename*`
 * "utf-8''..."), so everything stays 7-bit. Differences: type, subtype, parameter names, encoding and disposition
 * type are sent lower-case (Dovecot echoes the original case; IMAP compares them case-insensitively).
 *
 * Input is the tree from parseStructure (already bounded); the result is plain data (JSON-cacheable).
 */
import { formatEnvelope, type Envelope } from './envelope.js';
import type { RawParam } from './headers.js';
import { imapString, nstring, nstringNoLf } from './imapstring.js';
import type { MimeNode } from './structure.js';

export interface BodyStructureSinglePart {
  kind: 'single';
  type: string;
  subtype: string;
  /** body-fld-param; null is NIL. */
  params: RawParam[] | null;
  id: string | null;
  description: string | null;
  encoding: string;
  size: number;
  /** text/* and message/rfc822 only. */
  lines?: number;
  /** message/rfc822 only. */
  envelope?: Envelope;
  body?: BodyStructure;
  /** Extension data (BODYSTRUCTURE only). */
  ext?: {
    md5: string | null;
    disposition: [type: string, params: RawParam[] | null] | null;
    language: string[] | null;
    location: string | null;
  };
}

export interface BodyStructureMultipart {
  kind: 'multipart';
  parts: BodyStructure[];
  subtype: string;
  ext?: {
    params: RawParam[] | null;
    disposition: [type: string, params: RawParam[] | null] | null;
    language: string[] | null;
    location: string | null;
  };
}

export type BodyStructure = BodyStructureSinglePart | BodyStructureMultipart;

/**
 * BODYSTRUCTURE (extended = true) or BODY (extended = false) of a node: pass the root of parseStructure for the
 * message, or any part node for that part.
 */
export function buildBodyStructure(node: MimeNode, extended: boolean): BodyStructure {
  return build(node, extended, 0);
}

function disp(node: MimeNode): [string, RawParam[] | null] | null {
  if (!node.disposition) return null;
  const p = node.disposition.rawParams;
  return [node.disposition.type, p.length > 0 ? p : null];
}

function build(node: MimeNode, extended: boolean, depth: number): BodyStructure {
  const ct = node.contentType;
  if (node.children.length > 0) {
    const mp: BodyStructureMultipart = {
      kind: 'multipart',
      parts: node.children.map((c) => build(c, extended, depth + 1)),
      subtype: ct.subtype,
    };
    if (extended) {
      mp.ext = {
        params: ct.rawParams.length > 0 ? ct.rawParams : null,
        disposition: disp(node),
        language: node.language,
        location: node.location,
      };
    }
    return mp;
  }
  let params: RawParam[] | null = ct.rawParams.length > 0 ? ct.rawParams : null;
  if (ct.type === 'text' && !ct.rawParams.some(([n]) => n === 'charset')) {
    params = [...ct.rawParams, ['charset', 'us-ascii']];
  }
  const sp: BodyStructureSinglePart = {
    kind: 'single',
    type: ct.type,
    subtype: ct.subtype,
    params,
    id: node.contentId,
    description: node.contentDescription,
    encoding: node.contentTransferEncoding ?? '7bit',
    size: node.size,
  };
  if (ct.type === 'text') {
    sp.lines = node.lines;
  } else if (node.message) {
    sp.envelope = node.message.envelope ?? undefined;
    sp.body = build(node.message, extended, depth + 1);
    sp.lines = node.lines;
  }
  if (extended) {
    sp.ext = { md5: node.md5, disposition: disp(node), language: node.language, location: node.location };
  }
  return sp;
}

function fmtParams(p: RawParam[] | null): string {
  if (!p || p.length === 0) return 'NIL';
  return '(' + p.map(([n, v]) => `${imapString(n)} ${imapString(v)}`).join(' ') + ')';
}

function fmtDisposition(d: [string, RawParam[] | null] | null): string {
  return d ? `(${imapString(d[0])} ${fmtParams(d[1])})` : 'NIL';
}

function fmtLanguage(l: string[] | null): string {
  return l && l.length > 0 ? '(' + l.map(imapString).join(' ') + ')' : 'NIL';
}

const EMPTY_ENVELOPE: Envelope = {
  date: null, subject: null, from: null, sender: null, replyTo: null,
  to: null, cc: null, bcc: null, inReplyTo: null, messageId: null,
};

/**
 * The IMAP form. With extended = false the extension data is left out even if present, so one cached
 * BODYSTRUCTURE also answers BODY.
 */
export function formatBodyStructure(bs: BodyStructure, extended = true): string {
  if (bs.kind === 'multipart') {
    let s = '(' + bs.parts.map((p) => formatBodyStructure(p, extended)).join('') + ' ' + imapString(bs.subtype);
    if (extended && bs.ext) {
      s += ` ${fmtParams(bs.ext.params)} ${fmtDisposition(bs.ext.disposition)} ${fmtLanguage(bs.ext.language)} ${nstringNoLf(bs.ext.location)}`;
    }
    return s + ')';
  }
  let s = `(${imapString(bs.type)} ${imapString(bs.subtype)} ${fmtParams(bs.params)} ${nstringNoLf(bs.id)} ${nstringNoLf(
    bs.description,
  )} ${imapString(bs.encoding)} ${bs.size}`;
  if (bs.body) {
    s += ` ${formatEnvelope(bs.envelope ?? EMPTY_ENVELOPE)} ${formatBodyStructure(bs.body, extended)} ${bs.lines ?? 0}`;
  } else if (bs.lines !== undefined) {
    s += ` ${bs.lines}`;
  }
  if (extended && bs.ext) {
    s += ` ${nstring(bs.ext.md5)} ${fmtDisposition(bs.ext.disposition)} ${fmtLanguage(bs.ext.language)} ${nstringNoLf(
      bs.ext.location,
    )}`;
  }
  return s + ')';
}
