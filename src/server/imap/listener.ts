/**
 * IMAP listeners: 143 with STARTTLS and 993 with implicit TLS (RFC 8314), on the shared TCP listener (limits).
 * Implicit TLS is done here on the accepted socket (TLSSocket with the shared SecureContext, as STARTTLS does):
 * tls.createServer() ignores a `secureContext` option, so a tls.Server built from one has no certificate and
 * every handshake fails (see the report on src/server/net/listener.ts).
 */
import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import { Listener } from '../net/listener.js';
import { ImapSession } from './session.js';
import type { ImapContext } from './context.js';

const HANDSHAKE_TIMEOUT_MS = 30_000;

/** Run the TLS handshake on an accepted socket; null when it fails or times out. */
function handshake(sock: net.Socket, ctx: ImapContext): Promise<TLSSocket | null> {
  return new Promise((resolve) => {
    const t = new TLSSocket(sock, { isServer: true, secureContext: ctx.secureContext! });
    const timer = setTimeout(() => done(null), HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    let settled = false;
    const done = (ok: TLSSocket | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) {
        t.destroy();
        sock.destroy();
      }
      resolve(ok);
    };
    t.once('secure', () => done(t));
    t.once('error', (err) => {
      ctx.log.debug({ err: err.message, client: sock.remoteAddress }, 'TLS handshake failed');
      done(null);
    });
    t.once('close', () => done(null));
  });
}

export function imapListener(ctx: ImapContext, o: { implicitTls: boolean; maxConnections: number; maxConnectionsPerIp: number }): Listener {
  if (o.implicitTls && !ctx.secureContext) throw new Error('imaps: implicit TLS listener needs a certificate');
  return new Listener({
    name: o.implicitTls ? 'imaps' : 'imap',
    implicitTls: false,
    secureContext: ctx.secureContext,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    busyLine: (why) => `* BYE Too many connections${why === 'per-ip' ? ' from your address' : ''}, try again later\r\n`,
    handle: async (sock: net.Socket) => {
      if (!o.implicitTls) return new ImapSession(sock, ctx, false).run();
      const t = await handshake(sock, ctx);
      if (!t) return;
      t.on('error', () => t.destroy());
      return new ImapSession(t, ctx, true).run();
    },
    log: ctx.log,
  });
}
