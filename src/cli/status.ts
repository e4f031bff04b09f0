/**
 * `mailwright status`: what the running server reports on its control socket (listeners, queue, certificates,
 * ACME, login lockouts, the last DNS check); `mailwright reload`: apply the configuration file again (as SIGHUP).
 * When no server runs, status says so and lists the certificates it would use.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { controlRequest } from '../server/control.js';
import { UserError } from '../common/errors.js';
import type { CliIo } from './index.js';

interface Status {
  hostname: string;
  pid: number;
  uid: number | null;
  user: string | null;
  startedAt: string;
  listeners: Array<{ name: string; address: string; connections: number | null }>;
  queue: Record<string, number>;
  certificates: Array<{ names: string[]; source: string; subjectAltNames: string[]; issuer: string; notAfter: string }>;
  acme: { names: string[]; notAfter: string | null; lastError: string | null; nextCheck: string | null } | null;
  logins: { ips: number; accounts: number };
  dns?: { lastRun: string | null; domains: Record<string, { checks: Array<{ id: string; status: string; message: string }> }> };
}

export function formatStatus(s: Status): string {
  const days = (d: string) => Math.floor((new Date(d).getTime() - Date.now()) / 86400_000);
  const lines = [`Mailwright ${s.hostname}: running (pid ${s.pid}${s.user ? `, user ${s.user}` : ''}, since ${s.startedAt})`, '', 'Listeners:'];
  for (const l of s.listeners) lines.push(`  ${l.name.padEnd(12)} ${l.address.padEnd(22)} ${l.connections ?? '-'} connections`);
  lines.push('', `Queue: ${Object.entries(s.queue).map(([k, v]) => `${k} ${v}`).join(', ')}`, '', 'Certificates:');
  for (const c of s.certificates) {
    lines.push(`  ${(c.names.join(',') === '*' ? 'default' : c.names.join(',')).padEnd(28)} ${c.source.padEnd(11)} ${c.subjectAltNames.join(',')}  issuer ${c.issuer}  expires ${c.notAfter.slice(0, 10)} (${days(c.notAfter)} days)`);
  }
  if (s.acme) lines.push(`  ACME ${s.acme.names.join(',')}: ${s.acme.notAfter ? `valid until ${s.acme.notAfter.slice(0, 10)}` : 'no certificate yet'}${s.acme.lastError ? `; last error: ${s.acme.lastError}` : ''}`);
  lines.push('', `Login lockouts: ${s.logins.ips} addresses, ${s.logins.accounts} accounts`);
  if (s.dns) {
    lines.push('', `DNS check: ${s.dns.lastRun ? `last run ${s.dns.lastRun}` : 'not run yet'}`);
    for (const [domain, r] of Object.entries(s.dns.domains)) {
      const bad = r.checks.filter((c) => c.status !== 'pass');
      lines.push(`  ${domain}: ${bad.length ? bad.map((c) => `${c.id} ${c.status}`).join(', ') : 'all checks pass'}`);
    }
  }
  return lines.join('\n');
}

export function addStatusCommands(program: Command, cfg: () => Config, io: CliIo): void {
  program
    .command('status')
    .description('summary of the running server: listeners, queue, certificates, last DNS check')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const config = cfg();
      const s = (await controlRequest(config.dataDir, 'status')) as Status | null;
      if (!s) throw new UserError(`no server is running for ${config.dataDir} (no control socket)`, 3);
      io.out(o.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    });
  program
    .command('reload')
    .description('re-read the configuration and certificates in the running server (same as SIGHUP)')
    .action(async () => {
      const config = cfg();
      const r = (await controlRequest(config.dataDir, 'reload')) as { applied: string[]; restartNeeded: string[]; tls: { ok: boolean; error?: string } } | null;
      if (!r) throw new UserError(`no server is running for ${config.dataDir}`, 3);
      io.out(`applied: ${r.applied.join(', ')}`);
      if (!r.tls.ok) io.out(`TLS reload failed (old certificates kept): ${r.tls.error}`);
      if (r.restartNeeded.length) io.out(`changed, needs a restart: ${r.restartNeeded.join(', ')}`);
    });
}
