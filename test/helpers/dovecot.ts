/**
 * A private Dovecot (Debian's dovecot-imapd) on 127.0.0.1 for side-by-side protocol comparisons: its own base_dir,
 * passwd-file users (password "secret"), Maildir homes in a temp directory, plaintext LOGIN allowed, imap_zlib loaded
 * (COMPRESS=DEFLATE). `startDovecot()` returns null when Dovecot is not installed, so tests can skip.
 * Recipe: /work/shared/TESTING.md ("Dovecot as a reference server").
 */
import { existsSync, mkdirSync, writeFileSync, chmodSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { tempDir } from './server.js';

/** The special-use mailboxes Mailwright creates for every user (store.ts SPECIAL_USE_MAILBOXES), made alike. */
const SPECIAL = [['Archive', '\\Archive'], ['Drafts', '\\Drafts'], ['Junk', '\\Junk'], ['Sent', '\\Sent'], ['Trash', '\\Trash']];

export interface Dovecot {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function startDovecot(users: string[]): Promise<Dovecot | null> {
  if (!existsSync('/usr/sbin/dovecot')) return null;
  const dir = tempDir('mw-dovecot-');
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  mkdirSync(home);
  chmodSync(home, 0o777);
  mkdirSync(join(dir, 'state'));
  const port = await freePort();
  writeFileSync(join(dir, 'passwd'), users.map((u) => `${u}:{PLAIN}secret\n`).join(''));
  const conf = `base_dir = ${dir}/run
state_dir = ${dir}/state
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir:LAYOUT=fs
log_path = ${dir}/dovecot.log
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${home}/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
namespace inbox {
  inbox = yes
  separator = /
${SPECIAL.map(([n, u]) => `  mailbox ${n} {\n    special_use = ${u}\n    auto = create\n  }\n`).join('')}}
protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}
`;
  writeFileSync(join(dir, 'dovecot.conf'), conf);
  // stdio ignored: the daemon would otherwise hold our pipes open and spawnSync would never return.
  const r = spawnSync('/usr/sbin/dovecot', ['-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`dovecot failed to start (exit ${r.status}); see ${dir}/dovecot.log`);
  // Wait until it accepts connections.
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    port,
    dir,
    /** SIGTERM the master, wait (up to 3 s) until it is gone, then remove its directory. */
    async stop() {
      const pidFile = join(dir, 'run', 'master.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        try {
          process.kill(pid, 'SIGTERM');
          for (let i = 0; i < 60; i++) {
            process.kill(pid, 0); // throws once the process is gone
            await new Promise((r) => setTimeout(r, 50));
          }
        } catch {
          /* gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
