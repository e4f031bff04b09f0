/**
 * Helpers for the inbound-authentication tests (SPF, DKIM, DMARC, ARC, SRS): an in-process Mailwright with a
 * chosen hostname, the `authentication` and `dns` config sections (checkLoopback on: the test clients are on
 * loopback), optional submission/IMAP listeners and remote delivery; an MX client that connects from a chosen
 * 127.x source address (the IP that SPF checks); and parsers for Authentication-Results.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { userMaildir } from '../../src/store/maildir/paths.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { DkimKeyStore, type DkimDnsRecord } from '../../src/dkim/keys.js';
import { LogCapture, tempDir } from '../helpers/server.js';
import { WireClient, dotStuff, type Reply } from '../helpers/smtp-client.js';

export { LogCapture };
export const PASSWORD = 'secret';

export interface AuthMwOptions {
  hostname?: string;
  dnsServers: string[];
  authentication?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  listen?: Record<string, string | false>;
  domains?: string[];
  users?: string[];
  aliases?: [string, string][];
  log?: LogCapture;
}

export interface AuthMw {
  server: RunningServer;
  hostname: string;
  dataDir: string;
  smtpPort: number;
  submissionPort: number;
  imapPort: number;
  maildir(address: string): string;
  /** Files in new/ (INBOX) or, with folder ".Junk", in .Junk/new of an address; contents as latin1 text. */
  files(address: string, folder?: string): string[];
  /** The DKIM TXT records of a hosted domain from the key store (what `mailwright dkim show` prints). */
  dkimRecords(domain: string): Promise<DkimDnsRecord[]>;
  stop(): Promise<void>;
}

export async function startAuthMw(o: AuthMwOptions): Promise<AuthMw> {
  const dataDir = tempDir('mw-auth-');
  const hostname = o.hostname ?? 'mx.example.test';
  const config = validateConfig(
    {
      hostname,
      dataDir,
      listen: { smtp: '127.0.0.1:0', ...o.listen },
      smtp: { reverseLookup: false },
      dns: { servers: o.dnsServers, timeoutMs: 1000 },
      authentication: { checkLoopback: true, ...o.authentication },
      queue: { retryBaseSeconds: 0.5, retryMaxSeconds: 2, concurrency: 20 },
      delivery: { commandTimeoutSeconds: 5, ...o.delivery },
      log: { level: o.log ? 'info' : 'silent' },
    },
    'test',
  );
  const logger = createLogger(o.log ? 'info' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  const accounts = new AccountService(server.store);
  const keyDb = await openDatabase(config.database);
  const keys = new DkimKeyStore(keyDb.db);
  try {
    for (const d of o.domains ?? []) await server.store.addDomain(d);
    for (const u of o.users ?? []) await accounts.addUser(u, PASSWORD);
    for (const [s, d] of o.aliases ?? []) await server.store.addAlias(s, d);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const maildir = (address: string) => {
    const at = address.lastIndexOf('@');
    return userMaildir(dataDir, address.slice(at + 1).toLowerCase(), address.slice(0, at));
  };
  let stopped = false;
  return {
    server,
    hostname,
    dataDir,
    smtpPort: server.addresses.smtp?.port ?? 0,
    submissionPort: server.addresses.submission?.port ?? 0,
    imapPort: server.addresses.imap?.port ?? 0,
    maildir,
    files(address, folder = '') {
      const dir = join(maildir(address), folder, 'new');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .sort()
        .map((n) => readFileSync(join(dir, n), 'latin1'));
    },
    async dkimRecords(domain) {
      await keys.ensureKeys(domain);
      return keys.dnsRecords(domain);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await keyDb.close();
      await server.stop();
      forgetEnsured();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One SMTP transaction on the MX from a chosen loopback source address (what SPF sees as the client IP).
 * Returns the final reply (the RCPT reply when no recipient was accepted).
 */
export async function sendMx(
  port: number,
  o: { from: string; to: string[]; data: string | Buffer; helo?: string; source?: string },
): Promise<Reply> {
  const c = await WireClient.connect(port, '127.0.0.1', o.source);
  try {
    const banner = await c.read();
    if (banner.code !== 220) throw new Error(`banner: ${banner.raw}`);
    const e = await c.cmd(`EHLO ${o.helo ?? 'client.example.org'}`);
    if (e.code !== 250) throw new Error(`EHLO: ${e.raw}`);
    const r = await c.send(o.from, o.to, dotStuff(o.data));
    await c.cmd('QUIT').catch(() => undefined);
    return r;
  } finally {
    c.close();
  }
}

/** A plain message with CRLF line ends. */
export function plainMessage(o: { from: string; to: string; subject?: string; extra?: string[]; body?: string; messageId?: string }): string {
  return (
    [
      ...(o.extra ?? []),
      `From: ${o.from}`,
      `To: ${o.to}`,
      `Subject: ${o.subject ?? 'auth test'}`,
      'Date: Fri, 27 Nov 2026 10:00:00 +0000',
      `Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@sender.test>`}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
    ].join('\r\n') +
    '\r\n\r\n' +
    (o.body ?? 'Hello from the authentication tests.\r\n')
  );
}

/** Every occurrence of a header field in the header block, unfolded (whitespace runs collapsed). */
export function headerValues(text: string, name: string): string[] {
  const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n')) + 2);
  const out: string[] = [];
  const re = new RegExp(`^${name}:[ \\t]*(.*(?:\\r\\n[ \\t].*)*)`, 'gim');
  for (const m of head.matchAll(re)) out.push(m[1]!.replace(/\r\n[ \t]+/g, ' ').replace(/\s+/g, ' ').trim());
  return out;
}

export interface ParsedResults {
  authservId: string;
  /** method -> results in order (dkim may appear once per signature). */
  methods: Record<string, string[]>;
  raw: string;
}

/** Parse an Authentication-Results value (RFC 8601): authserv-id, then method=result per resinfo. */
export function parseResults(value: string): ParsedResults {
  const parts = value.split(';').map((p) => p.trim());
  const authservId = parts[0]!.split(/\s/)[0]!;
  const methods: Record<string, string[]> = {};
  for (const p of parts.slice(1)) {
    const m = /^([a-z0-9-]+)=([a-z]+)/i.exec(p);
    if (!m) continue;
    (methods[m[1]!.toLowerCase()] ??= []).push(m[2]!.toLowerCase());
  }
  return { authservId, methods, raw: value };
}

/**
 * The single Authentication-Results header of a delivered file (throws unless exactly one); with authservId, the
 * single one of that authserv-id (others, e.g. an upstream forwarder's, may be present).
 */
export function ourResults(text: string, authservId?: string): ParsedResults {
  const all = headerValues(text, 'Authentication-Results').filter((v) => !authservId || v.split(/[;\s]/)[0]!.toLowerCase() === authservId.toLowerCase());
  if (all.length !== 1) throw new Error(`expected one Authentication-Results, got ${all.length}:\n${text.slice(0, 1500)}`);
  return parseResults(all[0]!);
}
