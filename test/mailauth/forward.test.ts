/**
 * Forwarding that survives DMARC, with two Mailwright instances and one test DNS server:
 *   sender (127.0.0.3, authorised for bigbank.test, DMARC p=reject) -> A's MX (mx-a.forward.test, hosts
 *   forward.test, alias fwd@forward.test -> bob@b.test) -> A's queue (delivery.transportMap b.test, source address
 *   127.0.0.5) -> B's MX (mx-b.b.test, hosts b.test).
 * A rewrites the envelope sender with SRS (SRS0=...@mx-a.forward.test, authorised for 127.0.0.5 by the zone) and
 * ARC-seals with forward.test's RSA DKIM key (published in the zone from A's key store). At B SPF passes for A's
 * hostname; when the original carried no DKIM signature, DMARC for bigbank.test fails at B, and B honours A's valid
 * ARC chain: it delivers to INBOX with arc=pass (without the seal, the same message is rejected: the control).
 * Bounces to the SRS address at A's MX are routed to the original sender (queued to smtp-sink); forged SRS
 * addresses get 550 5.1.1.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate } from 'mailauth';
import { generateDkimKey, dnsRecordValue } from '../../src/dkim/keys.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/peers.js';
import { WireClient } from '../helpers/smtp-client.js';
import { waitUntil } from '../helpers/queue-server.js';
import { dkimpySign } from '../dkim/helpers.js';
import { headerValues, ourResults, plainMessage, sendMx, startAuthMw, type AuthMw } from './helpers.js';

const SENDER_IP = '127.0.0.3';
const A_IP = '127.0.0.5';
const BOB = 'bob@b.test';

let dns: TestDnsServer;
let sink: SmtpSink;
let a: AuthMw;
let b: AuthMw;
let rsa: { privateKey: string; publicKey: string };

before(async () => {
  rsa = await generateDkimKey('rsa-sha256');
  dns = await startDnsServer({
    'bigbank.test': { TXT: [`v=spf1 ip4:${SENDER_IP} -all`] },
    '_dmarc.bigbank.test': { TXT: ['v=DMARC1; p=reject'] },
    'ext._domainkey.bigbank.test': { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] },
    // A's hostname is the SRS domain; the zone authorises A's source address for it
    'mx-a.forward.test': { TXT: [`v=spf1 ip4:${A_IP} -all`], A: [A_IP] },
    'forward.test': { TXT: [`v=spf1 ip4:${A_IP} -all`] },
    'mx-b.b.test': { A: ['127.0.0.1'] },
  });
  sink = await startSmtpSink({ host: '127.0.0.13' }); // a host of its own: parallel test files pick ports independently
  b = await startAuthMw({ hostname: 'mx-b.b.test', dnsServers: dns.servers, domains: ['b.test'], users: [BOB], authentication: { trustedArcSealers: ['forward.test'] } });
  a = await startAuthMw({
    hostname: 'mx-a.forward.test',
    dnsServers: dns.servers,
    domains: ['forward.test'],
    users: ['carol@forward.test'],
    aliases: [['fwd@forward.test', BOB]],
    delivery: {
      localAddress: A_IP,
      transportMap: {
        'b.test': { host: '127.0.0.1', port: b.smtpPort, tls: 'none' },
        'bigbank.test': { host: sink.host, port: sink.port, tls: 'none' },
      },
    },
  });
  // publish A's DKIM keys (the ARC seal uses the RSA one) as `mailwright dkim show forward.test` would tell
  for (const r of await a.dkimRecords('forward.test')) dns.set(r.name, { TXT: [r.value] });
});

after(async () => {
  WireClient.closeAll();
  await a?.stop();
  await b?.stop();
  await sink?.close();
  await dns?.close();
});

/** Send to fwd@forward.test at A from the sender's address; wait until B has one more file in INBOX. */
async function forward(data: string): Promise<string> {
  const seen = new Set(b.files(BOB)); // Maildir names do not sort by arrival
  const r = await sendMx(a.smtpPort, { from: 'alice@bigbank.test', to: ['fwd@forward.test'], data, source: SENDER_IP, helo: 'out.bigbank.test' });
  assert.equal(r.code, 250, r.raw);
  return waitUntil(() => b.files(BOB).find((f) => !seen.has(f)), 15_000, 'the forwarded message at B');
}

describe('forwarding through A to B', () => {
  test('without DKIM: SRS makes SPF pass at B for A’s hostname; DMARC fails but A’s ARC seal passes: delivered to INBOX', async () => {
    const text = await forward(plainMessage({ from: 'Alice <alice@bigbank.test>', to: 'fwd@forward.test', subject: 'forwarded, unsigned' }));
    // the SRS envelope sender
    const rp = /^Return-Path: <([^>]*)>/.exec(text)![1]!;
    assert.match(rp, /^SRS0=[^=]{4}=[A-Z2-7]{2}=bigbank\.test=alice@mx-a\.forward\.test$/);
    // B's own results: one header with B's authserv-id
    const ar = ourResults(text, 'mx-b.b.test');
    const mine = headerValues(text, 'Authentication-Results').filter((v) => v.startsWith('mx-b.b.test'));
    assert.equal(mine.length, 1);
    assert.equal(ar.authservId, 'mx-b.b.test');
    assert.deepEqual(ar.methods.spf, ['pass'], ar.raw);
    assert.match(ar.raw, /spf=pass[^;]*smtp\.mailfrom="?SRS0=[^;]*@mx-a\.forward\.test/i);
    assert.deepEqual(ar.methods.dmarc, ['fail'], ar.raw);
    assert.deepEqual(ar.methods.arc, ['pass'], ar.raw);
    // A's ARC set (i=1, by forward.test) is in the message and A's results are inside it
    assert.match(text, /^ARC-Seal: i=1;[^]*?d=forward\.test/m);
    assert.match(text, /^ARC-Message-Signature: i=1;/m);
    assert.match(text.replace(/\r\n[ \t]+/g, ' '), /^ARC-Authentication-Results: i=1; mx-a\.forward\.test;[^\r\n]*spf=pass[^\r\n]*dmarc=pass/m);
    // A's Authentication-Results (foreign for B) are kept
    assert.ok(headerValues(text, 'Authentication-Results').some((v) => v.startsWith('mx-a.forward.test')));
    assert.equal(b.files(BOB, '.Junk').length, 0);
  });

  test('control: the same message from A’s address without A’s ARC seal is rejected by B (p=reject)', async () => {
    const r = await sendMx(b.smtpPort, {
      from: 'SRS0=abcd=AA=bigbank.test=alice@mx-a.forward.test',
      to: [BOB],
      data: plainMessage({ from: 'Alice <alice@bigbank.test>', to: 'fwd@forward.test', subject: 'not sealed' }),
      source: A_IP,
      helo: 'mx-a.forward.test',
    });
    assert.equal(r.code, 550, r.raw);
    assert.equal(r.enhanced, '5.7.1');
  });

  test('with the original DKIM signature (unmodified forwarding): spf, dkim, dmarc and arc all pass at B', async () => {
    const msg = plainMessage({ from: 'Alice <alice@bigbank.test>', to: 'fwd@forward.test', subject: 'forwarded, signed' });
    const sig = await dkimpySign(Buffer.from(msg), { domain: 'bigbank.test', selector: 'ext', privateKeyPem: rsa.privateKey, algorithm: 'rsa-sha256' });
    const text = await forward(sig + msg);
    const ar = ourResults(text, 'mx-b.b.test');
    assert.deepEqual([ar.methods.spf, ar.methods.dkim, ar.methods.dmarc, ar.methods.arc], [['pass'], ['pass'], ['pass'], ['pass']], ar.raw);
    assert.match(ar.raw, /dkim=pass[^;]*header\.i=@bigbank\.test/);
    assert.match(/^Return-Path: <([^>]*)>/.exec(text)![1]!, /^SRS0=.*@mx-a\.forward\.test$/);
  });
});

describe('ARC from an untrusted sealer', () => {
  // Any domain can publish a key and seal a valid chain, so honouring every valid chain lets anyone bypass
  // p=reject (RFC 8617 §7.2: trust is a local policy decision). Mailwright has no trusted-sealer list yet.
  test('a forged From sealed by an attacker’s own domain is not accepted', async () => {
    dns.set('evil.test', { TXT: ['v=spf1 ip4:127.0.0.7 -all'] });
    dns.set('s1._domainkey.evil.test', { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] });
    const msg = plainMessage({ from: 'CEO <ceo@bigbank.test>', to: BOB, subject: 'wire the money (sealed by evil)' });
    const sealed = await authenticate(Buffer.from(msg), {
      ip: '127.0.0.3', helo: 'out.bigbank.test', sender: 'ceo@bigbank.test', mta: 'mx.evil.test', disableBimi: true,
      resolver: async (name: string, type: string) => { const e = new Error(`${type} ${name}`) as NodeJS.ErrnoException; e.code = 'ENOTFOUND'; throw e; },
      seal: { signingDomain: 'evil.test', selector: 's1', privateKey: rsa.privateKey },
    } as never);
    const arcHeaders = sealed.headers.split(/\r?\n(?=\S)/).filter((h: string) => /^ARC-/i.test(h)).join('\r\n') + '\r\n';
    const r = await sendMx(b.smtpPort, { from: 'x@evil.test', to: [BOB], data: arcHeaders + msg, source: '127.0.0.7', helo: 'mx.evil.test' });
    assert.equal(r.code, 550, `accepted with a self-made ARC chain: ${r.raw}`);
  });
});

describe('bounces to SRS addresses', () => {
  test('a bounce to the SRS address at A’s MX is routed to the original sender', async () => {
    const text = b.files(BOB).find((f) => f.includes('forwarded, unsigned'))!;
    const srsAddress = /^Return-Path: <([^>]*)>/.exec(text)![1]!;
    const bounce = [
      'From: MAILER-DAEMON@mx-c.example.org',
      `To: ${srsAddress}`,
      'Subject: Undelivered Mail Returned to Sender',
      'Date: Fri, 27 Nov 2026 10:05:00 +0000',
      'Message-ID: <bounce.1@mx-c.example.org>',
      '',
      'Your message could not be delivered.',
      '',
    ].join('\r\n');
    const r = await sendMx(a.smtpPort, { from: '', to: [srsAddress], data: bounce, source: '127.0.0.6', helo: 'mx-c.example.org' });
    assert.equal(r.code, 250, r.raw);
    const m = await waitUntil(() => sink.messages().find((x) => x.data.includes('Undelivered Mail Returned')), 15_000, 'bounce at the sink');
    assert.deepEqual(m.rcptArgs.map((x) => x.toLowerCase()), ['<alice@bigbank.test>']);
    assert.match(m.mailArgs, /^<>|^$/);
  });

  test('a forged or malformed SRS address is refused with 550 5.1.1', async () => {
    const c = await WireClient.open(a.smtpPort);
    try {
      assert.equal((await c.cmd('MAIL FROM:<>')).code, 250);
      for (const addr of ['SRS0=XXXX=AA=bigbank.test=alice@mx-a.forward.test', 'SRS0=garbage@mx-a.forward.test', 'SRS1=XXXX=mx-z.test==YYYY=AA=x.test=y@mx-a.forward.test']) {
        const r = await c.cmd(`RCPT TO:<${addr}>`);
        assert.equal(r.code, 550, `${addr}: ${r.raw}`);
        assert.equal(r.enhanced, '5.1.1');
      }
    } finally {
      c.close();
    }
  });
});
