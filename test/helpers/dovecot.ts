/**
 * A private Dovecot (Debian dovecot-imapd) on 127.0.0.1 as a reference server in tests: its own config, base and
 * state directories in a temp dir, {PLAIN} passwords, plaintext auth, an OS-picked port, run in the foreground as a
 * child process (stopped with SIGTERM). Needs root (Dovecot drops to the mail user) and /usr/sbin/dovecot.
 * Recipe: /work/shared/TESTING.md ("Dovecot as a reference server").
 *
 * - startDovecot({ user, password }): one passwd-file user with a Maildir++ home (home/Maildir), as classic
 *   setups have it (import tests, SORT/THREAD and NOTIFY comparisons); bench/lib/dovecot.mjs starts it.
 * - startReferenceDovecot(users): several users (password "secret"), Maildir LAYOUT=fs, the special-use mailboxes
 *   Mailwright creates for every user, imap_zlib loaded (COMPRESS=DEFLATE); null when Dovecot is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
// @ts-expect-error a plain .mjs module of the benchmarks, without types
import { startDovecot as startBenchDovecot } from '../../bench/lib/dovecot.mjs';
import { freePort } from './peers.js';
import { tempDir } from './server.js';
import { ImapClient } from './imap-client.js';

export const HAVE_DOVECOT = spawnSync('sh', ['-c', 'command -v dovecot']).status === 0 && process.getuid?.() === 0;

export interface DovecotServer {
  port: number;
  /** The temp directory holding config, state and homes. */
  dir: string;
  /** startDovecot: the user's home; the Maildir is home/Maildir. */
  home: string;
  stop(): Promise<void>;
}
/** Kept for the tests written against the reference server. */
export type Dovecot = DovecotServer;

/** The special-use mailboxes Mailwright creates for every user (store.ts SPECIAL_USE_MAILBOXES), made alike. */
const SPECIAL = [['Archive', '\\Archive'], ['Drafts', '\\Drafts'], ['Junk', '\\Junk'], ['Sent', '\\Sent'], ['Trash', '\\Trash']];

async function launch(dir: string, home: string, port: number, conf: string): Promise<DovecotServer> {
  writeFileSync(join(dir, 'dovecot.conf'), conf);
  const proc: ChildProcess = spawn('dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      try {
        const c = await ImapClient.connect(port);
        c.close();
        break;
      } catch (err) {
        if (i > 150 || proc.exitCode !== null) throw new Error(`dovecot did not start (${(err as Error).message}); see ${dir}/dovecot.log`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    dir,
    home,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function baseConf(dir: string, port: number, loginExtra = ''): string {
  return `instance_name = mwtest-${port}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
service imap-login {
${loginExtra}  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

/** One user with a Maildir++ home: bench/lib/dovecot.mjs's private Dovecot (also used by the benchmarks). */
export async function startDovecot(o: { user: string; password: string }): Promise<DovecotServer> {
  const dir = tempDir('mw-dovecot-');
  const dc = (await startBenchDovecot({ dir, users: [{ user: o.user, pass: o.password }], extra: 'namespace inbox {\n  inbox = yes\n  separator = /\n}\n' })) as {
    port: number;
    maildir(user: string): string;
    stop(): Promise<void>;
  };
  return {
    port: dc.port,
    dir,
    home: dirname(dc.maildir(o.user)),
    async stop() {
      await dc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startReferenceDovecot(users: string[]): Promise<DovecotServer | null> {
  if (!existsSync('/usr/sbin/dovecot')) return null;
  const dir = tempDir('mw-dovecot-');
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  mkdirSync(home);
  chmodSync(home, 0o777);
  mkdirSync(join(dir, 'state'));
  const port = await freePort();
  writeFileSync(join(dir, 'passwd'), users.map((u) => `${u}:{PLAIN}secret\n`).join(''));
  return launch(
    dir,
    home,
    port,
    baseConf(dir, port, '  chroot =\n') +
      `mail_location = maildir:~/Maildir:LAYOUT=fs
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
`,
  );
}
