/**
 * `mailwright import classic` (domains, users with their password hashes, aliases from the classic Postfix +
 * Dovecot + MySQL setup) and `mailwright import maildir` (Dovecot Maildir++ with UIDs, flags and keywords).
 * See src/import/classic.ts and src/import/maildir.ts. Run while the server is stopped.
 */
import { join } from 'node:path';
import { promises as fsp } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { CliIo } from './index.js';
import { openDatabase } from '../store/sql/db.js';
import { SqlAccountStore } from '../store/sql/accounts.js';
import { AccountService } from '../accounts/service.js';
import { DkimKeyStore } from '../dkim/keys.js';
import { UserError } from '../common/errors.js';
import { applyClassic, formatClassic, planClassic, postfixDirSources, type ClassicSources } from '../import/classic.js';
import { formatSummary, importMaildir } from '../import/maildir.js';

interface ClassicOpts {
  mysql?: string;
  postfixDir?: string;
  virtualMailboxDomains?: string;
  virtualMailboxMaps?: string;
  virtualAliasMaps?: string;
  aliases?: string;
  aliasesDomain?: string;
  passwdFile?: string[];
  passwdDomain?: string;
  dryRun?: boolean;
  domainsTable?: string;
  usersTable?: string;
  aliasesTable?: string;
  domainIdColumn?: string;
  domainNameColumn?: string;
  userEmailColumn?: string;
  userPasswordColumn?: string;
  userDomainIdColumn?: string;
  aliasSourceColumn?: string;
  aliasDestinationColumn?: string;
}

interface MaildirOpts {
  user?: string;
  all?: boolean;
  from: string;
  layout: string;
  dryRun?: boolean;
  link?: boolean;
  batch?: string;
  limit?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Users of a %d/%n[/Maildir] tree: [address, maildir root]. */
async function layoutUsers(root: string, layout: string): Promise<Array<[string, string]>> {
  const parts = layout.split('/').filter(Boolean);
  const out: Array<[string, string]> = [];
  const walk = async (dir: string, i: number, d: string, n: string): Promise<void> => {
    if (i === parts.length) {
      if (!d || !n) return;
      let md = dir;
      const hasCur = await fsp.stat(join(dir, 'cur')).then((s) => s.isDirectory(), () => false);
      if (!hasCur && (await fsp.stat(join(dir, 'Maildir', 'cur')).then((s) => s.isDirectory(), () => false))) md = join(dir, 'Maildir');
      out.push([`${n}@${d}`, md]);
      return;
    }
    const p = parts[i]!;
    if (p === '%d' || p === '%n') {
      let entries: string[] = [];
      try {
        entries = (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
      } catch {
        return;
      }
      for (const e of entries) await walk(join(dir, e), i + 1, p === '%d' ? e : d, p === '%n' ? e : n);
    } else await walk(join(dir, p), i + 1, d, n);
  };
  await walk(root, 0, '', '');
  return out;
}

export function addImportCommands(program: Command, cfg: () => Config, io: CliIo): void {
  const imp = program.command('import').description('move accounts and mail from another server (run while the server is stopped)');

  imp
    .command('classic')
    .description('domains, users (password hashes kept) and aliases from Postfix + Dovecot + MySQL')
    .option('--mysql <url>', 'the classic MySQL database, e.g. mysql://mailuser:PASSWORD@127.0.0.1/mailserver')
    .option('--postfix-dir <dir>', 'read virtual_mailbox_domains, virtual_mailbox_maps, virtual_alias_maps from DIR')
    .option('--virtual-mailbox-domains <file>', 'Postfix text map of hosted domains')
    .option('--virtual-mailbox-maps <file>', 'Postfix text map of mailboxes (user@domain path)')
    .option('--virtual-alias-maps <file>', 'Postfix text map of aliases (source destination[, destination])')
    .option('--aliases <file>', '/etc/aliases-style file (name: destination, ...); needs --aliases-domain')
    .option('--aliases-domain <domain>', 'domain of the local names in --aliases')
    .option('--passwd-file <file>', 'Dovecot passwd-file (user:{SCHEME}hash:...); repeatable', collect, [])
    .option('--passwd-domain <domain>', 'domain of passwd-file users given without one')
    .option('--domains-table <name>', 'classic schema: domains table', 'virtual_domains')
    .option('--users-table <name>', 'classic schema: users table', 'virtual_users')
    .option('--aliases-table <name>', 'classic schema: aliases table', 'virtual_aliases')
    .option('--domain-id-column <name>', 'column', 'id')
    .option('--domain-name-column <name>', 'column', 'name')
    .option('--user-email-column <name>', 'column', 'email')
    .option('--user-password-column <name>', 'column', 'password')
    .option('--user-domain-id-column <name>', 'column', 'domain_id')
    .option('--alias-source-column <name>', 'column', 'source')
    .option('--alias-destination-column <name>', 'column', 'destination')
    .option('--dry-run', 'read everything and report what would be added; write nothing')
    .action(async (o: ClassicOpts) => {
      const src: ClassicSources = {
        mysql: o.mysql,
        schema: {
          domainsTable: o.domainsTable,
          usersTable: o.usersTable,
          aliasesTable: o.aliasesTable,
          domainId: o.domainIdColumn,
          domainName: o.domainNameColumn,
          userEmail: o.userEmailColumn,
          userPassword: o.userPasswordColumn,
          userDomainId: o.userDomainIdColumn,
          aliasSource: o.aliasSourceColumn,
          aliasDestination: o.aliasDestinationColumn,
        },
        ...(o.postfixDir ? await postfixDirSources(o.postfixDir) : {}),
        aliasesFile: o.aliases,
        aliasesDomain: o.aliasesDomain,
        passwdFiles: o.passwdFile ?? [],
        passwdDomain: o.passwdDomain,
      };
      if (o.virtualMailboxDomains) src.virtualMailboxDomains = o.virtualMailboxDomains;
      if (o.virtualMailboxMaps) src.virtualMailboxMaps = o.virtualMailboxMaps;
      if (o.virtualAliasMaps) src.virtualAliasMaps = o.virtualAliasMaps;
      if (!src.mysql && !src.virtualMailboxDomains && !src.virtualMailboxMaps && !src.virtualAliasMaps && !src.aliasesFile && !src.passwdFiles?.length) {
        throw new UserError('nothing to import: give --mysql, --postfix-dir, --passwd-file or map files');
      }
      const plan = await planClassic(src);
      const config = cfg();
      const opened = await openDatabase(config.database);
      try {
        const svc = new AccountService(new SqlAccountStore(opened.db), { dkim: new DkimKeyStore(opened.db) });
        const r = await applyClassic(svc, plan, { dryRun: o.dryRun });
        for (const l of formatClassic(r, Boolean(o.dryRun))) io.out(l);
      } finally {
        await opened.close();
      }
    });

  imp
    .command('maildir')
    .description("a Dovecot Maildir++ tree with UIDVALIDITY, UIDs, flags, keywords and INTERNALDATE kept; resumable")
    .option('--user <address>', 'the user to import into (must exist: import classic or user add first)')
    .option('--all', 'every <domain>/<user> under --from (see --layout); users that do not exist here are skipped')
    .requiredOption('--from <dir>', "with --user: the user's Maildir root; with --all: the root of the tree (e.g. /var/mail/vhosts)")
    .option('--layout <pattern>', 'with --all: path of a Maildir under --from (%d domain, %n user; a Maildir/ subfolder is found by itself)', '%d/%n')
    .option('--dry-run', 'read everything and report what would be imported; write nothing')
    .option('--link', 'hard-link the message files instead of copying (same file system; leave the source alone afterwards)')
    .option('--batch <n>', 'messages per transaction', '500')
    .option('--limit <n>', 'stop after importing N messages (a later run continues)')
    .action(async (o: MaildirOpts) => {
      if (Boolean(o.user) === Boolean(o.all)) throw new UserError('give either --user ADDRESS or --all');
      const config = cfg();
      const opened = await openDatabase(config.database);
      try {
        const accounts = new SqlAccountStore(opened.db);
        const targets: Array<[string, string]> = o.user ? [[o.user, o.from]] : await layoutUsers(o.from, o.layout);
        if (!targets.length) throw new UserError(`no Maildirs found under ${o.from} with layout ${o.layout}`);
        let failed = 0;
        for (const [address, dir] of targets) {
          const u = await accounts.getUser(address).catch(() => undefined);
          if (!u) {
            io.err(`${address}: no such user here (import classic or user add first) — skipped`);
            failed++;
            continue;
          }
          const r = await importMaildir({
            db: opened.db,
            dataDir: config.dataDir,
            user: u.address,
            from: dir,
            dryRun: o.dryRun,
            link: o.link,
            batchSize: Math.max(1, Number(o.batch) || 500),
            limit: o.limit !== undefined ? Number(o.limit) : undefined,
            progress: (l) => io.err(l),
          });
          for (const l of formatSummary(r, Boolean(o.dryRun))) io.out(l);
        }
        if (o.user && failed) throw new UserError(`no such user: ${o.user}`);
      } finally {
        await opened.close();
      }
    });
}
