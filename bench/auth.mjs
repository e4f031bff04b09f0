#!/usr/bin/env node
/**
 * Cost of email authentication on the SMTP paths (issue 5): messages/s with DKIM signing on and off on submission,
 * and with the inbound SPF/DKIM/DMARC/ARC checks on and off on the MX. Target: at most 15% slower with them on.
 *
 * Setup (everything on 127.0.0.1, ports the OS picks, a temp directory):
 *   - a DNS server started here (dns2) answering for the sender domain sender.bench.test: SPF
 *     "v=spf1 ip4:127.0.0.1 -all", DMARC "v=DMARC1; p=reject", and the DKIM key (RSA-2048) that signed the
 *     inbound test message; everything else NXDOMAIN;
 *   - Mailwright from dist/ as a child process (this script with --serve), one fresh data directory per run,
 *     domain example.test with users u1..u10, log level warn, `authentication.checkLoopback: true` (the load comes
 *     from loopback) and `dns.servers` pointing at the DNS server above.
 * Load: C connections (default 10) in parallel, each EHLO [+ AUTH PLAIN] then transactions in a loop (MAIL, RCPT,
 * DATA, message, one reply each), N messages in all (default 3,000) of about 4 KiB, to the local users u1..u10 (so
 * the numbers are about the SMTP/intake path, not remote delivery).
 *   submission  AUTH as uK, From: uK@example.test. "on": signed with the domain's RSA-2048 and Ed25519 keys (as
 *               shipped); "off": the same server with the key lookup returning no keys (there is no switch to turn
 *               signing off: the finalize step still buffers the message, only the signing work is skipped).
 *   MX          no AUTH, MAIL FROM <alice@sender.bench.test>, a message DKIM-signed (RSA-2048, relaxed/relaxed) by
 *               sender.bench.test: "on" = SPF pass, DKIM pass, DMARC pass, ARC none, one Authentication-Results;
 *               "off" = `authentication.checkInbound: false`.
 * Measured: msgs/s = accepted / (time from the first connection until the last reply). Each of the four
 * configurations runs R times (default 3), alternating on/off, and the median is reported with the slowdown.
 *
 * Usage: node bench/auth.mjs [-m N] [-c CONNECTIONS] [-l BYTES] [--rounds R] [--no-build] [--keep] [--node-arg ARG]...
 *   --node-arg passes an option to the server processes' node, e.g. --node-arg --cpu-prof --node-arg --cpu-prof-dir=DIR
 * Results: a table on stdout and bench/results/auth-<date>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'package.json'));
const CRLF = '\r\n';
const DOMAIN = 'example.test';
const USERS = 10;
const PASSWORD = 'bench-password';
const SENDER_DOMAIN = 'sender.bench.test';

// ---------------------------------------------------------------- the server child (--serve CONFIG_JSON [--nosign])
if (process.argv[2] === '--serve') {
  const config = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  const imp = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
  const [{ validateConfig }, { createLogger }, { startServer }, { AccountService }, keys] = await Promise.all([
    imp('config/load.js'),
    imp('log/logger.js'),
    imp('main.js'),
    imp('accounts/service.js'),
    imp('dkim/keys.js'),
  ]);
  if (process.argv.includes('--nosign')) {
    keys.DkimKeyStore.prototype.activeKeys = async () => [];
    keys.DkimKeyStore.prototype.ensureKeys = async () => [];
  }
  const server = await startServer(validateConfig(config, 'bench'), createLogger('warn'));
  if (!(await server.store.getDomain(DOMAIN))) await server.store.addDomain(DOMAIN);
  const accounts = new AccountService(server.store);
  for (let i = 1; i <= USERS; i++) if (!(await server.store.getUser(`u${i}@${DOMAIN}`))) await accounts.addUser(`u${i}@${DOMAIN}`, PASSWORD);
  process.stdout.write(JSON.stringify({ ready: true, smtp: server.addresses.smtp?.port, submission: server.addresses.submission?.port }) + '\n');
  process.on('SIGTERM', () => {
    server.stop().then(() => process.exit(0));
  });
} else {
  await main();
}

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = { messages: 3000, connections: 10, length: 4096, rounds: 3, build: true, keep: false, nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => Number(argv[++i]);
    if (a === '-m' || a === '--messages') o.messages = val();
    else if (a === '-c' || a === '--connections') o.connections = val();
    else if (a === '-l' || a === '--length') o.length = val();
    else if (a === '--rounds') o.rounds = val();
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else if (a === '--node-arg') o.nodeArgs.push(argv[++i]);
    else {
      console.error(`usage: node bench/auth.mjs [-m N] [-c CONNECTIONS] [-l BYTES] [--rounds R] [--no-build] [--keep] [--node-arg ARG]...${a === '-h' || a === '--help' ? '' : `\nunknown argument ${a}`}`);
      process.exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------- DNS (dns2, UDP + TCP on one port; TXT split in 255-byte chunks)
async function startDns(zone) {
  const dns2 = require('dns2');
  const { Packet } = dns2;
  const names = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v, k]));
  const queries = {};
  const chunks = (s) => (s.length <= 255 ? [s] : s.match(/.{1,255}/g));
  const handle = (req, send) => {
    const res = Packet.createResponseFromRequest(req);
    res.header.aa = 1;
    res.header.ra = 1;
    const q = req.questions[0];
    if (!q) return send(res);
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const type = names[q.type] ?? String(q.type);
    queries[type] = (queries[type] ?? 0) + 1;
    const recs = zone[name];
    if (!recs) {
      res.header.rcode = Packet.RCODE.NXDOMAIN;
      return send(res);
    }
    const base = { name: q.name, class: Packet.CLASS.IN, ttl: 300 };
    if (type === 'TXT') for (const t of recs.TXT ?? []) res.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunks(t) });
    if (type === 'A') for (const a of recs.A ?? []) res.answers.push({ ...base, type: Packet.TYPE.A, address: a });
    send(res);
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dns2.createUDPServer(handle);
    await udp.listen(0, '127.0.0.1');
    const port = udp.address().port;
    const tcp = dns2.createTCPServer(handle);
    const ok = await new Promise((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => r(true));
    });
    if (!ok) {
      udp.close();
      continue;
    }
    return { port, queries, close: () => Promise.all([new Promise((r) => udp.close(() => r())), new Promise((r) => (tcp.close(() => r()), setTimeout(r, 200).unref()))]) };
  }
  throw new Error('dns: could not bind UDP and TCP on one port');
}

// ---------------------------------------------------------------- load
function body(bytes) {
  const line = 'The quick brown fox jumps over the lazy dog; Mailwright authentication benchmark..'.slice(0, 76) + CRLF;
  let s = '';
  while (s.length + line.length <= bytes) s += line;
  return s;
}

function reader(socket) {
  let buf = '';
  let lines = [];
  const waiters = [];
  const ready = [];
  let error = null;
  socket.setEncoding('latin1');
  socket.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      lines.push(line);
      if (line[3] === '-') continue;
      const reply = { code: Number(line.slice(0, 3)), text: lines.join('\n') };
      lines = [];
      const w = waiters.shift();
      if (w) w.resolve(reply);
      else ready.push(reply);
    }
  });
  const failAll = (e) => {
    error ??= e;
    while (waiters.length) waiters.shift().reject(e);
  };
  socket.on('error', failAll);
  socket.on('close', () => failAll(new Error('connection closed')));
  return () =>
    new Promise((res, rej) => {
      if (ready.length) return res(ready.shift());
      if (error) return rej(error);
      waiters.push({ resolve: res, reject: rej });
    });
}

async function load({ port, connections, messages, auth, message }) {
  let next = 0;
  let accepted = 0;
  const errors = [];
  const t0 = process.hrtime.bigint();
  const session = async (conn) => {
    const user = `u${(conn % USERS) + 1}@${DOMAIN}`;
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const read = reader(socket);
    const cmd = async (line) => {
      socket.write(line + CRLF);
      return read();
    };
    await read();
    await cmd('EHLO loadgen.bench.test');
    if (auth) {
      const r = await cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`);
      if (r.code !== 235) throw new Error(`AUTH: ${r.text}`);
    }
    while (next < messages) {
      const n = next++;
      const rcpt = `u${(n % USERS) + 1}@${DOMAIN}`;
      const { from, data } = message(user, rcpt, n);
      let r = await cmd(`MAIL FROM:<${from}>`);
      if (r.code !== 250) throw new Error(`MAIL: ${r.text}`);
      r = await cmd(`RCPT TO:<${rcpt}>`);
      if (r.code !== 250) throw new Error(`RCPT: ${r.text}`);
      r = await cmd('DATA');
      if (r.code !== 354) throw new Error(`DATA: ${r.text}`);
      socket.write(data);
      r = await read();
      if (r.code === 250) accepted++;
      else if (errors.length < 5) errors.push(r.text.trim());
    }
    await cmd('QUIT').catch(() => {});
    socket.destroy();
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => session(i).catch((e) => errors.push(e.message))));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, accepted, rate: accepted / seconds, errors };
}

/** user+system CPU seconds of a process (Linux /proc), or null. */
function procCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- one configuration
async function runOne(base, label, { config, nosign, auth, message, opts }) {
  const dir = join(base, `${label}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...config, dataDir: join(dir, 'data') }));
  const child = spawn(process.execPath, [...opts.nodeArgs, fileURLToPath(import.meta.url), '--serve', file, ...(nosign ? ['--nosign'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) res(JSON.parse(line));
    });
    child.once('exit', (c) => rej(new Error(`server exited (${c}): ${out}`)));
  });
  try {
    const port = auth ? ports.submission : ports.smtp;
    // warm-up (JIT, DNS cache, key load), not measured
    await load({ port, connections: 2, messages: 50, auth, message });
    const cpu0 = procCpu(child.pid);
    const r = await load({ port, connections: opts.connections, messages: opts.messages, auth, message });
    const cpu1 = procCpu(child.pid);
    r.cpuMsPerMessage = cpu0 != null && cpu1 != null ? ((cpu1 - cpu0) * 1000) / r.accepted : null;
    if (r.errors.length || r.accepted !== opts.messages) throw new Error(`${label}: accepted ${r.accepted}/${opts.messages}: ${r.errors.join('; ')}`);
    return r;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build) {
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) process.exit(1);
  }
  const { dkimSign } = require('mailauth');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const dns = await startDns({
    [SENDER_DOMAIN]: { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    [`_dmarc.${SENDER_DOMAIN}`]: { TXT: ['v=DMARC1; p=reject'] },
    [`bench._domainkey.${SENDER_DOMAIN}`]: { TXT: [`v=DKIM1; k=rsa; p=${pub}`] },
  });
  const text = body(opts.length);
  // The inbound message: signed once by the "sender" (every copy is verified again by the MX).
  const inbound = `From: Alice <alice@${SENDER_DOMAIN}>${CRLF}To: <u1@${DOMAIN}>${CRLF}Subject: authentication benchmark${CRLF}Date: Fri, 27 Nov 2026 10:00:00 +0000${CRLF}Message-ID: <bench.1@${SENDER_DOMAIN}>${CRLF}MIME-Version: 1.0${CRLF}Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}${text}`;
  const sig = await dkimSign(Buffer.from(inbound), { canonicalization: 'relaxed/relaxed', signatureData: [{ signingDomain: SENDER_DOMAIN, selector: 'bench', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) }] });
  const inboundData = Buffer.from(sig.signatures + inbound + '.' + CRLF, 'latin1');
  const mxMessage = () => ({ from: `alice@${SENDER_DOMAIN}`, data: inboundData });
  const subMessage = (user, rcpt, n) => ({
    from: user,
    data: Buffer.from(`From: <${user}>${CRLF}To: <${rcpt}>${CRLF}Subject: submission benchmark ${n}${CRLF}Date: ${new Date().toUTCString().replace('GMT', '+0000')}${CRLF}Message-ID: <sub.${n}.${process.pid}@loadgen.bench.test>${CRLF}${CRLF}${text}.${CRLF}`, 'latin1'),
  });
  const config = (auth) => ({
    hostname: 'mx.bench.test',
    listen: { smtp: '127.0.0.1:0', submission: '127.0.0.1:0', submissions: false, imap: false, imaps: false, pop3: false, pop3s: false, http: null },
    smtp: { maxConnectionsPerIp: 100, reverseLookup: false },
    dns: { servers: [`127.0.0.1:${dns.port}`] },
    authentication: { checkInbound: auth, checkLoopback: true },
    log: { level: 'warn' },
  });
  const base = mkdtempSync(join(os.tmpdir(), 'mw-bench-auth-'));
  const runs = { submissionOn: [], submissionOff: [], mxOn: [], mxOff: [] };
  const cpu = { submissionOn: [], submissionOff: [], mxOn: [], mxOff: [] };
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? ['On', 'Off'] : ['Off', 'On'];
      for (const s of order) {
        const r = await runOne(base, `submission${s}`, { config: config(true), nosign: s === 'Off', auth: true, message: subMessage, opts });
        runs[`submission${s}`].push(r.rate);
        cpu[`submission${s}`].push(r.cpuMsPerMessage);
        console.log(`round ${round + 1} submission signing ${s.toLowerCase().padEnd(4)} ${r.rate.toFixed(0).padStart(6)} msgs/s (${r.seconds.toFixed(2)} s, server ${r.cpuMsPerMessage?.toFixed(2)} ms CPU/msg)`);
      }
      for (const s of order) {
        const r = await runOne(base, `mx${s}`, { config: config(s === 'On'), nosign: false, auth: false, message: mxMessage, opts });
        runs[`mx${s}`].push(r.rate);
        cpu[`mx${s}`].push(r.cpuMsPerMessage);
        console.log(`round ${round + 1} MX inbound checks  ${s.toLowerCase().padEnd(4)} ${r.rate.toFixed(0).padStart(6)} msgs/s (${r.seconds.toFixed(2)} s, server ${r.cpuMsPerMessage?.toFixed(2)} ms CPU/msg)`);
      }
    }
  } finally {
    await Promise.race([dns.close(), new Promise((r) => setTimeout(r, 1000).unref())]);
    if (!opts.keep) rmSync(base, { recursive: true, force: true });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
  const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
  const slow = (on, off) => ((off - on) / off) * 100;
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} CPUs ${os.cpus()[0]?.model ?? ''}, Node ${process.version}`,
    messages: opts.messages,
    connections: opts.connections,
    bodyBytes: opts.length,
    rounds: opts.rounds,
    runs,
    medians: m,
    cpuMsPerMessage: cpu,
    cpuMedians: c,
    loadAverage: os.loadavg(),
    submissionSlowdownPercent: +slow(m.submissionOn, m.submissionOff).toFixed(1),
    mxSlowdownPercent: +slow(m.mxOn, m.mxOff).toFixed(1),
    dnsQueries: dns.queries,
  };
  console.log('');
  const f = (x) => (x == null ? '?' : x.toFixed(2));
  console.log(`                         off msgs/s   on msgs/s   slowdown (target <= 15%)   server CPU ms/msg off -> on`);
  console.log(`submission DKIM signing  ${m.submissionOff.toFixed(0).padStart(12)} ${m.submissionOn.toFixed(0).padStart(11)}   ${String(result.submissionSlowdownPercent + '%').padEnd(26)} ${f(c.submissionOff)} -> ${f(c.submissionOn)}`);
  console.log(`MX inbound checks        ${m.mxOff.toFixed(0).padStart(12)} ${m.mxOn.toFixed(0).padStart(11)}   ${String(result.mxSlowdownPercent + '%').padEnd(26)} ${f(c.mxOff)} -> ${f(c.mxOn)}`);
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`DNS queries answered: ${JSON.stringify(dns.queries)}`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const out = join(ROOT, 'bench', 'results', `auth-${result.date.slice(0, 10)}.json`);
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`results: ${out}`);
  process.exit(0);
}
