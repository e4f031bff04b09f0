/**
 * `mailwright serve`: runs the server until SIGTERM/SIGINT. On the embedded development defaults, a first domain
 * and user are created on the first start and the password is printed once (never logged).
 */
import type { Config } from '../config/schema.js';
import { DEV_FIRST_DOMAIN, isDevDefaults } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { startServer } from '../main.js';
import { AccountService } from '../accounts/service.js';
import type { CliIo } from './index.js';

export async function runServe(config: Config, io: CliIo): Promise<void> {
  const log = createLogger(config.log.level);
  const server = await startServer(config, log);
  if (isDevDefaults(config)) {
    const domains = await server.store.listDomains();
    if (domains.length === 0) {
      const svc = new AccountService(server.store);
      await server.store.addDomain(DEV_FIRST_DOMAIN);
      const r = await svc.addUser(`postmaster@${DEV_FIRST_DOMAIN}`, undefined);
      io.err(
        [
          '',
          'Mailwright is running on its development defaults (no config file).',
          `  data:     ${config.dataDir}`,
          `  domain:   ${DEV_FIRST_DOMAIN}`,
          `  user:     ${r.user.address}`,
          `  password: ${r.password}    (shown only this once; change it with: npx mailwright user passwd ${r.user.address})`,
          '',
          'Send yourself a test message:',
          `  swaks --server ${server.addresses.smtp?.host}:${server.addresses.smtp?.port} --to ${r.user.address} --from you@example.org`,
          `It lands in ${config.dataDir}/mail/${DEV_FIRST_DOMAIN}/postmaster/new/`,
          '',
        ].join('\n'),
      );
    }
  }
  if (server.tls.selfSigned) log.warn({ cert: server.tls.certPath }, 'using a self-signed certificate; configure tls.cert and tls.key for production');
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      server.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // SIGHUP: configuration and certificates again (what can change live: src/ops/runtime.ts, docs).
    process.on('SIGHUP', () => {
      try {
        server.reload();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'reload failed; the running configuration is unchanged');
      }
    });
  });
  log.flush?.();
}
