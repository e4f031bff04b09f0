/**
 * What every IMAP session shares: configuration, the account service, the mail store, the login throttle.
 * Built once in src/main.ts.
 */
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { AccountService } from '../../accounts/service.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import type { MailStore } from '../../store/mail/store.js';

export interface ImapLimits {
  maxLineLength: number;
  maxLiteralSize: number;
  maxAppendSize: number;
  /** RFC 3501 §5.4: at least 30 minutes once authenticated. */
  autologoutMs: number;
  preAuthTimeoutMs: number;
  maxConnectionsPerUser: number;
}

export interface ImapContext {
  hostname: string;
  secureContext: SecureContext | null;
  /** 'loopback': plaintext LOGIN only from 127.0.0.0/8 and ::1; 'always' (tests, behind a TLS proxy); 'never'. */
  allowInsecureAuth: 'loopback' | 'always' | 'never';
  accounts: AccountService;
  mail: MailStore;
  throttle: LoginThrottle;
  limits: ImapLimits;
  log: Logger;
  /** Open sessions per user, for maxConnectionsPerUser. */
  userSessions: Map<number, number>;
}
