/**
 * The HTTP listener's operation routes: Prometheus metrics after a known set of transactions, and the client
 * autoconfiguration documents parsed by a client-side XML parser (fast-xml-parser) and Python plistlib with the right
 * servers/ports/SSL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { execFileSync } from 'node:child_process';
import { LineClient, startOpsServer, freePort, HOSTNAME } from './helpers.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startPeer } from '../helpers/peers.js';

async function get(port: number, path: string, init: RequestInit = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([^{ ]+)(?:\{([^}]*)\})? (.+)$/.exec(line)!;
    if (m[1] !== name) continue;
    const l = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => l[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

async function sendSmtp(port: number, from: string, to: string[], auth?: [string, string]) {
  const c = await LineClient.connect(port);
  await c.until(/^220 /);
  await c.cmd('EHLO client.example', /^250 /);
  if (auth) {
    const r = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${auth[0]}\0${auth[1]}`).toString('base64')}`, /^\d{3} /);
    if (!r.startsWith('235')) {
      c.close();
      return r;
    }
  }
  await c.cmd(`MAIL FROM:<${from}>`, /^250 /);
  for (const t of to) await c.cmd(`RCPT TO:<${t}>`, /^\d{3} /);
  await c.cmd('DATA', /^354 /);
  const r = await c.cmd(`From: <${from}>\r\nTo: <${to[0]}>\r\nSubject: m\r\n\r\nhello\r\n.`, /^\d{3} /);
  await c.cmd('QUIT', /^221 /);
  c.close();
  return r;
}

test('metrics after a known set of transactions', { timeout: 30000 }, async () => {
  const s = await startOpsServer(
    { listen: { http: '127.0.0.1:0', submission: '127.0.0.1:0', imap: '127.0.0.1:0' }, authentication: { checkInbound: true, checkLoopback: false } },
    { users: ['u1@example.test', 'u2@example.test'] },
  );
  try {
    const http = s.server.addresses.http!.port;
    const smtp = s.server.addresses.smtp!.port;
    const sub = s.server.addresses.submission!.port;
    // 3 messages on the MX (one with 2 recipients), 1 on submission to a local user, 2 failed logins (SMTP, IMAP).
    for (let i = 0; i < 2; i++) assert.match(await sendSmtp(smtp, 'a@example.org', ['u1@example.test']), /^250 /m);
    assert.match(await sendSmtp(smtp, 'a@example.org', ['u1@example.test', 'u2@example.test']), /^250 /m);
    assert.match(await sendSmtp(sub, 'u1@example.test', ['u2@example.test'], ['u1@example.test', 'secret']), /^250 /m);
    assert.match(await sendSmtp(sub, 'u1@example.test', ['u2@example.test'], ['u1@example.test', 'wrong']), /^535 /m);
    const imap = await LineClient.connect(s.server.addresses.imap!.port);
    await imap.until(/^\* OK/);
    assert.match(await imap.cmd('a1 LOGIN u2@example.test nope', /^a1 /), /^a1 NO/m);
    imap.close();
    await new Promise((r) => setTimeout(r, 200));

    const m = await get(http, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain/);
    assert.equal(metric(m.text, 'mailwright_messages_received_total', { listener: 'smtp' }), 3);
    assert.equal(metric(m.text, 'mailwright_messages_received_total', { listener: 'submission' }), 1);
    assert.equal(metric(m.text, 'mailwright_messages_delivered_total', { result: 'local' }), 5);
    assert.equal(metric(m.text, 'mailwright_auth_failures_total', { protocol: 'smtp' }), 1);
    assert.equal(metric(m.text, 'mailwright_auth_failures_total', { protocol: 'imap' }), 1);
    assert.equal(metric(m.text, 'mailwright_connections_total', { listener: 'smtp' }), 3);
    assert.equal(metric(m.text, 'mailwright_connections_total', { listener: 'submission' }), 2);
    assert.equal(metric(m.text, 'mailwright_connections_total', { listener: 'imap' }), 1);
    assert.equal(metric(m.text, 'mailwright_connections_active', { listener: 'smtp' }), 0);
    for (const state of ['incoming', 'active', 'deferred', 'hold']) assert.equal(metric(m.text, 'mailwright_queue_messages', { state }), 0);
    assert.ok(metric(m.text, 'mailwright_tls_certificate_expiry_timestamp_seconds') > Date.now() / 1000);
    assert.match(m.text, /# TYPE mailwright_delivery_latency_seconds histogram/);
    // Loopback mail skips SPF/DKIM/DMARC (authentication.checkLoopback: false): no results counted.
    assert.ok(Number.isNaN(metric(m.text, 'mailwright_mailauth_results_total')));
  } finally {
    await s.stop();
  }
});

test('metrics: SPF/DKIM/DMARC results of inbound mail, messages out (sent, deferred), delivery latency, queue size by state', { timeout: 40000 }, async () => {
  const dns = await startDnsServer({
    'example.org': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.example.org': { TXT: ['v=DMARC1; p=none'] },
  });
  const peer = await startPeer({ host: '127.0.0.3' });
  const closed = await freePort('127.0.0.4');
  const s = await startOpsServer(
    {
      listen: { http: '127.0.0.1:0', submission: '127.0.0.1:0' },
      dns: { servers: dns.servers, timeoutMs: 1000 },
      authentication: { checkInbound: true, checkLoopback: true },
      queue: { retryBaseSeconds: 600, retryMaxSeconds: 600 },
      delivery: { transportMap: { 'remote.test': { host: '127.0.0.3', port: peer.port }, 'down.test': { host: '127.0.0.4', port: closed } } },
    },
    { users: ['u1@example.test', 'u2@example.test'] },
  );
  try {
    const http = s.server.addresses.http!.port;
    const smtp = s.server.addresses.smtp!.port;
    const sub = s.server.addresses.submission!.port;
    // Inbound from example.org (SPF pass for 127.0.0.1, no signature, DMARC aligned through SPF): twice.
    for (let i = 0; i < 2; i++) assert.match(await sendSmtp(smtp, 'a@example.org', ['u1@example.test']), /^250 /m);
    // Outbound: one delivered to the peer, one to a closed port (deferred, stays in the queue).
    assert.match(await sendSmtp(sub, 'u1@example.test', ['x@remote.test'], ['u1@example.test', 'secret']), /^250 /m);
    assert.match(await sendSmtp(sub, 'u1@example.test', ['y@down.test'], ['u1@example.test', 'secret']), /^250 /m);
    const deadline = Date.now() + 15000;
    let m = await get(http, '/metrics');
    while (!(metric(m.text, 'mailwright_messages_delivered_total', { result: 'sent' }) === 1 && metric(m.text, 'mailwright_messages_delivered_total', { result: 'deferred' }) === 1 && metric(m.text, 'mailwright_queue_messages', { state: 'deferred' }) === 1)) {
      assert.ok(Date.now() < deadline, `deliveries not counted: ${m.text}`);
      await new Promise((r) => setTimeout(r, 200));
      m = await get(http, '/metrics');
    }
    assert.equal(peer.messages.length, 1);
    assert.equal(metric(m.text, 'mailwright_mailauth_results_total', { method: 'spf', result: 'pass' }), 2);
    assert.equal(metric(m.text, 'mailwright_mailauth_results_total', { method: 'dkim', result: 'none' }), 2);
    assert.equal(metric(m.text, 'mailwright_mailauth_results_total', { method: 'dmarc', result: 'pass' }), 2);
    assert.equal(metric(m.text, 'mailwright_messages_received_total', { listener: 'smtp' }), 2);
    assert.equal(metric(m.text, 'mailwright_messages_received_total', { listener: 'submission', result: 'queued' }), 2);
    assert.equal(metric(m.text, 'mailwright_messages_delivered_total', { result: 'local' }), 2);
    // One remote delivery finished (sent): one latency observation, well under 15 s.
    assert.equal(metric(m.text, 'mailwright_delivery_latency_seconds_count', { result: 'sent' }), 1);
    assert.equal(metric(m.text, 'mailwright_delivery_latency_seconds_bucket', { result: 'sent', le: '15' }), 1);
    assert.ok(metric(m.text, 'mailwright_delivery_latency_seconds_sum', { result: 'sent' }) < 15);
    assert.equal(metric(m.text, 'mailwright_queue_messages', { state: 'deferred' }), 1);
    assert.equal(metric(m.text, 'mailwright_queue_messages', { state: 'active' }), 0);
    assert.ok(!(metric(m.text, 'mailwright_auth_failures_total') > 0), 'no failed logins');
  } finally {
    await s.stop();
    await peer.close();
    await dns.close();
  }
});

test('autoconfig: Thunderbird XML, Autodiscover and Apple mobileconfig with our host and ports', { timeout: 30000 }, async () => {
  const s = await startOpsServer({
    listen: { http: '127.0.0.1:0', imaps: '127.0.0.1:0', imap: '127.0.0.1:0', submissions: '127.0.0.1:0', submission: '127.0.0.1:0' },
    autoconfig: { displayName: 'Example Mail' },
  });
  try {
    const a = s.server.addresses;
    const http = a.http!.port;
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' });
    for (const path of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml?emailaddress=u1%40example.test']) {
      const r = await get(http, path);
      assert.equal(r.status, 200);
      const doc = xml.parse(r.text);
      const p = doc.clientConfig.emailProvider;
      if (path.includes('emailaddress')) assert.equal(p.domain, 'example.test');
      assert.equal(p.displayName, 'Example Mail');
      const inc = [p.incomingServer].flat();
      const out = [p.outgoingServer].flat();
      assert.deepEqual(inc.map((x: any) => [x['@type'], x.hostname, x.port, x.socketType]), [
        ['imap', HOSTNAME, a.imaps!.port, 'SSL'],
        ['imap', HOSTNAME, a.imap!.port, 'STARTTLS'],
      ]);
      assert.deepEqual(out.map((x: any) => [x['@type'], x.hostname, x.port, x.socketType, x.username]), [
        ['smtp', HOSTNAME, a.submissions!.port, 'SSL', '%EMAILADDRESS%'],
        ['smtp', HOSTNAME, a.submission!.port, 'STARTTLS', '%EMAILADDRESS%'],
      ]);
    }
    const req = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>u1@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
    const ad = await get(http, '/autodiscover/autodiscover.xml', { method: 'POST', body: req, headers: { 'content-type': 'text/xml' } });
    assert.equal(ad.status, 200);
    const acc = xml.parse(ad.text).Autodiscover.Response.Account;
    const protos = Object.fromEntries([acc.Protocol].flat().map((p: any) => [p.Type, p]));
    assert.equal(protos.IMAP.Server, HOSTNAME);
    assert.equal(protos.IMAP.Port, a.imaps!.port);
    assert.equal(protos.IMAP.SSL, 'on');
    assert.equal(protos.IMAP.LoginName, 'u1@example.test');
    assert.equal(protos.SMTP.Port, a.submissions!.port);
    assert.equal(protos.SMTP.SSL, 'on');
    assert.equal((await get(http, '/autodiscover/autodiscover.xml', { method: 'POST', body: '<x/>' })).status, 400);

    const mc = await get(http, '/apple/mobileconfig?email=u1%40example.test');
    assert.equal(mc.status, 200);
    assert.match(mc.type, /application\/x-apple-aspen-config/);
    // plist: parse <dict> key/value pairs.
    const plist = new XMLParser({ preserveOrder: true }).parse(mc.text);
    const dictToObj = (d: any[]): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < d.length; i += 2) {
        const k = d[i].key[0]['#text'];
        const vNode = d[i + 1];
        const t = Object.keys(vNode)[0]!;
        o[k] = t === 'dict' ? dictToObj(vNode.dict) : t === 'array' ? vNode.array.map((x: any) => dictToObj(x.dict)) : t === 'true' ? true : t === 'false' ? false : vNode[t][0]?.['#text'];
      }
      return o;
    };
    const top = dictToObj(plist.find((n: any) => n.plist).plist[0].dict);
    assert.equal(top.PayloadType, 'Configuration');
    const acct = (top.PayloadContent as Record<string, unknown>[])[0]!;
    assert.equal(acct.PayloadType, 'com.apple.mail.managed');
    assert.equal(acct.EmailAccountType, 'EmailTypeIMAP');
    assert.equal(acct.EmailAddress, 'u1@example.test');
    assert.equal(acct.IncomingMailServerHostName, HOSTNAME);
    assert.equal(Number(acct.IncomingMailServerPortNumber), a.imaps!.port);
    assert.equal(acct.IncomingMailServerUseSSL, true);
    assert.equal(Number(acct.OutgoingMailServerPortNumber), a.submissions!.port);
    assert.equal(acct.OutgoingMailServerUseSSL, true);
    // And by Python's plistlib (the property-list reader of a client platform), not only by our own walk above.
    const py = execFileSync('/usr/bin/python3', ['-c', 'import plistlib,sys,json; p=plistlib.loads(sys.stdin.buffer.read()); a=p["PayloadContent"][0]; print(json.dumps([p["PayloadType"], a["EmailAccountType"], a["IncomingMailServerHostName"], a["IncomingMailServerPortNumber"], a["IncomingMailServerUseSSL"], a["OutgoingMailServerPortNumber"], a["OutgoingMailServerUseSSL"]]))'], { input: mc.text, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(py), ['Configuration', 'EmailTypeIMAP', HOSTNAME, a.imaps!.port, true, a.submissions!.port, true]);
    assert.equal((await get(http, '/apple/mobileconfig?email=<script>')).status, 400);
  } finally {
    await s.stop();
  }
});
