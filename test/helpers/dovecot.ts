/**
 * A private Dovecot (Debian dovecot-imapd/-pop3d) as a reference server in tests: its own config, base and state
 * directories in a temp dir, one passwd-file user with a {PLAIN} password and a Maildir owned by nobody, plaintext
 * auth on 127.0.0.1 and an OS-picked port. Needs root (Dovecot drops to the mail user) and /usr/sbin/dovecot.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './peers.js';
import { tempDir } from './server.js';
import { ImapClient } from './imap-client.js';

export const HAVE_DOVECOT = spawnSync('sh', ['-c', 'command -v dovecot']).status === 0 && process.getuid?.() === 0;

export interface DovecotServer {
  port: number;
  /** The user's home; the Maildir is home/Maildir. */
  home: string;
  base: string;
  stop(): Promise<void>;
}

export async function startDovecot(o: { user: string; password: string; protocols?: string; extra?: string }): Promise<DovecotServer> {
  const base = tempDir('mw-dovecot-');
  chmodSync(base, 0o755);
  const d = join(base, 'dovecot');
  mkdirSync(d, { mode: 0o755 });
  const home = join(d, 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, 65534, 65534);
  const port = await freePort();
  writeFileSync(join(d, 'passwd'), `${o.user}:{PLAIN}${o.password}:65534:65534::${home}::\n`);
  writeFileSync(
    join(d, 'dovecot.conf'),
    `instance_name = mwtest-${port}
base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
listen = 127.0.0.1
protocols = ${o.protocols ?? 'imap'}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 100
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
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
}
${o.extra ?? ''}
`,
  );
  const proc: ChildProcess = spawn('dovecot', ['-F', '-c', join(d, 'dovecot.conf')], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      try {
        const c = await ImapClient.connect(port);
        c.close();
        break;
      } catch (err) {
        if (i > 100 || proc.exitCode !== null) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    proc.kill('SIGTERM');
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    home,
    base,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}
