/**
 * What every IMAP session shares: configuration, the account service, the mail store, the login throttle.
 * Built once in src/main.ts.
 */
import type { ServerTls } from '../../tls/context.js';
import type { ShutdownSignal } from '../net/shutdown.js';
import type { CommandRateLimiter } from '../net/ratelimit.js';
import type { Logger } from 'pino';
import type { AccountService } from '../../accounts/service.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import type { MailStore } from '../../store/mail/store.js';
import type { ParsePool } from './parse-pool.js';

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
  secureContext: ServerTls | null;
  /** 'loopback': plaintext LOGIN only from 127.0.0.0/8 and ::1; 'always' (tests, behind a TLS proxy); 'never'. */
  allowInsecureAuth: 'loopback' | 'always' | 'never';
  accounts: AccountService;
  mail: MailStore;
  throttle: LoginThrottle;
  limits: ImapLimits;
  log: Logger;
  /** Open sessions per user, for maxConnectionsPerUser. */
  userSessions: Map<number, number>;
  /** Graceful stop: finish the running command, then BYE (server/net/shutdown.ts). */
  shutdown?: ShutdownSignal;
  /** Per-IP command rate. */
  commandRate?: CommandRateLimiter;
  /** Worker threads for first-time ENVELOPEs of large fetches (none: computed in the session's thread). */
  parsePool?: ParsePool;
}
