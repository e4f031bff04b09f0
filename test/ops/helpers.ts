/**
 * Helpers for the production-operation tests: a server started in-process with any config, free ports, certificates
 * made with openssl, TLS probes returning the served certificate, a tiny line client for SMTP/IMAP.
 */
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { AccountService } from '../../src/accounts/service.js';
import { forgetEnsured } from '../../src/store/maildir/maildir.js';
import { HOSTNAME, LogCapture, tempDir } from '../helpers/server.js';

export { HOSTNAME, LogCapture, tempDir };

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

export async function startOpsServer(
  cfg: Record<string, unknown>,
  o: { log?: LogCapture; users?: string[]; domain?: string } = {},
): Promise<{ server: RunningServer; dataDir: string; stop: () => Promise<void> }> {
  const dataDir = (cfg.dataDir as string) ?? tempDir('mw-ops-');
  const config = validateConfig(
    { hostname: HOSTNAME, dataDir, smtp: { reverseLookup: false }, log: { level: o.log ? 'debug' : 'silent' }, ...cfg, listen: { smtp: '127.0.0.1:0', ...(cfg.listen as object) } },
    'test',
  );
  const logger = createLogger(o.log ? 'debug' : 'silent', o.log ?? new Writable({ write: (_c, _e, cb) => cb() }));
  const server = await startServer(config, logger);
  const domain = o.domain ?? 'example.test';
  if (o.users?.length) {
    if (!(await server.store.getDomain(domain))) await server.store.addDomain(domain);
    const acc = new AccountService(server.store);
    for (const u of o.users) await acc.addUser(u, 'secret');
  }
  return {
    server,
    dataDir,
    stop: async () => {
      await server.stop();
      forgetEnsured();
    },
  };
}

/** A self-signed certificate (EC P-256) for `names` written to dir/<base>.crt/.key. */
export function makeCert(dir: string, base: string, names: string[]): { cert: string; key: string } {
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`,
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** Connect with TLS (implicit) and return the served certificate. */
export function servedCert(port: number, servername?: string, extra: tls.ConnectionOptions = {}): Promise<tls.PeerCertificate & { protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...extra }, () => {
      const c = s.getPeerCertificate();
      const protocol = s.getProtocol();
      s.destroy();
      resolve(Object.assign(c, { protocol }));
    });
    s.on('error', reject);
  });
}

/** A line-oriented client over a plain or TLS socket. */
export class LineClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('error', () => {});
  }
  static connect(port: number, o: { tls?: boolean; servername?: string; localAddress?: string; host?: string } = {}): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const host = o.host ?? '127.0.0.1';
      const s = o.tls
        ? tls.connect({ host, port, servername: o.servername, rejectUnauthorized: false, localAddress: o.localAddress }, () => resolve(new LineClient(s)))
        : net.connect({ host, port, localAddress: o.localAddress }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }
  /** Wait for a line matching re; returns everything up to and including that line. */
  async until(re: RegExp, timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      for (let i = 0; i < lines.length - 1; i++) {
        if (re.test(lines[i]!)) {
          const out = lines.slice(0, i + 1).join('\r\n');
          this.buf = lines.slice(i + 1).join('\r\n');
          return out;
        }
      }
      if (this.closed) throw new Error(`connection closed waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  send(line: string) {
    this.sock.write(line + '\r\n');
  }
  async cmd(line: string, re: RegExp) {
    this.send(line);
    return this.until(re);
  }
  close() {
    this.sock.destroy();
  }
}

/** SMTP: read the banner, EHLO; returns the client. */
export async function smtpConnect(port: number, o: { localAddress?: string } = {}): Promise<{ c: LineClient; banner: string }> {
  const c = await LineClient.connect(port, o);
  const banner = await c.until(/^\d{3} /);
  return { c, banner };
}

/** A PROXY protocol v2 header (proxy-protocol.txt §2.2): PROXY command, TCP over IPv4, addresses and ports. */
export function proxyV2(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const body = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (body[i] = Number(o)));
  dst.split('.').forEach((o, i) => (body[4 + i] = Number(o)));
  body.writeUInt16BE(srcPort, 8);
  body.writeUInt16BE(dstPort, 10);
  return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0x00, 12]), body]);
}
