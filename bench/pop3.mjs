#!/usr/bin/env node
/**
 * POP3 benchmark: Mailwright against a private Dovecot POP3 (Debian dovecot-pop3d), on copies of the same generated
 * Maildir, with the same raw-socket client, in the same run.
 *
 * 1. Generates a Maildir of N messages (default 10,000; bench/lib/maildir-gen.mjs, seeded; CRLF line ends by default
 *    as Mailwright's own writers store them, --lf for LF files as Postfix/Dovecot write them).
 * 2. Copies it into Mailwright's data dir for bench@example.test (domain and user made with the CLI) and into a
 *    private Dovecot's mail_location (owned by "nobody"; config in the temp dir, passwd-file user, ssl = no,
 *    everything else default, e.g. pop3_uidl_format %08Xu%08Xv); starts both on 127.0.0.1 ports the OS picks.
 * 3. Against each server (time = from writing the first command to reading the last response):
 *    - login+STAT (first): USER, PASS, STAT on a fresh connection: the server indexes the Maildir;
 *    - login+STAT (warm): the median of 5 more fresh connections;
 *    - UIDL: the whole listing; LIST: the whole listing;
 *    - RETR all: RETR 1..N one after the other (each answer read completely before the next command), the bytes
 *      checked against the sizes LIST gave;
 *    - QUIT (UPDATE state; both servers add \Seen to retrieved messages here).
 * 4. Prints a table (ratio = Mailwright / Dovecot time; target <= 1) and writes bench/results/pop3-<date>.json.
 * Message counts, total octets and the number of distinct UIDLs are compared between the servers.
 *
 * Usage: node bench/pop3.mjs [--messages N] [--seed S] [--lf] [--only mailwright|dovecot] [--rounds R]
 *                            [--timeout SECONDS] [--no-build] [--keep]
 * Needs root (private Dovecot, chown) and /usr/sbin/dovecot with dovecot-pop3d. Every process it started is stopped
 * at the end, also on errors and signals.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateMaildir } from './lib/maildir-gen.mjs';
import { run, freePort, waitGone, readPasswd, median, sleep, fail, treeCpuMs } from './lib/proc.mjs';
import { startDovecot as startPrivateDovecot } from './lib/dovecot.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOMAIN = 'example.test';
const USER = `bench@${DOMAIN}`;
const PASSWORD = 'bench-secret-1';
const WARM_SAMPLES = 5;

function parseArgs(argv) {
  const o = { messages: 10000, seed: 42, lf: false, only: null, rounds: 1, timeout: 1800, build: true, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '-m' || a === '--messages') o.messages = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--lf') o.lf = true;
    else if (a === '--only') o.only = val();
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.messages) || o.messages < 1) usage('--messages must be a positive integer');
  if (o.only && !['mailwright', 'dovecot'].includes(o.only)) usage('--only mailwright|dovecot');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) usage('--rounds must be a positive integer');
  return o;
}

function usage(msg) {
  if (msg) console.error(`pop3-bench: ${msg}`);
  console.error('usage: node bench/pop3.mjs [--messages N] [--seed S] [--lf] [--only mailwright|dovecot] [--rounds R] [--timeout S] [--no-build] [--keep]');
  process.exit(msg ? 2 : 0);
}

const log = (...a) => console.error('pop3-bench:', ...a);

// ---------------------------------------------------------------- cleanup
const started = new Set();
const cleanups = [];
function track(child) {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}
async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (err) {
      console.error(`pop3-bench: cleanup: ${err.message}`);
    }
  }
  for (const c of started) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

// ---------------------------------------------------------------- a raw POP3 client
class Pop3 {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(1 << 20);
    this.start = 0;
    this.end = 0;
    this.waiter = null;
    this.closed = false;
    sock.on('data', (d) => {
      if (this.end + d.length > this.buf.length) {
        const used = this.end - this.start;
        let cap = this.buf.length;
        while (cap < used + d.length) cap *= 2;
        const next = cap === this.buf.length ? this.buf : Buffer.allocUnsafe(cap);
        this.buf.copy(next, 0, this.start, this.end);
        this.buf = next;
        this.start = 0;
        this.end = used;
      }
      d.copy(this.buf, this.end);
      this.end += d.length;
      this.poke();
    });
    sock.on('close', () => {
      this.closed = true;
      this.poke();
    });
    sock.on('error', () => {});
  }
  poke() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  static connect(port) {
    return new Promise((res, rej) => {
      const s = net.connect({ host: '127.0.0.1', port }, async () => {
        s.setNoDelay(true);
        const c = new Pop3(s);
        try {
          c.greeting = await c.line();
          res(c);
        } catch (e) {
          rej(e);
        }
      });
      s.once('error', rej);
    });
  }
  async more() {
    if (this.closed) throw fail('connection closed');
    await new Promise((r) => (this.waiter = r));
  }
  async line() {
    for (;;) {
      const i = this.buf.indexOf('\r\n', this.start);
      if (i >= 0 && i < this.end) {
        const l = this.buf.toString('latin1', this.start, i);
        this.start = i + 2;
        if (this.start === this.end) this.start = this.end = 0;
        return l;
      }
      await this.more();
    }
  }
  /** Reads a multi-line body; returns its length in octets (as sent, stuffed). */
  async body() {
    let scan = this.start;
    for (;;) {
      if (this.end - this.start >= 3 && this.buf[this.start] === 0x2e && this.buf[this.start + 1] === 0x0d && this.buf[this.start + 2] === 0x0a) {
        this.start += 3;
        return { octets: 0, text: '' };
      }
      const i = this.buf.subarray(0, this.end).indexOf('\r\n.\r\n', Math.max(this.start, scan - 4));
      if (i >= 0) {
        const r = { octets: i + 2 - this.start, start: this.start, stop: i + 2 };
        r.text = null;
        this.lastBody = [r.start, r.stop];
        this.start = i + 5;
        if (this.start === this.end) this.start = this.end = 0;
        return r;
      }
      scan = this.end;
      await this.more();
    }
  }
  async cmd(line) {
    this.sock.write(line + '\r\n');
    const l = await this.line();
    if (!l.startsWith('+OK')) throw fail(`${line.split(' ')[0]}: ${l}`);
    return l;
  }
  async multi(line) {
    const status = await this.cmd(line);
    const lines = [];
    for (;;) {
      const l = await this.line();
      if (l === '.') break;
      lines.push(l.startsWith('.') ? l.slice(1) : l);
    }
    return { status, lines };
  }
  close() {
    this.sock.destroy();
  }
}

async function waitForGreeting(port, ms, isAlive) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive()) throw fail(`server on port ${port} exited during start-up`);
    try {
      const c = await Pop3.connect(port);
      c.close();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw fail(`no POP3 greeting on 127.0.0.1:${port} after ${ms} ms`);
}

// ---------------------------------------------------------------- servers
async function startMailwright(base, source) {
  const dir = join(base, 'mailwright');
  await fsp.mkdir(dir, { mode: 0o700 });
  const port = await freePort();
  const configFile = join(dir, 'mailwright.yaml');
  const dataDir = join(dir, 'data');
  const config = {
    hostname: 'bench.example.test',
    dataDir,
    listen: { smtp: false, submission: false, submissions: false, imap: false, imaps: false, pop3: `127.0.0.1:${port}`, pop3s: false, http: null },
    log: { level: 'warn' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const cli = (...args) => run(process.execPath, ['bin/mailwright.js', '--config', configFile, ...args], { cwd: ROOT });
  cli('domain', 'add', DOMAIN);
  cli('user', 'add', USER, '--password', PASSWORD);
  const maildir = join(dataDir, 'mail', DOMAIN, 'bench');
  await fsp.mkdir(maildir, { recursive: true, mode: 0o700 });
  run('cp', ['-a', `${source}/.`, `${maildir}/`]);
  const logFile = join(dir, 'server.log');
  const logFd = await fsp.open(logFile, 'a');
  const server = track(spawn(process.execPath, [...(process.env.MW_BENCH_NODE_ARGS ? process.env.MW_BENCH_NODE_ARGS.split(' ') : []), 'bin/mailwright.js', '--config', configFile, 'serve'], { cwd: ROOT, stdio: ['ignore', logFd.fd, logFd.fd] }));
  await logFd.close();
  let exited = false;
  server.once('exit', () => (exited = true));
  const stop = async () => {
    if (exited) return;
    server.kill('SIGTERM');
    if (!(await waitGone(server.pid, 15000))) server.kill('SIGKILL');
    await waitGone(server.pid, 5000);
  };
  cleanups.push(stop);
  try {
    await waitForGreeting(port, 30000, () => !exited);
  } catch (err) {
    throw fail(`${err.message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  return { name: 'mailwright', version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version, port, stop, pid: server.pid };
}

async function startDovecot(base, source) {
  for (const u of ['dovecot', 'dovenull']) if (!readPasswd(u)) throw fail(`the ${u} user does not exist (install Debian's dovecot-core)`);
  // The private instance of bench/lib/dovecot.mjs, serving POP3; the user's Maildir is a copy of `source`.
  const dc = await startPrivateDovecot({ dir: join(base, 'dovecot'), users: [{ user: USER, pass: PASSWORD, maildir: source }], protocol: 'pop3' });
  cleanups.push(dc.stop);
  return { name: 'dovecot', version: dc.version, port: dc.port, stop: dc.stop, pid: dc.pid };
}

// ---------------------------------------------------------------- the suite
/** The server's process tree (set per server): its CPU time is measured around each step as well. */
let serverPid = 0;

async function timed(fn) {
  const c = serverPid ? treeCpuMs(serverPid) : 0;
  const t = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  return { ms, cpuMs: serverPid ? treeCpuMs(serverPid) - c : null, r };
}

async function loginStat(port) {
  return timed(async () => {
    const c = await Pop3.connect(port);
    await c.cmd(`USER ${USER}`);
    await c.cmd(`PASS ${PASSWORD}`);
    const s = await c.cmd('STAT');
    return { c, stat: s };
  });
}

async function runSuite(srv, n) {
  const steps = {};
  serverPid = srv.pid ?? 0;
  const note = (k, label, ms, extra = {}) => {
    steps[k] = { label, ms, ...extra };
    const cpu = extra.cpuMs != null ? ` (server CPU ${extra.cpuMs.toFixed(1)} ms)` : '';
    log(`${srv.name}: ${label}: ${ms.toFixed(1)} ms${cpu}`);
  };
  const first = await loginStat(srv.port);
  const [, count, octets] = /^\+OK (\d+) (\d+)/.exec(first.r.stat);
  if (Number(count) !== n) throw fail(`${srv.name}: STAT says ${count} messages, expected ${n}`);
  note('loginFirst', 'login+STAT (first: indexing)', first.ms, { cpuMs: first.cpuMs, count: Number(count), octets: Number(octets) });
  first.r.c.sock.write('QUIT\r\n');
  await first.r.c.line();
  first.r.c.close();
  const warm = [];
  const warmCpu = [];
  let main;
  for (let i = 0; i < WARM_SAMPLES; i++) {
    const w = await loginStat(srv.port);
    warm.push(w.ms);
    warmCpu.push(w.cpuMs);
    if (i < WARM_SAMPLES - 1) {
      await w.r.c.cmd('QUIT');
      w.r.c.close();
    } else main = w.r.c;
  }
  note('loginWarm', `login+STAT (warm, median of ${WARM_SAMPLES})`, median(warm), { cpuMs: warmCpu[0] == null ? null : median(warmCpu), samples: warm });
  const uidl = await timed(() => main.multi('UIDL'));
  note('uidl', 'UIDL (all)', uidl.ms, { cpuMs: uidl.cpuMs, lines: uidl.r.lines.length, distinct: new Set(uidl.r.lines.map((l) => l.split(' ')[1])).size });
  const list = await timed(() => main.multi('LIST'));
  note('list', 'LIST (all)', list.ms, { cpuMs: list.cpuMs, lines: list.r.lines.length });
  const sizes = list.r.lines.map((l) => Number(l.split(' ')[1]));
  let bytes = 0;
  let mismatches = 0;
  const retr = await timed(async () => {
    for (let i = 1; i <= n; i++) {
      main.sock.write(`RETR ${i}\r\n`);
      const st = await main.line();
      if (!st.startsWith('+OK')) throw fail(`${srv.name}: RETR ${i}: ${st}`);
      const b = await main.body();
      // Octets as sent include the stuffing dots: count them out to compare with LIST.
      const raw = main.buf.subarray(b.start ?? 0, b.stop ?? 0);
      let dots = 0;
      if (raw.length && raw[0] === 0x2e) dots++;
      for (let p = raw.indexOf('\r\n.'); p >= 0 && p + 3 <= raw.length; p = raw.indexOf('\r\n.', p + 3)) dots++;
      const got = b.octets - dots;
      bytes += got;
      if (got !== sizes[i - 1]) mismatches++;
    }
  });
  note('retrAll', `RETR 1..${n}`, retr.ms, { cpuMs: retr.cpuMs, bytes, sizeMismatches: mismatches, mibPerSec: bytes / 1048576 / (retr.ms / 1000) });
  const quit = await timed(() => main.cmd('QUIT'));
  note('quit', 'QUIT (UPDATE: \\Seen on retrieved)', quit.ms, { cpuMs: quit.cpuMs });
  main.close();
  return steps;
}

// ---------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw fail('run as root (private Dovecot, chown)');
  const deadline = setTimeout(() => {
    console.error('pop3-bench: timeout');
    void cleanup().then(() => process.exit(3));
  }, opts.timeout * 1000);
  deadline.unref();
  if (opts.build) run('npm', ['run', 'build'], { cwd: ROOT });
  const base = await fsp.mkdtemp(join(os.tmpdir(), 'mw-pop3-bench-'));
  await fsp.chmod(base, 0o755); // Dovecot's processes (dovenull, nobody) must reach their files below it
  cleanups.push(async () => {
    if (!opts.keep) await fsp.rm(base, { recursive: true, force: true });
    else log(`kept ${base}`);
  });
  const source = join(base, 'source');
  const t0 = Date.now();
  generateMaildir(source, { count: opts.messages, seed: opts.seed, eol: opts.lf ? '\n' : '\r\n' });
  log(`generated ${opts.messages} messages (${opts.lf ? 'LF' : 'CRLF'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const results = [];
  for (let round = 1; round <= opts.rounds; round++) {
    const order = round % 2 ? ['mailwright', 'dovecot'] : ['dovecot', 'mailwright'];
    for (const name of order) {
      if (opts.only && opts.only !== name) continue;
      const rbase = join(base, `r${round}`);
      mkdirSync(rbase, { recursive: true });
      run('sync', []);
      const srv = name === 'mailwright' ? await startMailwright(rbase, source) : await startDovecot(rbase, source);
      try {
        const steps = await runSuite(srv, opts.messages);
        results.push({ server: srv.name, version: srv.version, round, steps });
      } finally {
        await srv.stop();
      }
    }
  }
  // Table: medians over rounds.
  const keys = ['loginFirst', 'loginWarm', 'uidl', 'list', 'retrAll', 'quit'];
  const med = (server, k) => median(results.filter((r) => r.server === server).map((r) => r.steps[k].ms));
  const label = (k) => results[0].steps[k].label;
  const mw = results.find((r) => r.server === 'mailwright');
  const dc = results.find((r) => r.server === 'dovecot');
  console.log(`\nPOP3, ${opts.messages} messages (${opts.lf ? 'LF' : 'CRLF'} files), ${opts.rounds} round(s); times in ms (median over rounds)\n`);
  console.log(`| step | Mailwright ${mw?.version ?? '-'} | ${dc?.version ? `Dovecot ${dc.version.split(' ')[0]}` : 'Dovecot -'} | ratio |`);
  console.log('|---|---|---|---|');
  for (const k of keys) {
    const a = mw ? med('mailwright', k) : null;
    const b = dc ? med('dovecot', k) : null;
    console.log(`| ${label(k)} | ${a?.toFixed(1) ?? '-'} | ${b?.toFixed(1) ?? '-'} | ${a != null && b ? (a / b).toFixed(2) : '-'} |`);
  }
  const medCpu = (server, k) => median(results.filter((r) => r.server === server).map((r) => r.steps[k].cpuMs ?? NaN));
  console.log(`\nServer CPU time per step (ms, all threads and processes of the server; median over rounds)\n`);
  console.log('| step | Mailwright | Dovecot | ratio |');
  console.log('|---|---|---|---|');
  for (const k of keys) {
    const a = mw ? medCpu('mailwright', k) : null;
    const b = dc ? medCpu('dovecot', k) : null;
    console.log(`| ${label(k)} | ${a?.toFixed(1) ?? '-'} | ${b?.toFixed(1) ?? '-'} | ${a != null && b ? (a / b).toFixed(2) : '-'} |`);
  }
  if (mw && dc) {
    const s = (r) => `${r.steps.loginFirst.count} msgs, ${r.steps.loginFirst.octets} octets, ${r.steps.uidl.distinct} distinct UIDLs, RETR ${r.steps.retrAll.bytes} bytes, ${r.steps.retrAll.sizeMismatches} size mismatches`;
    console.log(`\nMailwright: ${s(mw)}\nDovecot:    ${s(dc)}`);
  }
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `pop3-${opts.messages}-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}.json`);
  writeFileSync(file, JSON.stringify({ opts, results, node: process.version, cpus: os.cpus().length }, null, 2));
  log(`wrote ${file}`);
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void cleanup().then(() => process.exit(130)));
main()
  .then(cleanup)
  .catch(async (err) => {
    console.error(err.benchFailure ? `pop3-bench: ${err.message}` : err);
    await cleanup();
    process.exit(1);
  });
