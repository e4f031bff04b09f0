/**
 * Privileges: `mailwright serve` started as root binds its ports (they are below 1024), then runs as the
 * configured unprivileged user for good (setgroups, setgid, setuid: no way back), before it opens or creates any
 * file. The data directory must belong to that user and not be readable by others (mail is private); wrong
 * ownership is an error that says which command fixes it. Running as root without `user` is refused unless
 * nothing else is possible (a warning).
 */
import { readFileSync, promises as fsp } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { UserError } from '../common/errors.js';
import { prebind, releasePrebound } from './prebind.js';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function fromFile(file: string, name: string): string[] | null {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return f;
    }
  } catch {
    /* fall through to getent */
  }
  return null;
}

function getent(db: string, name: string): string[] | null {
  try {
    return execFileSync('getent', [db, name], { encoding: 'utf8' }).trim().split(':');
  } catch {
    return null;
  }
}

export function lookupUser(name: string): UnixUser {
  const f = fromFile('/etc/passwd', name) ?? getent('passwd', name);
  if (!f) throw new UserError(`user: no such system user "${name}" (create it: useradd --system --home-dir /var/lib/mailwright --shell /usr/sbin/nologin ${name})`, 2);
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
}

export function lookupGroup(name: string): number {
  const f = fromFile('/etc/group', name) ?? getent('group', name);
  if (!f) throw new UserError(`group: no such system group "${name}"`, 2);
  return Number(f[2]);
}

/** Every configured listen address ("host:port"), with its config key. */
export function listenAddresses(config: Config): Array<{ key: string; addr: string; host: string; port: number }> {
  const out: Array<{ key: string; addr: string; host: string; port: number }> = [];
  const add = (key: string, v: string | false | null | undefined) => {
    if (!v) return;
    const i = v.lastIndexOf(':');
    const host = v.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
    out.push({ key, addr: `${host}:${Number(v.slice(i + 1))}`, host, port: Number(v.slice(i + 1)) });
  };
  for (const [k, v] of Object.entries(config.listen)) add(`listen.${k}`, v);
  add('acme.tlsAlpnListen', config.acme?.tlsAlpnListen);
  return out;
}

/**
 * When running as root with `user` set: create the data directory for the user if missing, bind every listener,
 * then drop to the user for good. Returns the user we now run as (null when nothing was changed).
 */
export async function dropPrivileges(config: Config, log: Logger): Promise<UnixUser | null> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!config.user) {
    if (isRoot) log.warn('running as root: set `user` in the configuration (e.g. user: mailwright) so that Mailwright drops its privileges after binding its ports');
    return null;
  }
  const user = lookupUser(config.user);
  const gid = config.group ? lookupGroup(config.group) : user.gid;
  if (!isRoot) {
    if (process.getuid?.() !== user.uid) {
      throw new UserError(`user: configured to run as "${user.name}" (uid ${user.uid}) but started as uid ${process.getuid?.()} without root; start it as root (it drops to ${user.name} after binding) or as ${user.name}`, 2);
    }
    return null;
  }
  if (user.uid === 0) throw new UserError('user: must be an unprivileged user, not root', 2);
  // The data directory: created for the user when missing; otherwise it must already be the user's.
  try {
    await fsp.stat(config.dataDir);
  } catch {
    await fsp.mkdir(dirname(config.dataDir), { recursive: true, mode: 0o755 });
    await fsp.mkdir(config.dataDir, { mode: 0o700 });
    await fsp.chown(config.dataDir, user.uid, gid);
    log.info({ dataDir: config.dataDir, user: user.name }, 'created the data directory');
  }
  const st = await fsp.stat(config.dataDir);
  if (st.uid !== user.uid) {
    throw new UserError(`dataDir ${config.dataDir} is owned by uid ${st.uid}, not by ${user.name} (uid ${user.uid}) whom Mailwright runs as: chown -R ${user.name}: ${config.dataDir}`, 2);
  }
  try {
    for (const l of listenAddresses(config)) {
      await prebind(l.addr, l.host, l.port).catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`${l.key}: cannot listen on ${l.addr}: ${err.code ?? err.message}`, 2);
      });
    }
  } catch (err) {
    releasePrebound();
    throw err;
  }
  process.setgroups?.([gid]);
  process.setgid!(gid);
  process.setuid!(user.uid);
  if (process.getuid?.() !== user.uid || process.geteuid?.() !== user.uid) throw new Error('privilege drop failed');
  log.info({ user: user.name, uid: user.uid, gid }, 'ports bound; now running as an unprivileged user');
  return user;
}
