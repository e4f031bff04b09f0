/**
 * `mailwright init --hostname mail.example.com --domain example.com`: writes a production configuration (standard
 * ports on all addresses, data under /var/lib/mailwright) and prints the next steps. The hostname is checked to be
 * an FQDN here already: a wrong one is why the seed guide's mail was deferred.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { UserError } from '../common/errors.js';
import { isFqdn, requireDomain } from '../common/address.js';
import { validateConfig } from '../config/load.js';
import type { CliIo } from './index.js';

export async function runInit(o: { hostname: string; domain: string; dataDir: string; output: string; force?: boolean }, io: CliIo): Promise<void> {
  if (!isFqdn(o.hostname)) {
    throw new UserError(`--hostname '${o.hostname}' is not a fully qualified domain name: use the name your MX record will point to, e.g. mail.${o.domain}`);
  }
  const domain = requireDomain(o.domain);
  const out = resolve(o.output);
  if (existsSync(out) && !o.force) throw new UserError(`${out} exists already: use --force to overwrite it, or -o to write elsewhere`);
  const config = {
    hostname: o.hostname.toLowerCase(),
    dataDir: o.dataDir,
    database: `sqlite:${o.dataDir.replace(/\/$/, '')}/mailwright.db`,
    listen: {
      smtp: '0.0.0.0:25',
      submission: '0.0.0.0:587',
      submissions: '0.0.0.0:465',
      imap: '0.0.0.0:143',
      imaps: '0.0.0.0:993',
      pop3: '0.0.0.0:110',
      pop3s: '0.0.0.0:995',
      // Port 80: MTA-STS, autoconfig and ACME http-01 (plain HTTP); /admin and /account redirect to 443.
      http: '0.0.0.0:80',
      // The web admin over HTTPS with the server's certificate (HSTS, Secure cookies).
      https: '0.0.0.0:443',
    },
    tls: { cert: `/etc/letsencrypt/live/${o.hostname}/fullchain.pem`, key: `/etc/letsencrypt/live/${o.hostname}/privkey.pem` },
    // The HTTP listeners are public: metrics only for this host (a Prometheus on another host: add its address).
    metrics: { allow: ['127.0.0.1/32', '::1/128'] },
  };
  validateConfig(config, out); // what we write must load
  const header = [
    `# Mailwright configuration written by \`mailwright init\` on ${new Date().toISOString().slice(0, 10)}.`,
    '# Reference: docs/configuration.md. Remove the tls section to use a generated self-signed certificate.',
    '',
  ].join('\n');
  writeFileSync(out, header + stringify(config), { mode: 0o640 });
  const c = `mailwright --config ${out}`;
  io.out(
    [
      `wrote ${out}`,
      '',
      'Next steps:',
      `  1. Create the data directory, owned by the user that runs Mailwright:  install -d -m 700 ${o.dataDir}`,
      `  2. Add the domain and a first mailbox:`,
      `       ${c} domain add ${domain}`,
      `       ${c} user add postmaster@${domain}`,
      `  3. DNS: an A (and AAAA) record for ${o.hostname} pointing to this server, an MX record for ${domain}`,
      `     pointing to ${o.hostname}, and a PTR record of the server's address naming ${o.hostname}.`,
      `  4. Start the server:  ${c} serve`,
      `  5. The web admin: ${c} admin add admin   (prints a password), then open https://${o.hostname}/admin/`,
    ].join('\n'),
  );
}
