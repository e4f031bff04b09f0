/**
 * An SMTP listener: accepts connections (plain, or implicit TLS per RFC 8314), enforces the global and per-IP
 * connection limits, looks up the client's reverse DNS name, and runs an SmtpSession on each connection.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SmtpSession } from './session.js';
import type { SmtpSessionOptions } from './types.js';
import { formatReply } from '../../protocol/smtp/commands.js';
import { isLoopback, type Resolver } from '../../dns/resolver.js';

export interface SmtpListenerOptions extends Omit<SmtpSessionOptions, 'implicitTls'> {
  implicitTls: boolean;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Reverse lookups of clients; null to skip them. Loopback clients are never looked up. */
  resolver: Resolver | null;
  reverseLookupTimeoutMs?: number;
  log: Logger;
}

export class SmtpListener {
  readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private total = 0;
  private readonly sessions = new Set<SmtpSession>();

  constructor(private readonly opts: SmtpListenerOptions) {
    const onConn = (sock: net.Socket) => this.accept(sock);
    if (opts.implicitTls) {
      if (!opts.secureContext) throw new Error('implicit TLS listener needs a certificate');
      this.server = tls.createServer({ secureContext: opts.secureContext }, onConn);
      this.server.on('tlsClientError', (err, sock) => {
        opts.log.debug({ err: err.message, client: sock.remoteAddress }, 'TLS handshake failed');
        sock.destroy();
      });
    } else {
      this.server = net.createServer(onConn);
    }
    this.server.on('error', (err) => opts.log.error({ err }, 'smtp listener error'));
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
      sock.end(formatReply(421, '4.7.0', `${this.opts.hostname} Error: too many connections, try again later`));
      return;
    }
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.opts.maxConnectionsPerIp) {
      this.opts.log.info({ client: ip, connections: n }, 'smtp connection refused: too many from this address');
      sock.end(formatReply(421, '4.7.0', `${this.opts.hostname} Error: too many connections from your address`));
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
    void this.reverse(ip).then((name) => {
      const session = new SmtpSession(sock, { ...this.opts }, name);
      this.sessions.add(session);
      return session.run().finally(() => {
        this.sessions.delete(session);
        release();
      });
    });
  }

  private async reverse(ip: string): Promise<string | null> {
    if (!this.opts.resolver || isLoopback(ip)) return null;
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), this.opts.reverseLookupTimeoutMs ?? 3000).unref());
    const lookup = this.opts.resolver
      .reverse(ip)
      .then((names) => names[0] ?? null)
      .catch(() => null);
    return Promise.race([lookup, timeout]);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
