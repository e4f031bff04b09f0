/**
 * ACME against Debian's pebble on loopback: a certificate issued with http-01 (and with tls-alpn-01) is served on
 * 993 and 465 afterwards (issuer is pebble's CA), and renewal replaces it without a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { freePort, makeCert, servedCert, startOpsServer, tempDir, HOSTNAME } from './helpers.js';

const PEBBLE = '/usr/bin/pebble';
const skip = existsSync(PEBBLE) ? false : 'pebble is not installed (apt-get install pebble)';

let dns: TestDnsServer;
let pebble: ChildProcess | null = null;
let dir: string;
let acmePort: number;
let httpPort: number;
let imapsPort: number;
let caCert: string;

before(async () => {
  if (skip) return;
  dir = tempDir('mw-pebble-');
  dns = await startDnsServer({ [HOSTNAME]: { A: ['127.0.0.1'] } });
  acmePort = await freePort();
  httpPort = await freePort();
  imapsPort = await freePort();
  const c = makeCert(dir, 'pebble', ['localhost', '127.0.0.1']);
  caCert = c.cert;
  const cfg = join(dir, 'pebble.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${await freePort()}`,
        certificate: c.cert,
        privateKey: c.key,
        httpPort,
        tlsPort: imapsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  pebble = spawn(PEBBLE, ['-config', cfg, '-dnsserver', dns.servers[0]!], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  pebble.stdout!.on('data', (d) => (out += d));
  pebble.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 15000;
  while (!/Listening on/.test(out)) {
    if (Date.now() > deadline) throw new Error(`pebble did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  pebble?.kill('SIGKILL');
  await dns?.close();
});

async function waitIssued(server: { ops: { acme: { status(): { notAfter: string | null; lastError: string | null } } | null } }, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = server.ops.acme!.status();
    if (s.notAfter) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no certificate: ${server.ops.acme!.status().lastError}`);
}

for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
  test(`pebble issues a certificate with ${challenge}; it is served on 993 and 465; renewal replaces it`, { skip, timeout: 60000 }, async () => {
    const s = await startOpsServer({
      listen: { http: `127.0.0.1:${httpPort}`, imaps: `127.0.0.1:${imapsPort}`, submissions: '127.0.0.1:0' },
      acme: { directory: `https://127.0.0.1:${acmePort}/dir`, caCert, email: 'postmaster@example.test', challenge, renewDays: 30 },
    });
    try {
      const before = await servedCert(imapsPort, HOSTNAME);
      assert.doesNotMatch(before.issuer.CN ?? '', /Pebble/i, 'the self-signed certificate is served until ACME is done');
      const st = await waitIssued(s.server);
      const subPort = s.server.addresses.submissions!.port;
      for (const port of [imapsPort, subPort]) {
        for (const name of [HOSTNAME, undefined]) {
          const c = await servedCert(port, name);
          assert.match(c.issuer.CN ?? '', /Pebble/i, `issuer on port ${port} (SNI ${name})`);
          assert.match(c.subjectaltname ?? '', new RegExp(`DNS:${HOSTNAME}`));
          assert.ok(c.protocol === 'TLSv1.3' || c.protocol === 'TLSv1.2');
        }
      }
      assert.ok(existsSync(join(s.dataDir, 'acme', `${HOSTNAME}.crt`)));
      const serial = (await servedCert(imapsPort, HOSTNAME)).serialNumber;
      // Renewal: nothing to do now, due when less than renewDays remain.
      assert.equal(s.server.ops.acme!.needsRenewal(), false);
      const notAfter = new Date(st.notAfter!).getTime();
      assert.equal(s.server.ops.acme!.needsRenewal(new Date(notAfter - 31 * 86400_000)), false);
      assert.equal(s.server.ops.acme!.needsRenewal(new Date(notAfter - 29 * 86400_000)), true);
      assert.equal(await s.server.ops.acme!.check({ now: new Date(notAfter - 29 * 86400_000) }), true);
      const renewed = await servedCert(subPort, HOSTNAME);
      assert.notEqual(renewed.serialNumber, serial, 'a new certificate after renewal');
      assert.match(renewed.issuer.CN ?? '', /Pebble/i);
      const status = (await s.server.ops.status()) as { certificates: Array<{ source: string; issuer: string }> };
      assert.equal(status.certificates[0]!.source, 'acme');
    } finally {
      await s.stop();
    }
  });
}

test('TLS policy: TLS 1.0/1.1 refused, TLS 1.2 with a forward-secret AEAD cipher', { timeout: 20000 }, async () => {
  const s = await startOpsServer({ listen: { imaps: '127.0.0.1:0' } });
  try {
    const port = s.server.addresses.imaps!.port;
    await assert.rejects(servedCert(port, HOSTNAME, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }));
    const c = await servedCert(port, HOSTNAME, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256' });
    assert.equal(c.protocol, 'TLSv1.2');
    await assert.rejects(servedCert(port, HOSTNAME, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA' }), 'no non-PFS CBC suites');
  } finally {
    await s.stop();
  }
});
void execFileSync;
