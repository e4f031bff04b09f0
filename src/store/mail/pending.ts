/**
 * Mail that is in a Maildir but not yet in the index: files in new/ of the user's root (INBOX) and of every
 * Maildir++ folder (".Name/new"). SMTP delivery only links files into new/ (like Dovecot's LDA, the index is updated
 * when a client next looks), so quota usage must count them too, or a user who never logs in would never be full.
 * Sizes come from the ",S=<size>" field of the name (Maildir++, written by our delivery and by Dovecot), else stat.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

const SIZE_FIELD = /,S=(\d+)(?:[,:]|$)/;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function newDirUsage(dir: string): Promise<{ bytes: number; messages: number }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (isMissing(err)) return { bytes: 0, messages: 0 };
    throw err;
  }
  let bytes = 0;
  let messages = 0;
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const m = SIZE_FIELD.exec(n);
    if (m) bytes += Number(m[1]);
    else {
      try {
        bytes += (await fsp.stat(join(dir, n))).size;
      } catch (err) {
        if (isMissing(err)) continue; // moved to cur/ by a sync meanwhile: counted by the index
        throw err;
      }
    }
    messages++;
  }
  return { bytes, messages };
}

/** Bytes and count of messages waiting in new/ below a user's Maildir root. */
export async function pendingNewUsage(root: string, opts: { skipPrefix: string }): Promise<{ bytes: number; messages: number }> {
  let entries: string[];
  try {
    entries = await fsp.readdir(root);
  } catch (err) {
    if (isMissing(err)) return { bytes: 0, messages: 0 };
    throw err;
  }
  const dirs = [join(root, 'new')];
  for (const e of entries) {
    // Maildir++ folders are ".Name" directories; deleted folders wait under a trash prefix and count no more.
    if (e.startsWith('.') && e !== '.' && e !== '..' && !e.startsWith(opts.skipPrefix)) dirs.push(join(root, e, 'new'));
  }
  const parts = await Promise.all(dirs.map(newDirUsage));
  return parts.reduce((a, b) => ({ bytes: a.bytes + b.bytes, messages: a.messages + b.messages }), { bytes: 0, messages: 0 });
}
