/**
 * One outbound SMTP session over nodemailer's SMTPConnection: connect with our own connect timeout, greeting,
 * EHLO, STARTTLS (opportunistic or required), optional AUTH, then one or more mail transactions with RSET between.
 * Standards: RFC 5321 §3, §4.1.1, §4.5.3.2 (timeouts), RFC 3207 (STARTTLS), RFC 2920 (PIPELINING, done by
 * nodemailer), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 1870 (SIZE), RFC 4954 (AUTH).
 * Untrusted input: everything the remote server sends (replies are parsed by nodemailer and by reply.ts).
 *
 * Nodemailer internals this file relies on (exercised by test/delivery/remote.test.ts: timeouts, SMTPUTF8, DATA replies): `_socket` (typed public)
 * to set per-phase timeouts, `_sendCommand` (wrapped to see each command and to add the SMTPUTF8 parameter when the
 * addresses are ASCII but the message has UTF-8 headers), `_envelope` (accepted/rejected recipients after a failed
 * DATA), and its transaction log (tnx "server") to see each reply, including the EHLO reply.
 */
import net from 'node:net';
import type tls from 'node:tls';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { type Failure, type Reply, parseReply, tempFailure } from './reply.js';

/** RFC 5321 §4.5.3.2 timeouts, in ms. `connect` is not in the RFC (Postfix's smtp_connect_timeout is 30 s). */
export interface Timeouts {
  connect: number;
  greeting: number; // §4.5.3.2.1 initial 220: 5 min
  mail: number; // §4.5.3.2.2 MAIL: 5 min
  rcpt: number; // §4.5.3.2.3 RCPT: 5 min
  dataInit: number; // §4.5.3.2.4 DATA initiation: 2 min
  dataBlock: number; // §4.5.3.2.5 data block: 3 min
  dataEnd: number; // §4.5.3.2.6 DATA termination: 10 min
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  connect: 30_000,
  greeting: 5 * 60_000,
  mail: 5 * 60_000,
  rcpt: 5 * 60_000,
  dataInit: 2 * 60_000,
  dataBlock: 3 * 60_000,
  dataEnd: 10 * 60_000,
};

export type TlsMode = 'starttls' | 'implicit' | 'opportunistic' | 'none';

export interface SessionOptions {
  /** Host name (for logs, SNI and Remote-MTA) and the address to connect to. */
  host: string;
  ip: string;
  port: number;
  ehloName: string;
  localAddress?: string;
  tls: TlsMode;
  tlsOptions?: tls.ConnectionOptions;
  /** Opportunistic mode only: skip STARTTLS (after a failed handshake with this host). */
  skipTls?: boolean;
  timeouts: Timeouts;
  auth?: { user: string; pass: string };
  /** AUTH may go over plaintext (the hop says tls 'none' and is on loopback). */
  allowPlaintextAuth?: boolean;
}

/** Why a session could not be set up. `tlsHandshake` marks a failed TLS handshake (retry without TLS). */
export class SessionError extends Error {
  constructor(
    readonly failure: Failure,
    readonly tlsHandshake = false,
  ) {
    super(failure.text);
    this.name = 'SessionError';
  }
}

export interface Envelope {
  from: string;
  to: string[];
  size: number;
  body8bit: boolean;
  smtputf8: boolean;
}

/** How one transaction went. Exactly one of sessionError / mailReply / (rcpt + dataReply) tells the story. */
export interface TransactionResult {
  /** The session broke (connection lost, timeout, 421, protocol error, local read error) before a final answer. */
  sessionError?: Failure;
  /** The end of data had been sent when the session broke: the message may have been delivered (RFC 1047). */
  afterDataEnd?: boolean;
  /** MAIL FROM was refused: applies to every recipient. */
  mailReply?: Reply;
  /** Per-recipient RCPT replies; null means accepted (nodemailer keeps no text for accepted recipients). */
  rcpt: Map<string, Reply | null>;
  /** The reply to DATA or to the end of data: applies to every accepted recipient. */
  dataReply?: Reply;
}

type Kind = 'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'dataInit' | 'other';

function commandKind(cmd: string): Kind {
  const verb = cmd.slice(0, 4).toUpperCase();
  if (verb === 'MAIL') return 'mail';
  if (verb === 'RCPT') return 'rcpt';
  if (verb === 'DATA') return 'dataInit';
  if (verb === 'EHLO' || verb === 'HELO' || verb === 'LHLO') return 'ehlo';
  return 'other';
}

interface ConnInternals {
  _socket: net.Socket | false;
  _sendCommand(str: string, logStr?: string): void;
  _envelope?: { accepted?: string[]; rejectedErrors?: { recipient?: string; response?: string }[] } | false;
}

function describeNetError(err: NodeJS.ErrnoException & { originalCode?: string; timeoutType?: string }): string {
  const code = err.originalCode ?? err.code;
  if (code === 'ECONNREFUSED') return 'Connection refused';
  if (code === 'ECONNRESET') return 'Connection reset by peer';
  if (err.timeoutType) return `timeout (${err.timeoutType})`;
  return err.message.replace(/[\r\n]+/g, ' ').slice(0, 300);
}

export class SmtpSession {
  readonly openedAt = Date.now();
  messages = 0;
  /** EHLO keywords (upper case) of the session in use (after STARTTLS: the second EHLO). */
  extensions = new Set<string>();
  private conn!: SMTPConnection;
  private pending: Kind[] = [];
  private dataPhase: 'block' | 'end' | null = null;
  private lastReply: string | null = null;
  private wantSmtpUtf8 = false;
  private broken = false;
  private startTlsSent = false;

  private constructor(readonly opts: SessionOptions) {}

  get secure(): boolean {
    return this.conn.secure;
  }

  get usable(): boolean {
    return !this.broken && !this.conn.destroyed;
  }

  /** Connect, read the greeting, EHLO, STARTTLS and AUTH. Throws SessionError. */
  static async open(opts: SessionOptions): Promise<SmtpSession> {
    const s = new SmtpSession(opts);
    await s.setup();
    return s;
  }

  private where(): string {
    return `${this.opts.host}[${this.opts.ip}]:${this.opts.port}`;
  }

  private async connectSocket(): Promise<net.Socket> {
    const { ip, port, localAddress, timeouts } = this.opts;
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: ip, port, ...(localAddress ? { localAddress } : {}) });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new SessionError(tempFailure('4.4.1', `connect to ${this.where()}: timed out`)));
      }, timeouts.connect);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        sock.destroy();
        // RFC 5321 §5.1: a host that cannot be reached is skipped for the next one.
        reject(new SessionError(tempFailure('4.4.1', `connect to ${this.where()}: ${describeNetError(err)}`)));
      });
    });
  }

  private setTimeoutFor(ms: number): void {
    const sock = (this.conn as unknown as ConnInternals)._socket;
    if (sock && !sock.destroyed) sock.setTimeout(ms);
  }

  /** Apply the RFC 5321 §4.5.3.2 timeout of what we are waiting for now. */
  private applyTimeout(): void {
    const t = this.opts.timeouts;
    if (this.dataPhase === 'block') return this.setTimeoutFor(t.dataBlock);
    if (this.dataPhase === 'end') return this.setTimeoutFor(t.dataEnd);
    const head = this.pending[0];
    const ms =
      head === 'rcpt' ? t.rcpt : head === 'dataInit' ? t.dataInit : head === 'greeting' || head === 'ehlo' ? t.greeting : t.mail;
    this.setTimeoutFor(ms);
  }

  private onReply(text: string): void {
    this.lastReply = text;
    const kind = this.pending.shift();
    if (kind === 'ehlo') this.extensions = parseEhlo(text);
    // After 354 the body goes out: each block must be sent in time (§4.5.3.2.5). (A 'data' listener on the body
    // would start it flowing before nodemailer pipes it, so the phase is taken from the reply.)
    if (kind === 'dataInit' && text.startsWith('3')) this.dataPhase = 'block';
    if (kind === undefined && this.dataPhase === 'end') this.dataPhase = null;
    this.applyTimeout();
  }

  private async setup(): Promise<void> {
    const o = this.opts;
    const socket = await this.connectSocket();
    const implicit = o.tls === 'implicit';
    const tlsOpts: tls.ConnectionOptions = {
      // RFC 3207 §4.1 / RFC 7435: opportunistic TLS for MX delivery does not verify the certificate (there is no
      // authenticated name to check it against without DANE or MTA-STS); a configured hop verifies unless told not to.
      rejectUnauthorized: o.tls !== 'opportunistic',
      minVersion: 'TLSv1.2',
      ...(net.isIP(o.host) ? {} : { servername: o.host }),
      ...(o.tlsOptions ?? {}),
    };
    const logger = {
      level: 'debug',
      debug: (entry: { tnx?: string }, msg?: unknown) => {
        if (entry?.tnx === 'server' && typeof msg === 'string') this.onReply(msg);
      },
      info: () => {},
      warn: () => {},
      error: () => {},
      trace: () => {},
      fatal: () => {},
    };
    this.conn = new SMTPConnection({
      connection: socket,
      host: o.ip,
      port: o.port,
      secure: implicit,
      name: o.ehloName,
      ignoreTLS: o.tls === 'none' || (o.tls === 'opportunistic' && !!o.skipTls),
      requireTLS: o.tls === 'starttls',
      opportunisticTLS: o.tls === 'opportunistic',
      tls: tlsOpts,
      // nodemailer's greeting/upgrade phases are bounded by greetingTimeout and connectionTimeout together.
      greetingTimeout: o.timeouts.greeting,
      connectionTimeout: o.timeouts.greeting * 2 + 1000,
      socketTimeout: o.timeouts.greeting,
      transactionLog: true,
      logger: logger as unknown as SMTPConnection.Options['logger'],
    });
    const internals = this.conn as unknown as ConnInternals;
    const origSend = internals._sendCommand.bind(this.conn);
    internals._sendCommand = (str: string, logStr?: string) => {
      let cmd = str;
      // RFC 6531 §3.4: a message with UTF-8 header fields needs SMTPUTF8 on MAIL FROM even if the addresses are
      // ASCII; nodemailer only adds it for non-ASCII addresses.
      if (this.wantSmtpUtf8 && /^MAIL FROM:/i.test(cmd) && !/ SMTPUTF8\b/i.test(cmd)) cmd += ' SMTPUTF8';
      if (/^STARTTLS$/i.test(cmd)) this.startTlsSent = true;
      this.pending.push(commandKind(cmd));
      origSend(cmd, logStr && logStr !== str ? logStr : cmd);
      this.applyTimeout();
    };
    this.pending.push('greeting');
    this.conn.on('error', () => {
      this.broken = true;
    });
    this.conn.on('end', () => {
      this.broken = true;
    });
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const onError = (err: SMTPConnection.SMTPError) => {
        if (done) return;
        done = true;
        reject(this.setupError(err));
      };
      this.conn.once('error', onError);
      this.conn.connect((err) => {
        if (done) return;
        done = true;
        this.conn.removeListener('error', onError);
        if (err) reject(this.setupError(err));
        else resolve();
      });
    });
    if (o.tls === 'starttls' && !this.conn.secure) {
      this.close();
      throw new SessionError(tempFailure('4.7.5', `${this.where()} did not offer STARTTLS, which this next hop requires`));
    }
    if (o.auth) {
      // RFC 4954 §4: credentials only over an encrypted session, except a plaintext hop on loopback.
      if (!this.conn.secure && !o.allowPlaintextAuth) {
        this.close();
        throw new SessionError(tempFailure('4.7.0', `refusing to send credentials to ${this.where()} without TLS`));
      }
      await new Promise<void>((resolve, reject) => {
        this.conn.login({ user: o.auth!.user, pass: o.auth!.pass }, (err) => {
          if (!err) return resolve();
          const r = parseReply(err.response);
          this.close();
          // Like Postfix's smtp_sasl_auth_soft_bounce: a refused login is a configuration problem; defer, never bounce.
          reject(
            new SessionError(
              tempFailure('4.7.0', `authentication to ${this.where()} failed: ${r ? `${r.code} ${r.text}` : err.message}`, 0),
            ),
          );
        });
      });
    }
    this.applyTimeout();
  }

  private setupError(err: SMTPConnection.SMTPError & { timeoutType?: string; originalCode?: string }): SessionError {
    this.broken = true;
    this.close();
    const reply = parseReply(err.response);
    const tlsHandshake =
      this.opts.tls === 'opportunistic' && this.startTlsSent && !this.conn.secure && (err.code === 'ETLS' || err.code === 'ESOCKET');
    if (reply && reply.code >= 400) {
      // RFC 5321 §3.1 / §4.2: a 4xx/5xx greeting or EHLO; move on to the next host. Kept temporary here, as
      // Postfix's smtp_skip_5xx_greeting does: another MX may accept.
      return new SessionError({ outcome: 'temp', ...reply, text: `${this.where()} said: ${reply.text}` }, tlsHandshake);
    }
    const what = tlsHandshake ? 'TLS handshake failed' : describeNetError(err);
    return new SessionError(tempFailure(tlsHandshake ? '4.7.5' : '4.4.2', `${this.where()}: ${what}`), tlsHandshake);
  }

  /** RSET between transactions (RFC 5321 §4.1.1.5). Resolves false when the session is no longer usable. */
  async reset(): Promise<boolean> {
    if (!this.usable) return false;
    return new Promise((resolve) => {
      this.conn.reset((err) => {
        if (err) {
          this.broken = true;
          this.close();
        }
        resolve(!err);
      });
    });
  }

  /** One mail transaction. Never throws: everything that goes wrong is in the result. */
  async send(env: Envelope, body: Readable): Promise<TransactionResult> {
    this.messages++;
    this.wantSmtpUtf8 = env.smtputf8;
    this.dataPhase = null;
    const result: TransactionResult = { rcpt: new Map() };
    let bodyEnded = false;
    body.once('end', () => {
      bodyEnded = true;
      if (this.dataPhase === null) return;
      this.dataPhase = 'end';
      this.applyTimeout();
    });
    return new Promise((resolve) => {
      this.conn.send(
        { from: env.from, to: env.to, size: env.size, use8BitMime: env.body8bit },
        body,
        (err, info) => {
          this.dataPhase = null;
          this.pending = [];
          if (!err) {
            for (const a of info.accepted) result.rcpt.set(a, null);
            for (const e of info.rejectedErrors ?? []) {
              const rcpt = (e as { recipient?: string }).recipient;
              if (rcpt) result.rcpt.set(rcpt, parseReply(e.response) ?? { code: 450, text: e.message });
            }
            result.dataReply = parseReply(info.response) ?? { code: 250, text: String(info.response ?? '') };
            return resolve(result);
          }
          body.destroy();
          const e = err as SMTPConnection.SMTPError & { rejectedErrors?: SMTPConnection.SMTPError[]; timeoutType?: string };
          const reply = parseReply(e.response);
          const env2 = (this.conn as unknown as ConnInternals)._envelope || undefined;
          const collectRcpts = () => {
            for (const a of env2?.accepted ?? []) result.rcpt.set(a, null);
            for (const re of e.rejectedErrors ?? env2?.rejectedErrors ?? []) {
              const rcpt = (re as { recipient?: string }).recipient;
              if (rcpt) result.rcpt.set(rcpt, parseReply(re.response) ?? { code: 450, text: 'recipient refused' });
            }
          };
          if (e.code === 'EENVELOPE' && e.command === 'MAIL FROM' && reply) {
            result.mailReply = reply;
          } else if (e.code === 'EENVELOPE' && e.command === 'RCPT TO' && e.rejectedErrors) {
            collectRcpts(); // all recipients refused: no DATA was sent (RFC 5321 §3.3)
          } else if ((e.code === 'EENVELOPE' || e.code === 'EMESSAGE') && e.command === 'DATA' && reply && reply.code !== 421) {
            collectRcpts();
            result.dataReply = reply;
          } else if (e.code === 'EMESSAGE' && /larger than allowed/.test(e.message)) {
            // RFC 1870 §6: the server's declared SIZE is smaller than the message.
            result.mailReply = { code: 552, enhanced: '5.3.4', text: `message too big for ${this.opts.host}: ${e.message}` };
          } else if (e.code === 'ESTREAM') {
            this.broken = true;
            this.close();
            result.sessionError = tempFailure('4.3.0', `cannot read queued message: ${e.message}`);
          } else {
            // Connection lost, timeout, 421 or garbage: the session is over (RFC 5321 §4.2 for 421, §4.5.3.2).
            this.broken = true;
            this.close();
            result.afterDataEnd = bodyEnded;
            const what = e.timeoutType || e.code === 'ETIMEDOUT' ? 'timeout waiting for the server' : describeNetError(e);
            result.sessionError = reply
              ? { outcome: 'temp', code: reply.code, enhanced: reply.enhanced ?? '4.4.2', text: reply.text }
              : tempFailure('4.4.2', `${this.where()}: ${what}${bodyEnded ? ' after end of data' : ''}`);
          }
          resolve(result);
        },
      );
    });
  }

  /**
   * QUIT politely (RFC 5321 §4.1.1.10). Resolves once the socket is closed (at most 2 s later), so that a
   * concurrency slot is only given back when the connection is really gone.
   */
  quit(): Promise<void> {
    const sock = (this.conn as unknown as ConnInternals | undefined)?._socket;
    const closed = new Promise<void>((resolve) => {
      if (!sock || sock.destroyed) return resolve();
      const timer = setTimeout(() => {
        sock.destroy();
        resolve();
      }, 2000);
      timer.unref();
      sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.usable) {
      this.broken = true;
      try {
        this.conn.quit();
      } catch {
        this.close();
      }
    } else {
      this.close();
    }
    return closed;
  }

  close(): void {
    this.broken = true;
    try {
      this.conn?.close();
    } catch {
      /* already closed */
    }
  }
}

/** EHLO keywords (RFC 5321 §4.1.1.1): the first word of each line after the first, upper-cased. */
export function parseEhlo(text: string): Set<string> {
  const set = new Set<string>();
  const lines = text.split(/\r?\n/).slice(1);
  for (const l of lines) {
    const kw = l.replace(/^\d{3}[ -]/, '').trim().split(/[\s=]/)[0];
    if (kw) set.add(kw.toUpperCase());
  }
  return set;
}

