/**
 * listen.http is bounded like the mail listeners: connections per IP (503 to the one over the limit, curl from
 * another address still served), connection rate (429), request rate, header size (431), header, request and
 * keep-alive timeouts, and the PROXY protocol from trusted sources; /metrics is readable from loopback and from
 * metrics.allow only (403 for a proxied outside client until its address is allowed and the config reloaded);
 * listen.https has the same per-IP limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { proxyV2, startOpsServer } from './helpers.js';
import { validateConfig } from '../../src/config/load.js';

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** A raw TCP connection: write `data` (if any), collect everything until the server closes (or `waitMs`). */
class Raw {
  out = '';
  closed = false;
  closedAt = 0;
  readonly sock: net.Socket;
  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (this.out += d));
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
    sock.on('error', () => {});
  }
  static open(port: number, localAddress = '127.0.0.1'): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }
  async waitFor(cond: () => boolean, ms: number, what: string) {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}; got ${JSON.stringify(this.out)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  close() {
    this.sock.destroy();
  }
}

const get = (path: string, host = 'mail.example.test', extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

test('http config: defaults, and requestTimeoutSeconds below headersTimeoutSeconds is refused', () => {
  const c = validateConfig({ hostname: 'mail.example.test', dataDir: '/tmp/x' }, 'test');
  assert.deepEqual(c.http, { maxConnections: 500, maxConnectionsPerIp: 30, headersTimeoutSeconds: 10, requestTimeoutSeconds: 30, keepAliveTimeoutSeconds: 5, maxHeaderBytes: 16384 });
  assert.deepEqual(c.metrics.allow, []);
  assert.throws(() => validateConfig({ hostname: 'mail.example.test', dataDir: '/tmp/x', http: { headersTimeoutSeconds: 20, requestTimeoutSeconds: 10 } }, 'test'), /requestTimeoutSeconds/);
  assert.throws(() => validateConfig({ hostname: 'mail.example.test', dataDir: '/tmp/x', metrics: { allow: ['anyone'] } }, 'test'), /address or CIDR/);
});

test('listen.http: per-IP connection limit (503), another address still served (curl); header size 431; slow header and idle keep-alive closed', { timeout: 30000 }, async () => {
  const s = await startOpsServer({
    listen: { http: '127.0.0.1:0' },
    http: { maxConnectionsPerIp: 3, headersTimeoutSeconds: 1, requestTimeoutSeconds: 2, keepAliveTimeoutSeconds: 1, maxHeaderBytes: 2048 },
  });
  try {
    const port = s.server.addresses.http!.port;
    // Three idle connections from 127.0.0.2 are the limit; the fourth is answered 503 and closed.
    const held = await Promise.all([1, 2, 3].map(() => Raw.open(port, '127.0.0.2')));
    await new Promise((r) => setTimeout(r, 100));
    const fourth = await Raw.open(port, '127.0.0.2');
    await fourth.waitFor(() => fourth.closed, 5000, 'the fourth connection closed');
    assert.match(fourth.out, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(fourth.out, /too many connections from your address/);
    // A real client from another address is served meanwhile.
    const ok = await curl(['--interface', '127.0.0.3', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.equal(ok.stdout, '200', ok.stderr);
    // The held connections never sent a header: closed by headersTimeout (slowloris), freeing the slots.
    for (const h of held) await h.waitFor(() => h.closed, 5000, 'a connection without a request header closed');
    const again = await curl(['--interface', '127.0.0.2', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.equal(again.stdout, '200', 'slots are free again');

    // A header dribbled in byte by byte past the timeout is cut too.
    const slow = await Raw.open(port, '127.0.0.4');
    const started = Date.now();
    slow.sock.write('GET / HTTP/1.1\r\nHost: mail.example.test\r\n');
    const drip = setInterval(() => !slow.closed && slow.sock.write('X-A: b\r\n'), 200);
    await slow.waitFor(() => slow.closed, 8000, 'the slow header connection closed');
    clearInterval(drip);
    assert.ok(Date.now() - started < 5000, 'closed within the header timeout (+ check interval)');
    assert.doesNotMatch(slow.out, /200 OK/);

    // Header too large: 431 (curl).
    const big = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `X-Big: ${'a'.repeat(4000)}`, `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.equal(big.stdout, '431');

    // Keep-alive: a served connection left idle is closed after keepAliveTimeoutSeconds.
    const ka = await Raw.open(port, '127.0.0.5');
    ka.sock.write(get('/.well-known/mta-sts.txt'));
    await ka.waitFor(() => /\r\n\r\nversion: STSv1/.test(ka.out), 5000, 'the response');
    const answered = Date.now();
    await ka.waitFor(() => ka.closed, 5000, 'the idle keep-alive connection closed');
    assert.ok(ka.closedAt - answered >= 800 && ka.closedAt - answered < 4000, `closed after ${ka.closedAt - answered} ms`);
    fourth.close();
  } finally {
    await s.stop();
  }
});

test('listen.http: connection rate per IP (429 to the connection over the burst) and request rate (429 + close)', { timeout: 30000 }, async () => {
  const s = await startOpsServer({
    listen: { http: '127.0.0.1:0' },
    limits: { exemptLoopback: false, connectionsPerMinute: 1, connectionBurst: 8, commandsPerSecond: 1, commandBurst: 2 },
  });
  try {
    const port = s.server.addresses.http!.port;
    // Request rate: six requests at once from one address (own connections): 2 served at once (burst), 2 slowed
    // (1 s, 2 s), the ones far over the limit get 429 and their connection is closed.
    const t0 = Date.now();
    const conns = await Promise.all([1, 2, 3, 4, 5, 6].map(() => Raw.open(port, '127.0.0.6')));
    const took: number[] = [];
    await Promise.all(
      conns.map(async (c) => {
        c.sock.write(get('/.well-known/mta-sts.txt'));
        await c.waitFor(() => /^HTTP\/1\.1 \d{3}[^]*\r\n\r\n/.test(c.out), 10000, 'a response');
        took.push(Date.now() - t0);
      }),
    );
    const statuses = conns.map((c) => Number(/^HTTP\/1\.1 (\d{3})/.exec(c.out)![1])).sort();
    // (Tokens refill at 1/s while the six connect, so it may be five served and one refused.)
    assert.ok(statuses.filter((x) => x === 429).length >= 1 && statuses.filter((x) => x === 200).length >= 4, String(statuses));
    assert.deepEqual([...new Set(statuses)], [200, 429]);
    for (const c of conns.filter((x) => x.out.startsWith('HTTP/1.1 429'))) await c.waitFor(() => c.closed, 5000, 'closed after 429');
    assert.ok(Math.max(...took) >= 1500, `requests over the burst were slowed (${took})`);
    conns.forEach((c) => c.close());
    // Connection rate: the burst (8) of 127.0.0.7 is spent, the next connection gets 429 and is closed.
    const codes = [];
    for (let i = 0; i < 8; i++) {
      const r = await curl(['--interface', '127.0.0.7', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
      codes.push(r.stdout);
    }
    const over = await curl(['--interface', '127.0.0.7', '-w', '%{http_code}', `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.deepEqual(codes, Array(8).fill('200'));
    assert.match(over.stdout, /too many connections from your address, slow down\n429$/);
    const other = await curl(['--interface', '127.0.0.8', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.equal(other.stdout, '200', 'another address is not limited');
  } finally {
    await s.stop();
  }
});

test('/metrics: loopback only by default; a PROXY v2 client from outside gets 403 until metrics.allow lists it (reload)', { timeout: 30000 }, async () => {
  const s = await startOpsServer({ listen: { http: '127.0.0.1:0' }, proxyProtocol: { trusted: ['127.0.0.9/32'] } });
  try {
    const port = s.server.addresses.http!.port;
    const local = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${port}/metrics`]);
    assert.match(local.stdout, /mailwright_connections_total\{listener="http"\} \d+/);
    assert.match(local.stdout, /\n200$/);
    const viaProxy = async (client: string) => {
      const c = await Raw.open(port, '127.0.0.9');
      c.sock.write(Buffer.concat([proxyV2(client, 40000, '127.0.0.1', 80), Buffer.from(get('/metrics', 'mail.example.test', 'Connection: close\r\n'))]));
      await c.waitFor(() => c.closed, 5000, 'the response');
      return c.out;
    };
    assert.match(await viaProxy('203.0.113.7'), /^HTTP\/1\.1 403 [^]*metrics\.allow/);
    // An untrusted source sending a PROXY header: not PROXY protocol to us, a bad HTTP request.
    const evil = await Raw.open(port, '127.0.0.1');
    evil.sock.write(Buffer.concat([proxyV2('203.0.113.7', 1, '127.0.0.1', 80), Buffer.from(get('/metrics'))]));
    await evil.waitFor(() => evil.closed, 5000, 'the bad request closed');
    assert.match(evil.out, /^HTTP\/1\.1 400 /);
    // Allow the monitoring network; the running server takes it on reload (SIGHUP does the same).
    const next = { ...s.server.config, metrics: { enabled: true, allow: ['203.0.113.0/24'] } };
    const r = s.server.reload(next);
    assert.ok(r.applied.includes('metrics.allow'));
    assert.match(await viaProxy('203.0.113.7'), /^HTTP\/1\.1 200 [^]*mailwright_/);
    assert.match(await viaProxy('198.51.100.1'), /^HTTP\/1\.1 403 /);
  } finally {
    await s.stop();
  }
});

test('listen.https: the same per-IP connection limit (the connection over it is closed before the handshake); curl from another address served', { timeout: 30000 }, async () => {
  const s = await startOpsServer({ listen: { https: '127.0.0.1:0' }, http: { maxConnectionsPerIp: 2 } });
  try {
    const port = s.server.addresses.https!.port;
    const open = () =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const t = tls.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2', servername: 'mail.example.test', rejectUnauthorized: false }, () => resolve(t));
        t.once('error', reject);
        t.once('close', () => reject(new Error('closed before the handshake')));
      });
    const held = [await open(), await open()];
    await assert.rejects(open(), /closed before the handshake|ECONNRESET|socket disconnected/);
    const ok = await curl(['-k', '--interface', '127.0.0.3', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/.well-known/mta-sts.txt`]);
    assert.equal(ok.stdout, '200', ok.stderr);
    held.forEach((t) => t.destroy());
  } finally {
    await s.stop();
  }
});
