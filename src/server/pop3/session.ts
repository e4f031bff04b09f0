/**
 * One POP3 connection (RFC 1939 §3 state machine: AUTHORIZATION -> TRANSACTION -> UPDATE), with CAPA (RFC 2449),
 * STLS (RFC 2595), AUTH PLAIN (RFC 5034, RFC 4616) and the response codes of RFC 2449 §8 and RFC 3206.
 *
 * Untrusted input: all client bytes. Lines are bounded (LineReader); commands run strictly one at a time in the
 * order received (PIPELINING), and reading stops while too many are queued; output waits for the socket to drain
 * (large RETRs are streamed). Errors, commands and failed logins per connection are bounded; failed logins are
 * delayed and counted by the LoginThrottle shared with IMAP and SMTP; the inactivity timer is at least 10 minutes
 * (RFC 1939 §3). Plaintext USER/PASS and AUTH PLAIN only over TLS (or loopback, per allowInsecureAuth).
 * Invariants: nothing is deleted unless QUIT reaches the UPDATE state; the maildrop lock is held from login until
 * the connection closes; bytes received before STLS's handshake are discarded (RFC 2595 §3.1).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { serverTlsOptions } from '../../tls/context.js';
import { randomBytes } from 'node:crypto';
import {
  LineReader,
  parseCommand,
  retrNumber,
  keywordOf,
  KNOWN,
  Pop3Error,
  ok,
  err,
  multiline,
  continuation,
  decodeSaslPlain,
  type LineEvent,
  type Pop3Command,
} from '../../protocol/pop3/index.js';
import { isLoopback } from '../../dns/resolver.js';
import { sleep } from '../../auth/throttle.js';
import type { User } from '../../store/types.js';
import type { Pop3Context } from './context.js';
import { Maildrop, type Sink } from './maildrop.js';

export type Pop3State = 'authorization' | 'transaction' | 'update' | 'closed';

/** Lines queued before reading from the socket stops (pipelining clients send many at once). */
const MAX_QUEUED = 128;

/** A received line waiting for the command loop; `rate`: the rate limiter's answer when it was already asked. */
type Queued = { type: 'too-long'; rate?: undefined } | { type: 'line'; line: Buffer; rate?: boolean | Promise<boolean> };
/** Output buffered before a response waits for the socket to drain. */
const OUTPUT_HIGH_WATER = 256 * 1024;

/** Commands allowed in each state (RFC 1939 §4-§6, RFC 2449 §5 CAPA in both). */
const AUTHORIZATION = new Set(['USER', 'PASS', 'AUTH', 'APOP', 'STLS', 'CAPA', 'QUIT', 'NOOP']);
const TRANSACTION = new Set(['STAT', 'LIST', 'RETR', 'DELE', 'RSET', 'NOOP', 'QUIT', 'TOP', 'UIDL', 'CAPA']);

export class Pop3Session implements Sink {
  readonly id = randomBytes(6).toString('hex').toUpperCase();
  state: Pop3State = 'authorization';
  socket: Socket;
  tls: boolean;
  readonly remoteAddress: string;
  user: User | null = null;
  private maildrop: Maildrop | null = null;
  private lockKey: string | null = null;
  private pendingUser: string | null = null;
  private reader: LineReader;
  private queue: Queued[] = [];
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private errors = 0;
  private commands = 0;
  private authFailures = 0;
  private ended = false;
  /** A command is being answered (or a SASL response awaited): the inactivity timer does not end the session. */
  private busy = false;

  constructor(
    socket: Socket,
    readonly ctx: Pop3Context,
    implicitTls: boolean,
  ) {
    this.socket = socket;
    this.tls = implicitTls;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.reader = new LineReader(ctx.limits.maxLineLength);
  }

  get log() {
    return this.ctx.log;
  }

  get closed(): boolean {
    return this.ended || this.socket.destroyed;
  }

  /** Runs until the connection ends. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.attach(this.socket);
      this.socket.once('close', () => {
        this.shutdown();
        resolve();
      });
      this.write(ok(`${this.ctx.hostname} Mailwright POP3 ready`));
      this.touch();
      void this.pump().catch((e) => {
        this.log.error({ err: e, conn: this.id }, 'pop3 session failed');
        this.close();
      });
    });
  }

  private onData = (chunk: Buffer) => {
    if (this.wake !== null && this.retrNow(chunk)) return;
    for (const ev of this.reader.push(chunk)) this.queue.push(ev);
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
    this.wakeUp();
  };

  private wakeUp() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private attach(sock: Socket) {
    sock.on('data', this.onData);
    sock.on('error', () => sock.destroy());
  }

  /** Restart the inactivity timer (RFC 1939 §3). It does not run while a command is being answered. */
  private touch() {
    this.busy = false;
    // One timer per session, re-armed (a new Timeout per command was a visible part of the CPU per RETR).
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      if (this.busy) return; // answering a command: touch() re-arms it afterwards
      this.write(err('Autologout: idle for too long'));
      this.log.info({ conn: this.id, client: this.remoteAddress }, 'pop3 autologout');
      this.close();
    }, this.ctx.limits.idleTimeoutMs);
    this.timer.unref();
  }

  /** A line already received, if any (reading resumes once the queue is short again). */
  private take(): Queued | undefined {
    const ev = this.queue.shift();
    if (ev && this.queue.length < MAX_QUEUED / 2 && this.socket.isPaused()) this.socket.resume();
    return ev;
  }

  /** The next line (or over-long line) from the client; null when the connection ended. */
  private async next(): Promise<Queued | null> {
    for (;;) {
      if (this.closed) return null;
      const ev = this.take();
      if (ev) return ev;
      if (this.socket.isPaused()) this.socket.resume();
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private async pump(): Promise<void> {
    for (;;) {
      // A line already queued is taken without a promise; so is a command answered synchronously (RETR of a small
      // message, LIST, UIDL...): a RETR-all loop is one command per message.
      const ev = (!this.closed && this.take()) || (await this.next());
      if (!ev) return;
      this.busy = true;
      const pending = this.handle(ev);
      if (pending) await pending;
      if (this.closed) return;
      if (this.socket.writableLength >= OUTPUT_HIGH_WATER) await this.flush();
      this.touch();
    }
  }

  write(data: Buffer | string): void {
    if (this.closed) return;
    this.socket.write(data);
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  async flush(): Promise<void> {
    if (this.closed || this.socket.writableLength < OUTPUT_HIGH_WATER) return;
    await new Promise<void>((r) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        r();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  close(): void {
    if (this.ended) return;
    this.socket.end();
    const s = this.socket;
    setTimeout(() => s.destroy(), 2000).unref();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.state !== 'update') this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
    this.wakeUp();
    // A dropped connection deletes nothing (RFC 1939 §6): the snapshot is simply forgotten.
    // The UPDATE state releases the lock itself once it is done.
    if (this.lockKey && this.state !== 'update') this.ctx.locks.release(this.lockKey, this);
  }

  /** Commands a session may send (limits.maxCommands, plus room for a RETR and DELE of every message). */
  private get commandLimit(): number {
    return this.state === 'authorization' ? this.ctx.limits.maxPreAuthCommands : this.ctx.limits.maxCommands + 4 * (this.maildrop?.total ?? 0);
  }

  /**
   * RETR n (RFC 1939 §7) answered in the 'data' callback itself when the chunk is exactly one "RETR n" line, the
   * command loop is waiting (nothing queued, nothing half-read, output not backed up) and the message goes out
   * synchronously: a RETR-all download is one command per message, and the line reader, the queue and the promise
   * hand-over to the command loop were a large part of its JavaScript. Counting and the rate limit apply as on the
   * ordinary path; a line it does not answer (an error, a large or renamed message, a delay) is queued for the
   * ordinary path, which gives the same answer. False: not such a chunk, nothing done.
   */
  private retrNow(chunk: Buffer): boolean {
    const len = chunk.length;
    if (len < 8 || len > 17 || chunk[len - 1] !== 0x0a || chunk[len - 2] !== 0x0d) return false;
    if (this.state !== 'transaction' || this.closed || this.queue.length || !this.reader.idle) return false;
    if (this.socket.writableLength >= OUTPUT_HIGH_WATER || this.commands + 1 > this.commandLimit) return false;
    const line = chunk.subarray(0, len - 2);
    const n = retrNumber(line);
    if (n <= 0) return false;
    const allowed = this.ctx.commandRate ? this.ctx.commandRate.command(this.remoteAddress) : true;
    if (allowed === true) {
      let sent = false;
      try {
        sent = this.maildrop!.retr(n, this);
      } catch {
        // -ERR (no such message): the ordinary path answers it.
      }
      if (sent) {
        this.commands++;
        this.touch();
        return true;
      }
    }
    this.queue.push({ type: 'line', line, rate: allowed });
    this.wakeUp();
    return true;
  }

  /** One command: void when it was answered synchronously, else the promise of its answer. */
  private handle(ev: Queued): Promise<void> | void {
    if (ev.type === 'too-long') {
      this.fail(new Pop3Error(`Line too long (at most ${this.ctx.limits.maxLineLength} octets)`));
      return;
    }
    this.commands++;
    if (this.commands > this.commandLimit) {
      this.write(err('Too many commands, closing the connection'));
      this.close();
      return;
    }
    // Per-IP command rate shared with SMTP and IMAP (limits.commandsPerSecond): slowed, then dropped (retrNow may
    // have asked already).
    const allowed = ev.rate ?? (this.ctx.commandRate ? this.ctx.commandRate.command(this.remoteAddress) : true);
    if (allowed !== true) return this.limited(allowed, ev.line);
    return this.run1(ev.line);
  }

  /** A command the rate limit delays (or refuses: RFC 2449 §8.1.2 [SYS/TEMP] marks a transient failure). */
  private async limited(allowed: boolean | Promise<boolean>, raw: Buffer): Promise<void> {
    if (!(await allowed)) {
      if (this.closed) return;
      this.write(err('[SYS/TEMP] Too many commands, slow down'));
      this.close();
      return;
    }
    return this.run1(raw);
  }

  private run1(raw: Buffer): Promise<void> | void {
    if (this.closed) return;
    // RFC 1939 §7 RETR in its plain form, read from the bytes (retrNumber): the same command as parseCommand
    // gives, without decoding and parsing the line (a RETR-all loop is one command per message).
    const retr = this.state === 'transaction' ? retrNumber(raw) : 0;
    if (retr > 0) {
      try {
        if (this.maildrop!.retr(retr, this)) return;
      } catch (e) {
        this.fail(e, 'RETR');
        return;
      }
      return this.retrAsync(retr);
    }
    return this.command(raw);
  }

  /** RETR of a message the synchronous path did not send (large, or renamed by IMAP). */
  private async retrAsync(n: number): Promise<void> {
    try {
      await this.maildrop!.send(n, this, null);
    } catch (e) {
      this.fail(e, 'RETR');
    }
  }

  private command(raw: Buffer): Promise<void> | void {
    const line = raw.toString('utf8');
    let cmd: Pop3Command;
    try {
      // The state is checked on the keyword first: "RETR x" before login is a state error, not a syntax error.
      const keyword = keywordOf(line);
      const allowed = this.state === 'authorization' ? AUTHORIZATION : TRANSACTION;
      if (KNOWN.has(keyword) && !allowed.has(keyword)) {
        throw new Pop3Error(this.state === 'authorization' ? `${keyword} is not allowed before login` : `${keyword} is not allowed after login`);
      }
      cmd = parseCommand(line);
    } catch (e) {
      this.fail(e, keywordOf(line).slice(0, 20));
      return;
    }
    let pending: Promise<void> | void;
    try {
      pending = this.dispatch(cmd);
    } catch (e) {
      this.fail(e, cmd.name);
      return;
    }
    if (pending) return pending.catch((e: unknown) => this.fail(e, cmd.name));
  }

  /** Answer an error; count it; close after too many (or when it is fatal). */
  private fail(e: unknown, what = ''): void {
    if (this.closed) return;
    if (e instanceof Pop3Error) {
      this.write(err(e.message, e.code));
      this.errors++;
      if (e.fatal) {
        this.close();
        return;
      }
    } else {
      this.log.error({ err: e, conn: this.id, command: what }, 'pop3 command failed');
      this.write(err(`${what} failed: internal server error, try again later`, 'SYS/TEMP'));
      this.errors++;
    }
    if (this.errors >= this.ctx.limits.maxErrors) {
      this.write(err('Too many errors, closing the connection'));
      this.close();
    }
  }

  authAllowed(): boolean {
    const a = this.ctx.allowInsecureAuth;
    return this.tls || a === 'always' || (a === 'loopback' && isLoopback(this.remoteAddress));
  }

  /** CAPA (RFC 2449 §5): what this state offers. */
  capabilities(): string[] {
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'EXPIRE NEVER'];
    if (this.state === 'authorization') {
      if (this.authAllowed()) caps.push('USER', 'SASL PLAIN');
      if (!this.tls && this.ctx.secureContext) caps.push('STLS');
    }
    caps.push('IMPLEMENTATION Mailwright');
    return caps;
  }

  /** Answers synchronously where it can (void); async commands return their promise. Errors may be thrown or rejected. */
  private dispatch(cmd: Pop3Command): Promise<void> | void {
    switch (cmd.name) {
      case 'CAPA':
        this.write(multiline('Capability list follows', this.capabilities()));
        return;
      case 'NOOP':
        this.write(ok());
        return;
      case 'QUIT':
        return this.quit();
      case 'STLS':
        return this.stls();
      case 'APOP':
        throw new Pop3Error('APOP is not supported: use USER/PASS or AUTH PLAIN');
      case 'USER':
        this.requirePlaintextAllowed();
        if (cmd.user.length > 256) throw new Pop3Error('User name too long');
        this.pendingUser = cmd.user;
        this.write(ok('Send your password'));
        return;
      case 'PASS': {
        const user = this.pendingUser;
        this.pendingUser = null;
        if (user === null) throw new Pop3Error('Send USER first');
        this.requirePlaintextAllowed();
        return this.login(user, cmd.password);
      }
      case 'AUTH':
        return this.auth(cmd.mechanism, cmd.initialResponse);
    }
    const md = this.maildrop!;
    switch (cmd.name) {
      case 'STAT': {
        const s = md.stat();
        this.write(ok(`${s.count} ${s.octets}`));
        return;
      }
      case 'LIST':
        if (cmd.msg !== null) this.write(ok(`${cmd.msg} ${md.size(cmd.msg)}`));
        else {
          const s = md.stat();
          md.writeListing('list', `${s.count} messages (${s.octets} octets)`, (piece) => this.write(piece));
        }
        return;
      case 'UIDL':
        if (cmd.msg !== null) this.write(ok(`${cmd.msg} ${md.uidl(cmd.msg)}`));
        else md.writeListing('uidl', 'Unique-ID listing follows', (piece) => this.write(piece));
        return;
      case 'RETR':
        return md.send(cmd.msg, this, null);
      case 'TOP':
        return md.send(cmd.msg, this, cmd.lines);
      case 'DELE':
        md.dele(cmd.msg);
        this.write(ok(`Message ${cmd.msg} deleted`));
        return;
      case 'RSET': {
        md.rset();
        const s = md.stat();
        this.write(ok(`Maildrop has ${s.count} messages (${s.octets} octets)`));
        return;
      }
    }
  }

  private requirePlaintextAllowed() {
    if (!this.authAllowed()) {
      throw new Pop3Error('Plaintext authentication is disabled on non-secure connections: use STLS or port 995', 'AUTH');
    }
  }

  /** STLS (RFC 2595 §4): +OK, then the handshake; anything the client sent after STLS is dropped. */
  private async stls(): Promise<void> {
    if (this.tls) throw new Pop3Error('TLS is already active');
    if (!this.ctx.secureContext) throw new Pop3Error('STLS is not available');
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    this.reader.reset();
    this.queue = [];
    this.pendingUser = null;
    this.write(ok('Begin TLS negotiation now'));
    const sock = new TLSSocket(raw, serverTlsOptions(this.ctx.secureContext));
    const good = await new Promise<boolean>((resolve) => {
      sock.once('secure', () => resolve(true));
      sock.once('error', () => resolve(false));
      raw.once('close', () => resolve(false));
    });
    if (!good) {
      raw.destroy();
      return;
    }
    this.socket = sock;
    this.tls = true;
    this.reader = new LineReader(this.ctx.limits.maxLineLength);
    this.attach(sock);
  }

  /** AUTH (RFC 5034): PLAIN with an initial response or one continuation; "AUTH" alone lists the mechanisms. */
  private async auth(mechanism: string | null, initial: string | null): Promise<void> {
    if (mechanism === null) {
      this.write(multiline('Supported mechanisms follow', this.authAllowed() ? ['PLAIN'] : []));
      return;
    }
    if (mechanism !== 'PLAIN') throw new Pop3Error(`Unsupported authentication mechanism ${mechanism.slice(0, 20)}`);
    this.requirePlaintextAllowed();
    let resp = initial;
    if (resp === null) {
      this.write(continuation());
      await this.flush();
      this.touch();
      const ev = await this.next();
      this.busy = true;
      if (!ev) return;
      if (ev.type === 'too-long') throw new Pop3Error('SASL response too long');
      resp = ev.line.toString('utf8');
    }
    const c = decodeSaslPlain(resp);
    if (c.authzid && c.authzid !== c.authcid) throw new Pop3Error('Proxy authorization is not supported', 'AUTH');
    return this.login(c.authcid, c.password);
  }

  /** Check the password (throttled), take the maildrop lock and the snapshot: TRANSACTION state. */
  private async login(username: string, password: string): Promise<void> {
    const t = this.ctx.throttle;
    const failed = async (): Promise<never> => {
      const delay = t.fail(this.remoteAddress, username, 'pop3');
      this.authFailures++;
      this.log.info({ conn: this.id, client: this.remoteAddress, user: username.slice(0, 100), result: 'auth-failed' }, 'pop3 login failed');
      await sleep(delay);
      throw new Pop3Error('Authentication failed', 'AUTH', this.authFailures >= this.ctx.limits.maxAuthFailures);
    };
    if (t.isLockedOut(this.remoteAddress, username)) return failed();
    const user = await this.ctx.accounts.authenticate(username, password);
    if (!user) return failed();
    t.succeed(this.remoteAddress, user.address);
    const key = this.ctx.mail.userKey(user);
    if (!this.ctx.locks.acquire(key, this)) {
      this.log.info({ conn: this.id, client: this.remoteAddress, user: user.address, result: 'in-use' }, 'pop3 maildrop locked');
      throw new Pop3Error('Maildrop is in use by another POP3 session', 'IN-USE');
    }
    this.lockKey = key;
    try {
      const mailbox = await this.ctx.mail.openMailbox(user, 'INBOX');
      this.maildrop = await Maildrop.open(mailbox);
    } catch (e) {
      this.ctx.locks.release(key, this);
      this.lockKey = null;
      this.log.error({ err: e, conn: this.id, user: user.address }, 'pop3 cannot open maildrop');
      throw new Pop3Error('Cannot open the maildrop now, try again later', 'SYS/TEMP');
    }
    if (this.closed) {
      this.ctx.locks.release(key, this);
      return;
    }
    this.user = user;
    this.state = 'transaction';
    this.commands = 0;
    const s = this.maildrop.stat();
    this.log.info({ conn: this.id, client: this.remoteAddress, user: user.address, tls: this.tls, messages: s.count, result: 'login' }, 'pop3 login');
    this.write(ok(`Logged in: ${s.count} messages (${s.octets} octets)`));
  }

  /**
   * QUIT (RFC 1939 §6): from TRANSACTION, the UPDATE state removes the messages marked deleted (durable before
   * +OK), then +OK. \Seen for the retrieved messages is set after the +OK: the client does not wait for an
   * IMAP-only side effect. It is queued on the mailbox before the reply is written, so the next login (POP3 or
   * IMAP) sees it.
   */
  private async quit(): Promise<void> {
    if (this.state !== 'transaction' || !this.maildrop) {
      this.write(ok(`${this.ctx.hostname} Mailwright POP3 signing off`));
      this.close();
      return;
    }
    this.state = 'update';
    const md = this.maildrop;
    try {
      const n = await md.commit({ origin: this });
      if (this.ctx.markSeen) {
        md.markSeen({ origin: this }).catch((e: unknown) =>
          this.log.warn({ err: e, conn: this.id, user: this.user?.address }, 'pop3 could not set \\Seen on retrieved messages'),
        );
      }
      this.log.info({ conn: this.id, user: this.user?.address, deleted: n, result: 'update' }, 'pop3 update');
      this.write(ok(`${this.ctx.hostname} Mailwright POP3 signing off (${md.stat().count} messages left)`));
    } catch (e) {
      this.log.error({ err: e, conn: this.id, user: this.user?.address }, 'pop3 update failed');
      this.write(err('Some deleted messages not removed, try again later', 'SYS/TEMP'));
    } finally {
      if (this.lockKey) this.ctx.locks.release(this.lockKey, this);
      this.lockKey = null;
      this.maildrop = null;
      this.close();
    }
  }
}
