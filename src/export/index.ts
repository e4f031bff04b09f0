/**
 * `mailwright export`: every mailbox of a user (or of all users) out as
 *   - maildir: <to>/<domain>/<local>/ Dovecot Maildir++ (INBOX in the root, ".Folder" subfolders), files
 *     cur/<base>:2,<flag letters><keyword letters> with mtime = INTERNALDATE, dovecot-keywords and a
 *     dovecot-uidlist (version 3, our UIDVALIDITY, UIDNEXT and UIDs) so a Dovecot (or `mailwright import maildir`)
 *     serves the same UIDs; the message files are copied byte for byte.
 *   - mbox: <to>/<domain>/<local>/<folder>.mbox (INBOX.mbox, Archive.2024.mbox: Dovecot's folder names) in mboxrd
 *     form: "From MAILER-DAEMON <date>" separators, lines matching /^>*From / get one more ">", LF line ends,
 *     Status/X-Status/X-Keywords headers carry the flags ($Forwarded, the PASSED bit, among the X-Keywords).
 * Memory stays flat: messages are paged from the index (2000 at a time), files copied one at a time; lists are
 * written as streams.
 */
import { createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Db } from '../store/sql/db.js';
import { MailStore, type MessageRecord } from '../store/mail/store.js';
import { encodeDir } from '../store/mail/names.js';
import { ANSWERED, DELETED, DRAFT, FLAGGED, PASSED, SEEN, sysflagsToLetters } from '../store/mail/flags.js';
import { parseAddress } from '../common/address.js';
import { encodePathSegment } from '../store/maildir/paths.js';

export type ExportFormat = 'maildir' | 'mbox';

export interface ExportOptions {
  db: Db;
  dataDir: string;
  users: string[];
  format: ExportFormat;
  to: string;
  progress?: (line: string) => void;
}

export interface ExportSummary {
  user: string;
  folders: Array<{ name: string; messages: number; path: string }>;
  warnings: string[];
}

async function write(ws: WriteStream, s: string | Buffer): Promise<void> {
  if (!ws.write(s)) await once(ws, 'drain');
}

async function close(ws: WriteStream): Promise<void> {
  await new Promise<void>((res, rej) => ws.end((err?: Error | null) => (err ? rej(err) : res())));
}

/** The export directory of a user: <to>/<domain>/<local part> (the classic /var/mail/vhosts/%d/%n layout). */
export function userExportDir(to: string, address: string): string {
  const p = parseAddress(address);
  if (!p) throw new Error(`invalid address ${address}`);
  return join(to, encodePathSegment(p.domain), encodePathSegment(p.localPart));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** asctime(3) in UTC, as mbox "From " lines use. */
export function asctime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** One message as an mboxrd entry (From line, flag headers, quoted From lines, LF line ends, blank line after). */
export function mboxrdEntry(msg: Buffer, m: { internalDate: number; sysflags: number; keywords: readonly string[] }): Buffer {
  let text = msg.toString('latin1').replace(/\r\n/g, '\n');
  text = text.replace(/^(>*From )/gm, '>$1');
  const status = (m.sysflags & SEEN ? 'R' : '') + 'O';
  const xstatus = (m.sysflags & ANSWERED ? 'A' : '') + (m.sysflags & FLAGGED ? 'F' : '') + (m.sysflags & DELETED ? 'D' : '') + (m.sysflags & DRAFT ? 'T' : '');
  let head = `From MAILER-DAEMON ${asctime(m.internalDate)}\nStatus: ${status}\n`;
  if (xstatus) head += `X-Status: ${xstatus}\n`;
  // $Forwarded is kept as the PASSED bit (Maildir letter P), not among the keywords: mbox has no letter for it.
  const keywords = m.sysflags & PASSED ? ['$Forwarded', ...m.keywords] : m.keywords;
  if (keywords.length) head += `X-Keywords: ${keywords.join(' ')}\n`;
  if (!text.endsWith('\n')) text += '\n';
  return Buffer.from(head + text + '\n', 'latin1');
}

export async function exportMail(o: ExportOptions): Promise<ExportSummary[]> {
  const store = new MailStore({ db: o.db, dataDir: o.dataDir });
  const out: ExportSummary[] = [];
  for (const user of o.users) {
    const sum: ExportSummary = { user, folders: [], warnings: [] };
    out.push(sum);
    const root = userExportDir(o.to, user);
    await fsp.mkdir(root, { recursive: true, mode: 0o700 });
    for (const entry of await store.listMailboxes(user)) {
      if (entry.noselect) continue;
      const box = await store.openMailbox(user, entry.name);
      await box.sync();
      let n = 0;
      if (o.format === 'mbox') {
        const file = join(root, `${entry.name === 'INBOX' ? 'INBOX' : encodeDir(entry.name).slice(1)}.mbox`);
        const ws = createWriteStream(file, { mode: 0o600 });
        try {
          for await (const m of box.iterateMessages()) {
            const data = await box.readRecord(m);
            if (!data) continue;
            await write(ws, mboxrdEntry(data, m));
            n++;
          }
        } finally {
          await close(ws);
        }
        sum.folders.push({ name: entry.name, messages: n, path: file });
      } else {
        const dir = join(root, entry.name === 'INBOX' ? '' : encodeDir(entry.name));
        for (const s of ['cur', 'new', 'tmp']) await fsp.mkdir(join(dir, s), { recursive: true, mode: 0o700 });
        const c = await box.counters();
        const keywords = new Map<string, number>();
        const uidlist = createWriteStream(join(dir, 'dovecot-uidlist.mw-tmp'), { mode: 0o600 });
        try {
          await write(uidlist, `3 V${c.uidValidity} N${c.uidNext} G${randomBytes(16).toString('hex')}\n`);
          for await (const m of box.iterateMessages()) {
            const name = `${m.base}:2,${letters(m, keywords, sum)}`;
            try {
              await fsp.copyFile(m.path, join(dir, 'cur', name));
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
              const data = await box.readRecord(m);
              if (!data) continue;
              await fsp.writeFile(join(dir, 'cur', name), data);
            }
            const t = new Date(m.internalDate);
            await fsp.utimes(join(dir, 'cur', name), t, t);
            await write(uidlist, `${m.uid} :${name}\n`);
            n++;
            if (n % 10_000 === 0) o.progress?.(`${user} ${entry.name}: ${n} exported`);
          }
        } finally {
          await close(uidlist);
        }
        await fsp.rename(join(dir, 'dovecot-uidlist.mw-tmp'), join(dir, 'dovecot-uidlist'));
        if (keywords.size) {
          const lines = [...keywords].sort((a, b) => a[1] - b[1]).map(([k, i]) => `${i} ${k}\n`);
          await fsp.writeFile(join(dir, 'dovecot-keywords'), lines.join(''), { mode: 0o600 });
        }
        sum.folders.push({ name: entry.name, messages: n, path: dir });
      }
    }
    const subscribed = (await store.listMailboxes(user)).filter((m) => m.subscribed && !m.noselect).map((m) => m.name);
    if (o.format === 'maildir') await fsp.writeFile(join(root, 'subscriptions'), subscribed.map((s) => s + '\n').join(''), { mode: 0o600 });
  }
  return out;
}

/** Flag letters of a message: system letters, then keyword letters a..z (assigned per folder, 26 at most). */
function letters(m: MessageRecord, keywords: Map<string, number>, sum: ExportSummary): string {
  let s = sysflagsToLetters(m.sysflags);
  const kw: string[] = [];
  for (const k of m.keywords) {
    let i = keywords.get(k);
    if (i === undefined) {
      if (keywords.size >= 26) {
        if (!sum.warnings.includes(`more than 26 keywords: ${k} not exported`)) sum.warnings.push(`more than 26 keywords: ${k} not exported`);
        continue;
      }
      i = keywords.size;
      keywords.set(k, i);
    }
    kw.push(String.fromCharCode(0x61 + i));
  }
  s += kw.sort().join('');
  return s;
}
