#!/usr/bin/env node
/**
 * IMAP benchmark: Mailwright against a private Dovecot (Debian dovecot-imapd), same generated Maildir, same client,
 * same run, same machine.
 *
 * 1. Generates a Maildir of N messages (default 100,000; bench/lib/maildir-gen.mjs: seeded, varied: plain text,
 *    multipart/alternative, base64 attachments, encoded-word subjects, Dates over two years, S/F/R flags in ":2,").
 * 2. Copies it into Mailwright's data dir for bench@example.test (user created with the CLI first) and into a
 *    private Dovecot's mail_location (owned by "nobody"), and starts both on 127.0.0.1 ports the OS picks.
 * 3. Against each server, with the raw-socket client of bench/lib/imap-client.mjs (time = from writing the command
 *    to reading its tagged response): LOGIN (median of 10 fresh connections), first SELECT INBOX (the server
 *    indexes the Maildir), warm SELECT (after UNSELECT), UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE) (first =
 *    files parsed; again = from the server's cache), UID SEARCH HEADER Subject <word>, UID SEARCH BODY <word>,
 *    UID SORT (DATE / SUBJECT / REVERSE FROM) and UID THREAD (REFERENCES / ORDEREDSUBJECT) over ALL while a second
 *    connection sends NOOPs (the slowest NOOP = how long other sessions wait), STORE 1:1000 +FLAGS (\Flagged), APPEND of ~4 KB messages (1 connection x 1,000 and 10 connections x 1,000:
 *    messages/s), and memory per idle connection: --idle connections (default 1,000) each LOGIN, SELECT INBOX,
 *    IDLE; memory before and after (Mailwright: RSS and PSS of the node process; Dovecot: sum of PSS and RSS over
 *    the master and all its children: imap, imap-login, auth, anvil, log, config, stats), difference / count.
 * 4. Prints a table (ratio = Mailwright / Dovecot time; target <= 1) and the memory comparison (target < 0.2),
 *    writes bench/results/imap-<date>.json.
 * Result counts (EXISTS, FETCH responses, SEARCH hits) of both servers are compared: a mismatch is reported.
 *
 * Usage: node bench/imap.mjs [--messages N] [--idle N] [--seed S] [--only mailwright|dovecot] [--crlf]
 *                            [--skip append,memory] [--timeout SECONDS] [--no-build] [--keep] [--node-arg ARG]...
 *   --skip leaves out the APPEND steps and/or the idle-connection memory step (quicker runs while profiling).
 *   --crlf writes the generated messages with CRLF (default LF, as Dovecot/Postfix/mutt write Maildirs).
 *   --node-arg passes an option to the Mailwright server's node (e.g. --node-arg --cpu-prof --node-arg
 *   --cpu-prof-dir=/tmp/prof; the profile is written when the server stops).
 * Needs root (private Dovecot, chown), /usr/sbin/dovecot. Bounded by --timeout (default 5400 s); every process it
 * started is stopped at the end, also on errors and signals.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapClient } from './lib/imap-client.mjs';
import { generateMaildir, appendMessage, SUBJECT_WORD, BODY_WORD } from './lib/maildir-gen.mjs';
import { warmClient } from './lib/client-warmup.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOMAIN = 'example.test';
const USER = `bench@${DOMAIN}`;
const PASSWORD = 'bench-secret-1';
const LOGIN_SAMPLES = 10;
const STORE_COUNT = 1000;
const APPEND_ONE = 1000;
const APPEND_CONNS = 10;
const APPEND_PER_CONN = 1000;
const SETUP_PARALLEL = 20;

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { messages: 100000, idle: 1000, seed: 42, only: null, crlf: false, timeout: 5400, build: true, keep: false, nodeArgs: [], skip: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '-m' || a === '--messages') o.messages = Number(val());
    else if (a === '--idle') o.idle = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--only') o.only = val();
    else if (a === '--crlf') o.crlf = true;
    else if (a === '--skip') for (const x of val().split(',')) o.skip.add(x.trim());
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-arg') o.nodeArgs.push(val());
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.messages) || o.messages < STORE_COUNT) usage(`--messages must be an integer >= ${STORE_COUNT}`);
  if (!Number.isInteger(o.idle) || o.idle < 1) usage('--idle must be a positive integer');
  if (o.only && !['mailwright', 'dovecot'].includes(o.only)) usage('--only mailwright|dovecot');
  for (const x of o.skip) if (!['append', 'memory'].includes(x)) usage('--skip takes append and/or memory');
  return o;
}

function usage(msg) {
  if (msg) console.error(`imap-bench: ${msg}`);
  console.error('usage: node bench/imap.mjs [--messages N] [--idle N] [--seed S] [--only mailwright|dovecot] [--crlf] [--skip append,memory] [--timeout S] [--no-build] [--keep] [--node-arg ARG]...');
  process.exit(msg ? 2 : 0);
}

const log = (...a) => console.error('imap-bench:', ...a);

// ---------------------------------------------------------------- open-file limit: re-exec with a higher one
function softNofile() {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : 1024;
}

function ensureNofile(need) {
  if (softNofile() >= need) return;
  if (process.env.MW_IMAP_BENCH_REEXEC) {
    console.error(`imap-bench: could not raise the open-file limit to ${need} (now ${softNofile()}); continuing`);
    return;
  }
  // Node cannot call setrlimit: let a shell raise the limit (as far as the hard limit allows) and exec us again.
  const r = spawnSync('sh', ['-c', `ulimit -n ${need} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'sh', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MW_IMAP_BENCH_REEXEC: '1' },
  });
  process.exit(r.status ?? 1);
}

// ---------------------------------------------------------------- process bookkeeping and cleanup
const started = new Set();
const cleanups = [];
let cleaningUp = null;

function track(child) {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

async function cleanup() {
  if (cleaningUp) return cleaningUp;
  cleaningUp = (async () => {
    while (cleanups.length) {
      const f = cleanups.pop();
      try {
        await f();
      } catch (err) {
        console.error(`imap-bench: cleanup: ${err.message}`);
      }
    }
    for (const c of started) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  })();
  return cleaningUp;
}

function fail(msg) {
  const e = new Error(msg);
  e.benchFailure = true;
  return e;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid, ms) {
  const end = Date.now() + ms;
  while (alive(pid) && Date.now() < end) await sleep(50);
  return !alive(pid);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600000, maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    throw fail(`${cmd} ${args.join(' ')} failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

async function waitForGreeting(port, ms, isAlive) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive()) throw fail(`server on port ${port} exited during start-up`);
    try {
      const c = await ImapClient.connect({ port, timeoutMs: 2000 });
      c.destroy();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw fail(`no IMAP greeting on 127.0.0.1:${port} after ${ms} ms`);
}

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function withDeadline(p, deadline, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(fail(`${what}: not finished before the deadline`)), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------- /proc readers
function readRollup(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function processTree(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...childrenOf(p));
  }
  return out;
}

function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Memory of a process tree: sums of RSS and PSS (KiB), and how many processes of each name. */
function treeMemory(rootPid) {
  let rss = 0;
  let pss = 0;
  const names = {};
  for (const p of processTree(rootPid)) {
    const r = readRollup(p);
    if (!r) continue;
    rss += r.rss;
    pss += r.pss;
    const n = commOf(p);
    names[n] = (names[n] ?? 0) + 1;
  }
  return { rssKiB: rss, pssKiB: pss, processes: names };
}

function readPasswd(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// ---------------------------------------------------------------- servers
async function startMailwright(base, source, opts) {
  const dir = join(base, 'mailwright');
  await fsp.mkdir(dir, { mode: 0o700 });
  const port = await freePort();
  const configFile = join(dir, 'mailwright.yaml');
  const dataDir = join(dir, 'data');
  const config = {
    hostname: 'bench.example.test',
    dataDir,
    listen: { smtp: false, submission: false, submissions: false, imap: `127.0.0.1:${port}`, imaps: false, pop3: false, pop3s: false, http: null },
    imap: { maxConnectionsPerIp: Math.max(2000, opts.idle + 100), maxConnectionsPerUser: Math.max(2000, opts.idle + 100), maxConnections: Math.max(5000, opts.idle * 2) },
    // The per-address abuse limits (connection rate, commands per second) would throttle a benchmark that runs
    // everything from 127.0.0.1; Dovecot has no such limits here either.
    limits: { connectionsPerMinute: 1e9, connectionBurst: 1e9, commandsPerSecond: 1e9, commandBurst: 1e9 },
    log: { level: 'warn' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const cli = (...args) => run(process.execPath, ['bin/mailwright.js', '--config', configFile, ...args], { cwd: ROOT });
  cli('domain', 'add', DOMAIN);
  cli('user', 'add', USER, '--password', PASSWORD);
  const maildir = join(dataDir, 'mail', DOMAIN, 'bench');
  await fsp.mkdir(maildir, { recursive: true, mode: 0o700 });
  const t0 = Date.now();
  run('cp', ['-a', `${source}/.`, `${maildir}/`]);
  log(`mailwright: copied the Maildir in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const logFile = join(dir, 'server.log');
  let server;
  let exited = false;
  const launch = async () => {
    const logFd = await fsp.open(logFile, 'a');
    server = track(spawn(process.execPath, [...opts.nodeArgs, 'bin/mailwright.js', '--config', configFile, 'serve'], { cwd: ROOT, stdio: ['ignore', logFd.fd, logFd.fd] }));
    await logFd.close();
    exited = false;
    const me = server;
    me.once('exit', () => {
      if (server === me) exited = true;
    });
    try {
      await waitForGreeting(port, 30000, () => !exited);
    } catch (err) {
      throw fail(`${err.message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
  };
  const stop = async () => {
    if (exited) return;
    const s = server;
    s.kill('SIGTERM');
    if (!(await waitGone(s.pid, 15000))) s.kill('SIGKILL');
    await waitGone(s.pid, 5000);
    exited = true;
  };
  cleanups.push(stop);
  await launch();
  return {
    name: 'mailwright',
    version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
    port,
    memory: () => {
      const r = readRollup(server.pid);
      return r ? { rssKiB: r.rss, pssKiB: r.pss, processes: { node: 1 } } : null;
    },
    restart: async () => {
      await stop();
      await launch();
    },
    alive: () => !exited,
    logTail: () => readFileSync(logFile, 'utf8').trim().split('\n').slice(-10),
    maildir,
  };
}

function dovecotConfig(d, port, opts) {
  const limit = Math.max(2000, opts.idle + 100);
  return `# private benchmark instance (bench/imap.mjs)
instance_name = mwbench-${port}
base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 100
mail_location = maildir:${d}/Maildir
mail_max_userip_connections = ${limit}
default_process_limit = ${limit + 100}
default_client_limit = ${limit * 3}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${d}/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u ${d}/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
  process_limit = ${limit}
  client_limit = ${limit * 3}
}
service imap {
  process_limit = ${limit}
}
protocol imap {
  mail_max_userip_connections = ${limit}
}
`;
}

async function startDovecot(base, source, opts) {
  const d = join(base, 'dovecot');
  await fsp.mkdir(d, { mode: 0o755 });
  const owner = readPasswd('nobody') ?? { uid: 65534, gid: 65534 };
  for (const u of ['dovecot', 'dovenull']) if (!readPasswd(u)) throw fail(`the ${u} user does not exist (install the Debian dovecot-core package)`);
  const port = await freePort();
  const home = join(d, 'home');
  await fsp.mkdir(home, { mode: 0o700 });
  await fsp.chown(home, owner.uid, owner.gid);
  writeFileSync(join(d, 'passwd'), `${USER}:{PLAIN}${PASSWORD}:${owner.uid}:${owner.gid}::${home}::\n`);
  const conf = join(d, 'dovecot.conf');
  writeFileSync(conf, dovecotConfig(d, port, opts));
  const maildir = join(d, 'Maildir');
  const t0 = Date.now();
  run('cp', ['-a', source, maildir]);
  run('chown', ['-R', `${owner.uid}:${owner.gid}`, maildir]);
  log(`dovecot: copied the Maildir in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const version = run('dovecot', ['--version']).trim();
  const logFile = join(d, 'dovecot.log');
  let master;
  let exited = false;
  let out = '';
  const launch = async () => {
    master = track(spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
    out = '';
    master.stdout.on('data', (x) => (out += x));
    master.stderr.on('data', (x) => (out += x));
    exited = false;
    const me = master;
    me.once('exit', () => {
      if (master === me) exited = true;
    });
    try {
      await waitForGreeting(port, 30000, () => !exited);
    } catch (err) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw fail(`${err.message}\n${out}\n${tail}`);
    }
  };
  const stop = async () => {
    if (exited) return;
    const m = master;
    const tree = processTree(m.pid);
    m.kill('SIGTERM');
    if (!(await waitGone(m.pid, 15000))) {
      for (const p of tree.reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // The master stops its children; wait for them too (they hold the listening port and the index).
    for (const p of tree) await waitGone(p, 5000);
    exited = true;
  };
  cleanups.push(stop);
  await launch();
  return {
    name: 'dovecot',
    version,
    port,
    memory: () => treeMemory(master.pid),
    restart: async () => {
      await stop();
      await launch();
    },
    alive: () => !exited,
    logTail: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-10) : []),
    problems: () => {
      // Distinct warnings and errors with their counts (our own SIGTERM at restart is expected).
      if (!existsSync(logFile)) return [];
      const counts = new Map();
      for (const l of readFileSync(logFile, 'utf8').split('\n')) {
        const m = /((?:Error|Fatal|Panic|Warning):.*)$/.exec(l);
        if (!m || /Killed with signal 15/.test(m[1])) continue;
        counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
      }
      return [...counts].slice(0, 20).map(([msg, n]) => `${n} x ${msg}`);
    },
    maildir,
  };
}

// ---------------------------------------------------------------- the suite
function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function existsOf(res) {
  for (const u of res.untagged) {
    const m = /^\* (\d+) EXISTS/.exec(u);
    if (m) return Number(m[1]);
  }
  return null;
}

function searchHits(res) {
  const line = res.untagged.find((u) => u.startsWith('* SEARCH'));
  return line ? line.split(' ').length - 2 : 0;
}

async function connectLogin(port) {
  const c = await ImapClient.connect({ port });
  const r = await c.login(USER, PASSWORD);
  return { c, ms: r.ms };
}

async function runSuite(srv, opts, deadline) {
  const port = srv.port;
  const steps = {};
  const step = async (key, label, fn) => {
    if (!srv.alive()) throw fail(`${srv.name} exited:\n${srv.logTail().join('\n')}`);
    const r = await withDeadline(fn(), deadline, `${srv.name}: ${label}`);
    steps[key] = { label, ...r };
    log(`${srv.name}: ${label}: ${r.ms.toFixed(1)} ms${r.note ? ` (${r.note})` : ''}`);
  };
  // LOGIN: median over fresh connections (the first one also starts Dovecot's auth process, Mailwright's store).
  let main;
  await step('login', `LOGIN (median of ${LOGIN_SAMPLES})`, async () => {
    const times = [];
    for (let i = 0; i < LOGIN_SAMPLES; i++) {
      const { c, ms } = await connectLogin(port);
      times.push(ms);
      if (i < LOGIN_SAMPLES - 1) await c.logout();
      else main = c;
    }
    return { ms: median(times), samples: times.map((t) => +t.toFixed(2)) };
  });
  await step('selectFirst', 'SELECT INBOX (first: index build)', async () => {
    const r = await main.command('SELECT INBOX', { keep: true });
    return { ms: r.ms, exists: existsOf(r), note: `${existsOf(r)} EXISTS` };
  });
  await main.command('UNSELECT');
  await step('selectWarm', 'SELECT INBOX (warm, after UNSELECT)', async () => {
    const r = await main.command('SELECT INBOX', { keep: true });
    return { ms: r.ms, exists: existsOf(r) };
  });
  await step('fetchFlags', 'UID FETCH 1:* (FLAGS)', async () => {
    const r = await main.command('UID FETCH 1:* (FLAGS)');
    return { ms: r.ms, responses: r.count, bytes: r.bytes, note: `${r.count} responses` };
  });
  await step('fetchEnvelope', 'FETCH 1:* (ENVELOPE) (first)', async () => {
    const r = await main.command('FETCH 1:* (ENVELOPE)');
    return { ms: r.ms, responses: r.count, bytes: r.bytes, note: `${r.count} responses, ${(r.bytes / 1048576).toFixed(1)} MiB` };
  });
  await step('fetchEnvelopeAgain', 'FETCH 1:* (ENVELOPE) (again, cached)', async () => {
    const r = await main.command('FETCH 1:* (ENVELOPE)');
    return { ms: r.ms, responses: r.count, bytes: r.bytes };
  });
  await step('searchHeader', `UID SEARCH HEADER Subject ${SUBJECT_WORD}`, async () => {
    const r = await main.command(`UID SEARCH HEADER Subject ${SUBJECT_WORD}`, { keep: true });
    return { ms: r.ms, hits: searchHits(r), note: `${searchHits(r)} hits` };
  });
  await step('searchBody', `UID SEARCH BODY ${BODY_WORD}`, async () => {
    const r = await main.command(`UID SEARCH BODY ${BODY_WORD}`, { keep: true });
    return { ms: r.ms, hits: searchHits(r), note: `${searchHits(r)} hits` };
  });
  // SORT and THREAD over the whole mailbox, while a second connection sends NOOPs: the slowest NOOP shows how long
  // other sessions wait meanwhile (issue: large SORT/THREAD must yield to the event loop).
  const probe = (await connectLogin(port)).c;
  for (const [key, cmd] of SORT_THREAD) {
    await step(key, cmd, async () => {
      let running = true;
      let worst = 0;
      let noops = 0;
      const loop = (async () => {
        while (running) {
          const t = await probe.command('NOOP');
          worst = Math.max(worst, t.ms);
          noops++;
          await sleep(5);
        }
      })();
      const r = await main.command(cmd, { keep: true });
      running = false;
      await loop;
      const line = r.untagged.find((u) => u.startsWith('* SORT') || u.startsWith('* THREAD')) ?? '';
      const count = (line.match(/\d+/g) ?? []).length;
      return { ms: r.ms, count, worstNoopMs: +worst.toFixed(1), noops, note: `${count} UIDs, slowest NOOP on another connection ${worst.toFixed(1)} ms` };
    });
  }
  await probe.logout();
  await step('store', `STORE 1:${STORE_COUNT} +FLAGS (\\Flagged)`, async () => {
    const r = await main.command(`STORE 1:${STORE_COUNT} +FLAGS (\\Flagged)`);
    return { ms: r.ms, responses: r.count, note: `${r.count} responses` };
  });
  await main.logout();

  if (!opts.skip.has('append')) await appendSteps(step, port, steps);
  if (!opts.skip.has('memory')) steps.memory = await memorySteps(srv, opts, deadline);
  await sleep(1000);
  return steps;
}

async function appendSteps(step, port, steps) {
  await step('append1', `APPEND ${APPEND_ONE} x ~4 KB, 1 connection`, async () => {
    const { c } = await connectLogin(port);
    const msgs = Array.from({ length: APPEND_ONE }, (_, i) => appendMessage(i));
    const t0 = process.hrtime.bigint();
    for (const m of msgs) await c.append('INBOX', m);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await c.logout();
    const rate = APPEND_ONE / (ms / 1000);
    return { ms, messages: APPEND_ONE, perSecond: rate, note: `${rate.toFixed(0)} msg/s` };
  });
  await step('append10', `APPEND ${APPEND_CONNS * APPEND_PER_CONN} x ~4 KB, ${APPEND_CONNS} connections`, async () => {
    const conns = await Promise.all(Array.from({ length: APPEND_CONNS }, () => connectLogin(port).then((x) => x.c)));
    const msgs = conns.map((_, k) => Array.from({ length: APPEND_PER_CONN }, (_, i) => appendMessage(APPEND_ONE + k * APPEND_PER_CONN + i)));
    const t0 = process.hrtime.bigint();
    await Promise.all(
      conns.map(async (c, k) => {
        for (const m of msgs[k]) await c.append('INBOX', m);
      }),
    );
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await Promise.all(conns.map((c) => c.logout()));
    const n = APPEND_CONNS * APPEND_PER_CONN;
    const rate = n / (ms / 1000);
    return { ms, messages: n, perSecond: rate, note: `${rate.toFixed(0)} msg/s` };
  });
  // Everything appended is in the mailbox: check the count.
  {
    const { c } = await connectLogin(port);
    const r = await c.command('SELECT INBOX', { keep: true });
    steps.existsAfterAppend = existsOf(r);
    await c.logout();
  }

}

/** The server's memory once it has stopped shrinking (see memorySteps). */
async function settledMemory(srv, { stepMs = 2000, maxMs = 60000, within = 512 } = {}) {
  let last = srv.memory();
  for (let waited = 0, steady = 0; waited < maxMs && steady < 2; waited += stepMs) {
    await sleep(stepMs);
    const now = srv.memory();
    steady = Math.abs(now.pssKiB - last.pssKiB) <= within ? steady + 1 : 0;
    last = now;
  }
  return last;
}

async function memorySteps(srv, opts, deadline) {
  const port = srv.port;
  // Memory per idle connection. Restart the server first so that "before" is not inflated by the garbage of the
  // steps above (a V8 heap shrinks only when it collects), then warm it up with one SELECT (index, caches) and log out.
  await srv.restart();
  {
    const { c } = await connectLogin(port);
    await c.command('SELECT INBOX', { timeoutMs: 600000 });
    await c.logout();
  }
  // The warm-up's garbage (the rows read into the in-memory copy) is returned by V8's memory reducer a few seconds
  // after the process goes idle; a baseline taken before that made the per-connection figure negative (-35 KiB on
  // 2026-11-28 at 14:03). Wait until the process's PSS is steady (two 2-second steps within 512 KiB; at most 60 s).
  const before = await settledMemory(srv);
  const idle = [];
  let memory;
  const t0 = Date.now();
  let opened = 0;
  try {
    await withDeadline(
      mapLimit(Array.from({ length: opts.idle }), SETUP_PARALLEL, async () => {
        const { c } = await connectLogin(port);
        idle.push(c);
        await c.command('SELECT INBOX', { timeoutMs: 600000 });
        await c.idle();
        opened++;
        if (opened % 200 === 0) log(`${srv.name}: ${opened}/${opts.idle} connections idling`);
      }),
      deadline,
      `${srv.name}: opening idle connections`,
    );
    const setupSeconds = (Date.now() - t0) / 1000;
    await sleep(5000);
    const after5 = srv.memory();
    await sleep(10000);
    const after = srv.memory();
    const still = idle.filter((c) => !c.error).length;
    const per = (k) => (after[k] - before[k]) / opts.idle;
    memory = {
      connections: opts.idle,
      stillOpen: still,
      setupSeconds,
      before,
      after5s: after5,
      after15s: after,
      perConnectionPssKiB: per('pssKiB'),
      perConnectionRssKiB: per('rssKiB'),
    };
    log(`${srv.name}: ${opts.idle} idle connections (setup ${setupSeconds.toFixed(1)} s): PSS ${before.pssKiB} -> ${after.pssKiB} KiB = ${per('pssKiB').toFixed(1)} KiB/connection; RSS ${per('rssKiB').toFixed(1)} KiB/connection`);
  } finally {
    await Promise.all(idle.map((c) => c.destroy()));
  }
  return memory;
}

const SORT_THREAD = [
  ['sortDate', 'UID SORT (DATE) UTF-8 ALL'],
  ['sortSubject', 'UID SORT (SUBJECT) UTF-8 ALL'],
  ['sortFrom', 'UID SORT (REVERSE FROM) UTF-8 ALL'],
  ['threadRefs', 'UID THREAD REFERENCES UTF-8 ALL'],
  ['threadSubject', 'UID THREAD ORDEREDSUBJECT UTF-8 ALL'],
];

// ---------------------------------------------------------------- report
const ROWS = [
  ['login', 'LOGIN (median of 10)'],
  ['selectFirst', 'SELECT INBOX, first'],
  ['selectWarm', 'SELECT INBOX, warm'],
  ['fetchFlags', 'UID FETCH 1:* (FLAGS)'],
  ['fetchEnvelope', 'FETCH 1:* (ENVELOPE), first'],
  ['fetchEnvelopeAgain', 'FETCH 1:* (ENVELOPE), again'],
  ['searchHeader', `UID SEARCH HEADER Subject ${SUBJECT_WORD}`],
  ['searchBody', `UID SEARCH BODY ${BODY_WORD}`],
  ...SORT_THREAD,
  ['store', `STORE 1:${STORE_COUNT} +FLAGS (\\Flagged)`],
  ['append1', `APPEND x${APPEND_ONE}, 1 conn`],
  ['append10', `APPEND x${APPEND_CONNS * APPEND_PER_CONN}, ${APPEND_CONNS} conns`],
];

function fmtMs(s) {
  if (!s) return '-';
  const t = s.ms >= 10000 ? `${(s.ms / 1000).toFixed(1)} s` : `${s.ms.toFixed(s.ms < 10 ? 2 : 1)} ms`;
  return s.perSecond ? `${t} (${s.perSecond.toFixed(0)}/s)` : t;
}

function table(rows) {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((v, c) => (c === 0 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  '));
    if (i === 0) console.log(w.map((x) => '-'.repeat(x)).join('  '));
  }
}

function report(results, opts) {
  const mw = results.mailwright;
  const dc = results.dovecot;
  const rows = [['operation', 'Mailwright', 'Dovecot', 'ratio', 'target <= 1']];
  const ratios = {};
  for (const [k, label] of ROWS) {
    const a = mw?.[k];
    const b = dc?.[k];
    const ratio = a && b ? a.ms / b.ms : null;
    ratios[k] = ratio;
    rows.push([label, fmtMs(a), fmtMs(b), ratio ? ratio.toFixed(2) : '-', ratio == null ? '-' : ratio <= 1 ? 'met' : 'MISSED']);
  }
  console.log('');
  console.log(`IMAP, ${opts.messages} messages, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs (ratio = Mailwright time / Dovecot time)`);
  table(rows);
  const mm = mw?.memory;
  const dm = dc?.memory;
  let memRatio = null;
  if (mm || dm) {
    console.log('');
    const mrows = [['memory per idle connection', 'Mailwright', 'Dovecot', 'ratio', 'target < 0.2']];
    memRatio = mm && dm ? mm.perConnectionPssKiB / dm.perConnectionPssKiB : null;
    const rssRatio = mm && dm ? mm.perConnectionRssKiB / dm.perConnectionRssKiB : null;
    mrows.push([
      `PSS KiB (${opts.idle} x LOGIN+SELECT+IDLE)`,
      mm ? mm.perConnectionPssKiB.toFixed(1) : '-',
      dm ? dm.perConnectionPssKiB.toFixed(1) : '-',
      memRatio != null ? memRatio.toFixed(2) : '-',
      memRatio == null ? '-' : memRatio < 0.2 ? 'met' : 'MISSED',
    ]);
    mrows.push(['RSS KiB (Dovecot: sum over processes)', mm ? mm.perConnectionRssKiB.toFixed(1) : '-', dm ? dm.perConnectionRssKiB.toFixed(1) : '-', rssRatio != null ? rssRatio.toFixed(2) : '-', '']);
    table(mrows);
  }
  // Same answers from both?
  const checks = [];
  if (mw && dc) {
    const cmp = (what, a, b) => checks.push({ what, mailwright: a, dovecot: b, same: a === b });
    cmp('EXISTS at first SELECT', mw.selectFirst.exists, dc.selectFirst.exists);
    cmp('UID FETCH FLAGS responses', mw.fetchFlags.responses, dc.fetchFlags.responses);
    cmp('FETCH ENVELOPE responses', mw.fetchEnvelope.responses, dc.fetchEnvelope.responses);
    cmp(`SEARCH HEADER Subject ${SUBJECT_WORD} hits`, mw.searchHeader.hits, dc.searchHeader.hits);
    cmp(`SEARCH BODY ${BODY_WORD} hits`, mw.searchBody.hits, dc.searchBody.hits);
    for (const [k, cmd] of SORT_THREAD) cmp(`${cmd}: UIDs in the answer`, mw[k].count, dc[k].count);
    cmp('EXISTS after the APPENDs', mw.existsAfterAppend, dc.existsAfterAppend);
    const bad = checks.filter((c) => !c.same);
    console.log('');
    if (bad.length) for (const c of bad) console.log(`MISMATCH ${c.what}: Mailwright ${c.mailwright}, Dovecot ${c.dovecot}`);
    else console.log(`answers agree (EXISTS, FETCH response counts, SEARCH hits: ${mw.searchHeader.hits} header, ${mw.searchBody.hits} body)`);
    // Not a check: RFC 3501 says SHOULD send FLAGS for every message; Dovecot skips messages whose flags did not change.
    console.log(`STORE FETCH responses: Mailwright ${mw.store.responses}, Dovecot ${dc.store.responses} (Dovecot omits messages that were already \\Flagged)`);
  }
  return { ratios, memoryPssRatio: memRatio, checks };
}

// ---------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  ensureNofile(Math.max(8192, opts.idle * 3 + 1024));
  if (process.getuid?.() !== 0) throw fail('run as root: the private Dovecot and the chown of its Maildir need it');
  if (opts.only !== 'mailwright' && spawnSync('sh', ['-c', 'command -v dovecot']).status !== 0) throw fail('dovecot not found (Debian package dovecot-imapd)');
  const deadline = Date.now() + opts.timeout * 1000;
  const abort = setTimeout(() => {
    console.error(`imap-bench: aborting after ${opts.timeout} s`);
    cleanup().finally(() => process.exit(3));
  }, opts.timeout * 1000);
  abort.unref();

  if (opts.build) {
    log('npm run build');
    try {
      run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    } catch (err) {
      throw fail(`${err.message}\n(to benchmark the existing dist/ anyway, pass --no-build)`);
    }
  }
  const base = await fsp.mkdtemp(join(os.tmpdir(), 'mwimap-'));
  await fsp.chmod(base, 0o755); // Dovecot's imap processes (user nobody) must traverse it
  if (!opts.keep) cleanups.unshift(() => fsp.rm(base, { recursive: true, force: true }));
  else log(`keeping ${base}`);

  const source = join(base, 'source');
  let t0 = Date.now();
  const gen = generateMaildir(source, { count: opts.messages, seed: opts.seed, eol: opts.crlf ? '\r\n' : '\n' });
  const genSeconds = (Date.now() - t0) / 1000;
  log(`generated ${gen.files} messages, ${(gen.bytes / 1048576).toFixed(0)} MiB, in ${genSeconds.toFixed(1)} s`);

  const kinds = opts.only ? [opts.only] : ['mailwright', 'dovecot'];
  const servers = {};
  for (const k of kinds) servers[k] = k === 'mailwright' ? await startMailwright(base, source, opts) : await startDovecot(base, source, opts);
  // The source is no longer needed; its pages would only compete for the page cache.
  await fsp.rm(source, { recursive: true, force: true });
  spawnSync('sync');

  // The client's parser warm before either server is timed (bench/lib/client-warmup.mjs): equal footing.
  t0 = Date.now();
  await warmClient({ count: Math.min(opts.messages, 100000) });
  log(`client warmed up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const results = {};
  for (const k of kinds) {
    log(`--- ${k} (127.0.0.1:${servers[k].port})`);
    t0 = Date.now();
    results[k] = await runSuite(servers[k], opts, deadline);
    results[k].suiteSeconds = (Date.now() - t0) / 1000;
    spawnSync('sync');
  }
  const summary = report(results, opts);
  const problems = servers.dovecot?.problems?.() ?? [];
  if (problems.length) console.log(`\nDovecot log problems:\n  ${problems.join('\n  ')}`);
  const now = new Date();
  const out = {
    benchmark: 'imap',
    date: now.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / 1048576), kernel: os.release(), node: process.version, tmpdir: os.tmpdir(), loadAverageAtEnd: os.loadavg() },
    mailbox: { messages: opts.messages, bytes: gen.bytes, seed: opts.seed, lineEndings: opts.crlf ? 'CRLF' : 'LF', generateSeconds: genSeconds },
    servers: Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, { version: s.version }])),
    results,
    ...summary,
    mailwrightLogTail: servers.mailwright?.logTail() ?? [],
    dovecotLogProblems: problems,
  };
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  const file = join(resultsDir, `imap-${opts.messages}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nresults: ${file}`);
  return summary.checks.some((c) => !c.same) ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`imap-bench: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err) => {
    console.error(`imap-bench: ${err.benchFailure ? err.message : err.stack}`);
    await cleanup();
    process.exit(1);
  },
);
