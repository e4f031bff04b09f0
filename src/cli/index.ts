/**
 * The `mailwright` command line: serve, init, domain, user, alias. Every command takes --config FILE (or
 * $MAILWRIGHT_CONFIG); without one, the embedded development defaults apply (data under ./data).
 * Bad input gets a message that names what is wrong and a non-zero exit status.
 */
import '../mailauth/pubkey-cache.js'; // first: installs the parsed-public-key cache before mailauth's verifiers load
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { UserError } from '../common/errors.js';
import { configPathFrom, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openDatabase } from '../store/sql/db.js';
import { SqlAccountStore } from '../store/sql/accounts.js';
import { AccountService, parseQuota } from '../accounts/service.js';
import { runInit } from './init.js';
import { MailStore } from '../store/mail/index.js';
import { addQueueCommands } from './queue.js';
import { addDkimCommands } from './dkim.js';
import { addDnsCommands } from './dns.js';
import { addStatusCommands } from './status.js';
import { DkimKeyStore } from '../dkim/keys.js';
import { addImportCommands } from './import.js';
import { addExportCommands } from './export.js';
import { addAdminCommands } from './admin.js';

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: () => string;
}

const defaultIo: CliIo = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  stdin: () => readFileSync(0, 'utf8'),
};

async function withAccounts<T>(config: Config, fn: (svc: AccountService) => Promise<T>): Promise<T> {
  const opened = await openDatabase(config.database);
  const store = new SqlAccountStore(opened.db, opened.close);
  try {
    return await fn(new AccountService(store, { dkim: new DkimKeyStore(opened.db) }));
  } finally {
    await store.close();
  }
}

export function readPassword(opts: { password?: string; passwordStdin?: boolean }, io: CliIo): string | undefined {
  if (opts.password !== undefined && opts.passwordStdin) throw new UserError('use either --password or --password-stdin, not both');
  if (opts.passwordStdin) {
    const pw = io.stdin().replace(/\r?\n$/, '');
    if (!pw) throw new UserError('--password-stdin: no password on standard input');
    return pw;
  }
  if (opts.password === '') throw new UserError('--password: the password must not be empty');
  return opts.password;
}

export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command('mailwright');
  program
    .description('Mailwright: a complete, self-hosted mail server (SMTP, IMAP, POP3, DKIM, queue) in one daemon')
    .option('-c, --config <file>', 'configuration file (default: $MAILWRIGHT_CONFIG, else built-in development defaults)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const cfg = (): Config => loadConfig(configPathFrom(program.opts().config));

  program
    .command('serve')
    .description('run the mail server')
    .action(async () => {
      const { runServe } = await import('./serve.js');
      await runServe(cfg(), io);
    });

  program
    .command('init')
    .description('write a production configuration and print the next steps')
    .requiredOption('--hostname <fqdn>', 'the mail host name, e.g. mail.example.com (needs A/AAAA and PTR records)')
    .requiredOption('--domain <domain>', 'the first mail domain, e.g. example.com')
    .option('--data-dir <dir>', 'where mail and the database live', '/var/lib/mailwright')
    .option('-o, --output <file>', 'where to write the configuration', 'mailwright.yaml')
    .option('--force', 'overwrite an existing configuration file')
    .action(async (o: { hostname: string; domain: string; dataDir: string; output: string; force?: boolean }) => {
      await runInit(o, io);
    });

  const domain = program.command('domain').description('hosted mail domains');
  domain
    .command('add <domain>')
    .description('host a mail domain')
    .action(async (name: string) => {
      await withAccounts(cfg(), async (svc) => {
        const d = await svc.addDomain(name);
        io.out(`domain ${d.name} added`);
      });
    });
  domain
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      await withAccounts(cfg(), async (svc) => {
        const ds = await svc.store.listDomains();
        if (o.json) io.out(JSON.stringify(ds.map((d) => ({ name: d.name, createdAt: d.createdAt.toISOString() }))));
        else for (const d of ds) io.out(d.name);
      });
    });
  domain
    .command('remove <domain>')
    .option('--force', 'also remove its users and aliases (mail on disk is kept)')
    .action(async (name: string, o: { force?: boolean }) => {
      await withAccounts(cfg(), async (svc) => {
        await svc.store.removeDomain(name, { force: o.force });
        io.out(`domain ${name} removed`);
      });
    });

  const user = program.command('user').description('mail users (mailboxes)');
  user
    .command('add <address>')
    .description('create a mailbox; without --password a random one is generated and printed once')
    .option('--password <password>', 'the password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--quota <size>', 'quota, e.g. 2G (0 = unlimited)')
    .action(async (address: string, o: { password?: string; passwordStdin?: boolean; quota?: string }) => {
      const pw = readPassword(o, io);
      const quota = parseQuota(o.quota);
      await withAccounts(cfg(), async (svc) => {
        const r = await svc.addUser(address, pw, { quotaBytes: quota });
        io.out(`user ${r.user.address} added`);
        if (r.generated) io.out(`password: ${r.password}`);
      });
    });
  user
    .command('passwd <address>')
    .description('set a new password; without --password a random one is generated and printed once')
    .option('--password <password>', 'the new password')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (address: string, o: { password?: string; passwordStdin?: boolean }) => {
      const pw = readPassword(o, io);
      await withAccounts(cfg(), async (svc) => {
        const r = await svc.setPassword(address, pw);
        io.out(`password of ${address} changed`);
        if (r.generated) io.out(`password: ${r.password}`);
      });
    });
  user
    .command('quota <address> <size>')
    .description('set the quota, e.g. 2G or 500M (0 = unlimited); IMAP QUOTA reports it, APPEND over it is refused')
    .action(async (address: string, size: string) => {
      const bytes = parseQuota(size)!;
      await withAccounts(cfg(), async (svc) => {
        await svc.store.setQuota(address, bytes);
        io.out(`quota of ${address} set to ${bytes === 0 ? 'unlimited' : `${bytes} bytes`}`);
      });
    });
  user
    .command('enable <address>')
    .description('allow the user to log in and to receive mail again')
    .action(async (address: string) => {
      await withAccounts(cfg(), async (svc) => {
        await svc.store.setEnabled(address, true);
        io.out(`user ${address} enabled`);
      });
    });
  user
    .command('disable <address>')
    .description('refuse logins and mail for the user (550 5.2.1); the mail on disk is kept')
    .action(async (address: string) => {
      await withAccounts(cfg(), async (svc) => {
        await svc.store.setEnabled(address, false);
        io.out(`user ${address} disabled`);
      });
    });
  user
    .command('remove <address>')
    .description('remove a mailbox from the accounts (its Maildir on disk is kept)')
    .action(async (address: string) => {
      await withAccounts(cfg(), async (svc) => {
        await svc.store.removeUser(address);
        io.out(`user ${address} removed`);
      });
    });
  user
    .command('list [domain]')
    .option('--json', 'machine-readable output')
    .action(async (d: string | undefined, o: { json?: boolean }) => {
      await withAccounts(cfg(), async (svc) => {
        const us = await svc.store.listUsers(d);
        if (o.json) {
          io.out(JSON.stringify(us.map((u) => ({ address: u.address, quotaBytes: u.quotaBytes, enabled: u.enabled }))));
        } else {
          for (const u of us) io.out(`${u.address}${u.enabled ? '' : ' (disabled)'}${u.quotaBytes ? ` quota=${u.quotaBytes}` : ''}`);
        }
      });
    });

  const alias = program.command('alias').description('aliases (user@domain or @domain catch-all -> destinations)');
  alias
    .command('add <source> <destinations...>')
    .description('forward SOURCE to one or more destinations; SOURCE "@domain" is a catch-all')
    .action(async (source: string, dests: string[]) => {
      await withAccounts(cfg(), async (svc) => {
        for (const d of dests) {
          const a = await svc.store.addAlias(source, d);
          io.out(`alias ${a.source} -> ${a.destination} added`);
        }
      });
    });
  alias
    .command('remove <source> [destination]')
    .description('remove one destination of an alias, or the whole alias')
    .action(async (source: string, dest: string | undefined) => {
      await withAccounts(cfg(), async (svc) => {
        const n = await svc.store.removeAlias(source, dest);
        io.out(`${n} alias entr${n === 1 ? 'y' : 'ies'} removed`);
      });
    });
  alias
    .command('list [domain]')
    .option('--json', 'machine-readable output')
    .action(async (d: string | undefined, o: { json?: boolean }) => {
      await withAccounts(cfg(), async (svc) => {
        const as = await svc.store.listAliases(d);
        if (o.json) io.out(JSON.stringify(as.map((a) => ({ source: a.source, destination: a.destination }))));
        else for (const a of as) io.out(`${a.source} -> ${a.destination}`);
      });
    });

  addQueueCommands(program, cfg, io);
  addDkimCommands(program, cfg, io);
  addImportCommands(program, cfg, io);
  addExportCommands(program, cfg, io);
  addDnsCommands(program, cfg, io);
  addStatusCommands(program, cfg, io);
  addAdminCommands(program, cfg, io);

  program
    .command('reindex <user>')
    .description("rebuild a user's mail index from the Maildir (run while the server is stopped)")
    .option('--full', 'discard the index: new UIDVALIDITY and UIDs for every mailbox (clients download again)')
    .action(async (address: string, o: { full?: boolean }) => {
      const config = cfg();
      const opened = await openDatabase(config.database);
      const store = new SqlAccountStore(opened.db, opened.close);
      try {
        const user = await store.getUser(address);
        if (!user) throw new UserError(`no such user: ${address}`);
        const mail = await MailStore.open({ db: opened.db, dataDir: config.dataDir });
        const r = await mail.reindex(user, { mode: o.full ? 'full' : 'keep' });
        io.out(`reindexed ${user.address}: ${r.mailboxes} mailbox(es), ${r.messages} message(s), ${r.added} added, ${r.expunged} expunged`);
      } finally {
        await store.close();
      }
    });

  return program;
}

/** Runs the CLI; resolves to the exit code (serve resolves when the server stops). */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UserError) {
      io.err(`mailwright: ${err.message}`);
      return err.exitCode;
    }
    io.err(`mailwright: internal error: ${(err as Error).stack ?? err}`);
    return 70;
  }
}

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv);
  if (code !== 0) process.exitCode = code;
}
