/**
 * The MIME layer for the IMAP server: structure (RFC 2045/2046 tree with byte offsets), ENVELOPE and
 * BODYSTRUCTURE (RFC 3501 §7.4.2), BODY[section] extraction (RFC 3501 §6.4.5) and SEARCH text (§6.4.4).
 * Pure functions over Buffers; no I/O.
 */
export { parseStructure, splitMultipart, walk, MAX_DEPTH, MAX_PARTS } from './structure.js';
export type { MimeNode, ContentType, Disposition } from './structure.js';
export { buildEnvelope, formatEnvelope, parseAddressList } from './envelope.js';
export type { Envelope, Address } from './envelope.js';
export { buildBodyStructure, formatBodyStructure } from './bodystructure.js';
export type { BodyStructure, BodyStructureSinglePart, BodyStructureMultipart } from './bodystructure.js';
export { extractSection, parseSection, findPart, partial, rfc822Header, rfc822Text } from './section.js';
export type { SectionSpec, SectionText } from './section.js';
export { decodedHeaderValue, headerText, bodyText, decodePartText, matchesText, foldCase, unicodeCasemap, MAX_TEXT_CHARS } from './text.js';
export { imapString, nstring, literal } from './imapstring.js';
export { binaryContent, decodeBase64Body } from './binary.js';
export type { BinaryContent } from './binary.js';
export type { RawParam } from './headers.js';
