/**
 * SMTP command-line grammar (RFC 5321 §4.1.1, §4.1.2) and reply formatting (RFC 5321 §4.2, RFC 3463 enhanced codes,
 * RFC 2034). Pure: strings in, structures out; nothing here touches a socket.
 * Untrusted input: every function takes client text; all are total (return an error value, never throw) and
 * bounded by the caller's line-length limit.
 */

export interface CommandLine {
  /** Upper-cased verb, e.g. "MAIL". */
  verb: string;
  /** Everything after the verb and one space, as sent. */
  args: string;
}

export function parseCommandLine(line: string): CommandLine {
  const m = /^([A-Za-z]+)(?: (.*))?$/s.exec(line.replace(/[\r\n]+$/, ''));
  if (!m) return { verb: '', args: line };
  return { verb: m[1]!.toUpperCase(), args: (m[2] ?? '').trim() };
}

export interface PathWithParams {
  /** The mailbox, "" for the null reverse-path "<>". */
  address: string;
  /** ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters), keys upper-cased; value true when the keyword has none. */
  params: Map<string, string | true>;
}

export type PathResult = { ok: true; value: PathWithParams } | { ok: false; code: number; enhanced: string; text: string };

/**
 * Parse the argument of MAIL ("FROM:<path> params") or RCPT ("TO:<path> params").
 * RFC 5321 §4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">". The source route (A-d-l) is accepted and ignored
 * (§C). Like Postfix, a missing pair of angle brackets and a space after the colon are tolerated.
 */
export function parsePathArg(args: string, keyword: 'FROM' | 'TO'): PathResult {
  const prefix = new RegExp(`^${keyword}:\\s*`, 'i');
  const m = prefix.exec(args);
  if (!m) return { ok: false, code: 501, enhanced: '5.5.4', text: `Syntax: ${keyword === 'FROM' ? 'MAIL FROM:<address>' : 'RCPT TO:<address>'}` };
  let rest = args.slice(m[0].length);
  let path: string;
  if (rest.startsWith('<')) {
    const end = findClosingAngle(rest);
    if (end < 0) return { ok: false, code: 501, enhanced: '5.1.7', text: 'Bad address syntax: missing ">"' };
    path = rest.slice(1, end);
    rest = rest.slice(end + 1);
  } else {
    const sp = rest.indexOf(' ');
    path = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? '' : rest.slice(sp);
  }
  // Strip a source route "@a,@b:user@host" (RFC 5321 Appendix C).
  if (path.startsWith('@')) {
    const colon = path.indexOf(':');
    if (colon < 0) return { ok: false, code: 501, enhanced: '5.1.7', text: 'Bad address syntax' };
    path = path.slice(colon + 1);
  }
  if (path === '' && keyword === 'TO') return { ok: false, code: 501, enhanced: '5.1.3', text: 'Bad recipient address syntax' };
  if (/[\x00-\x1f\x7f<> ]/.test(path) && !/^".*"@/.test(path)) {
    return { ok: false, code: 501, enhanced: keyword === 'FROM' ? '5.1.7' : '5.1.3', text: 'Bad address syntax' };
  }
  if (path !== '' && (!path.includes('@') || path.endsWith('@') || path.startsWith('@'))) {
    // RFC 5321 allows "Postmaster" without a domain for RCPT only.
    if (!(keyword === 'TO' && /^postmaster$/i.test(path))) {
      return { ok: false, code: 501, enhanced: keyword === 'FROM' ? '5.1.7' : '5.1.3', text: 'Bad address syntax: expected local-part@domain' };
    }
  }
  const params = new Map<string, string | true>();
  for (const tok of rest.trim().split(/ +/).filter(Boolean)) {
    const eq = tok.indexOf('=');
    const key = (eq < 0 ? tok : tok.slice(0, eq)).toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) return { ok: false, code: 501, enhanced: '5.5.4', text: `Bad parameter syntax: ${tok.slice(0, 40)}` };
    const value = eq < 0 ? true : tok.slice(eq + 1);
    // esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 with SMTPUTF8 (RFC 6531 §3.3)
    if (value !== true && !/^[\x21-\x3c\x3e-\x7e\u0080-\uffff]+$/u.test(value)) {
      return { ok: false, code: 501, enhanced: '5.5.4', text: `Bad parameter syntax: ${tok.slice(0, 40)}` };
    }
    params.set(key, value);
  }
  return { ok: true, value: { address: path, params } };
}

function findClosingAngle(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (c === '>' && !quoted) return i;
  }
  return -1;
}

/** Format a reply (RFC 5321 §4.2.1): multi-line with "-" continuation, the enhanced code on every line. */
export function formatReply(code: number, enhanced: string | null, text: string | string[]): string {
  const lines = (Array.isArray(text) ? text : [text]).map((l) => l.replace(/[\x00-\x1f\x7f]/g, ' '));
  if (lines.length === 0) lines.push('');
  return lines
    .map((l, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${enhanced ? `${enhanced} ` : ''}${l}`.trimEnd())
    .join('\r\n')
    .concat('\r\n');
}

/** xtext decoding for ORCPT/ENVID (RFC 3461 §4). */
export function decodeXtext(s: string): string {
  return s.replace(/\+([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
