/**
 * IMAP listeners: 143 with STARTTLS and 993 with implicit TLS (RFC 8314), on the shared TCP listener (limits and
 * the implicit TLS handshake).
 */
import type net from 'node:net';
import { Listener } from '../net/listener.js';
import { ImapSession } from './session.js';
import type { ImapContext } from './context.js';

export function imapListener(ctx: ImapContext, o: { implicitTls: boolean; maxConnections: number; maxConnectionsPerIp: number }): Listener {
  return new Listener({
    name: o.implicitTls ? 'imaps' : 'imap',
    implicitTls: o.implicitTls,
    secureContext: ctx.secureContext,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    busyLine: (why) => `* BYE Too many connections${why === 'per-ip' ? ' from your address' : ''}, try again later\r\n`,
    handle: (sock: net.Socket) => new ImapSession(sock, ctx, o.implicitTls).run(),
    log: ctx.log,
  });
}
