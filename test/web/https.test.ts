/**
 * listen.https over real TLS (curl and Node's https): the server's certificate (file, SNI by name, reload), HSTS,
 * Secure cookies, the web admin working over HTTPS, and the redirect of /admin and /account on listen.http while
 * ACME http-01, MTA-STS and autoconfig stay on plain HTTP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startWebServer, addAdmin, HOSTNAME, type WebServer } from './helpers.js';
import { httpsListener, type HttpRoute } from '../../src/server/http/server.js';
import { TlsContexts } from '../../src/tls/context.js';
import { createLogger } from '../../src/log/logger.js';

const ADMIN_PW = 'https-admin-password';
let ws: WebServer;
let certDir: string;
let port: number;
let httpPort: number;

/** A self-signed certificate with a subjectAltName (openssl), written to DIR/NAME-cert.pem and -key.pem. */
function makeCert(dir: string, name: string, file = name): { cert: string; key: string } {
  const cert = join(dir, `${file}-cert.pem`);
  const key = join(dir, `${file}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  return { cert, key };
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

interface HttpsRes {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  cert: { subject: string; serial: string };
  protocol: string | null;
}

function httpsReq(o: { path: string; method?: string; servername?: string; ca: string; json?: unknown; headers?: Record<string, string> }): Promise<HttpsRes> {
  return new Promise((resolve, reject) => {
    const body = o.json === undefined ? undefined : JSON.stringify(o.json);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: o.path,
        method: o.method ?? 'GET',
        servername: o.servername ?? HOSTNAME,
        ca: readFileSync(o.ca),
        agent: false,
        headers: { host: `${o.servername ?? HOSTNAME}:${port}`, ...(body ? { 'content-type': 'application/json' } : {}), ...o.headers },
      },
      (res) => {
        const sock = res.socket as tls.TLSSocket;
        const peer = sock.getPeerCertificate();
        const protocol = sock.getProtocol();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, cert: { subject: peer.subject?.CN ?? '', serial: peer.serialNumber }, protocol }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'mw-https-'));
  const main = makeCert(certDir, HOSTNAME, 'main');
  const sts = makeCert(certDir, 'mta-sts.example.test', 'sts');
  ws = await startWebServer({ https: true, config: { tls: { cert: main.cert, key: main.key, certificates: [{ names: ['mta-sts.example.test'], cert: sts.cert, key: sts.key }], watch: false } } });
  await addAdmin(ws, 'root', ADMIN_PW);
  await ws.server.store.addDomain('example.test');
  port = ws.server.addresses.https!.port;
  httpPort = ws.server.addresses.http!.port;
});
after(async () => {
  await ws?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

test('curl verifies the server certificate on listen.https; HSTS and a Secure pre-login cookie on the login page', async () => {
  const r = await curl(['-D', '-', '-o', '/dev/null', '--cacert', join(certDir, 'main-cert.pem'), '--resolve', `${HOSTNAME}:${port}:127.0.0.1`, `https://${HOSTNAME}:${port}/admin/login`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTP\/1\.1 200/);
  assert.match(r.stdout, /^strict-transport-security: max-age=31536000\r?$/im);
  assert.match(r.stdout, /^set-cookie: mw_login=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=3600\r?$/im);
  // The wrong trust anchor fails: it really is TLS with this certificate.
  const bad = await curl(['-o', '/dev/null', '--cacert', join(certDir, 'sts-cert.pem'), '--resolve', `${HOSTNAME}:${port}:127.0.0.1`, `https://${HOSTNAME}:${port}/admin/login`]);
  assert.notEqual(bad.code, 0);
  // TLS 1.1 is refused (TLS 1.2+ only, like the mail listeners).
  const old = await curl(['-o', '/dev/null', '-k', '--tls-max', '1.1', `https://127.0.0.1:${port}/admin/login`]);
  assert.notEqual(old.code, 0);
});

test('SNI picks the tls.certificates entry (mta-sts.DOMAIN), which serves the MTA-STS policy over HTTPS', async () => {
  const r = await httpsReq({ path: '/.well-known/mta-sts.txt', servername: 'mta-sts.example.test', ca: join(certDir, 'sts-cert.pem') });
  assert.equal(r.status, 200);
  assert.equal(r.cert.subject, 'mta-sts.example.test');
  assert.match(r.body, /^version: STSv1/);
  assert.match(r.protocol ?? '', /^TLSv1\.[23]$/);
  const main = await httpsReq({ path: '/admin/login', ca: join(certDir, 'main-cert.pem') });
  assert.equal(main.cert.subject, HOSTNAME);
});

test('the web admin over HTTPS: Secure session cookie, API and pages work', async () => {
  const ca = join(certDir, 'main-cert.pem');
  const login = await httpsReq({ path: '/admin/api/login', method: 'POST', ca, json: { username: 'root', password: ADMIN_PW } });
  assert.equal(login.status, 200, login.body);
  const setCookie = String(login.headers['set-cookie']);
  assert.match(setCookie, /^mw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
  const cookie = setCookie.split(';')[0]!;
  const me = await httpsReq({ path: '/admin/api/me', ca, headers: { cookie } });
  assert.equal(JSON.parse(me.body).name, 'root');
  const page = await httpsReq({ path: '/admin/domains', ca, headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(page.body, /example\.test/);
  assert.equal(page.headers['strict-transport-security'], 'max-age=31536000');
  // A POST from the HTTPS origin passes the Origin check.
  const csrf = JSON.parse(login.body).csrf as string;
  const add = await httpsReq({ path: '/admin/api/domains/add', method: 'POST', ca, json: { name: 'tls.test' }, headers: { cookie, 'x-csrf-token': csrf, origin: `https://${HOSTNAME}:${port}` } });
  assert.equal(add.status, 200, add.body);
});

test('plain HTTP: /admin and /account redirect to HTTPS; ACME, MTA-STS and autoconfig stay on HTTP', async () => {
  const get = (path: string, extra: string[] = []) => curl(['-D', '-', '-o', '/dev/null', ...extra, `http://127.0.0.1:${httpPort}${path}`]);
  const r = await get('/admin/users?domain=example.test');
  assert.match(r.stdout, /^HTTP\/1\.1 301/);
  assert.match(r.stdout, new RegExp(`^location: https://127\\.0\\.0\\.1:${port}/admin/users\\?domain=example\\.test\\r?$`, 'im'));
  assert.doesNotMatch(r.stdout, /set-cookie/i, 'no cookie is set over plain HTTP');
  const named = await get('/account', ['-H', `Host: ${HOSTNAME}:${httpPort}`]);
  assert.match(named.stdout, new RegExp(`^location: https://mail\\.example\\.test:${port}/account\\r?$`, 'im'));
  // A hostile Host header does not become the redirect target.
  const evil = await get('/admin', ['-H', 'Host: evil.example/x?']);
  assert.match(evil.stdout, new RegExp(`^location: https://mail\\.example\\.test:${port}/admin\\r?$`, 'im'));
  // A POST keeps its method (308), and is not executed over HTTP.
  const post = await curl(['-D', '-', '-o', '/dev/null', '-H', 'content-type: application/json', '--data', JSON.stringify({ username: 'root', password: ADMIN_PW }), `http://127.0.0.1:${httpPort}/admin/api/login`]);
  assert.match(post.stdout, /^HTTP\/1\.1 308/);
  assert.doesNotMatch(post.stdout, /set-cookie/i);
  // Following the redirect with curl reaches the HTTPS login page.
  const follow = await curl(['-L', '-k', '-o', '/dev/null', '-w', '%{http_code} %{url_effective}', `http://127.0.0.1:${httpPort}/admin/login`]);
  assert.equal(follow.stdout, `200 https://127.0.0.1:${port}/admin/login`);
  // What must stay on plain HTTP.
  const sts = await curl([`http://127.0.0.1:${httpPort}/.well-known/mta-sts.txt`]);
  assert.match(sts.stdout, /^version: STSv1/);
  const auto = await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${httpPort}/mail/config-v1.1.xml?emailaddress=a@example.test`]);
  assert.equal(auto.stdout, '200');
  const acme = await curl(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://127.0.0.1:${httpPort}/.well-known/acme-challenge/token`]);
  assert.doesNotMatch(acme.stdout, /^30/);
  // Behind a TLS-terminating proxy (X-Forwarded-Proto: https) nothing is redirected.
  const proxied = await get('/admin/login', ['-H', 'X-Forwarded-Proto: https']);
  assert.match(proxied.stdout, /^HTTP\/1\.1 200/);
});

test('a renewed certificate file is served after reload, to new connections', async () => {
  const before = await httpsReq({ path: '/admin/login', ca: join(certDir, 'main-cert.pem') });
  const next = makeCert(certDir, HOSTNAME, 'next');
  writeFileSync(join(certDir, 'main-cert.pem'), readFileSync(next.cert));
  writeFileSync(join(certDir, 'main-key.pem'), readFileSync(next.key));
  const r = ws.server.reload();
  assert.equal(r.tls.ok, true, r.tls.error);
  const after = await httpsReq({ path: '/admin/login', ca: join(certDir, 'main-cert.pem') });
  assert.notEqual(after.cert.serial, before.cert.serial);
  assert.equal(after.cert.serial, new X509Certificate(readFileSync(next.cert)).serialNumber);
  // The status page lists the HTTPS listener.
  assert.ok(ws.server.addresses.https);
});

test('an ACME tls-alpn-01 handshake (acme-tls/1) on listen.https gets the challenge certificate', async () => {
  const ch = makeCert(certDir, HOSTNAME, 'alpn');
  const tlsCtx = ws.server.ops.tls;
  tlsCtx.setAlpnChallenge(HOSTNAME, { cert: readFileSync(ch.cert), key: readFileSync(ch.key) });
  try {
    const serial = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: HOSTNAME, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(serial, new X509Certificate(readFileSync(ch.cert)).serialNumber);
  } finally {
    tlsCtx.setAlpnChallenge(HOSTNAME, null);
  }
  // Ordinary HTTPS clients still get the server certificate.
  const r = await httpsReq({ path: '/admin/login', ca: join(certDir, 'main-cert.pem') });
  assert.equal(r.status, 200);
});

test('no redirect with web.httpsRedirect false; no HSTS with web.hstsMaxAgeSeconds 0', async () => {
  const s = await startWebServer({ https: true, web: { httpsRedirect: false, hstsMaxAgeSeconds: 0 } });
  try {
    const h = s.server.addresses.http!;
    const r = await curl(['-D', '-', '-o', '/dev/null', `http://127.0.0.1:${h.port}/admin/login`]);
    assert.match(r.stdout, /^HTTP\/1\.1 200/);
    const t = await curl(['-D', '-', '-o', '/dev/null', '-k', `${s.httpsBase}/admin/login`]);
    assert.match(t.stdout, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(t.stdout, /strict-transport-security/i);
  } finally {
    await s.stop();
  }
});

test('slow clients on listen.https: a connection that never finishes its header is closed (headersTimeout)', async () => {
  const pair = makeCert(certDir, 'slow.example.test', 'slow');
  const cert = readFileSync(pair.cert);
  const key = readFileSync(pair.key);
  const log = createLogger('silent');
  const tlsCtx = new TlsContexts({ cert, key, certPath: pair.cert, keyPath: pair.key, selfSigned: false, notAfter: new Date(Date.now() + 86400_000) }, log);
  const routes = new Map<string, HttpRoute>([['/hello', () => ({ status: 200, body: 'hi\n' })]]);
  const l = httpsListener({ routes, tls: tlsCtx, maxConnections: 10, maxConnectionsPerIp: 10, hstsMaxAgeSeconds: 60, log, timeouts: { headersMs: 600, requestMs: 800, checkIntervalMs: 100 } });
  const a = await l.listen('127.0.0.1', 0);
  try {
    const t0 = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: a.port, servername: 'slow.example.test', rejectUnauthorized: false }, () => s.write('GET /hello HTTP/1.1\r\nHost: slow.example.test\r\n'));
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => reject(new Error('the slow connection was not closed')), 5000).unref();
    });
    assert.ok(closedAfter < 4000, `closed after ${closedAfter} ms`);
    // A normal request works, with HSTS.
    const r = await curl(['-k', '-D', '-', `https://127.0.0.1:${a.port}/hello`]);
    assert.match(r.stdout, /^strict-transport-security: max-age=60\r?$/im);
    assert.match(r.stdout, /hi\n$/);
  } finally {
    const t1 = Date.now();
    await l.close();
    assert.ok(Date.now() - t1 < 1900, 'close does not wait for idle keep-alive connections (the 2 s grace)');
  }
});
