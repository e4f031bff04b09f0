#!/usr/bin/env node
/**
 * Queue relay benchmark: authenticated submission of N messages (default 20,000) for 50 remote domains
 * d1.test .. d50.test, all of whose mail goes to one Postfix smtp-sink on 127.0.0.2; Mailwright against a private
 * Postfix relaying the same load to the same sink, in the same run.
 *
 * Routing:
 *   mailwright     real MX resolution through a DNS server this script starts (dns2 on 127.0.0.1): dN.test MX 10
 *                  sink.test, sink.test A 127.0.0.2 (AAAA: no data); delivery.port = the sink's port.
 *   mailwright-tm  (with --parity, or --only) delivery.transportMap: every dN.test -> 127.0.0.2:PORT, no DNS, and
 *                  delivery.maxConnectionsPerDestination 20 (Postfix's default_destination_concurrency_limit).
 *   postfix        transport_maps (texthash): dN.test smtp:[127.0.0.2]:PORT, no DNS (Postfix's resolver cannot be
 *                  pointed at a DNS server on another port); everything else default.
 * Load: bench/lib/smtp-load.mjs in this process, C connections (default 20), EHLO, AUTH PLAIN (Mailwright: users
 * u1..u10@example.test, plaintext AUTH allowed on loopback; Postfix: no AUTH, the client is in mynetworks),
 * MAIL/RCPT/DATA pipelined, 4 KiB body, one recipient per message, round-robin over the 50 domains,
 * up to --per-conn messages per connection (default 100).
 * Measured per server:
 *   submitted msgs/s = N / (start of the load -> the last 250 to end of data)
 *   delivered msgs/s = N / (start of the load -> the sink has counted N more messages: smtp-sink -c, "mesg=")
 *   peak memory      = Mailwright: VmHWM of the node process; Postfix: highest sampled sum of PSS (and of RSS)
 *                      over the master and all its children (every 250 ms).
 *   CPU seconds      = server, sink, this process (load generator + DNS), machine busy/iowait from /proc/stat.
 * Everything is on loopback (127.0.0.1, the sink on 127.0.0.2), ports picked by the OS. Needs root (Postfix's
 * master, smtp-sink -u), Debian's postfix package. Bounded: aborts after --timeout seconds (default 600).
 *
 * Usage: node bench/queue-relay.mjs [N] [-m N] [-c CONNECTIONS] [-l BYTES] [--per-conn K] [--parity]
 *          [--only mailwright,mailwright-tm,postfix] [--timeout S] [--no-build] [--keep] [--node-arg ARG]...
 * Results: a table on stdout and bench/results/queue-relay-<date>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from './lib/smtp-load.mjs';
import { startDns } from './lib/dns-zone.mjs';
import {
  sleep, fail, run, freePort, alive, waitGone, waitForBanner, readStatus, readCpu, processTree, treeCpu, systemCpu,
  startSampler, readPasswd, TICK,
} from './lib/proc.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOMAINS = 50;
const USERS = 10;
const LOCAL = 'example.test';
const SINK_IP = '127.0.0.2';
const PASSWORD = 'bench-password-1';
const KINDS = ['mailwright', 'mailwright-tm', 'postfix'];

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { messages: 20000, connections: 20, length: 4096, perConn: 100, only: null, parity: false, timeout: 600, build: true, keep: false, nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '-m' || a === '--messages') o.messages = Number(val());
    else if (a === '-c' || a === '--connections') o.connections = Number(val());
    else if (a === '-l' || a === '--length') o.length = Number(val());
    else if (a === '--per-conn') o.perConn = Number(val());
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--parity') o.parity = true;
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-arg') o.nodeArgs.push(val());
    else if (a === '-h' || a === '--help') usage();
    else if (/^\d+$/.test(a)) o.messages = Number(a);
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.messages) || o.messages < 1) usage('-m must be a positive integer');
  if (!Number.isInteger(o.connections) || o.connections < 1) usage('-c must be a positive integer');
  if (!Number.isInteger(o.perConn) || o.perConn < 1) usage('--per-conn must be a positive integer');
  if (o.only && o.only.some((k) => !KINDS.includes(k))) usage(`--only takes ${KINDS.join(',')}`);
  o.kinds = o.only ?? (o.parity ? ['mailwright', 'postfix', 'mailwright-tm'] : ['mailwright', 'postfix']);
  return o;
}

function usage(msg) {
  if (msg) console.error(`queue-relay: ${msg}`);
  console.error('usage: node bench/queue-relay.mjs [N] [-m N] [-c CONNECTIONS] [-l BYTES] [--per-conn K] [--parity] [--only mailwright,mailwright-tm,postfix] [--timeout S] [--no-build] [--keep] [--node-arg ARG]...');
  process.exit(msg ? 2 : 0);
}

const log = (m) => console.error(`queue-relay: ${m}`);

// ---------------------------------------------------------------- process bookkeeping and cleanup
const started = new Set();
const cleanups = []; // run last first
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
        log(`cleanup: ${err.message}`);
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

// ---------------------------------------------------------------- the sink
/** smtp-sink on 127.0.0.2 with running counters (-c); nothing is written to disk. */
async function startSink() {
  const port = await freePort(SINK_IP);
  const child = track(spawn('smtp-sink', ['-u', 'postfix', '-c', '-m', '1000', '-h', 'sink.test', `${SINK_IP}:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let exited = false;
  child.once('exit', () => (exited = true));
  const sink = {
    port,
    pid: child.pid,
    messages: 0,
    sessions: 0,
    stderr: '',
    watchers: new Set(),
  };
  let tail = '';
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (d) => {
    tail = (tail + d).slice(-200);
    const all = [...tail.matchAll(/sess=(\d+) quit=\d+ mesg=(\d+)/g)];
    const last = all.at(-1);
    if (!last) return;
    sink.sessions = Number(last[1]);
    sink.messages = Number(last[2]);
    for (const w of sink.watchers) w(sink.messages);
  });
  child.stderr.on('data', (d) => (sink.stderr = (sink.stderr + d).slice(-4000)));
  cleanups.push(async () => {
    if (exited) return;
    child.kill('SIGTERM');
    if (!(await waitGone(child.pid, 5000))) child.kill('SIGKILL');
  });
  await waitForBanner(SINK_IP, port, 10000, () => !exited);
  return sink;
}

/** Resolves with the hrtime at which the sink's counter reaches `target` (or null at the deadline / stall). */
function waitSink(sink, target, deadline) {
  return new Promise((resolveWait) => {
    if (sink.messages >= target) return resolveWait({ at: process.hrtime.bigint(), count: sink.messages });
    let lastCount = sink.messages;
    let lastChange = Date.now();
    const finish = (at) => {
      sink.watchers.delete(watch);
      clearInterval(timer);
      resolveWait({ at, count: sink.messages });
    };
    const watch = (n) => {
      if (n >= target) finish(process.hrtime.bigint());
    };
    sink.watchers.add(watch);
    const timer = setInterval(() => {
      if (sink.messages !== lastCount) {
        lastCount = sink.messages;
        lastChange = Date.now();
      }
      if (Date.now() > deadline || Date.now() - lastChange > 120000) finish(null); // nothing moves for two minutes
    }, 500);
  });
}

// ---------------------------------------------------------------- the measurement
const domainOf = (n) => `d${(n % DOMAINS) + 1}.test`;
const recipientOf = (n) => `r${Math.floor(n / DOMAINS) % 100}@${domainOf(n)}`;
const userOf = (conn) => `u${(conn % USERS) + 1}@${LOCAL}`;

async function measure({ label, port, opts, auth, sink, rootPid, cpuOf, deadline }) {
  const sampler = startSampler(rootPid);
  const cpu0 = cpuOf();
  const sink0 = readCpu(sink.pid);
  const sys0 = systemCpu();
  const self0 = readCpu(process.pid);
  const load0 = os.loadavg()[0];
  const base = sink.messages;
  const sessBase = sink.sessions;
  const t0 = process.hrtime.bigint();
  const secs = (t) => (t == null ? null : Number(t - t0) / 1e9);
  let accepted = 0;
  const progress = setInterval(() => {
    log(`${label}: ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0)} s: submitted ${accepted}, delivered ${sink.messages - base}, load ${os.loadavg()[0].toFixed(1)}`);
  }, 10000);
  let load;
  let delivered;
  let peak;
  try {
    const deliveredP = waitSink(sink, base + opts.messages, deadline);
    load = await runLoad({
      host: '127.0.0.1',
      port,
      connections: opts.connections,
      messages: opts.messages,
      bodyBytes: opts.length,
      perConnection: opts.perConn,
      auth: auth ? (conn) => ({ user: userOf(conn), pass: PASSWORD }) : null,
      sender: userOf,
      recipient: recipientOf,
      deadline,
      onAccepted: (n) => (accepted = n),
    });
    if (load.accepted < opts.messages) log(`${label}: only ${load.accepted} of ${opts.messages} accepted: ${load.errors.slice(0, 5).join('; ')}`);
    // Wait for what was accepted (a rejected message is never delivered).
    delivered = await waitSink(sink, base + load.accepted, deadline);
    await deliveredP.catch(() => {});
  } finally {
    clearInterval(progress);
    peak = sampler.stop();
  }
  // Anything arriving after the last expected message would be a duplicate.
  await sleep(1000);
  const cpu1 = cpuOf();
  const sink1 = readCpu(sink.pid);
  const sys1 = systemCpu();
  const self1 = readCpu(process.pid);
  const serverCpu = cpu0 != null && cpu1 != null ? cpu1 - cpu0 : null;
  const sinkCpu = sink0 && sink1 ? sink1.own - sink0.own : null;
  const loadgenCpu = self1.own - self0.own;
  const busy = (sys1.busy - sys0.busy) / TICK;
  const dt = sys1.total - sys0.total || 1;
  const submittedSeconds = load.seconds;
  const deliveredSeconds = delivered.at ? secs(delivered.at) : null;
  return {
    messages: opts.messages,
    accepted: load.accepted,
    rejected: load.rejected,
    failed: load.failed,
    loadErrors: load.errors,
    connectionsOpened: load.connectionsOpened,
    sinkCount: sink.messages - base,
    sinkSessions: sink.sessions - sessBase,
    submittedSeconds: +submittedSeconds.toFixed(3),
    deliveredSeconds: deliveredSeconds != null ? +deliveredSeconds.toFixed(3) : null,
    submittedPerSecond: +(load.accepted / submittedSeconds).toFixed(1),
    deliveredPerSecond: deliveredSeconds ? +(load.accepted / deliveredSeconds).toFixed(1) : null,
    peak,
    serverCpuSeconds: serverCpu != null ? +serverCpu.toFixed(2) : null,
    sinkCpuSeconds: sinkCpu != null ? +sinkCpu.toFixed(2) : null,
    loadgenCpuSeconds: +loadgenCpu.toFixed(2),
    machine: {
      cpuSecondsAvailable: +((sys1.total - sys0.total) / TICK).toFixed(2),
      busyCpuSeconds: +busy.toFixed(2),
      // Everything else on the machine: kernel threads (ext4 journal) and other people's processes.
      otherCpuSeconds: serverCpu != null ? +(busy - serverCpu - (sinkCpu ?? 0) - loadgenCpu).toFixed(2) : null,
      busyPercent: +((100 * (sys1.busy - sys0.busy)) / dt).toFixed(1),
      iowaitPercent: +((100 * (sys1.iowait - sys0.iowait)) / dt).toFixed(1),
      loadAverageAtStart: +load0.toFixed(2),
      loadAverageAtEnd: +os.loadavg()[0].toFixed(2),
    },
  };
}

// ---------------------------------------------------------------- Mailwright
async function benchMailwright(kind, base, opts, ctx, deadline) {
  const dir = join(base, kind);
  await fsp.mkdir(dir, { mode: 0o700 });
  const port = await freePort();
  const configFile = join(dir, 'mailwright.yaml');
  const dataDir = join(dir, 'data');
  const delivery =
    kind === 'mailwright'
      ? { port: ctx.sink.port }
      : {
          transportMap: Object.fromEntries(Array.from({ length: DOMAINS }, (_, i) => [`d${i + 1}.test`, { host: SINK_IP, port: ctx.sink.port }])),
          // All 50 domains share one next hop (as in Postfix): allow Postfix's default_destination_concurrency_limit.
          maxConnectionsPerDestination: 20,
        };
  const config = {
    hostname: 'bench.example.test',
    dataDir,
    listen: { smtp: false, submission: `127.0.0.1:${port}`, submissions: false, imap: false, imaps: false, pop3: false, pop3s: false, http: null },
    smtp: { maxConnectionsPerIp: Math.max(50, opts.connections * 2), reverseLookup: false },
    dns: { servers: [`127.0.0.1:${ctx.dns.port}`] },
    delivery,
    log: { level: 'warn' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const cli = (...args) => run(process.execPath, ['bin/mailwright.js', '--config', configFile, ...args], { cwd: ROOT });
  cli('domain', 'add', LOCAL);
  for (let i = 1; i <= USERS; i++) cli('user', 'add', `u${i}@${LOCAL}`, '--password', PASSWORD);

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
    await waitForBanner('127.0.0.1', port, 20000, () => !exited);
  } catch (err) {
    throw fail(`${err.message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  const dnsBefore = { ...ctx.dns.queries };
  const r = await measure({ label: kind, port, opts, auth: true, sink: ctx.sink, rootPid: server.pid, cpuOf: () => readCpu(server.pid)?.own ?? null, deadline });
  const st = readStatus(server.pid);
  if (exited) throw fail(`mailwright exited during the load:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  let queueLeft = null;
  try {
    queueLeft = JSON.parse(cli('queue', 'list', '--json')).length;
  } catch {
    /* the control socket may not answer: not essential */
  }
  const dnsQueries = Object.fromEntries(Object.entries(ctx.dns.queries).map(([k, v]) => [k, v - (dnsBefore[k] ?? 0)]));
  const logText = readFileSync(logFile, 'utf8').trim();
  return {
    server: kind,
    version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
    routing: kind === 'mailwright' ? 'MX lookups via the local DNS server, delivery.port' : 'delivery.transportMap -> 127.0.0.2 (no DNS), maxConnectionsPerDestination 20',
    ...r,
    dnsQueries,
    queueLeft,
    peakRssMiB: st ? +(st.vmHWM / 1024).toFixed(1) : null,
    peakRssSource: 'VmHWM of the node process',
    peakPssMiB: +(r.peak.pssKiB / 1024).toFixed(1),
    serverLogLines: logText ? logText.split('\n').length : 0,
    serverLogTail: logText ? logText.split('\n').slice(-5) : [],
  };
}

// ---------------------------------------------------------------- Postfix
const MASTER_CF = (port) => `# private benchmark instance: nothing chrooted
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

async function benchPostfix(base, opts, ctx, deadline) {
  const dir = join(base, 'postfix');
  const etc = join(dir, 'etc');
  const queue = join(dir, 'queue');
  const data = join(dir, 'data');
  const maillog = join(dir, 'maillog');
  await fsp.mkdir(dir, { mode: 0o755 });
  await fsp.mkdir(etc, { mode: 0o755 });
  await fsp.mkdir(queue, { mode: 0o755 });
  await fsp.mkdir(data, { mode: 0o700 });
  const pf = readPasswd('postfix');
  if (!pf) throw fail('the postfix user does not exist (install the Debian postfix package)');
  await fsp.chown(data, pf.uid, pf.gid);
  const transport = join(etc, 'transport');
  writeFileSync(transport, Array.from({ length: DOMAINS }, (_, i) => `d${i + 1}.test smtp:[${SINK_IP}]:${ctx.sink.port}\n`).join(''));
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
    smtpd_peername_lookup: 'no',
    transport_maps: `texthash:${transport}`,
    alias_maps: '',
    alias_database: '',
    local_recipient_maps: '',
    biff: 'no',
  };
  run('postconf', ['-c', etc, '-e', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
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
  await waitForBanner('127.0.0.1', port, 20000, () => alive(masterPid));
  const r = await measure({ label: 'postfix', port, opts, auth: false, sink: ctx.sink, rootPid: masterPid, cpuOf: () => treeCpu(masterPid), deadline });
  const logText = existsSync(maillog) ? readFileSync(maillog, 'utf8') : '';
  const problems = logText.split('\n').filter((l) => /(warning|fatal|panic|error):|status=(deferred|bounced)/.test(l));
  return {
    server: 'postfix',
    version: postfixVersion(),
    routing: `transport_maps: dN.test smtp:[${SINK_IP}]:PORT (no DNS); default concurrency (20 per next hop)`,
    ...r,
    peakRssMiB: +(r.peak.rssKiB / 1024).toFixed(1),
    peakRssSource: `highest sampled sum of RSS over master and children (up to ${r.peak.processes} processes)`,
    peakPssMiB: +(r.peak.pssKiB / 1024).toFixed(1),
    maillogProblems: problems.slice(0, 20),
    maillogProblemCount: problems.length,
  };
}

// ---------------------------------------------------------------- report
function printTable(results) {
  const rows = [['server', 'accepted', 'at sink', 'submitted msg/s', 'delivered msg/s', 'peak RSS MiB', 'peak PSS MiB', 'server CPU s', 'sink CPU s', 'loadgen CPU s', 'other CPU s', 'busy %', 'load']];
  for (const r of results) {
    rows.push([
      r.server,
      String(r.accepted),
      String(r.sinkCount),
      r.submittedPerSecond.toFixed(0),
      r.deliveredPerSecond ? r.deliveredPerSecond.toFixed(0) : 'incomplete',
      r.peakRssMiB != null ? r.peakRssMiB.toFixed(1) : '-',
      r.peakPssMiB != null ? r.peakPssMiB.toFixed(1) : '-',
      r.serverCpuSeconds != null ? r.serverCpuSeconds.toFixed(1) : '-',
      r.sinkCpuSeconds != null ? r.sinkCpuSeconds.toFixed(1) : '-',
      r.loadgenCpuSeconds.toFixed(1),
      r.machine.otherCpuSeconds != null ? r.machine.otherCpuSeconds.toFixed(1) : '-',
      String(r.machine.busyPercent),
      `${r.machine.loadAverageAtStart}`,
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
  if (process.getuid?.() !== 0) throw fail('run as root: a private Postfix master and smtp-sink -u need it');
  for (const tool of ['smtp-sink', 'postfix', 'postconf']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw fail(`${tool} not found (Debian package postfix; /usr/sbin on PATH)`);
  }
  const deadline = Date.now() + opts.timeout * 1000;
  const abort = setTimeout(() => {
    log(`aborting after ${opts.timeout} s`);
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
  const base = await fsp.mkdtemp(join(os.tmpdir(), 'mwqueue-'));
  await fsp.chmod(base, 0o755); // Postfix daemons (user postfix) must traverse it
  if (!opts.keep) cleanups.unshift(() => fsp.rm(base, { recursive: true, force: true }));
  else log(`keeping ${base}`);

  const zone = { 'sink.test': { A: [SINK_IP] } };
  for (let i = 1; i <= DOMAINS; i++) zone[`d${i}.test`] = { MX: [{ exchange: 'sink.test', priority: 10 }] };
  const dns = await startDns(zone);
  cleanups.push(() => dns.close());
  const sink = await startSink();
  log(`DNS on 127.0.0.1:${dns.port}, smtp-sink on ${SINK_IP}:${sink.port} (pid ${sink.pid})`);
  const ctx = { dns, sink };

  const results = [];
  for (const kind of opts.kinds) {
    spawnSync('sync');
    log(`${kind}: ${opts.messages} messages, ${opts.connections} connections, ${opts.length}-byte bodies, ${opts.perConn} per connection`);
    const depth = cleanups.length;
    const r = kind === 'postfix' ? await benchPostfix(base, opts, ctx, deadline) : await benchMailwright(kind, base, opts, ctx, deadline);
    while (cleanups.length > depth) await cleanups.pop()();
    if (!opts.keep) await fsp.rm(join(base, kind), { recursive: true, force: true });
    results.push(r);
    log(
      `${kind}: submitted ${r.accepted} in ${r.submittedSeconds.toFixed(2)} s (${r.submittedPerSecond.toFixed(0)}/s), ` +
        (r.deliveredSeconds ? `all at the sink after ${r.deliveredSeconds.toFixed(2)} s (${r.deliveredPerSecond.toFixed(0)}/s)` : `only ${r.sinkCount} at the sink`) +
        `; other CPU on the machine: ${r.machine.otherCpuSeconds} s`,
    );
  }

  console.log('');
  printTable(results);
  const pf = results.find((r) => r.server === 'postfix');
  const ratios = {};
  for (const r of results) {
    if (r === pf || !pf) continue;
    ratios[r.server] = {
      submitted: pf.submittedPerSecond ? +(r.submittedPerSecond / pf.submittedPerSecond).toFixed(3) : null,
      delivered: pf.deliveredPerSecond && r.deliveredPerSecond ? +(r.deliveredPerSecond / pf.deliveredPerSecond).toFixed(3) : null,
      peakMemoryPss: pf.peakPssMiB ? +(r.peakPssMiB / pf.peakPssMiB).toFixed(3) : null,
    };
    console.log(`${r.server}/postfix: submitted ${ratios[r.server].submitted ?? '-'}, delivered ${ratios[r.server].delivered ?? '-'} (target >= 1.00), peak PSS ${ratios[r.server].peakMemoryPss ?? '-'}`);
  }
  const now = new Date();
  const out = {
    benchmark: 'queue-relay',
    date: now.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryMiB: Math.round(os.totalmem() / 1048576), kernel: os.release(), node: process.version, tmpdir: os.tmpdir() },
    load: { messages: opts.messages, connections: opts.connections, bodyBytes: opts.length, perConnection: opts.perConn, domains: DOMAINS, tool: 'bench/lib/smtp-load.mjs (pipelined MAIL/RCPT/DATA)' },
    results,
    ratios,
  };
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `queue-relay-${now.toISOString().replace(/[:]/g, '').replace(/\..*/, '')}.json`);
  writeFileSync(file, JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n');
  console.log(`\nresults: ${file}`);
  return results.some((r) => !r.deliveredSeconds || r.accepted < r.messages) ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    log(`${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err) => {
    log(err.benchFailure ? err.message : err.stack);
    await cleanup();
    process.exit(1);
  },
);
