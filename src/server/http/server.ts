/**
 * The HTTP listener (listen.http) and the HTTPS listener (listen.https): a small node:http server with exact-path
 * routes (MTA-STS policy, ACME http-01, autoconfig, metrics, the web admin). Both serve the same route table.
 *
 * Both are the shared Listener (src/server/net/listener.ts; HTTPS with implicit TLS) handing each socket to the same
 * node:http request handler: the connection limits (total, per IP), the per-IP connection rate, the PROXY protocol
 * and the metrics of every other listener; over HTTPS also the server's TlsContexts (default certificate, SNI
 * certificates, reload on change, ACME tls-alpn-01 challenges). Each request counts against the per-IP command
 * rate; header size, header/request time and keep-alive idle time are bounded (config `http`).
 * Responses over HTTPS carry Strict-Transport-Security (web.hstsMaxAgeSeconds).
 * Untrusted input: the request (parsed by node:http within those bounds; bodies of at most 64 KiB).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Listener } from '../net/listener.js';
import type { TlsContexts } from '../../tls/context.js';

export interface HttpRequestInfo {
  method: string;
  path: string;
  /** Host header without the port, lower-case. */
  host: string;
  query: URLSearchParams;
  /** Request body (POST routes only; at most 64 KiB). */
  body: Buffer;
  remoteAddress: string;
  headers: http.IncomingHttpHeaders;
  /** True on the HTTPS listener (TLS terminated by this server). */
  secure: boolean;
}

export interface HttpResponse {
  status: number;
  contentType?: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export type HttpRoute = ((req: HttpRequestInfo) => Promise<HttpResponse> | HttpResponse) & { methods?: string[] };

/** A route answering other methods than GET/HEAD (e.g. POST for Autodiscover). */
export function withMethods(methods: string[], route: HttpRoute): HttpRoute {
  return Object.assign(route, { methods });
}

/** Exact path first, then the longest route key ending in "*" that is a prefix of the path. */
function findRoute(routes: Map<string, HttpRoute>, path: string): HttpRoute | undefined {
  const exact = routes.get(path);
  if (exact) return exact;
  let best: [string, HttpRoute] | undefined;
  for (const [k, r] of routes) {
    if (k.endsWith('*') && path.startsWith(k.slice(0, -1)) && (!best || k.length > best[0].length)) best = [k, r];
  }
  return best?.[1];
}

const MAX_BODY = 64 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        resolve(null);
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', () => resolve(null));
  });
}

export interface HttpServerOptions {
  /**
   * Slow-client limits: the request header must arrive within headersMs (default 10 s), the whole request within
   * requestMs (default 30 s), checked every checkIntervalMs; an idle keep-alive connection is closed after
   * keepAliveMs (default 5 s).
   */
  timeouts?: { headersMs?: number; requestMs?: number; checkIntervalMs?: number; keepAliveMs?: number };
  /** Largest request header (request line and header fields) in bytes; larger ones get 431 (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Requests on this (plain HTTP) listener that should move to HTTPS: the redirect target, or null to serve them. */
  redirect?: (req: HttpRequestInfo) => string | null;
  /** Strict-Transport-Security max-age on HTTPS responses; 0 = no header. */
  hstsMaxAgeSeconds?: number;
  /**
   * Per-client request rate (the command rate of the other listeners, one request = one command): resolves after
   * any delay; false means the client is far over the limit (429 and the connection is closed).
   */
  requestRate?: (ip: string) => boolean | Promise<boolean>;
}

/** The node:http server with the route table (plain or, with `secure`, behind the TLS Listener). */
export function createHttpServer(routes: Map<string, HttpRoute>, log: Logger, secure: boolean, o: HttpServerOptions = {}): http.Server {
  const t = o.timeouts ?? {};
  const server = http.createServer(
    {
      connectionsCheckingInterval: t.checkIntervalMs ?? 1000,
      headersTimeout: t.headersMs ?? 10_000,
      requestTimeout: t.requestMs ?? 30_000,
      maxHeaderSize: o.maxHeaderBytes ?? 16 * 1024,
      keepAliveTimeout: t.keepAliveMs ?? 5_000,
    },
    async (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const info: HttpRequestInfo = {
        method: req.method ?? 'GET',
        path,
        host: (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase(),
        query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
        body: Buffer.alloc(0),
        remoteAddress: req.socket.remoteAddress ?? '',
        headers: req.headers,
        secure,
      };
      if (o.requestRate && !(await o.requestRate(info.remoteAddress))) {
        // RFC 6585 §4: 429 Too Many Requests; RFC 9112 §9.6: the server closes the connection after it.
        log.info({ client: info.remoteAddress, secure }, 'http client dropped: too many requests');
        res.writeHead(429, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', 'retry-after': '10' });
        res.end('too many requests\n');
        return;
      }
      let r: HttpResponse;
      const route = findRoute(routes, path);
      const methods = route?.methods ?? ['GET', 'HEAD'];
      try {
        const to = !secure && o.redirect ? o.redirect(info) : null;
        if (to) {
          // 301 keeps GET a GET; 308 keeps a POST a POST (its body is not read here).
          r = { status: info.method === 'GET' || info.method === 'HEAD' ? 301 : 308, body: `moved to ${to}\n`, headers: { location: to } };
        } else if (!route) r = { status: 404, body: 'not found\n' };
        else if (!methods.includes(info.method)) r = { status: 405, body: 'method not allowed\n', headers: { allow: methods.join(', ') } };
        else {
          if (info.method === 'POST' || info.method === 'PUT') {
            const body = await readBody(req);
            if (!body) return void res.writeHead(413, { connection: 'close' }).end();
            info.body = body;
          }
          r = await route(info);
        }
      } catch (err) {
        log.error({ err, path }, 'http handler failed');
        r = { status: 500, body: 'internal error\n' };
      }
      const body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
      const hsts: Record<string, string> = secure && o.hstsMaxAgeSeconds ? { 'strict-transport-security': `max-age=${o.hstsMaxAgeSeconds}` } : {};
      res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', ...hsts, ...r.headers });
      res.end(info.method === 'HEAD' ? undefined : body);
      log.debug({ method: info.method, path, host: info.host, status: r.status, secure }, 'http request');
    },
  );
  server.keepAliveTimeout = t.keepAliveMs ?? 5_000;
  return server;
}

/** Answers to connections the Listener refuses (RFC 9110 §15.6.4 503; RFC 6585 §4 429 for the rate). */
function busyResponse(reason: 'total' | 'per-ip' | 'rate'): string {
  const [status, text] = reason === 'rate' ? ['429 Too Many Requests', 'too many connections from your address, slow down'] : ['503 Service Unavailable', reason === 'per-ip' ? 'too many connections from your address' : 'too many connections'];
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${text.length + 1}\r\nconnection: close\r\nretry-after: 10\r\n\r\n${text}\n`;
}

/**
 * The HTTP (listen.http) and HTTPS (listen.https) listeners: a Listener (plain, or implicit TLS with the server's
 * TlsContexts) whose sessions are HTTP/1.1 connections of `createHttpServer`. Like the mail listeners they have a
 * global and per-IP connection limit, the per-IP connection rate, the PROXY protocol from trusted sources (set by
 * ServerOps.attach) and the connection metrics. Bind like the other listeners (main.ts `bind('http', ...)`);
 * close() ends keep-alive connections too.
 */
export function httpListener(o: {
  name: 'http' | 'https';
  routes: Map<string, HttpRoute>;
  /** Required for https. */
  tls?: TlsContexts | null;
  maxConnections: number;
  maxConnectionsPerIp: number;
  log: Logger;
  hstsMaxAgeSeconds?: number;
  timeouts?: HttpServerOptions['timeouts'];
  maxHeaderBytes?: number;
  redirect?: HttpServerOptions['redirect'];
  requestRate?: HttpServerOptions['requestRate'];
}): Listener {
  const secure = o.name === 'https';
  const server = createHttpServer(o.routes, o.log, secure, {
    hstsMaxAgeSeconds: o.hstsMaxAgeSeconds,
    timeouts: o.timeouts,
    maxHeaderBytes: o.maxHeaderBytes,
    redirect: o.redirect,
    requestRate: o.requestRate,
  });
  // This http.Server never listens itself (the Listener hands it sockets), but node:http starts tracking
  // connections (headersTimeout/requestTimeout against slow clients, closeAllConnections) on 'listening'.
  server.emit('listening');
  const l = new Listener({
    name: o.name,
    implicitTls: secure,
    secureContext: secure ? (o.tls ?? null) : null,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    // A TLS client cannot read a plaintext answer: refused TLS connections are just closed.
    busyLine: (why) => (secure ? '' : busyResponse(why)),
    handle: (sock: Socket) =>
      new Promise<void>((resolve) => {
        sock.once('close', () => resolve());
        server.emit('connection', sock);
      }),
    log: o.log,
  });
  const close = l.close.bind(l);
  l.close = async (graceMs?: number) => {
    // Idle keep-alive connections would hold the listener's grace period: end them now.
    server.closeIdleConnections();
    const p = close(Math.min(graceMs ?? 2000, 2000));
    server.closeAllConnections();
    server.close(); // stops the connection checks (it has no socket of its own)
    await p;
  };
  return l;
}

/** The HTTPS listener (listen.https); see httpListener. */
export function httpsListener(o: {
  routes: Map<string, HttpRoute>;
  tls: TlsContexts;
  maxConnections: number;
  maxConnectionsPerIp: number;
  hstsMaxAgeSeconds: number;
  log: Logger;
  timeouts?: HttpServerOptions['timeouts'];
  maxHeaderBytes?: number;
  requestRate?: HttpServerOptions['requestRate'];
}): Listener {
  return httpListener({ name: 'https', ...o });
}
