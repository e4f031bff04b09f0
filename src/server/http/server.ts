/**
 * The HTTP listener (listen.http): a small node:http server with exact-path routes. For now it serves the MTA-STS
 * policy (RFC 8461 §3.2) at /.well-known/mta-sts.txt for Host mta-sts.<hosted domain>; metrics and the web admin
 * add their routes later. Run HTTPS in front of it (a reverse proxy with a certificate for mta-sts.DOMAIN), as
 * senders fetch the policy only over HTTPS.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { takePrebound } from '../../ops/prebind.js';

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

export async function startHttpListener(host: string, port: number, routes: Map<string, HttpRoute>, log: Logger, prebound?: import('node:net').Server): Promise<HttpListener> {
  const server = http.createServer(async (req, res) => {
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
    };
    let r: HttpResponse;
    const route = findRoute(routes, path);
    const methods = route?.methods ?? ['GET', 'HEAD'];
    try {
      if (!route) r = { status: 404, body: 'not found\n' };
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
    res.writeHead(r.status, { 'content-type': r.contentType ?? 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', ...r.headers });
    res.end(info.method === 'HEAD' ? undefined : body);
    log.debug({ method: info.method, path, host: info.host, status: r.status }, 'http request');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
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
