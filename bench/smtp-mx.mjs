#!/usr/bin/env node
/**
 * MX throughput benchmark: Mailwright against a private Postfix, same load, same run, same machine.
 *
 * Load: Postfix's smtp-source, N messages (default 20,000) of 4 KiB body to 10 users u1..u10@example.test,
 * 20 concurrent sessions in all (10 smtp-source processes, one per user, each with sessions/10 sessions and N/10
 * messages). smtp-source opens a new connection for every message (no -d), as an MX sees it.
 * Measured per server:
 *   accepted  msgs/s = N / (time from starting the smtp-source processes until the last one exits)
 *   delivered msgs/s = N / (time from the same start until N files exist in the users' Maildir new/ directories)
 *   peak memory      = Mailwright: VmHWM of the node process (RSS high-water mark) and the highest PSS sampled;
 *                      Postfix: the highest sum over all its processes (master and every child) of RSS and of PSS,
 *                      sampled every 250 ms (a sum of RSS counts shared libraries once per process, PSS does not).
 *   CPU seconds      = user+system time of the server's processes during the load (Postfix: live children plus
 *                      what the master reaped), and the machine's busy/iowait share from /proc/stat.
 * Everything binds to 127.0.0.1 on ports the OS picks. Needs root (Postfix's master), /usr/sbin/postfix and
 * /usr/sbin/smtp-source (Debian package postfix). Bounded: aborts after --timeout seconds (default 600).
 *
 * Usage: node bench/smtp-mx.mjs [N] [-m N] [-s SESSIONS] [-l BYTES] [--only mailwright|postfix] [--rounds R]
 *                               [--timeout SECONDS] [--no-build] [--keep] [--node-arg ARG]...
 *   --rounds R runs each server R times, alternating which goes first, and reports medians (a shared or noisy
 *   machine); --node-arg passes an option to the Mailwright server's node, e.g. --node-arg --cpu-prof
 *   --node-arg --cpu-prof-dir=/tmp/prof (the profile is written when the server stops at the end).
 * Results: a table on stdout and bench/results/smtp-mx-<date>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync, readdirSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USERS = 10;
const DOMAIN = 'example.test';
const SENDER = 'sender@bench.test';
const SAMPLE_MS = 250;

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { messages: 20000, sessions: 20, length: 4096, only: null, rounds: 1, timeout: 600, build: true, keep: false, nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '-m' || a === '--messages') o.messages = Number(val());
    else if (a === '-s' || a === '--sessions') o.sessions = Number(val());
    else if (a === '-l' || a === '--length') o.length = Number(val());
    else if (a === '--only') o.only = val();
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-arg') o.nodeArgs.push(val());
    else if (a === '-h' || a === '--help') usage();
    else if (/^\d+$/.test(a)) o.messages = Number(a);
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.messages) || o.messages < USERS || o.messages % USERS) usage('-m must be a multiple of 10');
  if (!Number.isInteger(o.sessions) || o.sessions < USERS || o.sessions % USERS) usage('-s must be a multiple of 10');
  if (o.only && !['mailwright', 'postfix'].includes(o.only)) usage('--only mailwright|postfix');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) usage('--rounds must be a positive integer');
  return o;
}

function usage(msg) {
  if (msg) console.error(`smtp-mx: ${msg}`);
  console.error('usage: node bench/smtp-mx.mjs [N] [-m N] [-s SESSIONS] [-l BYTES] [--only mailwright|postfix] [--rounds R] [--timeout S] [--no-build] [--keep] [--node-arg ARG]...');
  process.exit(msg ? 2 : 0);
}

// ---------------------------------------------------------------- process bookkeeping and cleanup
const started = new Set(); // child processes we spawned and must stop
const cleanups = []; // async functions run at exit, last first
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
        console.error(`smtp-mx: cleanup: ${err.message}`);
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
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300000, ...opts });
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

async function waitForBanner(port, ms, isAlive) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive()) throw fail(`server on port ${port} exited during start-up`);
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.setTimeout(2000);
      s.once('data', (d) => {
        s.end('QUIT\r\n');
        s.destroy();
        r(d.toString().startsWith('220'));
      });
      s.once('error', () => r(false));
      s.once('timeout', () => {
        s.destroy();
        r(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw fail(`no SMTP banner on 127.0.0.1:${port} after ${ms} ms`);
}

// ---------------------------------------------------------------- /proc readers
function readStatus(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { vmHWM: kb('VmHWM'), vmRSS: kb('VmRSS') };
  } catch {
    return null;
  }
}

function readRollup(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return null;
  }
}

const TICK = 100; // USER_HZ on Linux
/** CPU seconds of one process: own user+system, and with children it has reaped. */
function readCpu(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    // fields after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    const own = (Number(f[11]) + Number(f[12])) / TICK;
    const reaped = (Number(f[13]) + Number(f[14])) / TICK;
    return { own, reaped };
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

/** A process and all its descendants. */
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

/** Total CPU seconds used so far by a tree whose root reaps its children (Postfix's master does). */
function treeCpu(root) {
  const r = readCpu(root);
  if (!r) return null;
  let total = r.own + r.reaped;
  for (const p of processTree(root).slice(1)) {
    const c = readCpu(p);
    if (c) total += c.own + c.reaped;
  }
  return total;
}

function systemCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  return { busy: user + nice + system + irq + softirq + steal, idle, iowait, total: line.reduce((a, b) => a + b, 0) };
}

/** Samples memory of a process tree every SAMPLE_MS; keeps the highest sums. */
function startSampler(rootPid) {
  const peak = { rssKiB: 0, pssKiB: 0, processes: 0 };
  const sample = () => {
    let rss = 0;
    let pss = 0;
    let n = 0;
    for (const p of processTree(rootPid)) {
      const r = readRollup(p);
      if (!r) continue;
      rss += r.rss;
      pss += r.pss;
      n++;
    }
    if (rss > peak.rssKiB) peak.rssKiB = rss;
    if (pss > peak.pssKiB) peak.pssKiB = pss;
    if (n > peak.processes) peak.processes = n;
  };
  sample();
  const t = setInterval(sample, SAMPLE_MS);
  return {
    stop() {
      clearInterval(t);
      sample();
      return peak;
    },
  };
}

// ---------------------------------------------------------------- load and counting
function countNew(dirs) {
  let n = 0;
  for (const d of dirs) {
    try {
      n += readdirSync(d).length;
    } catch {
      /* not created yet */
    }
  }
  return n;
}

/**
 * Runs the smtp-source processes against 127.0.0.1:port; resolves with the timings.
 * `newDirs` are the users' new/ directories; delivery is complete when they hold `expected` files.
 */
async function drive({ port, opts, newDirs, expected, deadline, label }) {
  const perUser = opts.messages / USERS;
  const sessPerUser = opts.sessions / USERS;
  const procs = [];
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= USERS; i++) {
    const args = ['-s', String(sessPerUser), '-m', String(perUser), '-l', String(opts.length), '-f', SENDER, '-t', `u${i}@${DOMAIN}`, `127.0.0.1:${port}`];
    const c = track(spawn('smtp-source', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    procs.push(
      new Promise((r) => {
        c.once('exit', (code, signal) => r({ user: `u${i}`, code, signal, out: out.trim(), t: process.hrtime.bigint() }));
      }),
    );
  }
  const secs = (t) => Number(t - t0) / 1e9;
  let timer;
  const timedOut = new Promise((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()))));
  const done = await Promise.race([Promise.all(procs), timedOut]);
  if (done === 'timeout') throw fail(`${label}: smtp-source did not finish before the deadline`);
  const accepted = process.hrtime.bigint();
  const failures = done.filter((r) => r.code !== 0 || r.out);
  if (failures.length) {
    console.error(`${label}: smtp-source reported problems:\n${failures.map((f) => `  ${f.user}: exit ${f.code ?? f.signal} ${f.out.slice(0, 500)}`).join('\n')}`);
  }
  // Poll for the last delivery (it cannot happen before the last acceptance).
  let count = countNew(newDirs);
  let delivered = count >= expected ? process.hrtime.bigint() : null;
  let lastChange = Date.now();
  while (!delivered && Date.now() < deadline) {
    await sleep(20);
    const c = countNew(newDirs);
    if (c !== count) lastChange = Date.now();
    count = c;
    if (count >= expected) delivered = process.hrtime.bigint();
    else if (Date.now() - lastChange > 120000) break; // nothing moves for two minutes: give up
  }
  clearTimeout(timer);
  return {
    acceptedSeconds: secs(accepted),
    deliveredSeconds: delivered ? secs(delivered) : null,
    filesInNew: count,
    smtpSourceFailures: failures.map((f) => ({ user: f.user, exit: f.code ?? f.signal, output: f.out.slice(0, 2000) })),
  };
}

function sampleFileSize(dirs) {
  for (const d of dirs) {
    try {
      const names = readdirSync(d);
      if (names.length) return readFileSync(join(d, names[0])).length;
    } catch {
      /* none */
    }
  }
  return null;
}

async function measureLoad({ label, port, opts, newDirs, rootPid, cpuOf, deadline }) {
  const sampler = startSampler(rootPid);
  const cpu0 = cpuOf();
  const sys0 = systemCpu();
  const self0 = readCpu(process.pid); // own = this script (sampling, polling); reaped = finished smtp-source processes
  const load0 = os.loadavg()[0];
  let r;
  let peak;
  try {
    r = await drive({ port, opts, newDirs, expected: opts.messages, deadline, label });
  } finally {
    peak = sampler.stop();
  }
  const cpu1 = cpuOf();
  const sys1 = systemCpu();
  const self1 = readCpu(process.pid);
  const dt = sys1.total - sys0.total || 1;
  const serverCpu = cpu0 != null && cpu1 != null ? cpu1 - cpu0 : null;
  const smtpSourceCpu = self1.reaped - self0.reaped;
  const benchCpu = self1.own - self0.own;
  const machineBusy = (sys1.busy - sys0.busy) / TICK;
  return {
    ...r,
    peak,
    serverCpuSeconds: serverCpu != null ? +serverCpu.toFixed(2) : null,
    smtpSourceCpuSeconds: +smtpSourceCpu.toFixed(2),
    benchScriptCpuSeconds: +benchCpu.toFixed(2),
    machine: {
      cpuSecondsAvailable: +((sys1.total - sys0.total) / TICK).toFixed(2),
      busyCpuSeconds: +machineBusy.toFixed(2),
      // Everything else on the machine (kernel threads such as the ext4 journal, and any unrelated processes).
      otherCpuSeconds: serverCpu != null ? +(machineBusy - serverCpu - smtpSourceCpu - benchCpu).toFixed(2) : null,
      busyPercent: +((100 * (sys1.busy - sys0.busy)) / dt).toFixed(1),
      iowaitPercent: +((100 * (sys1.iowait - sys0.iowait)) / dt).toFixed(1),
      loadAverageAtStart: +load0.toFixed(2),
    },
  };
}

// ---------------------------------------------------------------- Mailwright
async function benchMailwright(base, opts, deadline, round) {
  const dir = join(base, `mailwright-${round}`);
  await fsp.mkdir(dir, { mode: 0o700 });
  const port = await freePort();
  const configFile = join(dir, 'mailwright.yaml');
  const dataDir = join(dir, 'data');
  // JSON is YAML.
  const config = {
    hostname: 'bench.example.test',
    dataDir,
    listen: { smtp: `127.0.0.1:${port}`, submission: false, submissions: false, imap: false, imaps: false, pop3: false, pop3s: false, http: null },
    smtp: { maxConnectionsPerIp: Math.max(50, opts.sessions * 2), reverseLookup: false },
    log: { level: 'warn' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const cli = (...args) => run(process.execPath, ['bin/mailwright.js', '--config', configFile, ...args], { cwd: ROOT });
  cli('domain', 'add', DOMAIN);
  for (let i = 1; i <= USERS; i++) cli('user', 'add', `u${i}@${DOMAIN}`, '--password', 'x');

  const logFile = join(dir, 'server.log');
  const logFd = await fsp.open(logFile, 'w');
  const server = track(spawn(process.execPath, [...opts.nodeArgs, 'bin/mailwright.js', '--config', configFile, 'serve'], { cwd: ROOT, stdio: ['ignore', logFd.fd, logFd.fd] }));
  await logFd.close();
  let exited = false;
  server.once('exit', () => (exited = true));
  cleanups.push(async () => {
    if (exited) return;
    server.kill('SIGTERM');
    if (!(await waitGone(server.pid, 10000))) server.kill('SIGKILL');
  });
  try {
    await waitForBanner(port, 20000, () => !exited);
  } catch (err) {
    throw fail(`${err.message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  const newDirs = Array.from({ length: USERS }, (_, i) => join(dataDir, 'mail', DOMAIN, `u${i + 1}`, 'new'));
  const r = await measureLoad({
    label: 'mailwright',
    port,
    opts,
    newDirs,
    rootPid: server.pid,
    cpuOf: () => readCpu(server.pid)?.own ?? null,
    deadline,
  });
  const st = readStatus(server.pid);
  if (exited) throw fail(`mailwright exited during the load:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  const log = readFileSync(logFile, 'utf8').trim();
  return {
    server: 'mailwright',
    version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
    ...r,
    peakRssMiB: st ? +(st.vmHWM / 1024).toFixed(1) : null,
    peakRssSource: 'VmHWM of the node process',
    peakPssMiB: +(r.peak.pssKiB / 1024).toFixed(1),
    sampleFileBytes: sampleFileSize(newDirs),
    serverLogTail: log ? log.split('\n').slice(-5) : [],
  };
}

// ---------------------------------------------------------------- Postfix
const MASTER_CF = (port) => `# private benchmark instance: nothing chrooted, only what virtual(8) delivery needs
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

function postfixVersion() {
  try {
    return run('postconf', ['-d', '-h', 'mail_version']).trim();
  } catch {
    return null;
  }
}

async function benchPostfix(base, opts, deadline, round) {
  const dir = join(base, `postfix-${round}`);
  const etc = join(dir, 'etc');
  const queue = join(dir, 'queue');
  const data = join(dir, 'data');
  const mail = join(dir, 'mail');
  const maillog = join(dir, 'maillog');
  await fsp.mkdir(dir, { mode: 0o755 });
  await fsp.mkdir(etc, { mode: 0o755 });
  await fsp.mkdir(queue, { mode: 0o755 });
  await fsp.mkdir(data, { mode: 0o700 });
  await fsp.mkdir(join(mail, DOMAIN), { recursive: true, mode: 0o755 });
  const pf = readPasswd('postfix');
  if (!pf) throw fail('the postfix user does not exist (install the Debian postfix package)');
  await fsp.chown(data, pf.uid, pf.gid);
  // Mailboxes belong to "nobody"; virtual(8) creates each Maildir (tmp, new, cur) on first delivery, as Mailwright does.
  const owner = readPasswd('nobody') ?? { uid: 65534, gid: 65534 };
  await fsp.chown(mail, owner.uid, owner.gid);
  await fsp.chown(join(mail, DOMAIN), owner.uid, owner.gid);
  const maps = join(etc, 'vmailbox');
  writeFileSync(maps, Array.from({ length: USERS }, (_, i) => `u${i + 1}@${DOMAIN} ${DOMAIN}/u${i + 1}/\n`).join(''));
  const port = await freePort();
  writeFileSync(join(etc, 'master.cf'), MASTER_CF(port));
  writeFileSync(join(etc, 'main.cf'), '');
  const settings = {
    compatibility_level: '3.6',
    config_directory: etc,
    queue_directory: queue,
    data_directory: data,
    mail_spool_directory: join(dir, 'spool'),
    maillog_file: maillog,
    maillog_file_prefixes: dir,
    myhostname: 'bench.example.test',
    mydomain: 'bench.example.test',
    myorigin: '$myhostname',
    mydestination: '',
    relay_domains: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'permit_mynetworks, reject',
    smtpd_recipient_restrictions: 'permit_mynetworks, reject',
    // Mailwright runs with smtp.reverseLookup false (and never looks up loopback clients): same here.
    smtpd_peername_lookup: 'no',
    virtual_mailbox_domains: DOMAIN,
    virtual_mailbox_maps: `texthash:${maps}`,
    virtual_mailbox_base: mail,
    virtual_uid_maps: `static:${owner.uid}`,
    virtual_gid_maps: `static:${owner.gid}`,
    alias_maps: '',
    alias_database: '',
    biff: 'no',
  };
  run('postconf', ['-c', etc, '-e', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
  // postfix(1) writes its diagnostics only to a terminal or the maillog file: show the file when it fails.
  const postfix = (...args) => {
    try {
      return run('postfix', ['-c', etc, ...args]);
    } catch (err) {
      const tail = existsSync(maillog) ? readFileSync(maillog, 'utf8').split('\n').slice(-15).join('\n') : '';
      throw fail(`${err.message}\n${tail}`);
    }
  };
  postfix('check');
  let masterPid = null;
  cleanups.push(async () => {
    try {
      run('postfix', ['-c', etc, 'stop'], { timeout: 20000 });
    } catch {
      /* not running */
    }
    if (masterPid && !(await waitGone(masterPid, 10000))) {
      for (const p of processTree(masterPid).reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
  postfix('start');
  const pidFile = join(queue, 'pid', 'master.pid');
  for (let i = 0; i < 100 && !masterPid; i++) {
    try {
      masterPid = Number(readFileSync(pidFile, 'utf8').trim()) || null;
    } catch {
      await sleep(100);
    }
  }
  if (!masterPid) throw fail(`postfix master did not write ${pidFile}`);
  await waitForBanner(port, 20000, () => alive(masterPid));
  const newDirs = Array.from({ length: USERS }, (_, i) => join(mail, DOMAIN, `u${i + 1}`, 'new'));
  const r = await measureLoad({ label: 'postfix', port, opts, newDirs, rootPid: masterPid, cpuOf: () => treeCpu(masterPid), deadline });
  const logText = existsSync(maillog) ? readFileSync(maillog, 'utf8') : '';
  const problems = logText.split('\n').filter((l) => /(warning|fatal|panic|error):|status=(deferred|bounced)/.test(l));
  return {
    server: 'postfix',
    version: postfixVersion(),
    ...r,
    peakRssMiB: +(r.peak.rssKiB / 1024).toFixed(1),
    peakRssSource: `highest sampled sum of RSS over master and children (up to ${r.peak.processes} processes)`,
    peakPssMiB: +(r.peak.pssKiB / 1024).toFixed(1),
    sampleFileBytes: sampleFileSize(newDirs),
    maillogProblems: problems.slice(0, 20),
    maillogProblemCount: problems.length,
  };
}

function readPasswd(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// ---------------------------------------------------------------- report
function rates(r, n) {
  return {
    accepted: r.acceptedSeconds ? n / r.acceptedSeconds : null,
    delivered: r.deliveredSeconds ? n / r.deliveredSeconds : null,
  };
}

function median(xs) {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function printTable(results, n, showRound) {
  const rows = [['server', 'messages', 'in new/', 'accepted msg/s', 'delivered msg/s', 'peak RSS MiB', 'peak PSS MiB', 'server CPU s', 'smtp-source CPU s', 'other CPU s', 'busy %', 'iowait %']];
  for (const r of results) {
    const x = rates(r, n);
    rows.push([
      `${r.server} ${r.version ?? ''}${showRound ? ` #${r.round}` : ''}`.trim(),
      String(n),
      String(r.filesInNew),
      x.accepted ? x.accepted.toFixed(0) : '-',
      x.delivered ? x.delivered.toFixed(0) : 'incomplete',
      r.peakRssMiB != null ? r.peakRssMiB.toFixed(1) : '-',
      r.peakPssMiB != null ? r.peakPssMiB.toFixed(1) : '-',
      r.serverCpuSeconds != null ? r.serverCpuSeconds.toFixed(1) : '-',
      r.smtpSourceCpuSeconds.toFixed(1),
      r.machine.otherCpuSeconds != null ? r.machine.otherCpuSeconds.toFixed(1) : '-',
      String(r.machine.busyPercent),
      String(r.machine.iowaitPercent),
    ]);
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((v, c) => (c === 0 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  '));
    if (i === 0) console.log(w.map((x) => '-'.repeat(x)).join('  '));
  }
}

// ---------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0 && opts.only !== 'mailwright') throw fail('run as root: a private Postfix master needs it (or use --only mailwright)');
  for (const tool of ['smtp-source', ...(opts.only === 'mailwright' ? [] : ['postfix', 'postconf'])]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw fail(`${tool} not found (Debian package postfix; /usr/sbin on PATH)`);
  }
  const deadline = Date.now() + opts.timeout * 1000;
  const abort = setTimeout(() => {
    console.error(`smtp-mx: aborting after ${opts.timeout} s`);
    cleanup().finally(() => process.exit(3));
  }, opts.timeout * 1000);
  abort.unref();

  if (opts.build) {
    console.error('smtp-mx: npm run build');
    try {
      run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    } catch (err) {
      throw fail(`${err.message}\n(to benchmark the existing dist/ anyway, pass --no-build)`);
    }
  }
  const base = await fsp.mkdtemp(join(os.tmpdir(), 'mwbench-'));
  await fsp.chmod(base, 0o755); // Postfix daemons (user postfix) and virtual(8) (user nobody) must traverse it
  if (!opts.keep) cleanups.unshift(() => fsp.rm(base, { recursive: true, force: true }));
  else console.error(`smtp-mx: keeping ${base}`);

  const results = [];
  const kinds = opts.only ? [opts.only] : ['mailwright', 'postfix'];
  for (let round = 1; round <= opts.rounds; round++) {
    // Alternate the order so that neither server always runs first (page cache, journal, other load).
    const order = round % 2 ? kinds : [...kinds].reverse();
    for (const s of order) {
      // Start each run with no dirty pages from the previous one.
      spawnSync('sync');
      console.error(`smtp-mx: round ${round}/${opts.rounds}: ${s}: ${opts.messages} messages, ${opts.sessions} sessions, ${opts.length}-byte bodies`);
      const cleanupDepth = cleanups.length;
      const r = s === 'mailwright' ? await benchMailwright(base, opts, deadline, round) : await benchPostfix(base, opts, deadline, round);
      // Stop this server (and remove its files) before the next one runs.
      while (cleanups.length > cleanupDepth) await cleanups.pop()();
      if (!opts.keep) await fsp.rm(join(base, `${s}-${round}`), { recursive: true, force: true });
      r.round = round;
      results.push(r);
      const x = rates(r, opts.messages);
      console.error(
        `smtp-mx: round ${round}: ${s}: accepted in ${r.acceptedSeconds.toFixed(2)} s (${x.accepted.toFixed(0)}/s), ` +
          (r.deliveredSeconds ? `all delivered in ${r.deliveredSeconds.toFixed(2)} s (${x.delivered.toFixed(0)}/s)` : `only ${r.filesInNew} delivered`) +
          `; other CPU on the machine: ${r.machine.otherCpuSeconds} s`,
      );
    }
  }

  console.log('');
  printTable(results, opts.messages, opts.rounds > 1);
  const summary = {};
  for (const k of kinds) {
    const rs = results.filter((r) => r.server === k);
    summary[k] = {
      runs: rs.length,
      medianAcceptedPerSecond: median(rs.map((r) => rates(r, opts.messages).accepted)),
      medianDeliveredPerSecond: median(rs.map((r) => rates(r, opts.messages).delivered)),
      maxPeakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB ?? 0)),
      maxPeakPssMiB: Math.max(...rs.map((r) => r.peakPssMiB ?? 0)),
    };
  }
  let ratio = null;
  const perRound = [];
  if (summary.mailwright && summary.postfix) {
    for (let round = 1; round <= opts.rounds; round++) {
      const m = results.find((r) => r.server === 'mailwright' && r.round === round);
      const p = results.find((r) => r.server === 'postfix' && r.round === round);
      const dm = rates(m, opts.messages).delivered;
      const dp = rates(p, opts.messages).delivered;
      perRound.push(dm && dp ? +(dm / dp).toFixed(3) : null);
    }
    const dm = summary.mailwright.medianDeliveredPerSecond;
    const dp = summary.postfix.medianDeliveredPerSecond;
    if (dm && dp) ratio = dm / dp;
    if (opts.rounds > 1) {
      console.log('');
      for (const k of kinds) {
        const x = summary[k];
        console.log(`median ${k.padEnd(10)}  accepted ${x.medianAcceptedPerSecond?.toFixed(0) ?? '-'} msg/s  delivered ${x.medianDeliveredPerSecond?.toFixed(0) ?? '-'} msg/s`);
      }
      console.log(`per-round ratios: ${perRound.map((x) => x ?? '-').join(', ')}`);
    }
    console.log(`\nMailwright/Postfix delivered msgs/s${opts.rounds > 1 ? ' (medians)' : ''}: ${ratio ? ratio.toFixed(2) : '-'} (target 2.00)`);
  }
  const now = new Date();
  const out = {
    benchmark: 'smtp-mx',
    date: now.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / 1048576), kernel: os.release(), node: process.version, tmpdir: os.tmpdir() },
    load: { messages: opts.messages, sessions: opts.sessions, bodyBytes: opts.length, users: USERS, tool: `smtp-source -s ${opts.sessions / USERS} -m ${opts.messages / USERS} -l ${opts.length} x ${USERS} processes` },
    results: results.map((r) => ({ ...r, acceptedPerSecond: rates(r, opts.messages).accepted, deliveredPerSecond: rates(r, opts.messages).delivered })),
    summary,
    ratioDelivered: ratio,
    ratioDeliveredPerRound: perRound,
  };
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  const file = join(resultsDir, `smtp-mx-${stamp}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nresults: ${file}`);
  const incomplete = results.some((r) => !r.deliveredSeconds || r.smtpSourceFailures.length);
  return incomplete ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`smtp-mx: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err) => {
    console.error(`smtp-mx: ${err.benchFailure ? err.message : err.stack}`);
    await cleanup();
    process.exit(1);
  },
);
