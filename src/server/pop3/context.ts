/**
 * What every POP3 session shares: configuration, the account service, the mail store, the login throttle (the
 * same instance as IMAP and SMTP AUTH) and the maildrop locks. Built once in src/main.ts.
 */
import type { ServerTls } from '../../tls/context.js';
import type { Logger } from 'pino';
import type { AccountService } from '../../accounts/service.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import type { MailStore } from '../../store/mail/store.js';
import type { MaildropLocks } from './lock.js';

export interface Pop3Limits {
  /** Longest command line accepted (RFC 2449 §4: clients send at most 255 octets). */
  maxLineLength: number;
  /** Inactivity autologout (RFC 1939 §3: at least 10 minutes). */
  idleTimeoutMs: number;
  /** Errors (-ERR replies) before the connection is closed. */
  maxErrors: number;
  /** Failed logins on one connection before it is closed. */
  maxAuthFailures: number;
  /** Commands before login. */
  maxPreAuthCommands: number;
  /** Commands after login: this many plus four per message in the maildrop. */
  maxCommands: number;
}

export interface Pop3Context {
  hostname: string;
  secureContext: ServerTls | null;
  /** 'loopback': USER/PASS and AUTH without TLS only from 127.0.0.0/8 and ::1; 'always' (behind a TLS proxy); 'never'. */
  allowInsecureAuth: 'loopback' | 'always' | 'never';
  /** Add \Seen to retrieved messages at QUIT (as Dovecot does), so IMAP shows them as read. */
  markSeen: boolean;
  accounts: AccountService;
  mail: MailStore;
  throttle: LoginThrottle;
  locks: MaildropLocks;
  limits: Pop3Limits;
  log: Logger;
  /** Per-IP command rate (limits.commandsPerSecond/commandBurst), shared with SMTP and IMAP. */
  commandRate?: import('../net/ratelimit.js').CommandRateLimiter;
}

export const DEFAULT_POP3_LIMITS: Pop3Limits = {
  maxLineLength: 1024,
  idleTimeoutMs: 10 * 60_000,
  maxErrors: 20,
  maxAuthFailures: 3,
  maxPreAuthCommands: 50,
  maxCommands: 100_000,
};
