/**
 * A command's failure as an IMAP status response (RFC 3501 §7.1): NO or BAD with an optional response code
 * (RFC 5530). Thrown from any depth of a command handler, answered once by the session's dispatcher.
 */
export class ImapCommandError extends Error {
  constructor(
    readonly status: 'NO' | 'BAD',
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ImapCommandError';
  }
}

export const no = (text: string, code?: string) => new ImapCommandError('NO', text, code);
export const bad = (text: string, code?: string) => new ImapCommandError('BAD', text, code);
