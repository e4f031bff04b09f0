/**
 * Base subject extraction (RFC 5256 §2.1), used by SORT SUBJECT and by THREAD, and the string comparison SORT
 * and THREAD use: the i;unicode-casemap collation (RFC 5051), the default under I18NLEVEL=1 (RFC 5255 §4.1), as in
 * Dovecot. Its ASCII behaviour is i;ascii-casemap's (RFC 4790 §9.2).
 *
 *   baseSubject('Re: [list] Fwd: Hello (fwd)')  // { base: 'HELLO', replyOrForward: true }
 *
 * Pure functions, no I/O. The input is the Subject field value, encoded words still encoded (as in ENVELOPE);
 * the result is in i;unicode-casemap form (titlecase, NFD), so equal base subjects are equal strings.
 */
import { decodeEncodedWords } from '../../mime/headers.js';
import { unicodeCasemap } from '../../mime/text.js';

/** subj-trailer = "(fwd)" / WSP */
const TRAILER = /(?:\(fwd\)|[ \t])$/i;
/** subj-blob = "[" *BLOBCHAR "]" *WSP */
const BLOB = /^\[[^[\]]*\][ \t]*/;
/** subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
const LEADER = /^(?:(?:\[[^[\]]*\][ \t]*)*(?:re|fwd?)[ \t]*(?:\[[^[\]]*\][ \t]*)?:|[ \t])/i;
const NONWSP = /[^ \t]/;

export interface BaseSubject {
  /** The base subject in i;unicode-casemap form (RFC 5051). */
  base: string;
  /** Extraction removed a subj-refwd, "(fwd)" trailer or "[fwd: ... ]" wrapper (RFC 5256 §2.1 note, §5 THREAD). */
  replyOrForward: boolean;
}

/** RFC 4790 i;ascii-casemap canonical form: a-z to A-Z, nothing else changed. */
export function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/**
 * Compare two strings by their UTF-8 octets (what i;ascii-casemap compares after case mapping). Equal to
 * comparing Unicode code points; UTF-16 code-unit order differs only for surrogates vs U+E000-U+FFFF.
 */
export function compareOctets(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys && (x >= 0xd800 && y >= 0xd800)) return xs ? 1 : -1; // a surrogate (astral) sorts after BMP
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** i;unicode-casemap comparison of two strings (RFC 5051 §2). */
export function compareCasemap(a: string, b: string): number {
  return compareOctets(unicodeCasemap(a), unicodeCasemap(b));
}

/** RFC 5256 §2.1 steps 1-7. `subject` is the raw field value (null/undefined: no Subject, base ""). */
export function baseSubject(subject: string | null | undefined): BaseSubject {
  if (!subject) return { base: '', replyOrForward: false };
  // (1) decode encoded words, tabs and continuations to space, runs of spaces to one.
  let s = decodeEncodedWords(subject.replace(/\r?\n/g, ' ')).replace(/[\t\r\n]/g, ' ').replace(/ {2,}/g, ' ');
  let replyOrForward = false;
  for (;;) {
    // (2) remove subj-trailer text from the end, repeatedly.
    for (;;) {
      const m = TRAILER.exec(s);
      if (!m) break;
      if (m[0] !== ' ' && m[0] !== '\t') replyOrForward = true;
      s = s.slice(0, s.length - m[0].length);
    }
    // (5) repeat (3) and (4) until no matches remain.
    for (;;) {
      let changed = false;
      // (3) remove subj-leader prefix text.
      for (;;) {
        const m = LEADER.exec(s);
        if (!m) break;
        if (m[0] !== ' ' && m[0] !== '\t') replyOrForward = true;
        s = s.slice(m[0].length);
        changed = true;
      }
      // (4) remove a subj-blob prefix when what is left is a non-empty subj-base.
      const b = BLOB.exec(s);
      if (b && NONWSP.test(s.slice(b[0].length))) {
        s = s.slice(b[0].length);
        changed = true;
      }
      if (!changed) break;
    }
    // (6) "[fwd:" ... "]": strip and go back to (2).
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === '[fwd:' && s.endsWith(']')) {
      s = s.slice(5, -1);
      replyOrForward = true;
      continue;
    }
    break;
  }
  // (7)
  return { base: unicodeCasemap(s), replyOrForward };
}
