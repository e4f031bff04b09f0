/** POP3 wire format (RFC 1939, RFC 2449, RFC 2595, RFC 5034): parsing, responses, dot-stuffing. No I/O. */
export { LineReader, type LineEvent } from './reader.js';
export { parseCommand, retrNumber, parseMessageNumber, parseCount, printable, keywordOf, KNOWN, type Pop3Command } from './commands.js';
export { Pop3Error, ok, err, multiline, continuation, type Pop3ResponseCode } from './responses.js';
export { DotStuffer, stuffWhole, sendsAsIs } from './dotstuff.js';
export { decodeSaslPlain, type PlainCredentials } from './sasl.js';
export { uidlOf } from './uidl.js';
