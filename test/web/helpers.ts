/**
 * Web admin test helpers: a server with listen.http (and IMAP/submission for the client-setup page), a private DNS
 * server (nothing goes to the internet), a transport map that sends mail for unreachable.test to a closed port
 * (so a message stays deferred), and a small cookie-keeping HTTP client for the JSON API and the forms.
 */
import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AdminStore } from '../../src/web/admins.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { HOSTNAME, LogCapture, tempDir } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

export { HOSTNAME, LogCapture };

export interface WebServer {
  server: RunningServer;
  base: string;
  /** https://127.0.0.1:PORT when listen.https is on. */
  httpsBase: string | null;
  dataDir: string;
  log: LogCapture;
  /** The private DNS server the Mailwright server asks (set records while it runs). */
  dns: TestDnsServer;
  stop(): Promise<void>;
}

export async function startWebServer(o: { web?: Record<string, unknown>; https?: boolean; config?: Record<string, unknown> } = {}): Promise<WebServer> {
  const dataDir = tempDir('mw-web-');
  const dns = await startDnsServer({
    'example.test': { MX: [{ exchange: HOSTNAME, priority: 10 }], TXT: ['v=spf1 mx ip4:192.0.2.10 -all'] },
    [HOSTNAME]: { A: ['192.0.2.10'] },
  });
  const config = validateConfig(
    {
      hostname: HOSTNAME,
      dataDir,
      listen: { smtp: '127.0.0.1:0', http: '127.0.0.1:0', imap: '127.0.0.1:0', submission: '127.0.0.1:0', ...(o.https ? { https: '127.0.0.1:0' } : {}) },
      smtp: { reverseLookup: false },
      dns: { servers: dns.servers, timeoutMs: 500 },
      dnsbl: { zones: ['zen.example-bl.test'] },
      publicAddresses: { ipv4: ['192.0.2.10'] },
      delivery: { transportMap: { 'unreachable.test': { host: '127.0.0.1', port: 1, tls: 'none' } }, commandTimeoutSeconds: 2 },
      queue: { retryBaseSeconds: 3600 },
      ...(o.web ? { web: o.web } : {}),
      log: { level: 'info' },
      ...o.config,
    },
    'test',
  );
  const log = new LogCapture();
  const server = await startServer(config, createLogger('info', log));
  server.web!.failDelay = async () => {};
  const a = server.addresses.http!;
  const h = server.addresses.https;
  return {
    server,
    base: `http://${a.host}:${a.port}`,
    httpsBase: h ? `https://${h.host}:${h.port}` : null,
    dataDir,
    log,
    dns,
    async stop() {
      await server.stop();
      await dns.close();
      forgetEnsured();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates an admin in the server's database (what `mailwright admin add` does). */
export async function addAdmin(ws: WebServer, name: string, password: string): Promise<void> {
  const opened = await openDatabase(ws.server.config.database);
  try {
    await new AdminStore(opened.db).add(name, password);
  } finally {
    await opened.close();
  }
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** An HTTP client that keeps the session cookie and the CSRF token of the JSON API. */
export class Client {
  cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly base: string) {}

  async req(method: string, path: string, o: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; csrf?: boolean } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...o.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (o.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    }
    if (method === 'POST' && o.csrf !== false && this.csrf && o.json !== undefined) headers['x-csrf-token'] ??= this.csrf;
    const r = await fetch(this.base + path, { method, headers, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      const k = kv!.slice(0, i);
      const v = kv!.slice(i + 1);
      if (v) this.cookies.set(k, v);
      else this.cookies.delete(k);
    }
    const text = await r.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: r.status, headers: r.headers, text, json };
  }

  get(path: string) {
    return this.req('GET', path);
  }

  post(path: string, json: unknown = {}, o: { csrf?: boolean; headers?: Record<string, string> } = {}) {
    return this.req('POST', path, { json, ...o });
  }

  async login(kind: 'admin' | 'account', username: string, password: string): Promise<Res> {
    const r = await this.post(`/${kind}/api/login`, { username, password });
    if (r.status === 200) this.csrf = r.json.csrf;
    return r;
  }
}
