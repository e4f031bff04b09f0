/**
 * The HTTP listener (listen.http) and the HTTPS listener (listen.https): a small node:http server with exact-path
 * routes (MTA-STS policy, ACME http-01, autoconfig, metrics, the web admin). Both serve the same route table.
 *
 * HTTPS is the shared implicit-TLS Listener (src/server/net/listener.ts) handing each TLS socket to the same
 * node:http request handler: the server's TlsContexts (default certificate, SNI certificates, reload on change,
 * ACME tls-alpn-01 challenges), the connection limits, the PROXY protocol and the metrics of every other listener.
 * Responses over HTTPS carry Strict-Transport-Security (web.hstsMaxAgeSeconds).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { takePrebound } from '../../ops/prebind.js';
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

export interface HttpListener {
  address: { host: string; port: number };
  routes: Map<string, HttpRoute>;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** Slow-client limits (defaults 10 s for the header, 15 s for the request, checked every second). */
  timeouts?: { headersMs?: number; requestMs?: number; checkIntervalMs?: number };
  /** Requests on this (plain HTTP) listener that should move to HTTPS: the redirect target, or null to serve them. */
  redirect?: (req: HttpRequestInfo) => string | null;
  /** Strict-Transport-Security max-age on HTTPS responses; 0 = no header. */
  hstsMaxAgeSeconds?: number;
}

/** The node:http server with the route table (plain or, with `secure`, behind the TLS Listener). */
export function createHttpServer(routes: Map<string, HttpRoute>, log: Logger, secure: boolean, o: HttpServerOptions = {}): http.Server {
  const t = o.timeouts ?? {};
  const server = http.createServer({ connectionsCheckingInterval: t.checkIntervalMs ?? 1000, headersTimeout: t.headersMs ?? 10_000, requestTimeout: t.requestMs ?? 15_000 }, async (req, res) => {
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
          if (!body) return void res.writeHead(413).end();
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
  });
  server.keepAliveTimeout = 5_000;
  return server;
}

export async function startHttpListener(host: string, port: number, routes: Map<string, HttpRoute>, log: Logger, prebound?: import('node:net').Server, o: HttpServerOptions = {}): Promise<HttpListener> {
  const server = createHttpServer(routes, log, false, o);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    prebound ??= takePrebound(`${host}:${port}`);
    if (prebound) server.listen(prebound, done);
    else server.listen(port, host, done);
  });
  const a = server.address() as AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The HTTPS listener: a Listener with implicit TLS whose sessions are HTTP/1.1 connections of `createHttpServer`.
 * Bind it like the other listeners (main.ts `bind('https', ...)`); close() ends keep-alive connections too.
 */
export function httpsListener(o: {
  routes: Map<string, HttpRoute>;
  tls: TlsContexts;
  maxConnections: number;
  maxConnectionsPerIp: number;
  hstsMaxAgeSeconds: number;
  log: Logger;
  timeouts?: HttpServerOptions['timeouts'];
}): Listener {
  const server = createHttpServer(o.routes, o.log, true, { hstsMaxAgeSeconds: o.hstsMaxAgeSeconds, timeouts: o.timeouts });
  // This http.Server never listens itself (the Listener hands it TLS sockets), but node:http starts tracking
  // connections (headersTimeout/requestTimeout against slow clients, closeAllConnections) on 'listening'.
  server.emit('listening');
  const l = new Listener({
    name: 'https',
    implicitTls: true,
    secureContext: o.tls,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    // A TLS client cannot read a plaintext line: refused connections are closed.
    busyLine: () => '',
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
