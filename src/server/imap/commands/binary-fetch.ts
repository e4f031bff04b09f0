/**
 * FETCH BINARY[section-binary]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516 §4.2-4.3): the part with its
 * Content-Transfer-Encoding undone (src/mime/binary.ts). Like Dovecot, the answer is a literal8 ("~{n}", §4.3)
 * when an encoding was undone or the bytes hold a NUL, else an ordinary literal; a part that does not exist is
 * empty. An encoding the server does not know fails the command with NO [UNKNOWN-CTE] (§4.1).
 */
import type { FetchAttribute } from '../../../protocol/imap/index.js';
import { fetchItemName } from '../../../protocol/imap/index.js';
import { binaryContent, type MimeNode } from '../../../mime/index.js';
import { no } from '../errors.js';

export type BinaryItem =
  | { name: string; literal: Buffer; literal8: boolean; value?: undefined }
  | { name: string; value: string; literal?: undefined; literal8?: undefined };

export function binaryItem(raw: Buffer, tree: MimeNode, a: Extract<FetchAttribute, { type: 'BINARY[]' | 'BINARY.SIZE' }>): BinaryItem {
  const content = binaryContent(raw, tree, a.part);
  if (content === 'UNKNOWN-CTE') throw no(`Unknown Content-Transfer-Encoding in part ${a.part.join('.') || '(message)'}`, 'UNKNOWN-CTE');
  const name = fetchItemName(a);
  if (a.type === 'BINARY.SIZE') return { name, value: String(content.data.length) };
  let data = content.data;
  if (a.partial) {
    const start = Math.min(a.partial.start, data.length);
    data = data.subarray(start, Math.min(data.length, start + a.partial.length));
  }
  return { name, literal: data, literal8: content.decoded || data.includes(0) };
}
