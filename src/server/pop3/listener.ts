/**
 * POP3 listeners: 110 with STLS and 995 with implicit TLS (RFC 8314), on the shared TCP listener (limits and the
 * implicit TLS handshake).
 */
import type net from 'node:net';
import { Listener } from '../net/listener.js';
import { Pop3Session } from './session.js';
import type { Pop3Context } from './context.js';

export function pop3Listener(ctx: Pop3Context, o: { implicitTls: boolean; maxConnections: number; maxConnectionsPerIp: number }): Listener {
  return new Listener({
    name: o.implicitTls ? 'pop3s' : 'pop3',
    implicitTls: o.implicitTls,
    secureContext: ctx.secureContext,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    busyLine: (why) => `-ERR [SYS/TEMP] Too many connections${why === 'per-ip' ? ' from your address' : ''}, try again later\r\n`,
    handle: (sock: net.Socket) => new Pop3Session(sock, ctx, o.implicitTls).run(),
    log: ctx.log,
  });
}
