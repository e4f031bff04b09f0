/**
 * An SMTP listener: the shared TCP listener (limits, implicit TLS) plus the client's reverse DNS name, then an
 * SmtpSession on each connection.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { SmtpSession } from './session.js';
import type { SmtpSessionOptions } from './types.js';
import { formatReply } from '../../protocol/smtp/commands.js';
import { isLoopback, type Resolver } from '../../dns/resolver.js';
import { Listener } from '../net/listener.js';

export interface SmtpListenerOptions extends SmtpSessionOptions {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Reverse lookups of clients; null to skip them. Loopback clients are never looked up. */
  resolver: Resolver | null;
  reverseLookupTimeoutMs?: number;
  log: Logger;
}

export class SmtpListener {
  private readonly listener: Listener;

  constructor(private readonly opts: SmtpListenerOptions) {
    this.listener = new Listener({
      name: 'smtp',
      implicitTls: opts.implicitTls,
      secureContext: opts.secureContext,
      maxConnections: opts.maxConnections,
      maxConnectionsPerIp: opts.maxConnectionsPerIp,
      busyLine: (why) =>
        formatReply(421, '4.7.0', `${opts.hostname} Error: too many connections${why === 'per-ip' ? ' from your address' : ''}, try again later`),
      handle: (sock) => this.run(sock),
      log: opts.log,
    });
  }

  get server(): net.Server {
    return this.listener.server;
  }

  /** The shared TCP listener (limits, PROXY protocol, rate limits, graceful close). */
  get net(): Listener {
    return this.listener;
  }

  listen(host: string, port: number, prebound?: net.Server): Promise<net.AddressInfo> {
    return this.listener.listen(host, port, prebound);
  }

  get connectionCount(): number {
    return this.listener.connectionCount;
  }

  private async run(sock: net.Socket): Promise<void> {
    const name = await this.reverse(sock.remoteAddress ?? '');
    await new SmtpSession(sock, this.opts, name).run();
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

  close(graceMs?: number): Promise<void> {
    return this.listener.close(graceMs);
  }
}
