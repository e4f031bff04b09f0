/**
 * A TCP listener shared by every protocol (SMTP, IMAP, POP3): plain or implicit TLS (RFC 8314), with a global and
 * a per-IP connection limit. A refused connection gets the protocol's own "busy" line and is closed.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';

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
    const onConn = (sock: net.Socket) => this.accept(sock);
    if (opts.implicitTls) {
      if (!opts.secureContext) throw new Error(`${opts.name}: implicit TLS listener needs a certificate`);
      this.server = tls.createServer({ secureContext: opts.secureContext }, onConn);
      this.server.on('tlsClientError', (err, sock) => {
        opts.log.debug({ err: err.message, client: sock.remoteAddress }, 'TLS handshake failed');
        sock.destroy();
      });
    } else {
      this.server = net.createServer(onConn);
    }
    this.server.on('error', (err) => opts.log.error({ err, listener: opts.name }, 'listener error'));
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
    if (this.total >= this.opts.maxConnections) {
      sock.end(this.opts.busyLine('total'));
      return;
    }
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.opts.maxConnectionsPerIp) {
      this.opts.log.info({ client: ip, connections: n, listener: this.opts.name }, 'connection refused: too many from this address');
      sock.end(this.opts.busyLine('per-ip'));
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
    this.opts
      .handle(sock)
      .catch((err) => this.opts.log.error({ err, listener: this.opts.name }, 'session failed'))
      .finally(release);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
