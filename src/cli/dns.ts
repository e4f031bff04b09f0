/**
 * `mailwright dns records|check|status` and `mailwright test-deliverability`: the DNS records a domain needs, the
 * setup doctor, the running server's monitoring results, and the deliverability self-test of a message file.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import addressparser from 'nodemailer/lib/addressparser';
import type { Config } from '../config/schema.js';
import type { CliIo } from './index.js';
import { openDatabase } from '../store/sql/db.js';
import { SqlAccountStore } from '../store/sql/accounts.js';
import { DkimKeyStore } from '../dkim/keys.js';
import { NodeResolver } from '../dns/resolver.js';
import { UserError } from '../common/errors.js';
import { requireDomain } from '../common/address.js';
import { controlRequest } from '../server/control.js';
import { publicAddresses } from '../dnscheck/addresses.js';
import { buildRecords, formatRecords, recordsJson } from '../dnscheck/records.js';
import { formatChecks, readCertificate, runChecks, type CheckReport } from '../dnscheck/checks.js';
import { parseHeader, runSelfTest } from '../dnscheck/selftest.js';
import type { DeliverabilityResult, DnsStatus } from '../dnscheck/service.js';

async function withDb<T>(config: Config, fn: (o: { store: SqlAccountStore; keys: DkimKeyStore }) => Promise<T>): Promise<T> {
  const opened = await openDatabase(config.database);
  const store = new SqlAccountStore(opened.db, opened.close);
  try {
    return await fn({ store, keys: new DkimKeyStore(opened.db) });
  } finally {
    await store.close();
  }
}

/** The named domain (must be hosted), or every hosted domain. */
async function domainsOf(store: SqlAccountStore, domain: string | undefined): Promise<string[]> {
  const hosted = (await store.listDomains()).map((d) => d.name);
  if (domain) {
    const d = requireDomain(domain);
    if (!hosted.includes(d)) throw new UserError(`domain ${d} is not hosted here (add it first: mailwright domain add ${d})`);
    return [d];
  }
  if (!hosted.length) throw new UserError('no domains are hosted yet: mailwright domain add DOMAIN');
  return hosted;
}

const resolverOf = (c: Config) => new NodeResolver({ servers: c.dns.servers, timeoutMs: c.dns.timeoutMs });

export function addDnsCommands(program: Command, cfg: () => Config, io: CliIo): void {
  const dns = program.command('dns').description('DNS records to publish, the setup doctor and its monitoring results');

  dns
    .command('records [domain]')
    .description('print the zone-file lines a domain needs (MX, A/AAAA, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV, PTR); all hosted domains without DOMAIN')
    .option('--json', 'machine-readable output')
    .action(async (domain: string | undefined, o: { json?: boolean }) => {
      const config = cfg();
      await withDb(config, async ({ store, keys }) => {
        const addresses = publicAddresses(config);
        const reports = [];
        for (const d of await domainsOf(store, domain)) {
          await keys.ensureKeys(d);
          reports.push(buildRecords(config, d, addresses, await keys.dnsRecords(d)));
        }
        if (o.json) return io.out(JSON.stringify(domain ? recordsJson(reports[0]!) : reports.map(recordsJson), null, 2));
        reports.forEach((r, i) => {
          if (i) io.out('');
          for (const l of formatRecords(r)) io.out(l);
        });
      });
    });

  dns
    .command('check [domain]')
    .description('check the published DNS records, PTR, blocklists and the TLS certificate; exit status 1 on any fail')
    .option('--json', 'machine-readable output')
    .action(async (domain: string | undefined, o: { json?: boolean }) => {
      const config = cfg();
      const resolver = resolverOf(config);
      const reports: CheckReport[] = [];
      await withDb(config, async ({ store, keys }) => {
        for (const d of await domainsOf(store, domain)) {
          reports.push(
            await runChecks({ config, domain: d, addresses: publicAddresses(config), resolver, dkim: keys, certificate: readCertificate(config) }),
          );
        }
      });
      if (o.json) io.out(JSON.stringify(domain ? reports[0] : reports, null, 2));
      else
        reports.forEach((r, i) => {
          if (i) io.out('');
          for (const l of formatChecks(r)) io.out(l);
        });
      const failed = reports.reduce((n, r) => n + r.summary.fail, 0);
      if (failed) throw new UserError(`dns check: ${failed} check(s) failed`, 1);
    });

  dns
    .command('status')
    .description("the running server's latest periodic check results and status changes")
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const config = cfg();
      const s = (await controlRequest(config.dataDir, 'dns.status')) as DnsStatus | null;
      if (!s) throw new UserError('the server is not running (no control socket); run `mailwright dns check` instead');
      if (o.json) return io.out(JSON.stringify(s, null, 2));
      io.out(`monitoring every ${s.intervalHours} h; last run ${s.lastRun ?? 'never'}; next ${s.nextRun ?? '-'}`);
      for (const r of Object.values(s.domains)) {
        io.out('');
        for (const l of formatChecks(r)) io.out(l);
      }
      if (s.changes.length) {
        io.out('');
        io.out('changes:');
        for (const c of s.changes) io.out(`  ${c.at} ${c.domain} ${c.check}: ${c.from ?? 'new'} -> ${c.to} (${c.message})`);
      }
    });

  program
    .command('test-deliverability')
    .description(
      'score mail out of 10 like mail-tester (SPF, DKIM, DMARC, PTR, HELO, blocklists, TLS, headers, SpamAssassin): a message file (--file), or ' +
        "a test message from postmaster@DOMAIN as the running server sends it (--domain and/or --to; --to also mails the report there)",
    )
    .option('--file <message.eml>', 'analyse this message (as sent, with headers); no server needed')
    .option('--ip <ip>', 'with --file: the sending client address (default: our first public address)')
    .option('--helo <name>', 'with --file: the HELO name (default: hostname)')
    .option('--sender <address>', 'with --file: MAIL FROM (default: the From address)')
    .option('--domain <domain>', 'test the mail of this hosted domain through the running server (default: the domain of --to)')
    .option('--to <address>', 'send the report to this address as well (through the running server)')
    .option('--json', 'machine-readable output')
    .action(async (o: { file?: string; ip?: string; helo?: string; sender?: string; domain?: string; to?: string; json?: boolean }) => {
      const config = cfg();
      if (!o.file) {
        if (!o.domain && !o.to) throw new UserError('give --file MESSAGE, or --domain DOMAIN / --to ADDRESS (through the running server)');
        if (o.ip || o.helo || o.sender) throw new UserError('--ip, --helo and --sender go with --file');
        const r = (await controlRequest(config.dataDir, 'dns.deliverability', { domain: o.domain ?? null, to: o.to ?? null }, 180_000)) as
          | (DeliverabilityResult & { to: string | null; replied: 'local' | 'queued' | 'none' })
          | null;
        if (!r) throw new UserError('the server is not running (no control socket): start it, or analyse a message with --file');
        const { text, ...rest } = r.report;
        if (o.json) return io.out(JSON.stringify({ domain: r.domain, sender: r.sender, to: r.to, replied: r.replied, ...rest }, null, 2));
        io.out(text.trimEnd());
        if (r.to) io.out(`\nThe report was ${r.replied === 'local' ? 'delivered' : 'queued for delivery'} to <${r.to}>.`);
        return;
      }
      if (o.domain || o.to) throw new UserError('--domain and --to test through the running server: leave out --file');
      let message: Buffer;
      try {
        message = readFileSync(o.file);
      } catch (err) {
        throw new UserError(`--file: cannot read ${o.file}: ${(err as Error).message}`);
      }
      const a = publicAddresses(config);
      const ip = o.ip ?? a.ipv4[0] ?? a.ipv6[0];
      if (!ip) throw new UserError('--ip: no public address known (set publicAddresses or give --ip)');
      let sender = o.sender;
      if (sender === undefined) {
        const from = parseHeader(message).fields.find((f) => f.name === 'from');
        try {
          sender = from ? (addressparser(from.value, { flatten: true })[0]?.address ?? '') : '';
        } catch {
          sender = '';
        }
      }
      const report = await runSelfTest({
        message,
        ip,
        helo: o.helo ?? config.hostname,
        sender,
        hostname: config.hostname,
        resolver: resolverOf(config),
        dnsblZones: config.dnsbl.zones,
        spamd: config.deliverability.spamd ? { address: config.deliverability.spamd, timeoutMs: config.deliverability.spamdTimeoutMs } : null,
      });
      if (o.json) {
        const { text: _text, ...rest } = report;
        io.out(JSON.stringify(rest, null, 2));
      } else io.out(report.text.trimEnd());
    });
}
