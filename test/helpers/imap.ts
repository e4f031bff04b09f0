/**
 * IMAP test setup: an in-process server (startTestServer) with the IMAP listeners on OS-picked loopback ports
 * (143-style with STARTTLS, and 993-style implicit TLS), users provisioned, and shortcuts for a logged-in
 * transcript client. Also reads the MIME fixtures that tests APPEND.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { startTestServer, provision, ROOT, type TestServer, type LogCapture } from './server.js';
import { ImapClient, type ConnectOptions } from './imap-client.js';

export { ImapClient, lit, quote, utf8, literalsOf, searchResult, type Response } from './imap-client.js';

export const DOMAIN = 'example.test';

export interface ImapTestServer {
  ts: TestServer;
  /** Plain port (STARTTLS). */
  port: number;
  /** Implicit TLS port. */
  tlsPort: number;
  connect(o?: Partial<ConnectOptions>): Promise<ImapClient>;
  /** Connect and LOGIN (password "secret"). */
  authed(user: string, o?: Partial<ConnectOptions>): Promise<ImapClient>;
  /** Connect, LOGIN and SELECT. */
  selected(user: string, mailbox?: string): Promise<ImapClient>;
  /** The user's Maildir root. */
  maildir(user: string): string;
  stop(): Promise<void>;
}

/**
 * Start a server with IMAP listeners and the given users (local parts or addresses; "@example.test" is added).
 * Stops itself (and closes leftover clients) in an after() hook of the calling test file.
 */
export async function startImapServer(
  o: { users?: string[]; imap?: Record<string, unknown>; log?: LogCapture } = {},
): Promise<ImapTestServer> {
  const ts = await startTestServer({
    listen: { imap: '127.0.0.1:0', imaps: '127.0.0.1:0' },
    imap: o.imap,
    log: o.log,
  });
  const users = (o.users ?? ['alice']).map(addr);
  await provision(ts, { domains: [DOMAIN], users });
  const port = ts.server.addresses.imap!.port;
  const tlsPort = ts.server.addresses.imaps!.port;
  const connect = (c: Partial<ConnectOptions> = {}) => ImapClient.connect({ port: c.tls ? tlsPort : port, ...c });
  const authed = async (user: string, c: Partial<ConnectOptions> = {}) => {
    const cl = await connect(c);
    await cl.login(addr(user));
    return cl;
  };
  let stopped = false;
  const srv: ImapTestServer = {
    ts,
    port,
    tlsPort,
    connect,
    authed,
    async selected(user: string, mailbox = 'INBOX') {
      const cl = await authed(user);
      await cl.select(mailbox);
      return cl;
    },
    maildir: (user: string) => ts.maildir(addr(user)),
    async stop() {
      if (stopped) return;
      stopped = true;
      ImapClient.closeAll();
      await ts.stop();
    },
  };
  after(() => srv.stop());
  return srv;
}

/** "alice" -> "alice@example.test". */
export function addr(user: string): string {
  return user.includes('@') ? user : `${user}@${DOMAIN}`;
}

/** A MIME fixture from test/fixtures/mime (name without .eml). */
export function fixture(name: string): Buffer {
  return readFileSync(join(ROOT, 'test', 'fixtures', 'mime', `${name}.eml`));
}

/** A small CRLF message. */
export function message(o: { subject?: string; from?: string; to?: string; date?: string; body?: string; headers?: string[] } = {}): Buffer {
  const lines = [
    `Date: ${o.date ?? 'Mon, 2 Nov 2026 10:00:00 +0000'}`,
    `From: ${o.from ?? 'Sender <sender@example.org>'}`,
    `To: ${o.to ?? 'alice@example.test'}`,
    `Subject: ${o.subject ?? 'Test message'}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>`,
    ...(o.headers ?? []),
    '',
    o.body ?? 'Hello.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** APPEND `count` messages (subjects "m1".."mN") and return their UIDs. */
export async function seed(c: ImapClient, mailbox: string, count: number, make: (i: number) => Buffer = (i) => message({ subject: `m${i}` })): Promise<number[]> {
  const uids: number[] = [];
  for (let i = 1; i <= count; i++) {
    const tag = c.tag();
    const r = await c.append(tag, mailbox, make(i), { literalPlus: true });
    const m = /\[APPENDUID \d+ (\d+)\]/.exec(r.tagged);
    if (!m) throw new Error(`APPEND failed: ${r.tagged}`);
    uids.push(Number(m[1]));
  }
  return uids;
}

/** Every file and directory below `dir` (relative paths), for "nothing escaped" checks. */
export function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p.slice(base.length + 1));
    if (statSync(p).isDirectory()) out.push(...walk(p, base));
  }
  return out.sort();
}

/** A fresh 127.x.y.z source address per call (the login throttle counts failures per IP). */
let ipCounter = 10;
export function freshIp(): string {
  ipCounter++;
  return `127.${100 + (process.pid % 100)}.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 2}`;
}
