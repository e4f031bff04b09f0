/**
 * Feeds a message to one of mailauth's MessageParser subclasses (its DkimSigner, DkimVerifier) without going through
 * the parser's Writable stream when the message is already in memory.
 *
 * mailauth 4.13.3's MessageParser (lib/dkim/message-parser.js) is a Writable: writeToStream slices the input into
 * 64 KiB chunks written one per setImmediate, each chunk is scanned for bare LFs (ensureLinebreaks), and the header
 * end is found by a byte-by-byte loop that pushes every byte into an array and re-slices it. For a 4 KiB message that
 * machinery costs more CPU than the canonicalization it feeds. For an in-memory message whose line breaks are all
 * CRLF (what our SMTP intake produces), the same calls are made here directly, in the same order with the same
 * arguments: parseHeaders on the header block (up to and including the blank line that ends it, as the parser's
 * state machine finds it), messageHeaders(headers), nextChunk(body), then finish() (finalChunk, i.e. the body
 * hashes and the signatures/verification). The body is passed as one chunk: mailauth's body hashers give the same
 * hash however the body is chunked (a stream delivers it in 64 KiB pieces anyway).
 *
 * Anything else (a stream or spool file, a bare LF that mailauth would turn into CRLF, a message without a blank
 * line after its header) goes through mailauth's own stream path, unchanged.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

const require = createRequire(import.meta.url);
const { writeToStream, parseHeaders } = require('mailauth/lib/tools') as {
  writeToStream: (s: NodeJS.WritableStream, input: Buffer | Readable) => Promise<void>;
  parseHeaders: (buf: Buffer) => unknown;
};

/** The parts of mailauth's MessageParser that are driven here. */
export interface MessageParserLike extends NodeJS.WritableStream {
  state: string;
  byteLength: number;
  headers: unknown;
  messageHeaders(headers: never): Promise<void>;
  nextChunk(chunk: Buffer): Promise<void>;
  finish(): Promise<void>;
}

/**
 * Where MessageParser would end the header block of this message (index just past the blank line), or -1 when the
 * message must take the stream path: a bare LF anywhere (mailauth rewrites it to CRLF), or no blank line.
 * With only CRLF line breaks, the parser's test (LF preceded by CR LF) first matches at the first "\n\r\n".
 */
export function headerSplit(buf: Buffer): number {
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (i === 0 || buf[i - 1] !== 0x0d) return -1;
  }
  const i = buf.indexOf('\n\r\n', 0, 'latin1');
  return i < 0 ? -1 : i + 3;
}

/** Statistics for tests: how many messages took the direct path and how many the stream. */
export const feedStats = { direct: 0, stream: 0 };

/** Writes the whole message into the parser and waits until it has finished (signatures made or verified). */
export async function feedMessage(parser: MessageParserLike, input: Buffer | Readable): Promise<void> {
  const end = Buffer.isBuffer(input) ? headerSplit(input) : -1;
  if (end < 0) {
    feedStats.stream++;
    await writeToStream(parser, input);
    return;
  }
  feedStats.direct++;
  const buf = input as Buffer;
  // MessageParser.processChunk: state 'body' once the header end is seen, headers parsed from the header bytes
  // (including the blank line), messageHeaders, then the rest of the chunk as body; _final → finish().
  parser.state = 'body';
  parser.byteLength = buf.length;
  parser.headers = parseHeaders(buf.subarray(0, end));
  await parser.messageHeaders(parser.headers as never);
  if (end < buf.length) await parser.nextChunk(buf.subarray(end));
  await parser.finish();
}
