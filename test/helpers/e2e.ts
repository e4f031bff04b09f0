/**
 * Helpers for the end-to-end tests with real IMAP clients (test/e2e/): an in-process server with SMTP, IMAP
 * (STARTTLS) and IMAPS listeners on OS-picked loopback ports, a small raw IMAP client for checking what the server
 * holds, SMTP delivery over a raw socket, and child processes (python3, curl, mbsync, the CLI) that are always
 * killed at the end of a test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { WireClient, dotStuff } from './smtp-client.js';
import { HOSTNAME, ROOT, tempDir, LogCapture } from './server.js';

export const DOMAIN = 'example.test';
export const PASSWORD = 'secret';

export interface ImapTestServer {
  server: RunningServer;
  dataDir: string;
  smtpPort: number;
  imapPort: number;
  imapsPort: number;
  /** The self-signed certificate the server made (PEM file). */
  certFile: string;
  maildir(address: string): string;
  stop(): Promise<void>;
}

/** Start Mailwright in-process with smtp, imap and imaps on 127.0.0.1:0 and create the users (password "secret"). */
export async function startImapServer(o: { users: string[]; dataDir?: string; log?: LogCapture; keepDataDir?: boolean } = { users: [] }): Promise<ImapTestServer> {
  const dataDir = o.dataDir ?? tempDir('mw-e2e-');
  const config = validateConfig(
    {
      hostname: HOSTNAME,
      dataDir,
      listen: { smtp: '127.0.0.1:0', imap: '127.0.0.1:0', imaps: '127.0.0.1:0' },
      smtp: { reverseLookup: false },
      log: { level: o.log ? 'info' : 'silent' },
    },
    'test',
  );
  const logger = createLogger(o.log ? 'info' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  const accounts = new AccountService(server.store);
  if (!(await server.store.getDomain(DOMAIN))) await server.store.addDomain(DOMAIN);
  for (const u of o.users) if (!(await server.store.getUser(u))) await accounts.addUser(u, PASSWORD);
  let stopped = false;
  return {
    server,
    dataDir,
    smtpPort: server.addresses.smtp!.port,
    imapPort: server.addresses.imap!.port,
    imapsPort: server.addresses.imaps!.port,
    certFile: join(dataDir, 'tls', 'selfsigned-cert.pem'),
    maildir(address: string) {
      const at = address.lastIndexOf('@');
      return userMaildir(dataDir, address.slice(at + 1).toLowerCase(), address.slice(0, at));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      forgetEnsured();
      if (!o.dataDir && !o.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A message with CRLF line ends and a given Message-ID. */
export function makeMessage(o: { id: string; subject?: string; from?: string; to?: string; body?: string; date?: Date }): string {
  return [
    `From: ${o.from ?? 'Alice <alice@example.org>'}`,
    `To: ${o.to ?? `u1@${DOMAIN}`}`,
    `Subject: ${o.subject ?? `Message ${o.id}`}`,
    `Date: ${(o.date ?? new Date('2024-05-06T07:08:09Z')).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${o.id}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.body ?? `Body of ${o.id}.`,
    '',
  ].join('\r\n');
}

/** Deliver one message over SMTP (port 25 role) to local recipients; throws unless 250. */
export async function deliver(port: number, to: string | string[], message: string | Buffer, from = 'alice@example.org'): Promise<void> {
  const c = await WireClient.open(port);
  try {
    const r = await c.send(from, Array.isArray(to) ? to : [to], dotStuff(message));
    if (r.code !== 250) throw new Error(`SMTP delivery failed: ${r.raw}`);
    await c.cmd('QUIT').catch(() => {});
  } finally {
    c.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A small raw IMAP client (for checks; the clients under test are the real ones).

export interface TaggedResult {
  status: 'OK' | 'NO' | 'BAD';
  /** The tagged line without the tag. */
  text: string;
  /** Untagged responses as text; literals are inlined as {n}\r\n + bytes (latin1). */
  untagged: string[];
}

export class RawImap {
  static readonly open_ = new Set<RawImap>();
  static closeAll() {
    for (const c of RawImap.open_) c.close();
  }
  private buf = Buffer.alloc(0);
  private n = 0;
  private waiter: (() => void) | null = null;
  private closed = false;
  /** Untagged responses that arrived outside a command (IDLE), in order. */
  readonly unsolicited: string[] = [];
  greeting = '';

  private constructor(public socket: net.Socket) {
    RawImap.open_.add(this);
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.poke();
    });
    socket.on('close', () => {
      this.closed = true;
      RawImap.open_.delete(this);
      this.poke();
    });
    socket.on('error', () => {});
  }

  private poke() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static async connect(port: number, o: { tls?: boolean } = {}): Promise<RawImap> {
    const socket = await new Promise<net.Socket>((res, rej) => {
      const s = o.tls
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: HOSTNAME }, () => res(s))
        : net.connect({ port, host: '127.0.0.1' }, () => res(s));
      s.once('error', rej);
    });
    const c = new RawImap(socket);
    c.greeting = await c.readResponse();
    return c;
  }

  /** Connect, LOGIN, optionally SELECT. */
  static async login(port: number, user: string, mailbox?: string): Promise<RawImap> {
    const c = await RawImap.connect(port);
    const r = await c.cmd(`LOGIN ${quote(user)} ${quote(PASSWORD)}`);
    if (r.status !== 'OK') throw new Error(`LOGIN: ${r.text}`);
    if (mailbox) {
      const s = await c.cmd(`SELECT ${quote(mailbox)}`);
      if (s.status !== 'OK') throw new Error(`SELECT: ${s.text}`);
    }
    return c;
  }

  /** Read one complete response (a line plus its literals), without the final CRLF. */
  async readResponse(timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.completeResponseEnd();
      if (end >= 0) {
        const line = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 2);
        return line;
      }
      if (this.closed) throw new Error(`connection closed (pending: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for a response (pending: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => (clearTimeout(t), r());
      });
    }
  }

  /** Index of the CRLF ending the first complete response (following literals), or -1. */
  private completeResponseEnd(): number {
    let pos = 0;
    for (;;) {
      const nl = this.buf.indexOf('\r\n', pos, 'latin1');
      if (nl < 0) return -1;
      const m = /\{(\d+)\+?\}$/.exec(this.buf.subarray(pos, nl).toString('latin1'));
      if (!m) return nl;
      const after = nl + 2 + Number(m[1]);
      if (after > this.buf.length) return -1;
      pos = after;
    }
  }

  /** Send a command (tag added) and collect the untagged responses up to the tagged one. */
  async cmd(line: string, timeoutMs = 10000): Promise<TaggedResult> {
    const tag = `T${++this.n}`;
    this.socket.write(`${tag} ${line}\r\n`);
    const untagged: string[] = [];
    for (;;) {
      const r = await this.readResponse(timeoutMs);
      if (r.startsWith(tag + ' ')) {
        const rest = r.slice(tag.length + 1);
        const status = rest.split(' ', 1)[0] as TaggedResult['status'];
        return { status, text: rest, untagged };
      }
      untagged.push(r);
    }
  }

  /** Send raw bytes (for IDLE's DONE, literals). */
  write(data: string | Buffer) {
    this.socket.write(data);
  }

  /** Start IDLE; returns the tag. Untagged data is then read with readResponse(). */
  async idle(): Promise<string> {
    const tag = `T${++this.n}`;
    this.socket.write(`${tag} IDLE\r\n`);
    for (;;) {
      const r = await this.readResponse();
      if (r.startsWith('+')) return tag;
      this.unsolicited.push(r);
    }
  }

  async done(tag: string): Promise<string[]> {
    this.socket.write('DONE\r\n');
    const out: string[] = [];
    for (;;) {
      const r = await this.readResponse();
      if (r.startsWith(tag + ' ')) {
        if (!r.startsWith(`${tag} OK`)) throw new Error(`IDLE ended with: ${r}`);
        return out;
      }
      out.push(r);
    }
  }

  close() {
    RawImap.open_.delete(this);
    this.socket.destroy();
  }
}

export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => '\\' + c)}"`;
}

/** Parse "* n FETCH (UID u FLAGS (...))" lines into uid -> flags (sorted). */
export function flagsByUid(untagged: string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const l of untagged) {
    const u = /\bUID (\d+)/.exec(l);
    const f = /\bFLAGS \(([^)]*)\)/.exec(l);
    if (u && f) out.set(Number(u[1]), f[1]!.split(' ').filter(Boolean).sort());
  }
  return out;
}

/** Message-IDs of every message in a mailbox (UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]). */
export async function serverMessageIds(c: RawImap, mailbox: string): Promise<string[]> {
  const s = await c.cmd(`EXAMINE ${quote(mailbox)}`);
  if (s.status !== 'OK') throw new Error(`EXAMINE ${mailbox}: ${s.text}`);
  const exists = Number(/\* (\d+) EXISTS/.exec(s.untagged.join('\n'))?.[1] ?? 0);
  if (exists === 0) return [];
  const r = await c.cmd('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
  if (r.status !== 'OK') throw new Error(`FETCH: ${r.text}`);
  const ids: string[] = [];
  for (const l of r.untagged) {
    const m = /Message-ID:\s*(<[^>]+>)/i.exec(l);
    if (m) ids.push(m[1]!);
    else if (/ FETCH /.test(l)) ids.push('(none)');
  }
  return ids.sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes.

const children = new Set<ChildProcess>();

/** Kill every child process started through run() that is still running (for after() hooks). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Run a program to its end (killed after timeoutMs). Never rejects for a non-zero exit. */
export function run(cmd: string, args: string[], o: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      stderr += `\n[killed after ${o.timeoutMs ?? 30000} ms]`;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 30000);
    child.on('error', (e) => {
      clearTimeout(t);
      children.delete(child);
      rej(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      children.delete(child);
      const stdoutBytes = Buffer.concat(out);
      res({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}

/** Whether dist/ holds a build at least as new as every file under src/ (then bin/mailwright.js runs current code). */
function distIsFresh(): boolean {
  const distCli = join(ROOT, 'dist', 'cli', 'index.js');
  if (!existsSync(distCli)) return false;
  const built = statSync(distCli).mtimeMs;
  let newest = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, name.name);
      if (name.isDirectory()) walk(p);
      else if (name.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(ROOT, 'src'));
  return newest <= built;
}

let cliCommand: { argv: string[]; via: 'bin' | 'tsx' } | null = null;

/**
 * How to run the real `mailwright` CLI, decided once per test process: `node bin/mailwright.js` when dist/ is
 * current (npm test builds first), else the same CLI from the TypeScript sources through tsx (so a stale build is
 * not what gets tested, and every command of one test file runs the same code).
 */
export function mailwrightArgv(): { argv: string[]; via: 'bin' | 'tsx' } {
  cliCommand ??= distIsFresh()
    ? { argv: [join(ROOT, 'bin', 'mailwright.js')], via: 'bin' }
    : { argv: ['--import', 'tsx', join(ROOT, 'test', 'fixtures', 'e2e', 'mailwright-cli.ts')], via: 'tsx' };
  return cliCommand;
}

/** Run `mailwright ARGS` as a child process to its end. */
export function runMailwright(args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult & { via: string }> {
  const m = mailwrightArgv();
  return run(process.execPath, [...m.argv, ...args], o).then((r) => ({ ...r, via: m.via }));
}

/** Write a YAML config for the CLI and `serve`: data under dataDir, smtp/imap/imaps on 127.0.0.1:0, JSON logs. */
export function writeCliConfig(dir: string, dataDir: string): string {
  const file = join(dir, 'mailwright.yaml');
  writeFileSync(
    file,
    [
      `hostname: ${HOSTNAME}`,
      `dataDir: ${dataDir}`,
      'listen:',
      '  smtp: "127.0.0.1:0"',
      '  imap: "127.0.0.1:0"',
      '  imaps: "127.0.0.1:0"',
      'smtp:',
      '  reverseLookup: false',
      'log:',
      '  level: info',
    ].join('\n') + '\n',
  );
  return file;
}

export interface ServedMailwright {
  child: ChildProcess;
  smtpPort: number;
  imapPort: number;
  imapsPort: number;
  output: () => string;
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Start `mailwright --config FILE serve` and wait until smtp, imap and imaps log "listening" (with their ports). */
export function serveMailwright(configFile: string, timeoutMs = 30000): Promise<ServedMailwright> {
  const m = mailwrightArgv();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...m.argv, '--config', configFile, 'serve'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => (children.delete(child), r(c))));
    const port = (name: string) => {
      const x = new RegExp(`"listener":"${name}","address":"[^"]*:(\\d+)"`).exec(out);
      return x ? Number(x[1]) : 0;
    };
    let done = false;
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`mailwright serve did not start:\n${out}`));
    }, timeoutMs);
    const check = () => {
      if (done || !port('smtp') || !port('imap') || !port('imaps')) return;
      done = true;
      clearTimeout(t);
      res({
        child,
        smtpPort: port('smtp'),
        imapPort: port('imap'),
        imapsPort: port('imaps'),
        output: () => out,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const k = setTimeout(() => child.kill('SIGKILL'), 10000);
          const code = await exited;
          clearTimeout(k);
          return code;
        },
      });
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => ((out += d), check()));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => {
      if (!done) {
        clearTimeout(t);
        rej(new Error(`mailwright serve exited with ${code}:\n${out}`));
      }
    });
  });
}

export { tempDir, HOSTNAME, ROOT };

/** Poll until fn() returns a truthy value (or throw after timeoutMs). */
export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
