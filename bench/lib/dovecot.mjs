/**
 * A private, unprivileged-listener Dovecot (Debian dovecot-imapd) for comparison tests and benchmarks: its own
 * config, base_dir and log under `dir`, IMAP only on 127.0.0.1 at a port the OS picked, passwd-file users whose
 * mail (maildir:~/Maildir) is owned by "nobody". Needs root (chown) and /usr/sbin/dovecot (see
 * /work/shared/TESTING.md). Used by test/imap/dovecot-compare.test.ts and bench/qresync.mjs.
 *
 *   const dc = await startDovecot({ dir: '/tmp/x', users: [{ user: 'u@example.test', pass: 'pw', maildir: SRC }] });
 *   ... dc.port ...
 *   await dc.stop();
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { freePort, readPasswd, processTree, waitGone, sleep } from './proc.mjs';

export const DOVECOT_BIN = '/usr/sbin/dovecot';

/** True when a private Dovecot can run here (binary present, root, its system users exist). */
export function dovecotAvailable() {
  return existsSync(DOVECOT_BIN) && process.getuid?.() === 0 && Boolean(readPasswd('dovecot')) && Boolean(readPasswd('dovenull'));
}

function config(d, port, limit, extra, protocol) {
  return `# private instance (bench/lib/dovecot.mjs)
instance_name = mwcmp-${port}
base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
listen = 127.0.0.1
protocols = ${protocol}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 100
mail_location = maildir:~/Maildir
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
service ${protocol}-login {
  inet_listener ${protocol} {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener ${protocol}s {
    port = 0
  }
}
${extra}`;
}

async function greets(port, protocol) {
  return new Promise((r) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(2000);
    s.once('data', (d) => {
      s.destroy();
      r(d.toString().startsWith(protocol === 'pop3' ? '+OK' : '* OK'));
    });
    s.once('error', () => r(false));
    s.once('timeout', () => {
      s.destroy();
      r(false);
    });
  });
}

/**
 * Start it. `users`: [{ user, pass, maildir? }] — maildir is a directory copied (cp -a) as the user's Maildir;
 * `extra`: more configuration appended (e.g. a namespace with separator "/"); `protocol`: 'imap' (default) or 'pop3'.
 * Returns { port, version, dir, maildir(user), stop(), logTail() }.
 */
export async function startDovecot({ dir, users, limit = 200, extra = '', protocol = 'imap' }) {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755); // Dovecot's auth process (user dovecot) reads the passwd file in here; mkdtemp gives 0700

  const owner = readPasswd('nobody') ?? { uid: 65534, gid: 65534 };
  const port = await freePort();
  const lines = [];
  const homes = new Map();
  users.forEach((u, i) => {
    const home = join(dir, `home${i}`);
    mkdirSync(home, { recursive: true, mode: 0o700 });
    if (u.maildir) spawnSync('cp', ['-a', u.maildir, join(home, 'Maildir')]);
    spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, home]);
    chownSync(home, owner.uid, owner.gid);
    homes.set(u.user, home);
    lines.push(`${u.user}:{PLAIN}${u.pass}:${owner.uid}:${owner.gid}::${home}::\n`);
  });
  writeFileSync(join(dir, 'passwd'), lines.join(''));
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(conf, config(dir, port, limit, extra, protocol));
  const version = spawnSync(DOVECOT_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const master = spawn(DOVECOT_BIN, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  master.stdout.on('data', (x) => (out += x));
  master.stderr.on('data', (x) => (out += x));
  master.once('exit', () => (exited = true));
  const logFile = join(dir, 'dovecot.log');
  const logTail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n') : '');
  const stop = async () => {
    if (exited) return;
    const tree = processTree(master.pid);
    master.kill('SIGTERM');
    if (!(await waitGone(master.pid, 15000))) {
      for (const p of tree.reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const p of tree) await waitGone(p, 5000);
    exited = true;
  };
  const end = Date.now() + 30000;
  while (!(await greets(port, protocol))) {
    if (exited || Date.now() > end) {
      await stop();
      throw new Error(`dovecot did not start on 127.0.0.1:${port}\n${out}\n${logTail()}`);
    }
    await sleep(100);
  }
  return { port, version, dir, maildir: (user) => join(homes.get(user), 'Maildir'), stop, logTail, pid: master.pid };
}
