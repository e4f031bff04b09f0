/**
 * SEARCH BODY and TEXT on a message's content (RFC 3501 §6.4.4: substring, case-insensitive, on the decoded text
 * parts and, for TEXT, the header too): pure functions of the file's bytes, shared by the session's thread
 * (commands/search.ts) and the parse workers (./parse-worker.ts).
 */
import { parseStructure, headerText, bodyText, matchesText as matchesTextSlow } from '../../mime/index.js';

/** A content key of a SEARCH program. */
export interface ContentKey {
  type: 'BODY' | 'TEXT';
  value: string;
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * matchesText (NFC, lower case, substring) with a fast path: NFC leaves pure ASCII unchanged, and normalising
 * whole bodies was the largest cost of BODY search.
 */
export function matchesText(haystack: string, needle: string): boolean {
  if (needle === '' || NON_ASCII.test(haystack) || NON_ASCII.test(needle)) return matchesTextSlow(haystack, needle);
  return haystack.toLowerCase().includes(needle.toLowerCase());
}

/** For each key, whether the message `raw` matches it (the same answers as commands/search.ts gives one by one). */
export function contentMatches(raw: Buffer, keys: readonly ContentKey[]): boolean[] {
  const tree = parseStructure(raw, { envelope: false });
  let body: string | null = null;
  let head: string | null = null;
  return keys.map((k) => {
    if (k.type === 'TEXT') {
      head ??= headerText(raw.subarray(tree.headerStart, tree.bodyStart));
      if (matchesText(head, k.value)) return true;
    }
    body ??= bodyText(raw, tree);
    return matchesText(body, k.value);
  });
}
