/**
 * Typed errors that become protocol replies, and user errors that become CLI messages.
 * Protocol code throws these from any depth; the dispatcher of each protocol catches them once.
 * Anything else that escapes is a bug and is logged as such.
 */

/** An SMTP reply: basic code (RFC 5321 §4.2), enhanced code (RFC 3463) and text. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly enhancedCode: string;
  constructor(code: number, enhancedCode: string, text: string) {
    super(`${enhancedCode} ${text}`);
    this.name = 'SmtpReplyError';
    this.responseCode = code;
    this.enhancedCode = enhancedCode;
  }
}

/** A mistake of the person at the command line or in the config: shown as is, exit status 1 or 2. */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** A record that already exists (duplicate domain, user or alias). */
export class ConflictError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'ConflictError';
  }
}

/** A record that was asked for and does not exist. */
export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'NotFoundError';
  }
}

/** Errors from the file system that mean "no space": mapped to SMTP 452 4.3.1. */
export function isNoSpaceError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
