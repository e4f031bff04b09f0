/** `mailwright export --user ADDRESS|--all --format maildir|mbox --to DIR` (see src/export/index.ts). */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { CliIo } from './index.js';
import { openDatabase } from '../store/sql/db.js';
import { SqlAccountStore } from '../store/sql/accounts.js';
import { UserError } from '../common/errors.js';
import { exportMail } from '../export/index.js';

export function addExportCommands(program: Command, cfg: () => Config, io: CliIo): void {
  program
    .command('export')
    .description('write mailboxes out as Maildir (with dovecot-uidlist: same UIDs) or mbox (mboxrd), per user or all')
    .option('--user <address>', 'one user')
    .option('--all', 'every user')
    .option('--format <format>', 'maildir or mbox', 'maildir')
    .requiredOption('--to <dir>', 'output directory (<dir>/<domain>/<user>/...)')
    .action(async (o: { user?: string; all?: boolean; format: string; to: string }) => {
      if (Boolean(o.user) === Boolean(o.all)) throw new UserError('give either --user ADDRESS or --all');
      if (o.format !== 'maildir' && o.format !== 'mbox') throw new UserError(`--format ${o.format}: use maildir or mbox`);
      const config = cfg();
      const opened = await openDatabase(config.database);
      try {
        const accounts = new SqlAccountStore(opened.db);
        let users: string[];
        if (o.user) {
          const u = await accounts.getUser(o.user);
          if (!u) throw new UserError(`no such user: ${o.user}`);
          users = [u.address];
        } else users = (await accounts.listUsers()).map((u) => u.address);
        const res = await exportMail({ db: opened.db, dataDir: config.dataDir, users, format: o.format, to: o.to, progress: (l) => io.err(l) });
        for (const s of res) {
          io.out(`${s.user}: ${s.folders.map((f) => `${f.name} ${f.messages}`).join(', ')}`);
          for (const w of s.warnings) io.out(`warning: ${w}`);
        }
      } finally {
        await opened.close();
      }
    });
}
