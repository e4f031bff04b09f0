/**
 * Monitoring (issue 6, item 4): the running server re-runs `dns check` of every hosted domain periodically (first run
 * after firstRunDelayMs, then every monitoring.intervalHours), logs each change of a check's status, and exposes the
 * latest results (status()). Here the interval is shortened to about a second, against a local DNS server whose
 * DMARC record breaks between two runs and is then repaired. The default (daily) is in cli.test.ts.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LogCapture, tempDir } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { DkimKeyStore } from '../../src/dkim/keys.js';
import { NodeResolver } from '../../src/dns/resolver.js';
import { loadTls } from '../../src/tls/certs.js';
import { DnsServices } from '../../src/dnscheck/service.js';
import { DMARC_VALUE } from '../../src/dnscheck/records.js';
import { goodZone, DOMAIN, HOST, IP, DNSBL, MTA_STS } from './fixture.js';

const INTERVAL_MS = 1200;

let dir: string;
let dns: TestDnsServer;
let store: SqlAccountStore;
let services: DnsServices;
const logs = new LogCapture();

const runsLogged = () => dns.queries.filter((q) => q.name === DOMAIN && q.type === 'MX').length;

async function until(pred: () => boolean, what: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dns check monitoring', () => {
  before(async () => {
    dir = tempDir('mw-dnsmon-');
    const config = validateConfig(
      {
        hostname: HOST,
        dataDir: dir,
        listen: { http: false },
        dns: { servers: ['127.0.0.1:1'], timeoutMs: 1000 },
        publicAddresses: { ipv4: [IP] },
        dnsbl: { zones: [DNSBL] },
        mtaSts: MTA_STS,
        monitoring: { intervalHours: INTERVAL_MS / 3600_000 },
      },
      'test',
    );
    const opened = await openDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
    store = new SqlAccountStore(opened.db, opened.close);
    await store.addDomain(DOMAIN);
    const keys = new DkimKeyStore(opened.db);
    await keys.ensureKeys(DOMAIN);
    dns = await startDnsServer(goodZone(await keys.dnsRecords(DOMAIN)));
    services = new DnsServices({
      config: { ...config, dns: { ...config.dns, servers: dns.servers } },
      db: opened.db,
      store,
      resolver: new NodeResolver({ servers: dns.servers, timeoutMs: 1000, tries: 1 }),
      tls: await loadTls({ hostname: HOST, dataDir: dir }),
      deliverLocal: async () => false,
      enqueue: async () => 'none',
      log: createLogger('info', logs),
      firstRunDelayMs: 50,
    });
  });
  after(async () => {
    await services.stop();
    await store.close();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('re-runs the checks periodically, logs each change and exposes the latest results', { timeout: 30_000 }, async () => {
    assert.equal(services.status().lastRun, null);
    await services.start();
    const s0 = services.status();
    assert.ok(s0.nextRun && Date.parse(s0.nextRun) - Date.now() < 1000, 'first run soon after start');

    // first run: the zone is right; problems only would be logged (a first "pass" is not news)
    await until(() => services.status().lastRun !== null, 'the first run');
    const first = services.status();
    assert.equal(first.domains[DOMAIN]!.checks.find((c) => c.id === 'dmarc')!.status, 'pass');
    assert.deepEqual(
      first.changes.map((c) => c.check),
      first.domains[DOMAIN]!.checks.filter((c) => c.status !== 'pass').map((c) => c.id),
    );
    const next = Date.parse(first.nextRun!) - Date.parse(first.lastRun!);
    assert.ok(next > INTERVAL_MS - 300 && next < INTERVAL_MS + 300, `next run in the interval (${next} ms)`);

    // DMARC breaks: the next periodic run (no one asks for it) sees it and logs the change at warn level
    dns.set(`_dmarc.${DOMAIN}`, { TXT: ['v=DMARC1; p=bogus'] });
    const broken = await logs.waitFor((l) => l.check === 'dmarc' && l.to === 'fail', 10_000);
    assert.equal(broken.msg, `dns check ${DOMAIN} dmarc: pass -> fail`);
    assert.equal(broken.level, 40);
    assert.equal(broken.domain, DOMAIN);
    assert.equal(broken.from, 'pass');
    assert.match(String(broken.detail), /is malformed: p=bogus is not none, quarantine or reject/);
    assert.match(String(broken.fix), /^Publish "_dmarc\.example\.test\./);
    await until(() => services.status().domains[DOMAIN]!.checks.find((c) => c.id === 'dmarc')!.status === 'fail', 'the status to follow');

    // repaired: logged again (info level), and the change list holds both
    dns.set(`_dmarc.${DOMAIN}`, { TXT: [DMARC_VALUE(DOMAIN)] });
    const fixed = await logs.waitFor((l) => l.check === 'dmarc' && l.to === 'pass', 10_000);
    assert.equal(fixed.msg, `dns check ${DOMAIN} dmarc: fail -> pass`);
    assert.equal(fixed.level, 30);
    await until(() => services.status().changes.some((c) => c.check === 'dmarc' && c.to === 'pass'), 'the change list');
    assert.deepEqual(
      services.status().changes.filter((c) => c.check === 'dmarc').map((c) => [c.from, c.to]),
      [
        ['pass', 'fail'],
        ['fail', 'pass'],
      ],
    );
    // an unchanged status is not logged again
    assert.equal(logs.lines.filter((l) => l.check === 'mx').length, 0);
    assert.ok(runsLogged() >= 3, `at least three runs (${runsLogged()})`);

    // stop() ends the timer: no run after it
    await services.stop();
    const n = runsLogged();
    await new Promise((r) => setTimeout(r, INTERVAL_MS + 500));
    assert.equal(runsLogged(), n);
  });
});
