/**
 * BINARY[section] content (RFC 3516 §4.2): a body part with its Content-Transfer-Encoding undone. base64 and
 * quoted-printable are decoded (RFC 2045 §6.7-6.8; QP decoding deletes trailing whitespace on each line, rule 3,
 * as Dovecot does); 7bit, 8bit and binary are the identity; any other encoding is UNKNOWN-CTE (RFC 3516 §4.1).
 * The whole message (empty section), multiparts and message/rfc822 parts are returned as they are: their bodies
 * cannot carry an encoding other than the identities (RFC 2045 §6.4). A part that does not exist is empty.
 *
 * Untrusted input: the message. Never throws; output is at most the size of the input.
 */
import type { MimeNode } from './structure.js';
import { findPart } from './section.js';
import { decodeQuotedPrintable } from './text.js';

export interface BinaryContent {
  data: Buffer;
  /** True when a transfer encoding was undone (the server then answers with literal8, like Dovecot). */
  decoded: boolean;
}

const EMPTY = Buffer.alloc(0);
const IDENTITY = new Set(['7bit', '8bit', 'binary']);

/** RFC 2045 §6.7 rule (3): drop SP/TAB at the end of every line before decoding quoted-printable. */
function stripTrailingWhitespace(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  let pendingStart = -1; // start of a run of SP/TAB not yet copied
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0x09) {
      if (pendingStart < 0) pendingStart = i;
      continue;
    }
    if (pendingStart >= 0) {
      const atEol = c === 0x0a || (c === 0x0d && buf[i + 1] === 0x0a);
      if (!atEol) o += buf.copy(out, o, pendingStart, i);
      pendingStart = -1;
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

export function decodeBase64Body(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
}

/** The decoded content of `part` ([] = the whole message), or 'UNKNOWN-CTE'. */
export function binaryContent(raw: Buffer, tree: MimeNode, part: readonly number[]): BinaryContent | 'UNKNOWN-CTE' {
  if (part.length === 0) return { data: raw, decoded: false };
  const node = findPart(tree, [...part]);
  if (!node) return { data: EMPTY, decoded: false };
  const body = node.bodyEnd > node.bodyStart ? raw.subarray(node.bodyStart, node.bodyEnd) : EMPTY;
  if (node.children.length > 0 || node.message) return { data: body, decoded: false };
  const cte = node.contentTransferEncoding ?? '7bit';
  if (IDENTITY.has(cte)) return { data: body, decoded: false };
  if (cte === 'base64') return { data: decodeBase64Body(body), decoded: true };
  if (cte === 'quoted-printable') return { data: decodeQuotedPrintable(stripTrailingWhitespace(body)), decoded: true };
  return 'UNKNOWN-CTE';
}
