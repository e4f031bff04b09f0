/**
 * IMAP string output for FETCH data (RFC 3501 §4.3 string: quoted or literal, §4.5 NIL; §9 quoted-specials).
 *
 * Strings are JS strings holding Unicode; they are written as UTF-8. The choice between quoted and literal follows
 * Dovecot so our answers are byte-identical to its answers: CR, LF, NUL or 8-bit data, or more than four
 * quoted-specials, make a literal. Input is untrusted header text; nothing here throws.
 */

/** Append NIL, a quoted string, or a literal (`{n}\r\n` + bytes). */
export function nstring(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'NIL';
  return imapString(s);
}

export function imapString(s: string): string {
  let specials = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (++specials > 4) return literal(s);
    } else if (c === 0x0d || c === 0x0a || c === 0 || c >= 0x80) {
      return literal(s);
    }
  }
  return specials === 0 ? '"' + s + '"' : '"' + s.replace(/[\\"]/g, '\\$&') + '"';
}

/** Like nstring, but CR/LF removed first (a line break not followed by whitespace becomes a space). */
export function nstringNoLf(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'NIL';
  if (!s.includes('\n') && !s.includes('\r')) return imapString(s);
  return imapString(s.replace(/\r?\n(?=[ \t]|$)|\r(?=[ \t]|$)/g, '').replace(/\r?\n|\r/g, ' '));
}

export function literal(s: string): string {
  return `{${Buffer.byteLength(s, 'utf8')}}\r\n${s}`;
}

/**
 * A display string (ENVELOPE subject and address names): TAB, CR and LF become spaces, runs of whitespace collapse to
 * one space, leading/trailing whitespace goes, NUL becomes U+0080. Unchanged simple text is quoted; anything that
 * needed cleaning, quotes, backslashes or 8-bit is sent as a literal; whitespace only gives "".
 */
export function humanString(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'NIL';
  if (isSimpleText(s)) return '"' + s + '"';
  const cleaned = s
    .replace(/\0/g, '\u0080')
    .replace(/[ \t\r\n]+/g, ' ')
    .replace(/^ | $/g, '');
  if (cleaned === '') return '""';
  return literal(cleaned);
}

/** No TAB, CR, LF, NUL, quote, backslash or non-ASCII, and no leading, trailing or double space. */
function isSimpleText(s: string): boolean {
  let prevSpace = true; // a leading space counts as a double one
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20) {
      if (prevSpace) return false;
      prevSpace = true;
    } else {
      if (c === 0x09 || c === 0x0a || c === 0x0d || c === 0 || c === 0x22 || c === 0x5c || c >= 0x80) return false;
      prevSpace = false;
    }
  }
  return !(prevSpace && s.length > 0);
}
