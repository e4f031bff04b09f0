/**
 * `mailwright dkim ...` as a user runs it (`node bin/mailwright.js --config F`, needs `npm run build`), with
 * dns.servers pointing at a local DNS server: keys made by `domain add`, `dkim show` (zone-file form), `dkim test`
 * with a matching, a mismatching and a missing record (output and exit status), the rotate/retire flow, errors.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runCli, tempDir, writeConfig, requireBuild, type CliResult } from '../helpers/server.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { loadConfig } from '../../src/config/load.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import '../../src/dkim/keys.js'; // registers the dkim_keys migration for the in-process checks

let dir: string;
let cfg: string;
let dns: TestDnsServer;
const mw = (...args: string[]) => runCli(['--config', cfg, ...args]);

interface JsonRecord {
  name: string;
  selector: string;
  algorithm: string;
  state: string;
  value: string;
}

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

function publish(recs: JsonRecord[]) {
  for (const r of recs) dns.set(r.name, { TXT: [r.value] }); // RSA values > 255 bytes are served as several strings
}

async function dbKeys(domain = 'example.test'): Promise<{ selector: string; state: string; algorithm: string }[]> {
  const opened = await openDatabase(loadConfig(cfg).database);
  try {
    return await opened.db.selectFrom('dkim_keys').select(['selector', 'state', 'algorithm']).where('domain', '=', domain).orderBy('id').execute();
  } finally {
    await opened.close();
  }
}

before(async () => {
  requireBuild();
  dns = await startDnsServer({});
  dir = tempDir('mw-dkim-cli-');
  cfg = writeConfig(dir, `dns:\n  servers: ["${dns.servers[0]}"]\n  timeoutMs: 1000`);
});
after(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mailwright dkim', () => {
  let records: JsonRecord[];

  test('domain add creates an RSA and an Ed25519 key; dkim show prints the records in zone-file form', async () => {
    assert.equal(ok(await mw('domain', 'add', 'example.test')), 'domain example.test added\n');
    const inDb = await dbKeys();
    assert.deepEqual(inDb.map((k) => [k.algorithm, k.state]), [
      ['rsa-sha256', 'active'],
      ['ed25519-sha256', 'active'],
    ]);
    assert.match(inDb[0]!.selector, /^mw\d{8}r$/);
    assert.equal(inDb[1]!.selector, inDb[0]!.selector.replace(/r$/, 'e'));

    const [show, json] = await Promise.all([mw('dkim', 'show', 'Example.TEST'), mw('dkim', 'show', 'example.test', '--json')]);
    const out = ok(show);
    records = JSON.parse(ok(json));
    assert.deepEqual(records.map((r) => [r.selector, r.state]), inDb.map((k) => [k.selector, 'active']));
    const [rsa, ed] = records as [JsonRecord, JsonRecord];
    assert.equal(rsa.name, `${rsa.selector}._domainkey.example.test`);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines[0], '; DKIM keys of example.test: publish these TXT records in DNS');
    assert.equal(lines[1], `; active (signing): ${rsa.selector} (rsa-sha256), ${ed.selector} (ed25519-sha256)`);
    const p = rsa.value.slice(rsa.value.indexOf('p=') + 2);
    assert.equal(lines[2], `${rsa.name}. IN TXT ( "v=DKIM1; k=rsa; " "p=${p.slice(0, 253)}" "${p.slice(253)}" )`);
    assert.equal(lines[3], `${ed.name}. IN TXT ( "v=DKIM1; k=ed25519; " "${ed.value.slice(ed.value.indexOf('p='))}" )`);
    assert.equal(lines.length, 4);
    assert.doesNotMatch(out + json.stdout, /PRIVATE|BEGIN/);
  });

  test('dkim test: missing records -> exit 1 with the records to publish', async () => {
    const r = await mw('dkim', 'test', 'example.test');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, 'mailwright: dkim test example.test: 2 of 2 active key(s) not ok\n');
    const [rsa, ed] = records as [JsonRecord, JsonRecord];
    assert.match(r.stdout, new RegExp(`^${rsa.name.replace(/\./g, '\\.')}: missing: no such name in DNS \\(NXDOMAIN\\); publish the TXT record$`, 'm'));
    assert.match(r.stdout, new RegExp(`^  publish:   ${ed.name.replace(/\./g, '\\.')}\\. IN TXT \\( "v=DKIM1; k=ed25519; " "p=`, 'm'));
  });

  test('dkim test: matching records -> exit 0', async () => {
    publish(records);
    const out = ok(await mw('dkim', 'test', 'example.test'));
    assert.equal(
      out,
      `${records[0]!.name}: ok: published key matches our private key (rsa-sha256, active)\n` +
        `${records[1]!.name}: ok: published key matches our private key (ed25519-sha256, active)\n` +
        'dkim test example.test: all active keys ok\n',
    );
  });

  test('dkim test: a mismatching record -> exit 1, names the published and the expected record', async () => {
    await runCli(['--config', cfg, 'domain', 'add', 'other.test']);
    const other = JSON.parse(ok(await mw('dkim', 'show', 'other.test', '--json'))) as JsonRecord[];
    dns.set(records[0]!.name, { TXT: [other[0]!.value] });
    const r = await mw('dkim', 'test', 'example.test');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'mailwright: dkim test example.test: 1 of 2 active key(s) not ok\n');
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `${records[0]!.name}: mismatch: the published public key differs from ours (old or foreign key?); publish ours`);
    assert.equal(lines[1], `  published: ${other[0]!.value}`);
    assert.match(lines[2]!, new RegExp(`^  publish:   ${records[0]!.name.replace(/\./g, '\\.')}\\. IN TXT \\(`));
    assert.match(lines[3]!, /: ok: /);
    // a DNS failure is a temporary error, also non-zero
    dns.set(records[0]!.name, { TXT: [records[0]!.value] });
    dns.fault(records[1]!.name, 'SERVFAIL');
    const t = await mw('dkim', 'test', 'example.test');
    assert.equal(t.code, 1);
    assert.match(t.stdout, /: temperror: DNS lookup failed \(ESERVFAIL\); try again later/);
    dns.clearFaults();
  });

  test('rotate: new keys sign at once, old ones listed to keep; test checks both; retire removes the old ones', async () => {
    const r = ok(await mw('dkim', 'rotate', 'example.test'));
    const keysNow = await dbKeys();
    const fresh = keysNow.filter((k) => k.state === 'active').map((k) => k.selector);
    const old = records.map((x) => x.selector);
    assert.deepEqual(keysNow.filter((k) => k.state === 'retiring').map((k) => k.selector).sort(), [...old].sort());
    assert.equal(fresh.length, 2);
    const lines = r.trimEnd().split('\n');
    assert.equal(lines[0], `dkim example.test: new keys ${fresh.join(', ')} sign from now on (a running server within 5 seconds); publish their records:`);
    assert.match(lines[1]!, new RegExp(`^${fresh[0]}\\._domainkey\\.example\\.test\\. IN TXT \\( "v=DKIM1; k=rsa; "`));
    assert.match(lines[2]!, new RegExp(`^${fresh[1]}\\._domainkey\\.example\\.test\\. IN TXT \\( "v=DKIM1; k=ed25519; "`));
    assert.equal(lines[3], `; keep these published until mail signed with them has been delivered (a few days), then run 'mailwright dkim retire example.test': ${old.join(', ')}`);
    assert.equal(lines.length, 6);

    const show = ok(await mw('dkim', 'show', 'example.test'));
    assert.match(show, new RegExp(`; retiring \\(no longer signing; keep published until 'mailwright dkim retire example.test'\\): ${old.join(', ')}`));

    // only the old records published: the new active ones are missing -> exit 1; the retiring ones are ok
    let t = await mw('dkim', 'test', 'example.test');
    assert.equal(t.code, 1);
    assert.match(t.stdout, new RegExp(`${fresh[0]}\\._domainkey\\.example\\.test: missing`));
    assert.match(t.stdout, new RegExp(`${old[0]}\\._domainkey\\.example\\.test: ok: .*\\(rsa-sha256, retiring\\) \\[retiring key\\]`));
    publish(JSON.parse(ok(await mw('dkim', 'show', 'example.test', '--json'))));
    ok(await mw('dkim', 'test', 'example.test'));

    const ret = ok(await mw('dkim', 'retire', 'example.test'));
    assert.equal(ret, `dkim example.test: retired ${old.join(', ')}; these TXT records can now be removed from DNS:\n${old.map((s) => `${s}._domainkey.example.test.\n`).join('')}`);
    const after = JSON.parse(ok(await mw('dkim', 'show', 'example.test', '--json'))) as JsonRecord[];
    assert.deepEqual(after.map((x) => x.selector), fresh);
    assert.equal(ok(await mw('dkim', 'retire', 'example.test')), 'dkim example.test: no retiring keys (nothing to do)\n');
    // retired keys are no longer checked: their records may go
    dns.set(`${old[0]}._domainkey.example.test`, null);
    ok(await mw('dkim', 'test', 'example.test'));
  });

  test('a domain added before DKIM gets its keys on the first dkim show; errors name what is wrong', async () => {
    const opened = await openDatabase(loadConfig(cfg).database);
    await new SqlAccountStore(opened.db).addDomain('legacy.test');
    await opened.close();
    const t = await mw('dkim', 'test', 'legacy.test');
    assert.equal(t.code, 1);
    assert.equal(t.stderr, "mailwright: domain legacy.test has no DKIM keys yet: run 'mailwright dkim show legacy.test' to create them and get the records to publish\n");
    const show = ok(await mw('dkim', 'show', 'legacy.test'));
    assert.match(show, /^mw\d{8}r\._domainkey\.legacy\.test\. IN TXT/m);
    assert.match(show, /^mw\d{8}e\._domainkey\.legacy\.test\. IN TXT/m);

    const bad = await Promise.all([
      mw('dkim', 'show', 'nope.test'),
      mw('dkim', 'rotate', 'nope.test'),
      mw('dkim', 'test', 'nope.test'),
      mw('dkim', 'retire', 'not a domain'),
    ]);
    for (const r of bad.slice(0, 3)) {
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'mailwright: domain nope.test is not hosted here (add it first: mailwright domain add nope.test)\n');
    }
    assert.equal(bad[3]!.code, 1);
    assert.match(bad[3]!.stderr, /^mailwright: invalid domain 'not a domain'/);
    const usage = await mw('dkim', 'show');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing required argument 'domain'/);
  });
});
