/** The POP3 server (RFC 1939 with RFC 2449, 2595, 5034, 8314) over the shared mail store's INBOX. */
export { pop3Listener } from './listener.js';
export { Pop3Session, type Pop3State } from './session.js';
export { MaildropLocks } from './lock.js';
export { DEFAULT_POP3_LIMITS, type Pop3Context, type Pop3Limits } from './context.js';
export { Maildrop } from './maildrop.js';
