/**
 * `mailwright admin add|passwd|remove|list`: web admin accounts (separate from mail users; see src/web/admins.ts).
 * Without --password-stdin a random password is generated and printed once.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { CliIo } from './index.js';
import { readPassword } from './index.js';
import { openDatabase } from '../store/sql/db.js';
import { AdminStore } from '../web/admins.js';
import { generatePassword } from '../accounts/service.js';

async function withAdmins<T>(config: Config, fn: (admins: AdminStore) => Promise<T>): Promise<T> {
  const opened = await openDatabase(config.database);
  try {
    return await fn(new AdminStore(opened.db));
  } finally {
    await opened.close();
  }
}

export function addAdminCommands(program: Command, cfg: () => Config, io: CliIo): void {
  const admin = program.command('admin').description('web admin accounts (separate from mail users)');
  admin
    .command('add <name>')
    .description('create a web admin; without --password-stdin a random password is generated and printed once')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const given = readPassword(o, io);
      const pw = given ?? generatePassword();
      await withAdmins(cfg(), async (a) => {
        const r = await a.add(name, pw);
        io.out(`admin ${r.name} added`);
        if (given === undefined) io.out(`password: ${pw}`);
      });
    });
  admin
    .command('passwd <name>')
    .description('set a new password; without --password-stdin a random one is generated and printed once')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const given = readPassword(o, io);
      const pw = given ?? generatePassword();
      await withAdmins(cfg(), async (a) => {
        await a.setPassword(name, pw);
        io.out(`password of admin ${name.toLowerCase()} changed`);
        if (given === undefined) io.out(`password: ${pw}`);
      });
    });
  admin
    .command('remove <name>')
    .action(async (name: string) => {
      await withAdmins(cfg(), async (a) => {
        await a.remove(name);
        io.out(`admin ${name.toLowerCase()} removed`);
      });
    });
  admin
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      await withAdmins(cfg(), async (a) => {
        const list = await a.list();
        if (o.json) io.out(JSON.stringify(list.map((x) => ({ name: x.name, createdAt: x.createdAt.toISOString() }))));
        else for (const x of list) io.out(x.name);
      });
    });
}
