/**
 * Start a Mailwright server for a benchmark: its own config and data directory under `dir`, only IMAP on
 * 127.0.0.1 at a port the OS picked, the abuse limits off (everything comes from 127.0.0.1), users created with the
 * CLI and (optionally) a prepared Maildir copied in as their INBOX tree. Runs `node bin/mailwright.js serve` from
 * the repository's dist/ (build first). Used by bench/qresync.mjs.
 *
 *   const mw = await startMailwright({ dir, users: [{ user: 'b@example.test', pass: 'pw', maildir: SRC }] });
 *   ... mw.port ...; await mw.stop();
 */
import { spawn } from 'node:child_process';
import { promises as fsp, readFileSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { freePort, run, waitGone, sleep } from './proc.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function greets(port) {
  return new Promise((r) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(2000);
    s.once('data', (d) => {
      s.destroy();
      r(d.toString().startsWith('* OK'));
    });
    s.once('error', () => r(false));
    s.once('timeout', () => {
      s.destroy();
      r(false);
    });
  });
}

export async function startMailwright({ dir, users, nodeArgs = [] }) {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const configFile = join(dir, 'mailwright.yaml');
  const dataDir = join(dir, 'data');
  const config = {
    hostname: 'bench.example.test',
    dataDir,
    listen: { smtp: false, submission: false, submissions: false, imap: `127.0.0.1:${port}`, imaps: false, pop3: false, pop3s: false, http: null },
    limits: { connectionsPerMinute: 1e9, connectionBurst: 1e9, commandsPerSecond: 1e9, commandBurst: 1e9 },
    log: { level: 'warn' },
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  const cli = (...args) => run(process.execPath, ['bin/mailwright.js', '--config', configFile, ...args], { cwd: ROOT });
  const domains = new Set(users.map((u) => u.user.split('@')[1]));
  for (const d of domains) cli('domain', 'add', d);
  for (const u of users) {
    cli('user', 'add', u.user, '--password', u.pass);
    if (u.maildir) {
      const [local, domain] = u.user.split('@');
      const md = join(dataDir, 'mail', domain, local);
      await fsp.mkdir(md, { recursive: true, mode: 0o700 });
      run('cp', ['-a', `${u.maildir}/.`, `${md}/`]);
    }
  }
  const logFile = join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  const server = spawn(process.execPath, [...nodeArgs, 'bin/mailwright.js', '--config', configFile, 'serve'], { cwd: ROOT, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  server.once('exit', () => (exited = true));
  const logTail = () => readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
  const stop = async () => {
    if (exited) return;
    server.kill('SIGTERM');
    if (!(await waitGone(server.pid, 15000))) server.kill('SIGKILL');
    await waitGone(server.pid, 5000);
    exited = true;
  };
  const end = Date.now() + 30000;
  while (!(await greets(port))) {
    if (exited || Date.now() > end) {
      await stop();
      throw new Error(`mailwright did not start on 127.0.0.1:${port}\n${logTail()}`);
    }
    await sleep(100);
  }
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  return { port, version, pid: server.pid, stop, logTail };
}
