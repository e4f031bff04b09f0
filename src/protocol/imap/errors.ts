/**
 * The one error type of the IMAP wire layer: a command (or part of one) that the server answers
 * with `tag BAD text` / `tag NO [CODE] text`, or `* BAD text` when no tag could be read.
 *
 * Standards: RFC 3501 §7.1 (status responses, response codes), RFC 7888 §4 (TOOBIG for literals),
 * RFC 5530 (response codes), RFC 3501 §6.4.4 (BADCHARSET).
 * Untrusted input: the message may quote short fragments of client input; response formatting
 * (response.ts) strips CR/LF from it before it reaches the wire.
 *
 * Anything else thrown from src/protocol/imap is a bug, not a client mistake.
 */

export type ImapParseErrorStatus = 'BAD' | 'NO';

export interface ImapParseErrorOptions {
  /** The command tag, when it could be read (RFC 3501 §9 `tag`). */
  tag?: string | undefined;
  /** 'BAD' (syntax, the default) or 'NO' (well-formed but refused, e.g. BADCHARSET). */
  status?: ImapParseErrorStatus;
  /** Response code without brackets, e.g. 'TOOBIG' or 'BADCHARSET (UTF-8 US-ASCII)'. */
  code?: string | undefined;
  /** RFC 5182 §2.1: a SEARCH with RETURN (SAVE) that fails with NO empties the saved result ("$"). */
  resetsSearchResult?: boolean;
}

export class ImapParseError extends Error {
  readonly tag: string | undefined;
  readonly status: ImapParseErrorStatus;
  readonly code: string | undefined;
  readonly resetsSearchResult: boolean;
  constructor(message: string, options: ImapParseErrorOptions = {}) {
    super(message);
    this.name = 'ImapParseError';
    this.resetsSearchResult = options.resetsSearchResult ?? false;
    this.tag = options.tag;
    this.status = options.status ?? 'BAD';
    this.code = options.code;
  }
}

export function isImapParseError(err: unknown): err is ImapParseError {
  return err instanceof ImapParseError;
}
