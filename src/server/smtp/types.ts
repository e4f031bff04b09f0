/**
 * The contract between the SMTP session (wire, RFC 5321) and the behaviour behind it (MX, submission), in the
 * style of Haraka's named stages: each hook resolves to continue, or throws an SmtpReplyError to reject/tempfail.
 */
import type { PathWithParams } from '../../protocol/smtp/commands.js';

export interface SmtpSessionInfo {
  /** Connection id, in every log line of this connection. */
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** Reverse DNS name of the client, or null. */
  clientHostname: string | null;
  helo: string | null;
  esmtp: boolean;
  tls: { version: string; cipher: string } | null;
  /** The authenticated user (address), or null. */
  user: string | null;
  /** Count of transactions completed in this connection. */
  transactions: number;
}

export interface Recipient extends PathWithParams {
  /** Whatever the RCPT hook wants to keep for DATA (e.g. resolved mailboxes). */
  data?: unknown;
}

export interface Envelope {
  mailFrom: PathWithParams;
  rcptTo: Recipient[];
  /** BODY=8BITMIME given (RFC 6152). */
  body8bit: boolean;
  /** SMTPUTF8 given (RFC 6531). */
  smtputf8: boolean;
  /** SIZE= declared by the client (RFC 1870), or null. */
  declaredSize: number | null;
}

export interface DataStats {
  size: number;
  bareLf: number;
  bareCr: number;
  maxLine: number;
  sizeExceeded: boolean;
}

export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

/** Where the message bytes go during DATA/BDAT. end() is called once all bytes arrived and gives the reply. */
export interface MessageSink {
  write(chunk: Buffer): Promise<void>;
  end(stats: DataStats): Promise<SmtpReply>;
  abort(): Promise<void>;
}

export interface SmtpHooks {
  onConnect?(s: SmtpSessionInfo): Promise<void>;
  onHelo?(s: SmtpSessionInfo, name: string): Promise<void>;
  /** AUTH; returns the authenticated identity or throws 535. Omit to not offer AUTH. */
  onAuth?(s: SmtpSessionInfo, username: string, password: string): Promise<string>;
  onMailFrom?(s: SmtpSessionInfo, from: PathWithParams, env: Envelope): Promise<void>;
  onRcptTo(s: SmtpSessionInfo, rcpt: Recipient, env: Envelope): Promise<void>;
  onData(s: SmtpSessionInfo, env: Envelope): Promise<MessageSink>;
  onClose?(s: SmtpSessionInfo): void;
}

export interface SmtpSessionOptions {
  hostname: string;
  /** TLS for STARTTLS (a SecureContext or the server's reloadable TlsContexts with SNI); null to not offer STARTTLS. */
  secureContext: import('../../tls/context.js').ServerTls | null;
  /** The listener is implicit TLS (RFC 8314): the socket is already a TLSSocket. */
  implicitTls: boolean;
  maxMessageSize: number;
  maxRecipients: number;
  idleTimeoutMs: number;
  /** Max command line length in octets (RFC 5321 §4.5.3.1.4 says at least 512). */
  maxLineLength: number;
  /** After this many bad commands the session is closed with 421. */
  maxErrors: number;
  /** Offer and allow AUTH without TLS (loopback clients). */
  allowInsecureAuth: boolean;
  /** Require AUTH before MAIL (submission). */
  authRequired: boolean;
  /** Reject messages with bare CR/LF (SMTP smuggling defence). */
  rejectBareNewlines: boolean;
  hooks: SmtpHooks;
  log: import('pino').Logger;
  /** Graceful stop: finish the transaction, then 421 (see server/net/shutdown.ts). */
  shutdown?: import('../net/shutdown.js').ShutdownSignal;
  /** Per-IP command rate (slows, then drops a client that floods commands). */
  commandRate?: import('../net/ratelimit.js').CommandRateLimiter;
}
