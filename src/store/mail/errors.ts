/**
 * Errors of the mail store. `code` is the RFC 5530 response code the IMAP layer should send with NO
 * (BADFLAG and BADNAME are better answered with BAD or NO [CANNOT], the session decides).
 */
export type MailStoreErrorCode =
  | 'NONEXISTENT'
  | 'ALREADYEXISTS'
  | 'CANNOT'
  | 'INUSE'
  | 'OVERQUOTA'
  | 'LIMIT'
  | 'BADNAME'
  | 'BADFLAG'
  | 'SERVERBUG';

export class MailStoreError extends Error {
  readonly code: MailStoreErrorCode;
  constructor(code: MailStoreErrorCode, message: string) {
    super(message);
    this.name = 'MailStoreError';
    this.code = code;
  }
}
