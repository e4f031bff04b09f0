/**
 * Helpers for the submission and outbound-queue tests (test/submission/, test/queue/): an in-process Mailwright
 * with submission (587-style, STARTTLS) and submissions (465-style, implicit TLS) listeners, the queue and
 * remote delivery configured for loopback peers (queue.*, delivery.*, dns.servers); the same as a child process
 * (`mailwright serve`, for kill -9 and the CLI over the control socket); runners for swaks, Python and the CLI;
 * and small polling helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import type { QueueListItem } from '../../src/queue/manager.js';
import { BIN, HOSTNAME, LogCapture, ROOT, requireBuild, tempDir } from './server.js';

export { HOSTNAME, LogCapture };
export const DOMAIN = 'example.test';
export const PASSWORD = 'secret';

export interface MwOptions {
  dataDir?: string;
  log?: LogCapture;
  queue?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  dns?: Record<string, unknown>;
  smtp?: Record<string, unknown>;
  /** Extra/overriding listeners (smtp, submission and submissions are on 127.0.0.1:0 by default). */
  listen?: Record<string, string | false>;
  users?: string[];
  aliases?: [string, string][];
  domains?: string[];
}

export interface Mw {
  server: RunningServer;
  accounts: AccountService;
  dataDir: string;
  smtpPort: number;
  submissionPort: number;
  submissionsPort: number;
  maildir(address: string): string;
  /** Files in new/ of an address (sorted by name), contents as latin1 text. */
  newFiles(address: string): { name: string; path: string; text: string }[];
  queue(): Promise<QueueListItem[]>;
  stop(): Promise<void>;
}

/** Config object for validateConfig / a YAML file (JSON is valid YAML). */
export function mwConfig(dataDir: string, o: MwOptions = {}, level = 'silent'): Record<string, unknown> {
  return {
    hostname: HOSTNAME,
    dataDir,
    listen: { smtp: '127.0.0.1:0', submission: '127.0.0.1:0', submissions: '127.0.0.1:0', ...o.listen },
    smtp: { reverseLookup: false, ...o.smtp },
    ...(o.dns ? { dns: o.dns } : {}),
    queue: { retryBaseSeconds: 0.5, retryMaxSeconds: 2, concurrency: 20, ...o.queue },
    delivery: { commandTimeoutSeconds: 5, ...o.delivery },
    log: { level },
  };
}

export async function provisionStore(server: RunningServer, o: MwOptions): Promise<void> {
  const accounts = new AccountService(server.store);
  for (const d of o.domains ?? [DOMAIN]) if (!(await server.store.getDomain(d))) await server.store.addDomain(d);
  for (const u of o.users ?? []) if (!(await server.store.getUser(u))) await accounts.addUser(u, PASSWORD);
  for (const [s, d] of o.aliases ?? []) await server.store.addAlias(s, d);
}

export function maildirOf(dataDir: string, address: string): string {
  const at = address.lastIndexOf('@');
  return userMaildir(dataDir, address.slice(at + 1).toLowerCase(), address.slice(0, at));
}

export function newFilesOf(dataDir: string, address: string): { name: string; path: string; text: string }[] {
  const dir = join(maildirOf(dataDir, address), 'new');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, path: join(dir, name), text: readFileSync(join(dir, name), 'latin1') }));
}

/** Start Mailwright in-process with submission listeners and a queue tuned for tests. */
export async function startMw(o: MwOptions = {}): Promise<Mw> {
  const dataDir = o.dataDir ?? tempDir('mw-queue-');
  const config = validateConfig(mwConfig(dataDir, o, o.log ? 'info' : 'silent'), 'test');
  const logger = createLogger(o.log ? 'info' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  try {
    await provisionStore(server, o);
  } catch (err) {
    await server.stop();
    throw err;
  }
  let stopped = false;
  return {
    server,
    accounts: new AccountService(server.store),
    dataDir,
    smtpPort: server.addresses.smtp?.port ?? 0,
    submissionPort: server.addresses.submission?.port ?? 0,
    submissionsPort: server.addresses.submissions?.port ?? 0,
    maildir: (a) => maildirOf(dataDir, a),
    newFiles: (a) => newFilesOf(dataDir, a),
    queue: () => server.queue.list(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      forgetEnsured();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll until fn returns a truthy value (returned), or throw after timeoutMs with the message. */
export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// child processes: swaks, python3, the CLI, `mailwright serve`

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Kill every child process a test left running (call in after()). */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

export function run(cmd: string, args: string[], o: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ProcResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(t);
      children.delete(child);
      res({ code, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** swaks with the given options; the transcript is in stdout. */
export function swaks(args: string[]): Promise<ProcResult> {
  return run('swaks', ['--hide-informational', '--timeout', '10', ...args]);
}

/** Debian's python3 (not a pyenv one first on PATH) running a script given on stdin. */
export function python(script: string, args: string[] = []): Promise<ProcResult> {
  const py = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return run(py, ['-', ...args], { input: script });
}

/** `node bin/mailwright.js --config FILE ARGS`. */
export function cli(configFile: string, args: string[]): Promise<ProcResult> {
  requireBuild();
  return run(process.execPath, [BIN, '--config', configFile, ...args]);
}

export async function cliJson<T>(configFile: string, args: string[]): Promise<T> {
  const r = await cli(configFile, args);
  if (r.code !== 0) throw new Error(`mailwright ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** Write the config as a file (JSON is YAML) for the CLI and `serve`. */
export function writeMwConfig(dir: string, dataDir: string, o: MwOptions = {}): string {
  const file = join(dir, 'mailwright.yaml');
  writeFileSync(file, JSON.stringify(mwConfig(dataDir, o, 'info'), null, 2) + '\n');
  return file;
}

export interface ServeChild {
  child: ChildProcess;
  ports: Record<string, number>;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM and wait (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** Start `mailwright serve --config FILE` and wait until smtp, submission and submissions listen. */
export function spawnMw(configFile: string, need = ['smtp', 'submission'], timeoutMs = 20_000): Promise<ServeChild> {
  requireBuild();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    const ports: Record<string, number> = {};
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => (children.delete(child), r(c))));
    let done = false;
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`server did not start:\n${out}`));
    }, timeoutMs);
    const onData = (d: string) => {
      out += d;
      for (const m of out.matchAll(/"listener":"(\w+)","address":"[^"]*:(\d+)"/g)) ports[m[1]!] = Number(m[2]);
      if (!done && need.every((n) => ports[n])) {
        done = true;
        clearTimeout(t);
        res({
          child,
          ports,
          output: () => out,
          exited,
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            const k = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(k);
          },
        });
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => {
      if (!done) {
        clearTimeout(t);
        rej(new Error(`server exited with ${code}:\n${out}`));
      }
    });
  });
}

/** A plain message with CRLF line ends. */
export function message(o: { from: string; to: string; subject?: string; messageId?: string | null; date?: string | null; body?: string; extra?: string[] }): string {
  const h = [`From: ${o.from}`, `To: ${o.to}`, `Subject: ${o.subject ?? 'test'}`];
  if (o.date !== null) h.push(`Date: ${o.date ?? 'Fri, 27 Nov 2026 10:00:00 +0000'}`);
  if (o.messageId !== null) h.push(`Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@client.example.test>`}`);
  h.push(...(o.extra ?? []));
  return h.join('\r\n') + '\r\n\r\n' + (o.body ?? 'Hello.\r\n');
}

/** A header's value from a message (first occurrence, unfolded), or null. */
export function header(text: string, name: string): string | null {
  const head = text.split(/\r?\n\r?\n/)[0]!;
  const m = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim() : null;
}

/**
 * Submit one message on the submission port (AUTH PLAIN without TLS: allowed on loopback) or, with auth null, on
 * the MX port. Returns the queue id from the 250 reply; throws on any other reply.
 */
export async function submit(
  port: number,
  o: { from: string; to: string[]; subject?: string; auth?: string | null; headerFrom?: string; body?: string },
): Promise<string> {
  const { WireClient, dotStuff } = await import('./smtp-client.js');
  const c = await WireClient.connect(port);
  try {
    await c.read();
    await c.cmd('EHLO client.example.org');
    if (o.auth !== null) {
      const user = o.auth ?? o.from;
      const r = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`);
      if (r.code !== 235) throw new Error(`AUTH: ${r.raw}`);
    }
    const r = await c.send(o.from, o.to, dotStuff(message({ from: o.headerFrom ?? (o.from || 'nobody@example.org'), to: o.to.join(', '), subject: o.subject ?? 'queued', body: o.body })));
    if (r.code !== 250) throw new Error(`submit: ${r.raw}`);
    await c.cmd('QUIT').catch(() => undefined);
    return /queued as ([0-9A-Z]+)/.exec(r.raw)![1]!;
  } finally {
    c.close();
  }
}

/** The parts of a DSN (RFC 3464) as text: the whole message, the delivery-status part and the attached original. */
export function dsnParts(text: string): { all: string; status: string; original: string } {
  const b = /boundary="([^"]+)"/.exec(text)?.[1];
  if (!b) throw new Error(`not a multipart DSN:\n${text.slice(0, 500)}`);
  const parts = text.split(`--${b}`);
  const status = parts.find((p) => /Content-Type: message\/delivery-status/i.test(p)) ?? '';
  const original = parts.find((p) => /Content-Type: (text\/rfc822-headers|message\/rfc822)/i.test(p)) ?? '';
  return { all: text, status, original };
}
