/**
 * The IMAP wire-protocol layer (RFC 3501 with LITERAL+ RFC 7888, and the grammar of UIDPLUS, MOVE,
 * IDLE, ENABLE, ID, NAMESPACE, SPECIAL-USE, LIST-EXTENDED, ESEARCH, CONDSTORE/QRESYNC, BINARY).
 * Pure code: no sockets, files or database. Bytes in -> typed commands; typed values -> bytes out.
 *
 *   reader.ts    CommandReader: bytes -> events (command / continue / append-* / error)
 *   parser.ts    parseCommand(raw) -> ImapCommand (types.ts); parseAppendHead, isIdleDone
 *   response.ts  formatting of strings, lists, FETCH, status responses, continuation
 *   sequence.ts  SequenceSet helpers; utf7.ts mailbox names; datetime.ts dates; errors.ts
 */
export * from './errors.js';
export * from './types.js';
export type { RawCommand, RawLiteral, StreamedLiteral, ImapValue } from './lexer.js';
export * from './reader.js';
export * from './parser.js';
export * from './response.js';
export * from './sequence.js';
export * from './utf7.js';
export * from './datetime.js';
export { normalizeFlag } from './args.js';
export { parseImapUrl, type ImapUrl } from './url.js';
export * from './notify-parser.js';
