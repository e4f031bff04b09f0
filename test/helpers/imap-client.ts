/**
 * A raw IMAP transcript client for wire tests (RFC 3501 §2.2, §7.5; LITERAL+ RFC 7888): writes exactly the bytes
 * given and reads the server's responses as logical lines (a server literal "{N}\r\n<N bytes>" stays inside its
 * line), so tests read like transcripts:
 *
 *   const c = await ImapClient.connect(port);            // reads the greeting
 *   const res = await c.send('a1', 'SELECT INBOX');     // { untagged: ['* FLAGS (...)', ...], tagged: 'a1 OK [READ-WRITE] ...' }
 *   assert.match(res.tagged, /^a1 OK \[READ-WRITE\]/);
 *
 * Response text is latin1 (one character per byte) so literal sizes match string lengths; use `utf8()` to read
 * UTF-8 text. Literals from the client: `sendParts(tag, ['APPEND INBOX ', lit(buf)])` waits for "+" before each
 * synchronizing literal (and returns early when the server answers with a tagged NO/BAD instead);
 * `{ literalPlus: true }` sends "{N+}" and does not wait.
 */
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

export interface Response {
  /** Lines starting with "* ". */
  untagged: string[];
  /** Every line before the tagged one (untagged and "+" continuation lines), in order. */
  lines: string[];
  /** The tagged completion line, e.g. "a1 OK [READ-WRITE] SELECT completed". */
  tagged: string;
}

/** A literal to send inside a command (see sendParts). */
export class Literal {
  constructor(readonly data: Buffer) {}
}
export const lit = (data: Buffer | string): Literal => new Literal(Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'));

export interface ConnectOptions {
  port: number;
  host?: string;
  /** Implicit TLS (port 993 style). */
  tls?: boolean;
  /** Source address, e.g. '127.0.0.7', to look like another client (login throttle is per IP). */
  localAddress?: string;
  /** Do not wait for the greeting. */
  noGreeting?: boolean;
}

const DEFAULT_TIMEOUT = 10_000;

export class ImapClient {
  /** Every client still open, so an after() hook can close what a failed test left behind. */
  static readonly open_ = new Set<ImapClient>();
  static closeAll(): void {
    for (const c of ImapClient.open_) c.close();
  }

  socket: net.Socket;
  greeting = '';
  /** Every byte received, latin1 (for debugging and "nothing more was sent" checks). */
  transcript = '';
  private buf: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  readonly closedPromise: Promise<void>;
  private tagN = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closedPromise = new Promise((r) => socket.once('close', () => r()));
    ImapClient.open_.add(this);
    void this.closedPromise.then(() => ImapClient.open_.delete(this));
    this.hook(socket);
  }

  private hook(s: net.Socket) {
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('close', () => {
      this.closed = true;
      this.poke();
    });
    s.on('error', () => {
      this.closed = true;
      this.poke();
    });
  }

  private onData(d: Buffer) {
    this.transcript += d.toString('latin1');
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    // Split into logical lines: a line ending in {N} continues after N literal bytes.
    let start = 0;
    let pos = 0;
    for (;;) {
      const nl = this.buf.indexOf('\r\n', pos, 'latin1');
      if (nl < 0) break;
      const m = /\{(\d+)\}$/.exec(this.buf.toString('latin1', Math.max(pos, nl - 24), nl));
      if (m) {
        const n = Number(m[1]);
        if (this.buf.length < nl + 2 + n) break; // wait for the whole literal
        pos = nl + 2 + n;
        continue;
      }
      this.lines.push(this.buf.toString('latin1', start, nl));
      start = pos = nl + 2;
    }
    this.buf = this.buf.subarray(start);
    if (start > 0 || this.lines.length) this.poke();
  }

  private poke() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static connect(o: ConnectOptions | number): Promise<ImapClient> {
    const opts: ConnectOptions = typeof o === 'number' ? { port: o } : o;
    return new Promise((res, rej) => {
      const host = opts.host ?? '127.0.0.1';
      const onErr = (e: Error) => rej(e);
      // TLS over a plain socket made first, so `localAddress` applies to it too.
      const s = opts.tls
        ? tls.connect({ socket: net.connect({ port: opts.port, host, localAddress: opts.localAddress }), rejectUnauthorized: false, servername: 'localhost' }, () => ready())
        : net.connect({ port: opts.port, host, localAddress: opts.localAddress }, () => ready());
      s.once('error', onErr);
      const ready = () => {
        s.removeListener('error', onErr);
        const c = new ImapClient(s);
        if (opts.noGreeting) return res(c);
        c.next()
          .then((g) => {
            c.greeting = g;
            res(c);
          })
          .catch(rej);
      };
    });
  }

  /** A fresh tag: t1, t2, ... */
  tag(): string {
    return `t${++this.tagN}`;
  }

  /** Next logical line (a literal stays inline). Rejects when the connection closes first or on timeout. */
  async next(timeoutMs = DEFAULT_TIMEOUT): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.length) {
      if (this.closed) throw new Error(`connection closed; transcript:\n${this.transcript.slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for a line; transcript:\n${this.transcript.slice(-2000)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.lines.shift()!;
  }

  /** True when a complete line is already buffered. */
  hasLine(): boolean {
    return this.lines.length > 0;
  }

  /** Read lines until one matches; the skipped lines are returned too. */
  async waitFor(re: RegExp, timeoutMs = DEFAULT_TIMEOUT): Promise<{ line: string; skipped: string[] }> {
    const skipped: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (re.test(line)) return { line, skipped };
      skipped.push(line);
    }
  }

  /** Read until the tagged line of `tag`. */
  async collect(tag: string, timeoutMs = DEFAULT_TIMEOUT): Promise<Response> {
    const lines: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (line.startsWith(tag + ' ')) return { untagged: lines.filter((l) => l.startsWith('* ')), lines, tagged: line };
      lines.push(line);
    }
  }

  /** Write raw bytes. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Send `tag line\r\n` and collect the response. */
  send(tag: string, line: string | Buffer, timeoutMs?: number): Promise<Response> {
    this.write(Buffer.concat([Buffer.from(tag + ' '), Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'), Buffer.from('\r\n')]));
    return this.collect(tag, timeoutMs);
  }

  /** Send with an automatic tag. */
  cmd(line: string, timeoutMs?: number): Promise<Response> {
    return this.send(this.tag(), line, timeoutMs);
  }

  /**
   * Send a command holding literals: strings are sent as they are, each Literal as "{N}" CRLF (or "{N+}" with
   * literalPlus) followed by its bytes. Synchronizing literals wait for the "+" continuation; when the server
   * answers with the tagged response instead, that response is returned at once. The final CRLF is added.
   */
  async sendParts(tag: string, parts: Array<string | Buffer | Literal>, o: { literalPlus?: boolean; timeoutMs?: number } = {}): Promise<Response> {
    const before: string[] = [];
    let pending: Buffer[] = [Buffer.from(tag + ' ')];
    for (const p of parts) {
      if (p instanceof Literal) {
        pending.push(Buffer.from(`{${p.data.length}${o.literalPlus ? '+' : ''}}\r\n`));
        if (!o.literalPlus) {
          this.write(Buffer.concat(pending));
          pending = [];
          for (;;) {
            const line = await this.next(o.timeoutMs);
            if (line.startsWith('+')) {
              before.push(line);
              break;
            }
            if (line.startsWith(tag + ' ')) return { untagged: before.filter((l) => l.startsWith('* ')), lines: before, tagged: line };
            before.push(line);
          }
        }
        if (pending.length) this.write(Buffer.concat(pending));
        pending = [];
        await this.writeLarge(p.data); // no copy: the literal may be large
      } else {
        pending.push(Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'));
      }
    }
    pending.push(Buffer.from('\r\n'));
    this.write(Buffer.concat(pending));
    const r = await this.collect(tag, o.timeoutMs);
    return { untagged: [...before.filter((l) => l.startsWith('* ')), ...r.untagged], lines: [...before, ...r.lines], tagged: r.tagged };
  }

  /** Write with backpressure (large literals). */
  async writeLarge(data: Buffer): Promise<void> {
    const CHUNK = 256 * 1024;
    for (let i = 0; i < data.length; i += CHUNK) {
      if (!this.socket.write(data.subarray(i, i + CHUNK))) await once(this.socket, 'drain');
    }
  }

  /** APPEND a message with a synchronizing literal (or LITERAL+). */
  append(tag: string, mailbox: string, message: Buffer | string, o: { flags?: string; date?: string; literalPlus?: boolean } = {}): Promise<Response> {
    const args = [o.flags !== undefined ? `(${o.flags}) ` : '', o.date ? `"${o.date}" ` : ''].join('');
    return this.sendParts(tag, [`APPEND ${mailbox} ${args}`, lit(Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8'))], { literalPlus: o.literalPlus });
  }

  /** LOGIN and assert OK. */
  async login(user: string, password = 'secret'): Promise<Response> {
    const tag = this.tag();
    const r = await this.send(tag, `LOGIN ${quote(user)} ${quote(password)}`);
    if (!r.tagged.startsWith(`${tag} OK`)) throw new Error(`LOGIN failed: ${r.tagged}`);
    return r;
  }

  /** SELECT and assert OK. */
  async select(mailbox: string): Promise<Response> {
    const tag = this.tag();
    const r = await this.send(tag, `SELECT ${mailbox}`);
    if (!r.tagged.startsWith(`${tag} OK`)) throw new Error(`SELECT failed: ${r.tagged}`);
    return r;
  }

  /** Upgrade the socket to TLS (after "OK Begin TLS"). */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
    await once(s, 'secureConnect');
    this.socket = s;
    this.buf = Buffer.alloc(0);
    this.hook(s);
  }

  /**
   * COMPRESS DEFLATE (RFC 4978): on OK, every later byte both ways goes through raw DEFLATE (zlib windowBits -15),
   * each client write flushed with Z_SYNC_FLUSH. Independent of the server's implementation (plain node:zlib).
   */
  async compress(tag = this.tag()): Promise<Response> {
    const r = await this.send(tag, 'COMPRESS DEFLATE');
    if (!r.tagged.startsWith(`${tag} OK`)) return r;
    const raw = this.socket;
    raw.removeAllListeners('data'); // 'close' stays: closedPromise listens there
    const inflate = zlib.createInflateRaw();
    const deflate = zlib.createDeflateRaw();
    const z = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        deflate.write(chunk);
        deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => cb());
      },
      destroy(err, cb) {
        raw.destroy();
        cb(err);
      },
    });
    raw.on('data', (d: Buffer) => inflate.write(d));
    inflate.on('data', (d: Buffer) => z.push(d));
    inflate.on('error', (err) => z.destroy(err));
    deflate.on('data', (d: Buffer) => raw.write(d));
    raw.on('close', () => z.destroy());
    raw.on('error', () => z.destroy());
    this.socket = z as unknown as net.Socket;
    this.buf = Buffer.alloc(0);
    this.hook(z as unknown as net.Socket);
    return r;
  }

  /** Wait until the server closes the connection; returns the lines it sent meanwhile. */
  async untilClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<string[]> {
    const out: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        out.push(await this.next(Math.max(1, deadline - Date.now())));
      } catch (err) {
        if (this.closed) return out;
        throw err;
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** An IMAP quoted string (RFC 3501 §9 quoted). */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** Latin1 response text -> UTF-8 string. */
export function utf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** The literal payloads inside a response line, in order ("{N}\r\n" followed by N bytes). */
export function literalsOf(line: string): string[] {
  const out: string[] = [];
  const re = /\{(\d+)\}\r\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) {
    const n = Number(m[1]);
    out.push(line.slice(m.index + m[0].length, m.index + m[0].length + n));
    re.lastIndex = m.index + m[0].length + n;
  }
  return out;
}

/** The numbers of a "* SEARCH ..." line. */
export function searchResult(res: Response): number[] {
  const l = res.untagged.find((x) => x.startsWith('* SEARCH'));
  if (l === undefined) throw new Error(`no SEARCH response in ${JSON.stringify(res)}`);
  return l
    .slice(8)
    .trim()
    .split(' ')
    .filter(Boolean)
    .map(Number);
}
