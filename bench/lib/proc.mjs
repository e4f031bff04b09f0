/**
 * Helpers shared by benchmarks: running commands, free ports, waiting for processes, and /proc readers for memory
 * (VmHWM, RSS/PSS of a process tree) and CPU (per process, per tree, whole machine). Linux only.
 * (The same helpers as in bench/smtp-mx.mjs, which keeps its own copy.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An Error that is reported without its stack (an expected failure of the benchmark's set-up). */
export function fail(msg) {
  const e = new Error(msg);
  e.benchFailure = true;
  return e;
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300000, ...opts });
  if (r.status !== 0) {
    throw fail(`${cmd} ${args.join(' ')} failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}

/** A TCP port that is free on `host` at the moment (the OS picks it). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitGone(pid, ms) {
  const end = Date.now() + ms;
  while (alive(pid) && Date.now() < end) await sleep(50);
  return !alive(pid);
}

/** Waits until host:port answers with a 220 greeting. */
export async function waitForBanner(host, port, ms, isAlive) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive()) throw fail(`server on ${host}:${port} exited during start-up`);
    const ok = await new Promise((r) => {
      const s = net.connect({ host, port });
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
  throw fail(`no SMTP banner on ${host}:${port} after ${ms} ms`);
}

export function readStatus(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { vmHWM: kb('VmHWM'), vmRSS: kb('VmRSS') };
  } catch {
    return null;
  }
}

export function readRollup(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return null;
  }
}

export const TICK = 100; // USER_HZ on Linux

/** CPU seconds of one process: own user+system, and of the children it has reaped. */
export function readCpu(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return { own: (Number(f[11]) + Number(f[12])) / TICK, reaped: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return null;
  }
}

export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process and all its descendants. */
export function processTree(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...childrenOf(p));
  }
  return out;
}

/** CPU seconds used so far by a tree whose root reaps its children (Postfix's master does). */
export function treeCpu(root) {
  const r = readCpu(root);
  if (!r) return null;
  let total = r.own + r.reaped;
  for (const p of processTree(root).slice(1)) {
    const c = readCpu(p);
    if (c) total += c.own + c.reaped;
  }
  return total;
}

/**
 * CPU time (ms) used so far by a process tree, at nanosecond resolution where possible: the run time of every
 * live thread (/proc/PID/task/TID/schedstat) plus the user+system ticks of children already reaped. Differences
 * between two calls give the server's CPU for one step even when other work shares the machine.
 */
export function treeCpuMs(root) {
  let ns = 0;
  let reapedMs = 0;
  for (const p of processTree(root)) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // exited meanwhile
      }
    }
    const c = readCpu(p);
    if (c) reapedMs += c.reaped * 1000;
  }
  return ns / 1e6 + reapedMs;
}

export function systemCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  return { busy: user + nice + system + irq + softirq + steal, idle, iowait, total: line.reduce((a, b) => a + b, 0) };
}

/** Samples RSS and PSS of a process tree every `ms`; keeps the highest sums. */
export function startSampler(rootPid, ms = 250) {
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
  const t = setInterval(sample, ms);
  return {
    stop() {
      clearInterval(t);
      sample();
      return peak;
    },
  };
}

export function readPasswd(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function median(xs) {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
