/**
 * A TCP listener shared by every protocol (SMTP, IMAP, POP3): plain or implicit TLS (RFC 8314), with a global and
 * a per-IP connection limit. A refused connection gets the protocol's own "busy" line and is closed.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';

const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface ListenerOptions {
  name: string;
  implicitTls: boolean;
  secureContext: tls.SecureContext | null;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** The line sent to a refused connection, e.g. "421 4.7.0 ... too many connections\r\n". */
  busyLine: (reason: 'total' | 'per-ip') => string;
  /** Runs a session; the promise settles when the connection is over. */
  handle: (socket: net.Socket) => Promise<void>;
  log: Logger;
}

export class Listener {
  readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly opts: ListenerOptions) {
    if (opts.implicitTls && !opts.secureContext) throw new Error(`${opts.name}: implicit TLS listener needs a certificate`);
    // Implicit TLS is done on the accepted socket (TLSSocket with the shared SecureContext, as STARTTLS does):
    // tls.createServer() has no option taking a SecureContext, and this keeps one certificate reload path.
    this.server = net.createServer((sock) => this.accept(sock));
    this.server.on('error', (err) => opts.log.error({ err, listener: opts.name }, 'listener error'));
  }

  /** Run the TLS handshake on an accepted socket; null when it fails or times out. */
  private handshake(sock: net.Socket): Promise<tls.TLSSocket | null> {
    return new Promise((resolve) => {
      const t = new tls.TLSSocket(sock, { isServer: true, secureContext: this.opts.secureContext! });
      let settled = false;
      const done = (ok: tls.TLSSocket | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) {
          t.destroy();
          sock.destroy();
        }
        resolve(ok);
      };
      const timer = setTimeout(() => done(null), HANDSHAKE_TIMEOUT_MS);
      timer.unref();
      t.once('secure', () => done(t));
      t.once('error', (err) => {
        this.opts.log.debug({ err: err.message, client: sock.remoteAddress, listener: this.opts.name }, 'TLS handshake failed');
        done(null);
      });
      t.once('close', () => done(null));
    });
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  get connectionCount(): number {
    return this.total;
  }

  private accept(sock: net.Socket) {
    const ip = sock.remoteAddress ?? '';
    sock.on('error', () => {});
    sock.setNoDelay(true);
    // A TLS client cannot read a plaintext refusal: it is just closed.
    const refuse = (why: 'total' | 'per-ip') => (this.opts.implicitTls ? sock.destroy() : sock.end(this.opts.busyLine(why)));
    if (this.total >= this.opts.maxConnections) {
      refuse('total');
      return;
    }
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.opts.maxConnectionsPerIp) {
      this.opts.log.info({ client: ip, connections: n, listener: this.opts.name }, 'connection refused: too many from this address');
      refuse('per-ip');
      return;
    }
    this.perIp.set(ip, n + 1);
    this.total++;
    const release = () => {
      const m = (this.perIp.get(ip) ?? 1) - 1;
      if (m <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, m);
      this.total--;
    };
    const run = async () => {
      if (!this.opts.implicitTls) return this.opts.handle(sock);
      const t = await this.handshake(sock);
      if (!t) return;
      t.on('error', () => t.destroy());
      return this.opts.handle(t);
    };
    run()
      .catch((err) => this.opts.log.error({ err, listener: this.opts.name }, 'session failed'))
      .finally(release);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
