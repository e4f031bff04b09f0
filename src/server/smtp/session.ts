/**
 * One SMTP connection: the server side of RFC 5321 with ESMTP extensions PIPELINING (RFC 2920), SIZE (RFC 1870),
 * 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034/3463), STARTTLS (RFC 3207),
 * CHUNKING (RFC 3030) and AUTH PLAIN/LOGIN (RFC 4954, RFC 4616).
 *
 * Untrusted input: everything the client sends. Command lines are bounded (maxLineLength), input is read only as
 * fast as it is processed (the socket is paused while a hook or a disk write is pending, and while replies are not
 * being read), the number of errors and recipients is bounded, and an idle client is dropped with 421.
 * Invariants:
 *  - commands are processed strictly in order, one at a time; replies are written in the same order;
 *  - after STARTTLS every byte the client sent in the clear after the command is discarded (CVE-2011-0411);
 *  - DATA ends only at <CRLF>.<CRLF> (see data-decoder.ts); a message is reported 250 only when the sink says so.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { parseCommandLine, parsePathArg, formatReply, type PathWithParams } from '../../protocol/smtp/commands.js';
import { DataDecoder } from '../../protocol/smtp/data-decoder.js';
import { SmtpReplyError } from '../../common/errors.js';
import type { Envelope, MessageSink, SmtpSessionInfo, SmtpSessionOptions, DataStats, SmtpReply } from './types.js';
import { isLoopback } from '../../dns/resolver.js';
import { serverTlsOptions } from '../../tls/context.js';

const INBOX_HIGH_WATER = 256 * 1024;
const OUTBOX_HIGH_WATER = 1024 * 1024;

type Mode = 'command' | 'data' | 'bdat' | 'closed';

export function newId(): string {
  return randomBytes(6).toString('hex').toUpperCase();
}

export class SmtpSession {
  readonly info: SmtpSessionInfo;
  private socket: Socket;
  private mode: Mode = 'command';
  private inbox: Buffer[] = [];
  private inboxBytes = 0;
  private wake: (() => void) | null = null;
  private lineParts: Buffer[] = [];
  private lineLen = 0;
  private discardingLongLine = false;
  private envelope: Envelope | null = null;
  private errors = 0;
  private decoder: DataDecoder | null = null;
  private sink: MessageSink | null = null;
  private sinkFailed: unknown = null;
  private bdatRemaining = 0;
  private bdatLast = false;
  private bdatStats: DataStats | null = null;
  private readonly opts: SmtpSessionOptions;
  private closed = false;
  private onData = (c: Buffer) => this.receive(c);

  constructor(socket: Socket, opts: SmtpSessionOptions, clientHostname: string | null) {
    this.socket = socket;
    this.opts = opts;
    this.info = {
      id: newId(),
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      clientHostname,
      helo: null,
      esmtp: false,
      tls: opts.implicitTls ? tlsInfo(socket as TLSSocket) : null,
      user: null,
      transactions: 0,
    };
  }

  get log() {
    return this.opts.log;
  }

  /** Runs the session to its end. Never throws. */
  async run(): Promise<void> {
    this.attach(this.socket);
    const offDrain = this.opts.shutdown?.onDrain(() => this.drain());
    try {
      if (this.opts.hooks.onConnect) {
        try {
          await this.opts.hooks.onConnect(this.info);
        } catch (err) {
          const e = asReply(err, 554, '5.7.1', 'Access denied');
          this.reply(e.code, e.enhanced, e.text);
          return this.close();
        }
      }
      this.reply(220, null, `${this.opts.hostname} ESMTP Mailwright`);
      while (!this.closed) {
        const chunk = await this.next();
        if (!chunk) break;
        await this.consume(chunk);
        if (this.socket.writableLength > OUTBOX_HIGH_WATER) await this.drained();
      }
    } catch (err) {
      this.log.error({ err, conn: this.info.id }, 'smtp session failed');
      this.reply(421, '4.3.0', `${this.opts.hostname} Error: internal error, closing connection`);
    } finally {
      offDrain?.();
      await this.abortTransaction();
      this.close();
      this.opts.hooks.onClose?.(this.info);
    }
  }

  /** Graceful stop: a session waiting for a command outside a transaction is closed now; others after it. */
  private drain() {
    if (this.wake && this.mode === 'command' && !this.envelope && !this.inbox.length) {
      this.reply(421, '4.3.2', `${this.opts.hostname} Service shutting down, try again later`);
      this.close();
      this.finishInput();
    }
  }

  private attach(sock: Socket) {
    sock.on('data', this.onData);
    sock.on('end', () => this.finishInput());
    sock.on('close', () => this.finishInput());
    sock.on('error', () => this.finishInput());
    sock.setTimeout(this.opts.idleTimeoutMs, () => {
      this.reply(421, '4.4.2', `${this.opts.hostname} Error: timeout exceeded`);
      this.close();
      this.finishInput();
    });
  }

  private receive(c: Buffer) {
    if (this.closed) return;
    this.inbox.push(c);
    this.inboxBytes += c.length;
    if (this.inboxBytes > INBOX_HIGH_WATER) this.socket.pause();
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private inputEnded = false;
  private finishInput() {
    this.inputEnded = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async next(): Promise<Buffer | null> {
    for (;;) {
      const c = this.inbox.shift();
      if (c) {
        this.inboxBytes -= c.length;
        if (this.inboxBytes <= INBOX_HIGH_WATER && this.socket.isPaused()) this.socket.resume();
        return c;
      }
      if (this.inputEnded || this.closed) return null;
      this.uncork(); // never wait for the client while replies are held back (AUTH LOGIN prompts, BDAT)
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private drained(): Promise<void> {
    return new Promise((r) => {
      if (this.closed || this.socket.destroyed) return r();
      this.socket.once('drain', r);
      this.socket.once('close', r);
    });
  }

  private reply(code: number, enhanced: string | null, text: string | string[]) {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(formatReply(code, enhanced, text));
  }

  private close() {
    if (this.closed) return;
    this.closed = true;
    this.mode = 'closed';
    this.uncork();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /**
   * Process one chunk of input. Replies to the commands of one chunk (a PIPELINING group, RFC 2920 §3.2) are
   * collected (socket cork) and written together when the chunk is done, before waiting for more input: one write
   * instead of one per reply. next() uncorks before it waits for input (AUTH LOGIN reads its continuation lines
   * from inside a command), so no reply is ever held back from a client that waits for it.
   */
  private async consume(chunk: Buffer): Promise<void> {
    this.socket.cork();
    try {
      await this.consumeChunk(chunk);
    } finally {
      this.uncork();
    }
  }

  private uncork() {
    while (this.socket.writableCorked > 0) this.socket.uncork();
  }

  /** Process one chunk of input according to the mode; may switch modes part-way through the chunk. */
  private async consumeChunk(chunk: Buffer): Promise<void> {
    let buf = chunk;
    while (buf.length && !this.closed) {
      if (this.mode === 'data') {
        const r = this.decoder!.push(buf);
        for (const part of r.out) await this.sinkWrite(part);
        buf = buf.subarray(r.consumed);
        if (r.done) await this.finishData();
        continue;
      }
      if (this.mode === 'bdat') {
        const n = Math.min(this.bdatRemaining, buf.length);
        const part = buf.subarray(0, n);
        buf = buf.subarray(n);
        this.bdatRemaining -= n;
        await this.bdatChunk(part);
        if (this.bdatRemaining === 0) await this.finishBdatChunk();
        continue;
      }
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        this.addLinePart(buf);
        break;
      }
      this.addLinePart(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
      const tooLong = this.discardingLongLine;
      let line = Buffer.concat(this.lineParts).toString('utf8');
      this.lineParts = [];
      this.lineLen = 0;
      this.discardingLongLine = false;
      if (tooLong) {
        this.errorReply(500, '5.5.2', 'Error: line too long');
        continue;
      }
      if (line.endsWith('\r')) line = line.slice(0, -1);
      const startTls = await this.command(line);
      if (startTls) {
        this.uncork(); // the 220 goes out before the handshake
        // RFC 3207 §4.2 and CVE-2011-0411: nothing sent in the clear after STARTTLS may be processed.
        this.inbox = [];
        this.inboxBytes = 0;
        this.lineParts = [];
        this.lineLen = 0;
        await this.upgradeTls();
        return;
      }
    }
  }

  private addLinePart(b: Buffer) {
    if (this.discardingLongLine) return;
    this.lineLen += b.length;
    if (this.lineLen > this.opts.maxLineLength) {
      this.discardingLongLine = true;
      this.lineParts = [];
      return;
    }
    this.lineParts.push(b);
  }

  private errorReply(code: number, enhanced: string, text: string) {
    this.reply(code, enhanced, text);
    if (++this.errors >= this.opts.maxErrors) {
      this.reply(421, '4.7.0', `${this.opts.hostname} Error: too many errors`);
      this.close();
    }
  }

  /** Handles one command line. Returns true when the session must switch to TLS now. */
  private async command(line: string): Promise<boolean> {
    const { verb, args } = parseCommandLine(line);
    if (this.opts.shutdown?.draining && !this.envelope && verb !== 'QUIT') {
      this.reply(421, '4.3.2', `${this.opts.hostname} Service shutting down, try again later`);
      this.close();
      return false;
    }
    const allowed = this.opts.commandRate ? this.opts.commandRate.command(this.info.remoteAddress) : true;
    if (allowed !== true && !(await allowed)) {
      this.reply(421, '4.7.0', `${this.opts.hostname} Error: too many commands, slow down`);
      this.close();
      return false;
    }
    try {
      switch (verb) {
        case 'EHLO':
        case 'HELO':
          await this.cmdHelo(verb, args);
          return false;
        case 'MAIL':
          await this.cmdMail(args);
          return false;
        case 'RCPT':
          await this.cmdRcpt(args);
          return false;
        case 'DATA':
          await this.cmdData(args);
          return false;
        case 'BDAT':
          await this.cmdBdat(args);
          return false;
        case 'RSET':
          await this.abortTransaction();
          this.reply(250, '2.0.0', 'Ok');
          return false;
        case 'NOOP':
          this.reply(250, '2.0.0', 'Ok');
          return false;
        case 'QUIT':
          this.reply(221, '2.0.0', `${this.opts.hostname} Bye`);
          this.close();
          return false;
        case 'VRFY':
          // RFC 5321 §3.5.3: 252 when we will not verify (no address harvesting).
          this.reply(252, '2.0.0', 'Send some mail, I will try my best');
          return false;
        case 'HELP':
          this.reply(214, '2.0.0', 'See RFC 5321 and https://mailwright.invalid/docs');
          return false;
        case 'STARTTLS':
          return this.cmdStartTls(args);
        case 'AUTH':
          await this.cmdAuth(args);
          return false;
        case '':
          this.errorReply(500, '5.5.2', 'Error: bad syntax');
          return false;
        default:
          if (/^[A-Z]+:/.test(line) || /^(GET|POST|HEAD|PUT|CONNECT) /.test(line)) {
            // An HTTP request or header: not an SMTP client (Postfix does the same).
            this.reply(421, '4.7.0', `${this.opts.hostname} Error: not an SMTP client`);
            this.close();
            return false;
          }
          this.errorReply(502, '5.5.2', 'Error: command not recognized');
          return false;
      }
    } catch (err) {
      const e = asReply(err, 451, '4.3.0', 'Error: local error in processing');
      if (!(err instanceof SmtpReplyError)) this.log.error({ err, conn: this.info.id, verb }, 'smtp command failed');
      if (e.code >= 500) this.errorReply(e.code, e.enhanced, e.text);
      else this.reply(e.code, e.enhanced, e.text);
      return false;
    }
  }

  private ehloLines(): string[] {
    const lines = [`${this.opts.hostname}`, 'PIPELINING', `SIZE ${this.opts.maxMessageSize}`];
    if (this.opts.secureContext && !this.info.tls) lines.push('STARTTLS');
    if (this.opts.hooks.onAuth && this.authAllowed()) lines.push('AUTH PLAIN LOGIN');
    lines.push('ENHANCEDSTATUSCODES', '8BITMIME', 'SMTPUTF8', 'CHUNKING');
    return lines;
  }

  private authAllowed(): boolean {
    return Boolean(this.info.tls) || (this.opts.allowInsecureAuth && isLoopback(this.info.remoteAddress));
  }

  private async cmdHelo(verb: string, args: string) {
    const name = args.split(' ')[0] ?? '';
    if (!name) {
      this.errorReply(501, '5.5.4', `Syntax: ${verb} hostname`);
      return;
    }
    if (name.length > 255 || /[\x00-\x20\x7f]/.test(name)) {
      this.errorReply(501, '5.5.4', 'Error: invalid hostname');
      return;
    }
    await this.opts.hooks.onHelo?.(this.info, name);
    await this.abortTransaction();
    this.info.helo = name;
    this.info.esmtp = verb === 'EHLO';
    if (verb === 'EHLO') this.reply(250, null, this.ehloLines());
    else this.reply(250, null, this.opts.hostname);
  }

  private async cmdMail(args: string) {
    if (!this.info.helo) return this.errorReply(503, '5.5.1', 'Error: send HELO/EHLO first');
    if (this.envelope) return this.errorReply(503, '5.5.1', 'Error: nested MAIL command');
    if (this.opts.authRequired && !this.info.user) return this.errorReply(530, '5.7.0', 'Authentication required');
    const r = parsePathArg(args, 'FROM');
    if (!r.ok) return this.errorReply(r.code, r.enhanced, r.text);
    const from = r.value;
    const env: Envelope = { mailFrom: from, rcptTo: [], body8bit: false, smtputf8: false, declaredSize: null };
    for (const [k, v] of from.params) {
      if (k === 'SIZE') {
        if (v === true || !/^\d{1,15}$/.test(v)) return this.errorReply(501, '5.5.4', 'Bad SIZE parameter');
        env.declaredSize = Number(v);
        if (env.declaredSize > this.opts.maxMessageSize) {
          return this.reply(552, '5.3.4', `Message size exceeds fixed limit of ${this.opts.maxMessageSize} bytes`);
        }
      } else if (k === 'BODY') {
        const body = v === true ? '' : v.toUpperCase();
        if (body === '8BITMIME') env.body8bit = true;
        else if (body !== '7BIT') return this.errorReply(501, '5.5.4', 'Bad BODY parameter: use 7BIT or 8BITMIME');
      } else if (k === 'SMTPUTF8') {
        if (v !== true) return this.errorReply(501, '5.5.4', 'SMTPUTF8 takes no value');
        env.smtputf8 = true;
      } else if (k === 'AUTH') {
        // RFC 4954 §5: accepted and ignored for trust decisions.
      } else if (k === 'RET' || k === 'ENVID') {
        // DSN (RFC 3461) parameters: tolerated, not yet acted upon.
      } else {
        return this.errorReply(555, '5.5.4', `Unsupported parameter ${k}`);
      }
    }
    if (!env.smtputf8 && /[^\x00-\x7f]/.test(from.address)) {
      return this.errorReply(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8');
    }
    await this.opts.hooks.onMailFrom?.(this.info, from, env);
    this.envelope = env;
    this.reply(250, '2.1.0', 'Ok');
  }

  private async cmdRcpt(args: string) {
    const env = this.envelope;
    if (!env) return this.errorReply(503, '5.5.1', 'Error: need MAIL command');
    const r = parsePathArg(args, 'TO');
    if (!r.ok) return this.errorReply(r.code, r.enhanced, r.text);
    for (const k of r.value.params.keys()) {
      if (k !== 'NOTIFY' && k !== 'ORCPT') return this.errorReply(555, '5.5.4', `Unsupported parameter ${k}`);
    }
    if (!env.smtputf8 && /[^\x00-\x7f]/.test(r.value.address)) {
      return this.errorReply(553, '5.6.7', 'Non-ASCII address requires SMTPUTF8');
    }
    if (env.rcptTo.length >= this.opts.maxRecipients) {
      return this.reply(452, '4.5.3', 'Error: too many recipients');
    }
    const rcpt = { ...r.value };
    await this.opts.hooks.onRcptTo(this.info, rcpt, env);
    const key = rcpt.address.toLowerCase();
    if (!env.rcptTo.some((x) => x.address.toLowerCase() === key)) env.rcptTo.push(rcpt);
    this.reply(250, '2.1.5', 'Ok');
  }

  /** Opens the message sink; returns the error reply instead when there is no transaction to send data for. */
  private async startMessage(): Promise<SmtpReply | null> {
    const env = this.envelope;
    if (!env) return { code: 503, enhanced: '5.5.1', text: 'Error: need MAIL command' };
    if (env.rcptTo.length === 0) return { code: 554, enhanced: '5.5.1', text: 'Error: no valid recipients' };
    this.sink = await this.opts.hooks.onData(this.info, env);
    this.sinkFailed = null;
    return null;
  }

  private async cmdData(args: string) {
    if (args) return this.errorReply(501, '5.5.4', 'Syntax: DATA');
    if (this.bdatStats) return this.errorReply(503, '5.5.1', 'Error: DATA after BDAT');
    const refused = await this.startMessage();
    if (refused) return this.errorReply(refused.code, refused.enhanced, refused.text);
    this.decoder = new DataDecoder(this.opts.maxMessageSize);
    this.mode = 'data';
    this.reply(354, null, 'End data with <CR><LF>.<CR><LF>');
  }

  private async sinkWrite(part: Buffer) {
    if (this.sinkFailed || !this.sink) return;
    try {
      await this.sink.write(part);
    } catch (err) {
      this.sinkFailed = err; // keep reading to the end of data, then answer with the error
    }
  }

  private async finishData() {
    const d = this.decoder!;
    this.decoder = null;
    this.mode = 'command';
    await this.endMessage({ size: d.size, bareLf: d.bareLf, bareCr: d.bareCr, maxLine: d.maxLine, sizeExceeded: d.sizeExceeded });
  }

  private async endMessage(stats: DataStats) {
    const sink = this.sink!;
    this.sink = null;
    const env = this.envelope;
    this.envelope = null;
    let reply;
    if (stats.sizeExceeded) {
      await sink.abort();
      reply = { code: 552, enhanced: '5.3.4', text: `Message size exceeds fixed limit of ${this.opts.maxMessageSize} bytes` };
    } else if (this.opts.rejectBareNewlines && (stats.bareLf || stats.bareCr)) {
      await sink.abort();
      reply = {
        code: 550,
        enhanced: '5.5.2',
        text: `Message rejected: bare ${stats.bareLf ? '<LF>' : '<CR>'} received; lines must end with <CR><LF> (RFC 5321 section 2.3.8)`,
      };
    } else if (this.sinkFailed) {
      await sink.abort();
      reply = asReply(this.sinkFailed, 451, '4.3.0', 'Error: local error in processing');
      if (!(this.sinkFailed instanceof SmtpReplyError)) this.log.error({ err: this.sinkFailed, conn: this.info.id }, 'message write failed');
    } else {
      try {
        reply = await sink.end(stats);
      } catch (err) {
        await sink.abort().catch(() => {});
        reply = asReply(err, 451, '4.3.0', 'Error: local error in processing');
        if (!(err instanceof SmtpReplyError)) this.log.error({ err, conn: this.info.id }, 'message delivery failed');
      }
    }
    this.sinkFailed = null;
    if (env && reply.code < 400) this.info.transactions++;
    this.reply(reply.code, reply.enhanced, reply.text);
  }

  /** RFC 3030: BDAT <size> [LAST]. */
  private async cmdBdat(args: string) {
    const m = /^(\d{1,15})( +LAST)? *$/i.exec(args);
    if (!m) {
      // The size is unknown, so the chunk bytes cannot be skipped: the stream is out of sync. Close.
      this.reply(501, '5.5.4', 'Syntax: BDAT size [LAST]');
      this.close();
      return;
    }
    const size = Number(m[1]);
    this.bdatRemaining = size;
    this.bdatLast = Boolean(m[2]);
    if (!this.bdatStats) {
      // On refusal the chunk is still read (and skipped), then the error is the one reply to this BDAT.
      try {
        this.bdatDiscard = await this.startMessage();
      } catch (err) {
        this.bdatDiscard = asReply(err, 451, '4.3.0', 'Error: local error in processing');
      }
      this.bdatStats = { size: 0, bareLf: 0, bareCr: 0, maxLine: 0, sizeExceeded: false };
      this.bdatScanner = new DataDecoder(Infinity);
    }
    this.mode = 'bdat';
    if (size === 0) await this.finishBdatChunk();
  }

  private bdatDiscard: { code: number; enhanced: string; text: string } | null = null;
  private bdatScanner: DataDecoder | null = null;

  private async bdatChunk(part: Buffer) {
    const st = this.bdatStats!;
    st.size += part.length;
    if (st.size > this.opts.maxMessageSize) st.sizeExceeded = true;
    countBare(part, st, this);
    if (!this.bdatDiscard && !st.sizeExceeded) await this.sinkWrite(part);
  }

  /** last byte of the previous BDAT chunk was CR (for bare-CR/LF counting across chunks) */
  prevCr = false;

  private async finishBdatChunk() {
    this.mode = 'command';
    if (this.bdatDiscard) {
      const d = this.bdatDiscard;
      if (this.bdatLast) this.resetBdat();
      this.reply(d.code, d.enhanced, d.text);
      return;
    }
    if (!this.bdatLast) {
      this.reply(250, '2.0.0', `${this.bdatStats!.size} octets received`);
      return;
    }
    const st = this.bdatStats!;
    if (this.prevCr) st.bareCr++;
    this.resetBdat();
    await this.endMessage(st);
  }

  private resetBdat() {
    this.bdatStats = null;
    this.bdatScanner = null;
    this.bdatDiscard = null;
    this.bdatLast = false;
    this.prevCr = false;
  }

  private cmdStartTls(args: string): boolean {
    if (args) {
      this.errorReply(501, '5.5.4', 'Syntax: STARTTLS');
      return false;
    }
    if (!this.opts.secureContext || this.info.tls) {
      this.errorReply(502, '5.5.1', 'Error: STARTTLS not available');
      return false;
    }
    this.reply(220, '2.0.0', 'Ready to start TLS');
    return true;
  }

  private async upgradeTls() {
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    raw.removeAllListeners('end');
    raw.removeAllListeners('close');
    raw.removeAllListeners('timeout');
    raw.setTimeout(0);
    const tls = new TLSSocket(raw, serverTlsOptions(this.opts.secureContext!));
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), this.opts.idleTimeoutMs);
      tls.once('secure', () => {
        clearTimeout(t);
        resolve(true);
      });
      tls.once('error', (err) => {
        clearTimeout(t);
        this.log.info({ conn: this.info.id, err: err.message }, 'TLS handshake failed');
        resolve(false);
      });
    });
    if (!ok) {
      tls.destroy();
      raw.destroy();
      this.closed = true;
      this.finishInput();
      return;
    }
    this.socket = tls;
    this.inputEnded = false;
    this.attach(tls);
    // RFC 3207 §4.2: the client must start over with EHLO.
    await this.abortTransaction();
    this.info.helo = null;
    this.info.esmtp = false;
    this.info.tls = tlsInfo(tls);
  }

  private async cmdAuth(args: string) {
    if (!this.opts.hooks.onAuth) return this.errorReply(502, '5.5.1', 'Error: authentication not enabled');
    if (!this.info.helo) return this.errorReply(503, '5.5.1', 'Error: send EHLO first');
    if (this.info.user) return this.errorReply(503, '5.5.1', 'Error: already authenticated');
    if (this.envelope) return this.errorReply(503, '5.5.1', 'Error: AUTH not allowed during a mail transaction');
    if (!this.authAllowed()) return this.errorReply(538, '5.7.11', 'Encryption required for requested authentication mechanism');
    const [mechRaw, initial] = args.split(' ');
    const mech = (mechRaw ?? '').toUpperCase();
    let username: string;
    let password: string;
    if (mech === 'PLAIN') {
      const resp = initial ?? (await this.challenge(''));
      if (resp === null) return;
      const parts = decodeBase64(resp)?.split('\0');
      if (!parts || parts.length !== 3) return this.errorReply(501, '5.5.2', 'Error: malformed AUTH PLAIN response');
      // RFC 4616: authzid \0 authcid \0 passwd; an authzid other than the authcid is not allowed.
      if (parts[0] && parts[0] !== parts[1]) return this.errorReply(535, '5.7.8', 'Error: authentication failed');
      username = parts[1]!;
      password = parts[2]!;
    } else if (mech === 'LOGIN') {
      let u = initial ?? (await this.challenge('VXNlcm5hbWU6'));
      if (u === null) return;
      const p = await this.challenge('UGFzc3dvcmQ6');
      if (p === null) return;
      const du = decodeBase64(u);
      const dp = decodeBase64(p);
      if (du === null || dp === null) return this.errorReply(501, '5.5.2', 'Error: malformed AUTH LOGIN response');
      username = du;
      password = dp;
    } else {
      return this.errorReply(504, '5.5.4', 'Error: unsupported authentication mechanism');
    }
    try {
      this.info.user = await this.opts.hooks.onAuth(this.info, username, password);
    } catch (err) {
      const e = asReply(err, 535, '5.7.8', 'Error: authentication failed');
      return this.errorReply(e.code, e.enhanced, e.text);
    }
    this.reply(235, '2.7.0', 'Authentication successful');
  }

  /** Send a 334 challenge and read one line; "*" cancels (RFC 4954 §4). Returns null when cancelled/closed. */
  private async challenge(text: string): Promise<string | null> {
    this.reply(334, null, text);
    let parts: Buffer[] = [];
    let len = 0;
    for (;;) {
      const c = await this.next();
      if (!c) return null;
      const nl = c.indexOf(0x0a);
      if (nl < 0) {
        parts.push(c);
        len += c.length;
        if (len > this.opts.maxLineLength) {
          this.errorReply(500, '5.5.2', 'Error: line too long');
          return null;
        }
        continue;
      }
      parts.push(c.subarray(0, nl));
      const rest = c.subarray(nl + 1);
      if (rest.length) {
        this.inbox.unshift(rest);
        this.inboxBytes += rest.length;
      }
      const line = Buffer.concat(parts).toString('utf8').replace(/\r$/, '');
      parts = [];
      if (line === '*') {
        this.errorReply(501, '5.7.0', 'Authentication cancelled');
        return null;
      }
      return line;
    }
  }

  private async abortTransaction() {
    this.envelope = null;
    if (this.sink) {
      const s = this.sink;
      this.sink = null;
      await s.abort().catch(() => {});
    }
    this.resetBdat();
  }
}

function countBare(part: Buffer, st: DataStats, s: { prevCr: boolean }) {
  let prevCr = s.prevCr;
  for (let i = 0; i < part.length; i++) {
    const b = part[i]!;
    if (b === 0x0a) {
      if (!prevCr) st.bareLf++;
      prevCr = false;
    } else {
      if (prevCr) st.bareCr++;
      prevCr = b === 0x0d;
    }
  }
  s.prevCr = prevCr;
}

function decodeBase64(s: string): string | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, 'base64').toString('utf8');
}

export function tlsInfo(s: TLSSocket): { version: string; cipher: string } | null {
  const c = s.getCipher?.();
  if (!c) return null;
  return { version: s.getProtocol() ?? c.version, cipher: c.name };
}

export function asReply(err: unknown, code: number, enhanced: string, text: string) {
  if (err instanceof SmtpReplyError) {
    return { code: err.responseCode, enhanced: err.enhancedCode, text: err.message.slice(err.enhancedCode.length + 1) };
  }
  return { code, enhanced, text };
}

export type { PathWithParams };
