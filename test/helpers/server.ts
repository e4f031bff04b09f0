/**
 * Test helpers: start a Mailwright server in-process (startServer from src/main.ts) on an OS-picked loopback port
 * with a fresh data directory, create domains/users/aliases, read what landed in the Maildirs, and run the real
 * CLI (bin/mailwright.js, needs `npm run build`) as a child process.
 */
import { mkdtempSync, rmSync, readdirSync, readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import assertStrict from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HOSTNAME = 'mail.example.test';

/** Directories made by tempDir in this test process: removed when it exits (MW_KEEP_TEST_DIRS=1 keeps them). */
const madeDirs: string[] = [];

/** A fresh directory under the system's temp dir, removed when the test process exits. */
export function tempDir(prefix = 'mw-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!madeDirs.length && !process.env.MW_KEEP_TEST_DIRS) {
    process.once('exit', () => {
      for (const d of madeDirs) {
        try {
          rmSync(d, { recursive: true, force: true });
        } catch {
          // still in use or already gone: nothing to do at exit
        }
      }
    });
  }
  madeDirs.push(dir);
  return dir;
}

/** A writable stream that keeps pino's JSON lines, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  private rest = '';
  private waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    const text = this.rest + chunk.toString('utf8');
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.trim()) continue;
      const line = JSON.parse(p) as Record<string, unknown>;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    }
    cb();
  }
  /** Resolves with the first line (already logged or coming) that matches. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('log line not seen')), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(t), res(l)) });
    });
  }
}

export interface TestServerOptions {
  smtp?: Record<string, unknown>;
  /** Capture log lines (level info) instead of discarding them. */
  log?: LogCapture;
  dataDir?: string;
  database?: string;
  tls?: { cert: string; key: string };
  /** Extra listeners, e.g. `{ imap: '127.0.0.1:0', imaps: '127.0.0.1:0' }` (smtp is always on 127.0.0.1:0). */
  listen?: Record<string, string>;
  /** The `imap` config section (e.g. allowInsecureAuth, maxAppendSize). */
  imap?: Record<string, unknown>;
}

export interface TestServer {
  server: RunningServer;
  accounts: AccountService;
  port: number;
  host: string;
  dataDir: string;
  /** Maildir root of an address (its tmp/new/cur are inside). */
  maildir(address: string): string;
  /** Contents of every file in new/ of an address, sorted by file name. */
  newFiles(address: string): { name: string; path: string; content: Buffer }[];
  /** Every file under <dataDir>/mail/* / * /new (all users). */
  allNewFiles(): string[];
  stop(): Promise<void>;
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = o.dataDir ?? tempDir();
  const config = validateConfig(
    {
      hostname: HOSTNAME,
      dataDir,
      ...(o.database ? { database: o.database } : {}),
      listen: { smtp: '127.0.0.1:0', ...o.listen },
      smtp: { reverseLookup: false, ...o.smtp },
      ...(o.imap ? { imap: o.imap } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
      log: { level: o.log ? 'info' : 'silent' },
    },
    'test',
  );
  const logger = createLogger(o.log ? 'info' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  const addr = server.addresses.smtp!;
  const maildir = (address: string) => {
    const at = address.lastIndexOf('@');
    return userMaildir(dataDir, address.slice(at + 1).toLowerCase(), address.slice(0, at));
  };
  return {
    server,
    accounts: new AccountService(server.store),
    port: addr.port,
    host: addr.host,
    dataDir,
    maildir,
    newFiles(address: string) {
      const dir = join(maildir(address), 'new');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .sort()
        .map((name) => ({ name, path: join(dir, name), content: readFileSync(join(dir, name)) }));
    },
    allNewFiles() {
      return listNewFiles(join(dataDir, 'mail'));
    },
    async stop() {
      await server.stop();
      forgetEnsured();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every file in any new/ directory below `root` (mail/<domain>/<user>/new/...). */
export function listNewFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (!statSync(p).isDirectory()) continue;
      if (name === 'new') for (const f of readdirSync(p)) out.push(join(p, f));
      else walk(p);
    }
  };
  walk(root);
  return out.sort();
}

/** Create a domain, users (password "secret") and aliases in one go. */
export async function provision(
  ts: TestServer,
  setup: { domains: string[]; users?: string[]; aliases?: [string, string][]; disabled?: string[] },
): Promise<void> {
  for (const d of setup.domains) await ts.server.store.addDomain(d);
  for (const u of setup.users ?? []) await ts.accounts.addUser(u, 'secret');
  for (const [s, d] of setup.aliases ?? []) await ts.server.store.addAlias(s, d);
  for (const u of setup.disabled ?? []) {
    await ts.accounts.addUser(u, 'secret');
    await ts.server.store.setEnabled(u, false);
  }
}

const RFC5322_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$/;

/**
 * The exact bytes a Maildir file must hold: Return-Path, the Received header (RFC 5321 §4.4), then the message as
 * sent (after dot-unstuffing). The date is taken from the file, checked for its form and that it is recent.
 */
export function expectedDelivery(
  file: Buffer,
  e: {
    from: string;
    helo: string;
    id: string;
    protocol?: string;
    forRcpt?: string | null;
    tls?: { version: string; cipher: string } | null;
    clientAddress?: string;
    message: Buffer | string;
  },
): Buffer {
  const text = file.toString('latin1');
  const m = /\r\n\t(?:for <[^>]*>; )?([A-Z][a-z]{2}, [^\r\n]+)\r\n/.exec(text);
  if (!m) throw new Error(`no Received date in:\n${text.slice(0, 400)}`);
  const date = m[1]!;
  if (!RFC5322_DATE.test(date)) throw new Error(`bad Received date: ${date}`);
  const age = Date.now() - Date.parse(date);
  if (!(age > -2000 && age < 120_000)) throw new Error(`Received date not recent: ${date}`);
  const lines = [`Return-Path: <${e.from}>`, `Received: from ${e.helo} (unknown [${e.clientAddress ?? '127.0.0.1'}])`];
  if (e.tls) lines.push(`\t(using ${e.tls.version} with cipher ${e.tls.cipher})`);
  const proto = e.protocol ?? (e.tls ? 'ESMTPS' : 'ESMTP');
  if (e.forRcpt) {
    lines.push(`\tby ${HOSTNAME} (Mailwright) with ${proto} id ${e.id}`, `\tfor <${e.forRcpt}>; ${date}`);
  } else {
    lines.push(`\tby ${HOSTNAME} (Mailwright) with ${proto} id ${e.id};`, `\t${date}`);
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n', 'latin1'), Buffer.isBuffer(e.message) ? e.message : Buffer.from(e.message, 'utf8')]);
}

/** The queue id from "250 2.0.0 Ok: queued as ID". */
export function queueIdOf(reply: string): string {
  const m = /queued as ([0-9A-Z]+)/.exec(reply);
  if (!m) throw new Error(`no queue id in reply: ${reply}`);
  return m[1]!;
}

// ---------------------------------------------------------------------------------------------------------------
// The real CLI as a child process.

export const BIN = join(ROOT, 'bin', 'mailwright.js');

/** Throws a clear message when dist/ has not been built. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does it)');
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node bin/mailwright.js ARGS` to its end. */
export function runCli(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  requireBuild();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...process.env, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** Write a YAML config for the CLI/serve with its data under `dir`. Returns the file path. */
export function writeConfig(dir: string, extra = ''): string {
  const file = join(dir, 'mailwright.yaml');
  writeFileSync(
    file,
    [`hostname: ${HOSTNAME}`, `dataDir: ./data`, `listen:`, `  smtp: "127.0.0.1:0"`, `smtp:`, `  reverseLookup: false`, extra].join('\n') + '\n',
  );
  return file;
}

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Start `mailwright serve --config FILE` and wait for its "listening" log line (it names the port). */
export function spawnServe(configFile: string, timeoutMs = 20000): Promise<ServeProcess> {
  requireBuild();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`server did not start:\n${out}\n${err}`));
    }, timeoutMs);
    let done = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /"listener":"smtp","address":"[^"]*:(\d+)"/.exec(out);
      if (m && !done) {
        done = true;
        clearTimeout(t);
        res({ child, port: Number(m[1]), stdout: () => out, stderr: () => err, exited });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => {
      if (!done) {
        clearTimeout(t);
        rej(new Error(`server exited with ${code}:\n${out}\n${err}`));
      }
    });
  });
}

/** Assert a Maildir file is exactly Return-Path + Received + the message; the diff is shown as text. */
export function assertDelivered(file: Buffer, e: Parameters<typeof expectedDelivery>[1]): void {
  const expected = expectedDelivery(file, e);
  if (!file.equals(expected)) {
    // latin1 keeps one character per byte, so the text diff shows the differing bytes.
    assertStrict.equal(file.toString('latin1'), expected.toString('latin1'));
    assertStrict.fail('files differ');
  }
}
