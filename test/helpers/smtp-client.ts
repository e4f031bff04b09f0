/**
 * A raw SMTP client for wire tests: writes exactly the bytes given and parses replies (RFC 5321 §4.2, multi-line
 * with "-"), so tests can send broken, pipelined or hostile input and assert on every reply code.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface Reply {
  code: number;
  /** Enhanced status code of the last line (RFC 2034), or null. */
  enhanced: string | null;
  /** Text lines without the code (and without the enhanced code). */
  lines: string[];
  /** The raw reply, all lines, CRLF-joined. */
  raw: string;
}

export class WireClient {
  /** Every client still open, so an after() hook can close what a failed test left behind. */
  static readonly open_ = new Set<WireClient>();
  static closeAll(): void {
    for (const c of WireClient.open_) c.close();
  }
  socket: net.Socket;
  private buf = '';
  private closed = false;
  private waiter: (() => void) | null = null;
  readonly closedPromise: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closedPromise = new Promise((r) => socket.once('close', () => r()));
    WireClient.open_.add(this);
    void this.closedPromise.then(() => WireClient.open_.delete(this));
    this.hook(socket);
  }

  private hook(s: net.Socket) {
    s.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.poke();
    });
    s.on('close', () => {
      this.closed = true;
      this.poke();
    });
    s.on('error', () => {
      this.closed = true;
      this.poke();
    });
  }

  private poke() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<WireClient> {
    return new Promise((res, rej) => {
      const s = net.connect({ port, host, localAddress }, () => {
        s.removeListener('error', rej);
        res(new WireClient(s));
      });
      s.once('error', rej);
    });
  }

  /** Connect and read the 220 banner. */
  static async open(port: number, ehlo: string | null = 'client.example.org'): Promise<WireClient> {
    const c = await WireClient.connect(port);
    const banner = await c.read();
    if (banner.code !== 220) throw new Error(`banner: ${banner.raw}`);
    if (ehlo) {
      const r = await c.cmd(`EHLO ${ehlo}`);
      if (r.code !== 250) throw new Error(`EHLO: ${r.raw}`);
    }
    return c;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Read one complete reply. Rejects when the connection closes first or after timeoutMs. */
  async read(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.parse();
      if (r) return r;
      if (this.closed) throw new Error(`connection closed while waiting for a reply (buffer: ${JSON.stringify(this.buf)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for a reply (buffer: ${JSON.stringify(this.buf)})`);
      await new Promise<void>((r2) => {
        const t = setTimeout(r2, left);
        this.waiter = () => {
          clearTimeout(t);
          r2();
        };
      });
    }
  }

  private parse(): Reply | null {
    let pos = 0;
    const lines: string[] = [];
    for (;;) {
      const nl = this.buf.indexOf('\r\n', pos);
      if (nl < 0) return null;
      const line = this.buf.slice(pos, nl);
      pos = nl + 2;
      lines.push(line);
      if (!/^\d{3}[ -]/.test(line) && !/^\d{3}$/.test(line)) throw new Error(`malformed reply line: ${JSON.stringify(line)}`);
      if (line[3] !== '-') break;
    }
    this.buf = this.buf.slice(pos);
    const code = Number(lines[lines.length - 1]!.slice(0, 3));
    const texts = lines.map((l) => l.slice(4));
    const em = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/.exec(texts[texts.length - 1] ?? '');
    const enhanced = em ? em[1]! : null;
    return {
      code,
      enhanced,
      lines: texts.map((t) => (enhanced && t.startsWith(enhanced) ? t.slice(enhanced.length).trimStart() : t)),
      raw: lines.join('\r\n'),
    };
  }

  /** Unparsed bytes received so far that are not a complete reply. */
  get pending(): string {
    return this.buf;
  }

  async cmd(line: string, timeoutMs?: number): Promise<Reply> {
    this.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  /** STARTTLS, then the TLS handshake over the same socket (self-signed certificate accepted). */
  async startTls(): Promise<tls.TLSSocket> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) throw new Error(`STARTTLS: ${r.raw}`);
    return this.upgrade();
  }

  /** The TLS handshake over the existing socket (after a 220 to STARTTLS). */
  upgrade(): Promise<tls.TLSSocket> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    raw.on('error', () => {});
    this.buf = '';
    return new Promise((res, rej) => {
      const t = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'mail.example.test' }, () => {
        t.removeListener('error', rej);
        this.socket = t;
        this.hook(t);
        res(t);
      });
      t.once('error', rej);
    });
  }

  /** Send a whole transaction; returns the final reply to DATA's end. `data` is sent as is (must end in CRLF.CRLF). */
  async send(from: string, to: string[], data: string | Buffer): Promise<Reply> {
    let r = await this.cmd(`MAIL FROM:<${from}>`);
    if (r.code !== 250) return r;
    let ok = 0;
    for (const t of to) {
      r = await this.cmd(`RCPT TO:<${t}>`);
      if (r.code === 250) ok++;
    }
    if (!ok) {
      await this.cmd('RSET');
      return r;
    }
    r = await this.cmd('DATA');
    if (r.code !== 354) return r;
    this.write(data);
    return this.read(10000);
  }

  /** Wait until the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await Promise.race([
      this.closedPromise,
      new Promise((_, rej) => setTimeout(() => rej(new Error('connection not closed')), timeoutMs).unref()),
    ]);
  }

  close(): void {
    WireClient.open_.delete(this);
    this.socket.destroy();
  }
}

/** Dot-stuff a message (RFC 5321 §4.5.2) and append the end-of-data marker. The message must use CRLF. */
export function dotStuff(message: string | Buffer): Buffer {
  const s = Buffer.isBuffer(message) ? message.toString('latin1') : Buffer.from(message, 'utf8').toString('latin1');
  const stuffed = s.replace(/(^|\r\n)\./g, '$1..');
  const end = stuffed.endsWith('\r\n') || stuffed === '' ? '.\r\n' : '\r\n.\r\n';
  return Buffer.from(stuffed + end, 'latin1');
}
