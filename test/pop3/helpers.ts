/**
 * POP3 test setup: an in-process Mailwright (startServer) with pop3 (STLS), pop3s (implicit TLS) and imap
 * listeners on OS-picked loopback ports, users provisioned (password "secret"), messages put into INBOX through the
 * store, and a raw POP3 client that keeps every byte (multi-line responses are returned raw and unstuffed).
 */
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { rmSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { HOSTNAME, tempDir, type LogCapture } from '../helpers/server.js';

export const DOMAIN = 'example.test';
export const PASSWORD = 'secret';
export { HOSTNAME };

/** "alice" -> "alice@example.test". */
export function addr(user: string): string {
  return user.includes('@') ? user : `${user}@${DOMAIN}`;
}

export interface Pop3TestServer {
  server: RunningServer;
  dataDir: string;
  pop3Port: number;
  pop3sPort: number;
  imapPort: number;
  connect(o?: Partial<Pop3ConnectOptions>): Promise<Pop3Client>;
  /** Connect and log in with USER/PASS (asserting +OK). */
  login(user: string, o?: Partial<Pop3ConnectOptions>): Promise<Pop3Client>;
  /** Put a message into the user's INBOX through the store; returns its UID. */
  append(user: string, data: Buffer | string, flags?: string[]): Promise<number>;
  maildir(user: string): string;
  /** File names in the user's INBOX cur/ (sorted). */
  curFiles(user: string): string[];
  /** Contents of the user's INBOX files keyed by Maildir base name. */
  filesByBase(user: string): Map<string, Buffer>;
  stop(): Promise<void>;
}

export interface StartOptions {
  users?: string[];
  pop3?: Record<string, unknown>;
  /** The config's `limits` section (rate limits). */
  limits?: Record<string, unknown>;
  dataDir?: string;
  log?: LogCapture;
  /** Register an after() hook that stops the server (default true). */
  autoStop?: boolean;
}

export async function startPop3Server(o: StartOptions = {}): Promise<Pop3TestServer> {
  const dataDir = o.dataDir ?? tempDir('mw-pop3-');
  const config = validateConfig(
    {
      hostname: HOSTNAME,
      dataDir,
      listen: { smtp: false, imap: '127.0.0.1:0', pop3: '127.0.0.1:0', pop3s: '127.0.0.1:0' },
      smtp: { reverseLookup: false },
      ...(o.pop3 ? { pop3: o.pop3 } : {}),
      ...(o.limits ? { limits: o.limits } : {}),
      log: { level: o.log ? 'info' : 'silent' },
    },
    'test',
  );
  const logger = createLogger(o.log ? 'info' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  const accounts = new AccountService(server.store);
  if (!(await server.store.getDomain(DOMAIN))) await server.store.addDomain(DOMAIN);
  for (const u of (o.users ?? ['alice']).map(addr)) if (!(await server.store.getUser(u))) await accounts.addUser(u, PASSWORD);
  const pop3Port = server.addresses.pop3!.port;
  const pop3sPort = server.addresses.pop3s!.port;
  const maildir = (user: string) => {
    const a = addr(user);
    const at = a.lastIndexOf('@');
    return userMaildir(dataDir, a.slice(at + 1).toLowerCase(), a.slice(0, at));
  };
  const curFiles = (user: string) => {
    const d = join(maildir(user), 'cur');
    return existsSync(d) ? readdirSync(d).sort() : [];
  };
  let stopped = false;
  const srv: Pop3TestServer = {
    server,
    dataDir,
    pop3Port,
    pop3sPort,
    imapPort: server.addresses.imap!.port,
    connect: (c = {}) => Pop3Client.connect({ port: c.tls ? pop3sPort : pop3Port, ...c }),
    async login(user, c = {}) {
      const cl = await srv.connect(c);
      await cl.ok(`USER ${addr(user)}`);
      await cl.ok(`PASS ${PASSWORD}`);
      return cl;
    },
    async append(user, data, flags = []) {
      const mb = await server.mail.openMailbox(addr(user), 'INBOX');
      const r = await mb.append(Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'), { flags });
      return r.uid;
    },
    maildir,
    curFiles,
    filesByBase(user) {
      const d = join(maildir(user), 'cur');
      return new Map(curFiles(user).map((f) => [f.split(':2,')[0]!, readFileSync(join(d, f))]));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      Pop3Client.closeAll();
      await server.stop();
      forgetEnsured();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (o.autoStop !== false) after(() => srv.stop());
  return srv;
}

/** A small CRLF message. */
export function message(o: { subject?: string; body?: string; id?: string; to?: string } = {}): Buffer {
  return Buffer.from(
    [
      'From: Sender <sender@example.org>',
      `To: ${o.to ?? 'alice@example.test'}`,
      `Subject: ${o.subject ?? 'Test message'}`,
      'Date: Mon, 2 Nov 2026 10:00:00 +0000',
      `Message-ID: <${o.id ?? Math.random().toString(36).slice(2)}@example.org>`,
      '',
      o.body ?? 'Hello.',
      '',
    ].join('\r\n'),
    'utf8',
  );
}

/** Undo dot-stuffing of a multi-line body (without its terminating line). */
export function unstuff(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const nl = raw.indexOf('\r\n', pos);
    const end = nl < 0 ? raw.length : nl + 2;
    out.push(raw[pos] === 0x2e ? raw.subarray(pos + 1, end) : raw.subarray(pos, end));
    pos = end;
  }
  return Buffer.concat(out);
}

/** A fresh 127.x.y.z source address per call (the login throttle counts failures per IP). */
let ipCounter = 10;
export function freshIp(): string {
  ipCounter++;
  return `127.${150 + (process.pid % 100)}.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 2}`;
}

export interface Pop3ConnectOptions {
  port: number;
  host?: string;
  tls?: boolean;
  localAddress?: string;
}

export interface MultiResponse {
  status: string;
  /** The bytes between the status line and the terminating ".\r\n", as sent (stuffed). */
  raw: Buffer;
  /** `raw` unstuffed. */
  data: Buffer;
  lines: string[];
}

const TIMEOUT = 15_000;

/** A raw POP3 client: byte buffer with doubling capacity (10 MB responses without quadratic copying). */
export class Pop3Client {
  static readonly open_ = new Set<Pop3Client>();
  static closeAll(): void {
    for (const c of Pop3Client.open_) c.close();
  }

  socket: net.Socket;
  greeting = '';
  closed = false;
  private store = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;
  private waiter: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    Pop3Client.open_.add(this);
    this.hook(socket);
  }

  private hook(s: net.Socket) {
    s.on('data', (d: Buffer) => this.onData(d));
    const gone = () => {
      this.closed = true;
      Pop3Client.open_.delete(this);
      this.poke();
    };
    s.on('close', gone);
    s.on('error', gone);
  }

  private onData(d: Buffer) {
    if (this.end + d.length > this.store.length) {
      const used = this.end - this.start;
      let cap = this.store.length;
      while (cap < used + d.length) cap *= 2;
      const next = cap === this.store.length ? this.store : Buffer.alloc(cap);
      this.store.copy(next, 0, this.start, this.end);
      this.store = next;
      this.start = 0;
      this.end = used;
    }
    d.copy(this.store, this.end);
    this.end += d.length;
    this.poke();
  }

  private poke() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async wait(deadline: number, what: string): Promise<void> {
    if (this.closed) throw new Error(`connection closed while waiting for ${what}; pending: ${JSON.stringify(this.pending().slice(0, 200))}`);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timeout waiting for ${what}; pending: ${JSON.stringify(this.pending().slice(0, 200))}`)), Math.max(1, deadline - Date.now()));
      this.waiter = () => {
        clearTimeout(t);
        res();
      };
    });
  }

  /** Received bytes not consumed yet (latin1). */
  pending(): string {
    return this.store.toString('latin1', this.start, this.end);
  }

  static connect(o: Pop3ConnectOptions): Promise<Pop3Client> {
    return new Promise((res, rej) => {
      const host = o.host ?? '127.0.0.1';
      const raw = net.connect({ port: o.port, host, localAddress: o.localAddress });
      const s = o.tls ? tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }) : raw;
      const onErr = (e: Error) => rej(e);
      s.once('error', onErr);
      s.once(o.tls ? 'secureConnect' : 'connect', () => {
        s.removeListener('error', onErr);
        const c = new Pop3Client(s);
        c.line()
          .then((g) => {
            c.greeting = g;
            res(c);
          })
          .catch(rej);
      });
    });
  }

  /** The next line (without CRLF). */
  async line(timeoutMs = TIMEOUT): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.store.indexOf('\r\n', this.start);
      if (i >= 0 && i < this.end) {
        const l = this.store.toString('utf8', this.start, i);
        this.start = i + 2;
        return l;
      }
      await this.wait(deadline, 'a line');
    }
  }

  /** The body of a multi-line response up to ".\r\n". */
  async body(timeoutMs = TIMEOUT): Promise<{ raw: Buffer; data: Buffer }> {
    const deadline = Date.now() + timeoutMs;
    // Scanned so far, relative to `start` (onData may move the unread bytes to the front of a new store).
    let scanned = 0;
    for (;;) {
      if (this.end - this.start >= 3 && this.store[this.start] === 0x2e && this.store[this.start + 1] === 0x0d && this.store[this.start + 2] === 0x0a) {
        this.start += 3;
        return { raw: Buffer.alloc(0), data: Buffer.alloc(0) };
      }
      const i = this.store.subarray(0, this.end).indexOf('\r\n.\r\n', this.start + Math.max(0, scanned - 4));
      if (i >= 0) {
        const raw = Buffer.from(this.store.subarray(this.start, i + 2));
        this.start = i + 5;
        return { raw, data: unstuff(raw) };
      }
      scanned = this.end - this.start;
      await this.wait(deadline, 'the end of a multi-line response');
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Send a command line and return the status line. */
  async cmd(line: string, timeoutMs?: number): Promise<string> {
    this.write(line + '\r\n');
    return this.line(timeoutMs);
  }

  /** Send and assert +OK. */
  async ok(line: string): Promise<string> {
    const r = await this.cmd(line);
    if (!r.startsWith('+OK')) throw new Error(`${line.split(' ')[0]} failed: ${r}`);
    return r;
  }

  /** Send a command with a multi-line answer; the body is read only after +OK. */
  async multi(line: string, timeoutMs?: number): Promise<MultiResponse> {
    const status = await this.cmd(line, timeoutMs);
    if (!status.startsWith('+OK')) return { status, raw: Buffer.alloc(0), data: Buffer.alloc(0), lines: [] };
    const b = await this.body(timeoutMs);
    const text = b.data.toString('utf8');
    return { status, ...b, lines: text ? text.replace(/\r\n$/, '').split('\r\n') : [] };
  }

  /** After "+OK Begin TLS": upgrade this connection. */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
    await once(s, 'secureConnect');
    this.socket = s;
    this.start = this.end = 0;
    this.hook(s);
  }

  /** Wait until the server closes; returns the lines it sent meanwhile. */
  async untilClosed(timeoutMs = TIMEOUT): Promise<string[]> {
    const out: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        out.push(await this.line(Math.max(1, deadline - Date.now())));
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
