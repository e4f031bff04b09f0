/**
 * A TCP listener shared by every protocol (SMTP, IMAP, POP3): plain or implicit TLS (RFC 8314), with a global and
 * a per-IP connection limit, a per-IP connection rate (token bucket), the PROXY protocol (v1/v2) from trusted load
 * balancers, and tls-alpn-01 (RFC 8737) challenge handshakes for ACME. A refused connection gets the protocol's own
 * "busy" line and is closed.
 * Untrusted input: the PROXY header (only read from trusted sources) and the first TLS record (only parsed while an
 * ACME tls-alpn-01 challenge is pending).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { serverTlsOptions, TlsContexts, type ServerTls } from '../../tls/context.js';
import { readProxyHeader, applyProxiedAddress, type CidrList } from './proxy.js';
import { parseClientHello } from './clienthello.js';
import type { TokenBuckets } from './ratelimit.js';
import { takePrebound } from '../../ops/prebind.js';

const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface ListenerOptions {
  name: string;
  implicitTls: boolean;
  secureContext: ServerTls | null;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** The line sent to a refused connection, e.g. "421 4.7.0 ... too many connections\r\n". */
  busyLine: (reason: 'total' | 'per-ip' | 'rate') => string;
  /** Runs a session; the promise settles when the connection is over. */
  handle: (socket: net.Socket) => Promise<void>;
  log: Logger;
}

export interface ListenerEvent {
  type: 'connect' | 'close' | 'refused';
  listener: string;
  client: string;
  reason?: string;
}

/** Production options shared by all listeners (set by main.ts after construction; changed on reload). */
export interface ListenerOps {
  /** Sources whose connections start with a PROXY v1/v2 header (required from them). */
  proxyTrusted: CidrList | null;
  proxyTimeoutMs: number;
  /** New connections per client address. */
  connectionRate: TokenBuckets | null;
  onEvent?: (e: ListenerEvent) => void;
}

export class Listener {
  readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private readonly sockets = new Set<net.Socket>();
  private total = 0;
  /** Name in metrics and logs (the SMTP listeners share the name "smtp"; main.ts sets submission/submissions). */
  label: string;
  ops: ListenerOps | null = null;

  constructor(private readonly opts: ListenerOptions) {
    if (opts.implicitTls && !opts.secureContext) throw new Error(`${opts.name}: implicit TLS listener needs a certificate`);
    this.label = opts.name;
    // Implicit TLS is done on the accepted socket (TLSSocket with the shared contexts, as STARTTLS does):
    // tls.createServer() has no option taking a SecureContext, and this keeps one certificate reload path.
    this.server = net.createServer((sock) => void this.accept(sock));
    this.server.on('error', (err) => opts.log.error({ err, listener: opts.name }, 'listener error'));
  }

  /** Change the connection limits (configuration reload). */
  setLimits(l: { maxConnections: number; maxConnectionsPerIp: number }): void {
    this.opts.maxConnections = l.maxConnections;
    this.opts.maxConnectionsPerIp = l.maxConnectionsPerIp;
  }

  /** Run the TLS handshake on an accepted socket; null when it fails or times out. */
  private handshake(sock: net.Socket, o: tls.TLSSocketOptions): Promise<tls.TLSSocket | null> {
    return new Promise((resolve) => {
      const t = new tls.TLSSocket(sock, o);
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

  /** Listen; `prebound` is a server bound earlier (as root, before the privilege drop) whose socket is taken over. */
  listen(host: string, port: number, prebound?: net.Server): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      };
      prebound ??= takePrebound(`${host}:${port}`);
      if (prebound) this.server.listen(prebound, done);
      else this.server.listen({ host, port, exclusive: true }, done);
    });
  }

  get connectionCount(): number {
    return this.total;
  }

  private event(type: ListenerEvent['type'], client: string, reason?: string) {
    this.ops?.onEvent?.({ type, listener: this.label, client, reason });
  }

  private async accept(sock: net.Socket) {
    sock.on('error', () => {});
    sock.setNoDelay(true);
    const ops = this.ops;
    if (ops?.proxyTrusted && ops.proxyTrusted.has(sock.remoteAddress ?? '')) {
      // PROXY protocol: the load balancer speaks first; the real client is in its header.
      this.sockets.add(sock);
      const a = await readProxyHeader(sock, ops.proxyTimeoutMs);
      this.sockets.delete(sock);
      if ('error' in a) {
        this.opts.log.info({ client: sock.remoteAddress, listener: this.label, err: a.error }, 'PROXY header refused');
        sock.destroy();
        return;
      }
      applyProxiedAddress(sock, a);
    }
    const ip = sock.remoteAddress ?? '';
    // A TLS client cannot read a plaintext refusal: it is just closed.
    const refuse = (why: 'total' | 'per-ip' | 'rate') => {
      this.event('refused', ip, why);
      if (this.opts.implicitTls) sock.destroy();
      else sock.end(this.opts.busyLine(why));
    };
    if (this.total >= this.opts.maxConnections) {
      refuse('total');
      return;
    }
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.opts.maxConnectionsPerIp) {
      this.opts.log.info({ client: ip, connections: n, listener: this.label }, 'connection refused: too many from this address');
      refuse('per-ip');
      return;
    }
    if (ops?.connectionRate && !ops.connectionRate.take(ip)) {
      this.opts.log.info({ client: ip, listener: this.label }, 'connection refused: connection rate from this address');
      refuse('rate');
      return;
    }
    this.perIp.set(ip, n + 1);
    this.total++;
    this.sockets.add(sock);
    this.event('connect', ip);
    const release = () => {
      const m = (this.perIp.get(ip) ?? 1) - 1;
      if (m <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, m);
      this.total--;
      this.sockets.delete(sock);
      this.event('close', ip);
    };
    const run = async () => {
      if (!this.opts.implicitTls) return this.opts.handle(sock);
      const tlsOpts = serverTlsOptions(this.opts.secureContext!);
      const ctxs = this.opts.secureContext;
      if (ctxs instanceof TlsContexts && ctxs.hasAlpnChallenges) {
        // RFC 8737: an "acme-tls/1" handshake gets the challenge certificate and nothing else.
        const hello = await peekHello(sock);
        const challenge = hello?.alpn.includes('acme-tls/1') && hello.servername ? ctxs.alpnChallenge(hello.servername) : null;
        if (challenge) {
          const t = await this.handshake(sock, { isServer: true, secureContext: challenge, ALPNProtocols: ['acme-tls/1'] });
          this.opts.log.info({ client: ip, name: hello!.servername, ok: Boolean(t) }, 'ACME tls-alpn-01 validation handshake');
          t?.end();
          t?.destroy();
          return;
        }
      }
      const t = await this.handshake(sock, tlsOpts);
      if (!t) return;
      if (sock.remoteAddress !== t.remoteAddress) applyProxiedAddress(t, { remoteAddress: sock.remoteAddress ?? null, remotePort: sock.remotePort ?? 0 });
      t.on('error', () => t.destroy());
      return this.opts.handle(t);
    };
    run()
      .catch((err) => this.opts.log.error({ err, listener: this.label }, 'session failed'))
      .finally(release);
  }

  /**
   * Stop accepting; wait up to `graceMs` for the sessions to end (they are told to finish through the
   * ShutdownSignal), then cut the rest.
   */
  close(graceMs = 10_000): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
        setTimeout(finish, 100).unref();
      }, graceMs);
      timer.unref();
      this.server.close(() => finish());
    });
  }
}

/** Wait for the first TLS record (up to 5 s) without consuming it (paused mode; the bytes are put back). */
function peekHello(sock: net.Socket): Promise<ReturnType<typeof parseClientHello>> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (r: ReturnType<typeof parseClientHello>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.off('readable', onReadable);
      if (buf.length) sock.unshift(buf);
      resolve(r);
    };
    const onReadable = () => {
      let c: Buffer | null;
      while (!settled && (c = sock.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, c]);
        const h = parseClientHello(buf);
        if (h || buf.length > 16 * 1024 + 5) return finish(h);
      }
    };
    const timer = setTimeout(() => finish(null), 5000);
    timer.unref();
    sock.on('readable', onReadable);
  });
}
