/**
 * A minimal raw-socket IMAP client for benchmarks: one command at a time per connection, exact timing (from the
 * write of the command to the arrival of its tagged response), streaming parse of literals so that a FETCH 1:* over
 * 100,000 messages is counted without being kept (pass keep: true to keep the untagged responses as text).
 * Not a general client: no TLS, no pipelining, server-side literals only of the "{n}" form (what servers send).
 */
import net from 'node:net';

const CRLF = Buffer.from('\r\n');
const LITERAL_AT_END = /\{(\d+)\}$/;

export class ImapError extends Error {}

export class ImapClient {
  /** Connects and waits for the greeting. */
  static connect({ host = '127.0.0.1', port, timeoutMs = 30000, localAddress } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, localAddress });
      const c = new ImapClient(sock);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ImapError(`no IMAP greeting from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      c.onGreeting = (line) => {
        clearTimeout(timer);
        if (/^\* (OK|PREAUTH)/i.test(line)) resolve(c);
        else {
          sock.destroy();
          reject(new ImapError(`greeting: ${line}`));
        }
      };
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    sock.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.literalLeft = 0;
    /** The response being assembled: its first bytes decide what it is. */
    this.resp = null;
    this.pending = null;
    this.contWaiter = null;
    this.onGreeting = null;
    this.seq = 0;
    this.closed = false;
    this.error = null;
    this.capabilities = new Set();
    sock.on('data', (d) => this.onData(d));
    sock.on('error', (err) => this.fail(err));
    sock.on('close', () => {
      this.closed = true;
      this.fail(new ImapError('connection closed'));
    });
  }

  fail(err) {
    this.error ??= err;
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    const w = this.contWaiter;
    this.contWaiter = null;
    w?.reject(err);
  }

  onData(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    const b = this.buf;
    for (;;) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, b.length - pos);
        if (n === 0) break;
        if (this.resp.keep) this.resp.parts.push(b.subarray(pos, pos + n));
        this.resp.bytes += n;
        this.literalLeft -= n;
        pos += n;
        continue;
      }
      const eol = b.indexOf(CRLF, pos);
      if (eol < 0) break;
      const line = b.subarray(pos, eol);
      pos = eol + 2;
      if (!this.resp) {
        const head = line.toString('latin1', 0, Math.min(line.length, 64));
        this.resp = { head, keep: Boolean(this.pending?.keep) || !this.pending, parts: [], bytes: 0 };
      }
      const r = this.resp;
      r.bytes += line.length + 2;
      if (r.keep) r.parts.push(line);
      const m = line.length && line[line.length - 1] === 0x7d /* } */ ? LITERAL_AT_END.exec(line.toString('latin1', Math.max(0, line.length - 24))) : null;
      if (m) {
        this.literalLeft = Number(m[1]);
        if (r.keep) r.parts.push(CRLF);
        continue;
      }
      this.resp = null;
      this.onResponse(r, line);
    }
    this.buf = pos >= b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(pos));
  }

  onResponse(r, lastLine) {
    const text = () => Buffer.concat(r.parts).toString('utf8');
    if (this.onGreeting) {
      const g = this.onGreeting;
      this.onGreeting = null;
      const t = text();
      this.noteCapabilities(t);
      g(t);
      return;
    }
    if (r.head.startsWith('+')) {
      const w = this.contWaiter;
      this.contWaiter = null;
      w?.resolve(r.head);
      return;
    }
    const p = this.pending;
    if (r.head.startsWith('* ')) {
      if (p) {
        p.count++;
        p.bytes += r.bytes;
        if (p.keep) p.untagged.push(text());
      }
      if (/^\* (OK \[)?CAPABILITY /i.test(r.head)) this.noteCapabilities(text());
      return;
    }
    if (p && r.head.startsWith(p.tag + ' ')) {
      this.pending = null;
      clearTimeout(p.timer);
      const ms = Number(process.hrtime.bigint() - p.t0) / 1e6;
      const line = lastLine.toString('utf8');
      const status = line.slice(p.tag.length + 1).split(' ', 1)[0].toUpperCase();
      const res = { status, text: line, untagged: p.untagged, count: p.count, bytes: p.bytes + r.bytes, ms };
      if (p.expectOk && status !== 'OK') p.reject(new ImapError(`${p.what}: ${line}`));
      else p.resolve(res);
    }
  }

  noteCapabilities(t) {
    const m = /CAPABILITY ([^\]\r\n]*)/i.exec(t);
    if (m) this.capabilities = new Set(m[1].toUpperCase().split(' '));
  }

  nextTag() {
    return `B${++this.seq}`;
  }

  /** Sends `tag <cmd>` and resolves with { status, text, untagged[], count, bytes, ms } at the tagged response. */
  command(cmd, { keep = false, timeoutMs = 600000, expectOk = true, payload = null } = {}) {
    if (this.error) return Promise.reject(this.error);
    if (this.pending) return Promise.reject(new ImapError('a command is already running on this connection'));
    const tag = this.nextTag();
    return new Promise((resolve, reject) => {
      const p = { tag, keep, untagged: [], count: 0, bytes: 0, resolve, reject, expectOk, what: cmd.slice(0, 60), t0: 0n };
      p.timer = setTimeout(() => {
        if (this.pending === p) this.pending = null;
        reject(new ImapError(`${p.what}: no answer within ${timeoutMs} ms`));
        this.sock.destroy();
      }, timeoutMs);
      this.pending = p;
      p.t0 = process.hrtime.bigint();
      if (payload) this.sock.write(Buffer.concat([Buffer.from(`${tag} ${cmd}`), payload, CRLF]));
      else this.sock.write(`${tag} ${cmd}\r\n`);
    });
  }

  waitContinuation(timeoutMs = 60000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ImapError(`no continuation within ${timeoutMs} ms`)), timeoutMs);
      this.contWaiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  login(user, password) {
    return this.command(`LOGIN ${quote(user)} ${quote(password)}`);
  }

  /**
   * APPEND one message. With LITERAL+ (both servers offer it) the literal goes in the same write as the command,
   * as imapflow and Thunderbird do; otherwise the client waits for "+" first.
   */
  async append(mailbox, message, { flags = [], timeoutMs = 120000 } = {}) {
    const fl = flags.length ? `(${flags.join(' ')}) ` : '';
    if (this.capabilities.has('LITERAL+')) {
      return this.command(`APPEND ${quote(mailbox)} ${fl}{${message.length}+}\r\n`, { payload: message, timeoutMs });
    }
    if (this.error) throw this.error;
    const tag = this.nextTag();
    const cont = this.waitContinuation(timeoutMs);
    const done = new Promise((resolve, reject) => {
      const p = { tag, keep: false, untagged: [], count: 0, bytes: 0, resolve, reject, expectOk: true, what: 'APPEND', t0: process.hrtime.bigint() };
      p.timer = setTimeout(() => reject(new ImapError(`APPEND: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending = p;
    });
    this.sock.write(`${tag} APPEND ${quote(mailbox)} ${fl}{${message.length}}\r\n`);
    await Promise.race([cont, done]);
    this.sock.write(Buffer.concat([message, CRLF]));
    return done;
  }

  /** Starts IDLE; resolves when the server sent "+". The tagged OK comes after done(). */
  async idle(timeoutMs = 60000) {
    if (this.error) throw this.error;
    const tag = this.nextTag();
    const cont = this.waitContinuation(timeoutMs);
    this.idling = new Promise((resolve, reject) => {
      const p = { tag, keep: false, untagged: [], count: 0, bytes: 0, resolve, reject, expectOk: true, what: 'IDLE', t0: process.hrtime.bigint() };
      p.timer = setTimeout(() => {}, 0);
      this.pending = p;
    });
    this.idling.catch(() => {});
    this.sock.write(`${tag} IDLE\r\n`);
    await cont;
  }

  done() {
    this.sock.write('DONE\r\n');
    return this.idling;
  }

  async logout() {
    try {
      if (!this.error) await this.command('LOGOUT', { timeoutMs: 5000, expectOk: false });
    } catch {
      /* closing anyway */
    }
    this.sock.destroy();
  }

  destroy() {
    this.sock.destroy();
  }
}

export function quote(s) {
  return `"${String(s).replace(/[\\"]/g, (c) => '\\' + c)}"`;
}
