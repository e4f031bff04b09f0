/**
 * SMTP replies as delivery results: parsing a remote reply into code, enhanced code and text, and the small
 * vocabulary of outcomes the queue understands.
 * Standards: RFC 5321 §4.2 (reply codes, multi-line replies), RFC 3463 (enhanced status codes), RFC 2034.
 * Untrusted input: reply text from remote servers; parsing is total and bounds the kept text.
 */

/** A reply from a remote server, or a description of a local/connection error in the same shape. */
export interface Reply {
  /** Basic reply code (RFC 5321 §4.2); 0 when no server answered (connection-level errors). */
  code: number;
  /** Enhanced status code (RFC 3463), e.g. "5.1.1", when the server sent one or we chose one. */
  enhanced?: string;
  /** The reply text (all lines joined with a space, codes removed) or the error description. */
  text: string;
}

/** A failure that is not one remote reply: 'temp' retries later, 'perm' bounces now. */
export interface Failure extends Reply {
  outcome: 'temp' | 'perm';
}

const MAX_TEXT = 1000;

/** Parse a raw reply as nodemailer hands it over ("550-5.1.1 a\n550 5.1.1 b"). Never throws. */
export function parseReply(raw: string | undefined | null): Reply | null {
  if (!raw) return null;
  const lines = raw.split(/\r?\n/).filter((l) => l.length > 0);
  const first = /^([2-5]\d\d)(?:[ -]|$)/.exec(lines[0] ?? '');
  if (!first) return null;
  const code = Number(first[1]);
  let enhanced: string | undefined;
  const parts: string[] = [];
  for (const line of lines) {
    let t = line.replace(/^\d{3}[ -]?/, '');
    // RFC 3463 §2 / RFC 2034 §4: the enhanced code follows the basic code on every line; its class must match.
    const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/.exec(t);
    if (m && Number(m[1]) === Math.floor(code / 100)) {
      enhanced ??= `${m[1]}.${m[2]}.${m[3]}`;
      t = t.slice(m[0].length);
    }
    parts.push(t.trim());
  }
  let text = parts.join(' ').trim();
  if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT) + '...';
  // Replace control characters so that the text is safe in logs and DSN fields.
  text = text.replace(/[\x00-\x1f\x7f]/g, '?');
  return enhanced ? { code, enhanced, text } : { code, text };
}

/** The reply as one line, as Postfix logs and reports it: "550 5.1.1 text". */
export function formatReply(r: Reply): string {
  if (r.code === 0) return r.enhanced ? `${r.enhanced} ${r.text}` : r.text;
  return `${r.code}${r.enhanced ? ' ' + r.enhanced : ''} ${r.text}`;
}

/** Outcome of a reply code (RFC 5321 §4.2.1): 2xx ok, 4xx temporary, 5xx permanent. */
export function outcomeOf(code: number): 'ok' | 'temp' | 'perm' {
  if (code >= 200 && code < 400) return 'ok';
  if (code >= 500 && code < 600) return 'perm';
  return 'temp';
}

export function tempFailure(enhanced: string, text: string, code = 0): Failure {
  return { outcome: 'temp', code, enhanced, text };
}

export function permFailure(code: number, enhanced: string, text: string): Failure {
  return { outcome: 'perm', code, enhanced, text };
}
