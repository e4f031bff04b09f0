/**
 * QUOTA (RFC 9208) with the STORAGE resource: one quota root, "", covering all of the user's mailboxes, from the
 * user's quotaBytes (0 = unlimited: no quota root) and the store's usage. GETQUOTAROOT mailbox answers
 * `* QUOTAROOT mailbox ""` and `* QUOTA "" (STORAGE used limit)`; GETQUOTA "" the QUOTA line. Units are KiB
 * (RFC 9208 §5.1: usage rounded up, limit rounded down). SETQUOTA is refused: quotas are set by the administrator
 * (`mailwright user add --quota`). Enforcement is in the store: APPEND and delivery over quota fail with
 * [OVERQUOTA] (RFC 9208 §4.3).
 */
import type { QuotaCommand } from '../../../protocol/imap/index.js';
import { MailStoreError } from '../../../store/mail/index.js';
import { mailboxNameOut } from './mailboxes.js';
import { AUTHED, type Handler } from './types.js';
import { no } from '../errors.js';
import type { ImapSession } from '../session.js';

/** The current limit (fresh from the account store: an admin may have changed it) in bytes; 0 = unlimited. */
async function limitBytes(s: ImapSession): Promise<number> {
  const u = await s.ctx.accounts.store.getUser(s.user!.address);
  return Number(u?.quotaBytes ?? s.user!.quotaBytes ?? 0);
}

async function quotaLine(s: ImapSession, limit: number): Promise<string> {
  const used = await s.ctx.mail.quotaUsage(s.user!);
  return `* QUOTA "" (STORAGE ${Math.ceil(used.bytes / 1024)} ${Math.floor(limit / 1024)})\r\n`;
}

export const GETQUOTAROOT: Handler<QuotaCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    try {
      await s.ctx.mail.openMailbox(s.user!, cmd.root);
    } catch (err) {
      if (err instanceof MailStoreError && err.code === 'NONEXISTENT') throw no('No such mailbox', 'NONEXISTENT');
      throw err;
    }
    const limit = await limitBytes(s);
    const name = mailboxNameOut(s, cmd.root).toString('utf8');
    if (limit <= 0) {
      s.write(`* QUOTAROOT ${name}\r\n`);
    } else {
      s.write(`* QUOTAROOT ${name} ""\r\n`);
      s.write(await quotaLine(s, limit));
    }
    return 'GETQUOTAROOT completed';
  },
};

export const GETQUOTA: Handler<QuotaCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    const limit = await limitBytes(s);
    if (cmd.root !== '' || limit <= 0) throw no('No such quota root', 'NONEXISTENT');
    s.write(await quotaLine(s, limit));
    return 'GETQUOTA completed';
  },
};

export const SETQUOTA: Handler<QuotaCommand> = {
  states: AUTHED,
  async run() {
    throw no('Quotas are set by the administrator', 'NOPERM');
  },
};
