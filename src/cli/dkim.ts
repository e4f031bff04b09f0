/**
 * `mailwright dkim show|rotate|retire|test DOMAIN`: DKIM keys of a hosted domain and the TXT records to publish.
 * Private keys are never printed.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { CliIo } from './index.js';
import { openDatabase } from '../store/sql/db.js';
import { DkimKeyStore, toRecord, type DkimDnsRecord, type DkimKey } from '../dkim/keys.js';
import { zoneFileRecord } from '../dkim/record.js';
import { testDomain } from '../dkim/test.js';
import { NodeResolver } from '../dns/resolver.js';
import { UserError } from '../common/errors.js';

async function withKeys<T>(config: Config, fn: (keys: DkimKeyStore) => Promise<T>): Promise<T> {
  const opened = await openDatabase(config.database);
  try {
    return await fn(new DkimKeyStore(opened.db));
  } finally {
    await opened.close();
  }
}

function printRecords(io: CliIo, domain: string, recs: DkimDnsRecord[]): void {
  const active = recs.filter((r) => r.state === 'active');
  const retiring = recs.filter((r) => r.state === 'retiring');
  io.out(`; DKIM keys of ${domain}: publish these TXT records in DNS`);
  io.out(`; active (signing): ${active.map((r) => `${r.selector} (${r.algorithm})`).join(', ') || 'none'}`);
  for (const r of active) io.out(zoneFileRecord(r));
  if (retiring.length) {
    io.out(`; retiring (no longer signing; keep published until 'mailwright dkim retire ${domain}'): ${retiring.map((r) => r.selector).join(', ')}`);
    for (const r of retiring) io.out(zoneFileRecord(r));
  }
}

const recordsJson = (recs: DkimDnsRecord[]) => recs.map((r) => ({ name: r.name, selector: r.selector, algorithm: r.algorithm, state: r.state, value: r.value }));

export function addDkimCommands(program: Command, cfg: () => Config, io: CliIo): void {
  const dkim = program.command('dkim').description('DKIM signing keys (RSA and Ed25519) and their DNS records');

  dkim
    .command('show <domain>')
    .description('print the TXT records to publish (creates the keys of a domain that has none)')
    .option('--json', 'machine-readable output')
    .action(async (domain: string, o: { json?: boolean }) => {
      await withKeys(cfg(), async (keys) => {
        const active = await keys.ensureKeys(domain);
        const d = active[0]!.domain;
        const recs = await keys.dnsRecords(d);
        if (o.json) return io.out(JSON.stringify(recordsJson(recs)));
        printRecords(io, d, recs);
      });
    });

  dkim
    .command('rotate <domain>')
    .description('make a new key pair that signs at once; the old pair stays published until `dkim retire`')
    .option('--json', 'machine-readable output')
    .action(async (domain: string, o: { json?: boolean }) => {
      await withKeys(cfg(), async (keys) => {
        const r = await keys.rotate(domain);
        const d = r.active[0]!.domain;
        if (o.json) return io.out(JSON.stringify(recordsJson([...r.active, ...r.retiring].map(toRecord))));
        io.out(`dkim ${d}: new keys ${r.active.map((k) => k.selector).join(', ')} sign from now on (a running server within 5 seconds); publish their records:`);
        for (const k of r.active) io.out(zoneFileRecord(toRecord(k)));
        if (r.retiring.length) {
          io.out(
            `; keep these published until mail signed with them has been delivered (a few days), then run 'mailwright dkim retire ${d}': ${r.retiring.map((k) => k.selector).join(', ')}`,
          );
          for (const k of r.retiring) io.out(zoneFileRecord(toRecord(k)));
        }
      });
    });

  dkim
    .command('retire <domain>')
    .description('retire the keys replaced by `dkim rotate` (their DNS records may then be removed)')
    .action(async (domain: string) => {
      await withKeys(cfg(), async (keys) => {
        const retired: DkimKey[] = await keys.retire(domain);
        const d = domain.toLowerCase().replace(/\.$/, '');
        if (!retired.length) return io.out(`dkim ${d}: no retiring keys (nothing to do)`);
        io.out(`dkim ${d}: retired ${retired.map((k) => k.selector).join(', ')}; these TXT records can now be removed from DNS:`);
        for (const k of retired) io.out(`${k.selector}._domainkey.${k.domain}.`);
      });
    });

  dkim
    .command('test <domain>')
    .description('check the published TXT records against our keys (like opendkim-testkey); exit 1 when an active key is not ok')
    .option('--json', 'machine-readable output')
    .action(async (domain: string, o: { json?: boolean }) => {
      const config = cfg();
      const resolver = new NodeResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs });
      await withKeys(config, async (keys) => {
        const r = await testDomain(keys, domain, resolver);
        if (o.json) io.out(JSON.stringify(r.results));
        else {
          for (const x of r.results) {
            io.out(`${x.message}${x.state === 'retiring' ? ' [retiring key]' : ''}`);
            if (x.verdict !== 'ok') {
              if (x.published !== undefined) io.out(`  published: ${x.published}`);
              io.out(`  publish:   ${x.zone}`);
            }
          }
        }
        if (r.failed) {
          const n = r.results.filter((x) => x.state === 'active').length;
          throw new UserError(`dkim test ${r.domain}: ${r.failed} of ${n} active key(s) not ok`, 1);
        }
        if (!o.json) io.out(`dkim test ${r.domain}: all active keys ok`);
      });
    });
}
