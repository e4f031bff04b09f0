/**
 * The HTTP listener (listen.http): a small node:http server with exact-path routes. For now it serves the MTA-STS
 * policy (RFC 8461 §3.2) at /.well-known/mta-sts.txt for Host mta-sts.<hosted domain>; metrics and the web admin
 * add their routes later. Run HTTPS in front of it (a reverse proxy with a certificate for mta-sts.DOMAIN), as
 * senders fetch the policy only over HTTPS.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface HttpRequestInfo {
  method: string;
  path: string;
  /** Host header without the port, lower-case. */
  host: string;
}

export interface HttpResponse {
  status: number;
  contentType?: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export type HttpRoute = (req: HttpRequestInfo) => Promise<HttpResponse> | HttpResponse;

export interface HttpListener {
  address: { host: string; port: number };
  routes: Map<string, HttpRoute>;
  close(): Promise<void>;
}

export async function startHttpListener(host: string, port: number, routes: Map<string, HttpRoute>, log: Logger): Promise<HttpListener> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const info: HttpRequestInfo = {
      method: req.method ?? 'GET',
      path,
      host: (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase(),
    };
    let r: HttpResponse;
    const route = routes.get(path);
    try {
      if (!route) r = { status: 404, body: 'not found\n' };
      else if (info.method !== 'GET' && info.method !== 'HEAD') r = { status: 405, body: 'method not allowed\n', headers: { allow: 'GET, HEAD' } };
      else r = await route(info);
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
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
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
