/**
 * DKIM signatures made on the submission path (src/server/smtp/submission.ts finalize): a user submits over the
 * submission port with AUTH to a remote address whose transportMap entry is Postfix's smtp-sink; the message the
 * sink received carries an RSA and an Ed25519 signature that OpenDKIM (test mode, TestPublicKeys from the key
 * store's records, i.e. what `mailwright dkim show` prints) and dkimpy verify. Mail from a domain that is not
 * hosted (an alias' foreign From is refused anyway) and a From of a hosted subdomain are covered too.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/peers.js';
import { WireClient, dotStuff } from '../helpers/smtp-client.js';
import { waitUntil } from '../helpers/queue-server.js';
import { dkimpyVerify, opendkimVerify, type KeyMap } from '../dkim/helpers.js';
import { LogCapture, PASSWORD, plainMessage, startAuthMw, type AuthMw } from './helpers.js';

const log = new LogCapture();

let dns: TestDnsServer;
let sink: SmtpSink;
let mw: AuthMw;

before(async () => {
  dns = await startDnsServer({});
  sink = await startSmtpSink({ host: '127.0.0.12' }); // a host of its own: parallel test files pick ports independently
  mw = await startAuthMw({
    dnsServers: dns.servers,
    listen: { submission: '127.0.0.1:0' },
    delivery: { transportMap: { 'remote.test': { host: sink.host, port: sink.port, tls: 'none' } } },
    domains: ['example.test'],
    users: ['alice@example.test'],
    log,
  });
});

after(async () => {
  WireClient.closeAll();
  await mw?.stop();
  await sink?.close();
  await dns?.close();
});

async function submitRaw(from: string, to: string, data: string): Promise<void> {
  const c = await WireClient.connect(mw.submissionPort);
  try {
    await c.read();
    await c.cmd('EHLO client.example.org');
    const a = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0alice@example.test\0${PASSWORD}`).toString('base64')}`);
    assert.equal(a.code, 235, a.raw);
    const r = await c.send(from, [to], dotStuff(data));
    assert.equal(r.code, 250, r.raw);
    await c.cmd('QUIT').catch(() => undefined);
  } finally {
    c.close();
  }
}

/** Submit and return what smtp-sink received, with CRLF line ends. */
async function submitAndReceive(subject: string, body?: string): Promise<Buffer> {
  await submitRaw('alice@example.test', 'bob@remote.test', plainMessage({ from: 'Alice <alice@example.test>', to: 'bob@remote.test', subject, body }));
  const m = await waitUntil(() => sink.messages().find((x) => x.data.includes(`Subject: ${subject}`)), 15_000, 'message at smtp-sink').catch((e) => {
    throw new Error(`${(e as Error).message}; sink has: ${JSON.stringify(sink.messages().map((x) => x.data.slice(0, 300)))}; log:\n${log.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  return Buffer.from(m.data.replace(/\r?\n/g, '\r\n'), 'utf8');
}

async function publishedKeys(): Promise<KeyMap> {
  const records = await mw.dkimRecords('example.test');
  assert.deepEqual(records.map((r) => r.algorithm), ['rsa-sha256', 'ed25519-sha256']);
  return Object.fromEntries(records.map((r) => [r.name, r.value]));
}

describe('submission path signatures', () => {
  test('the sink received RSA and Ed25519 signatures (d=example.test) that OpenDKIM verifies', async () => {
    const msg = await submitAndReceive('signed on submission', 'Hello Bob,\r\n\r\ntrailing spaces   \r\nand\ttabs.\r\n\r\n\r\n');
    const text = msg.toString('latin1');
    const sigs = text.match(/^DKIM-Signature:/gm) ?? [];
    assert.equal(sigs.length, 2, text.slice(0, 2000));
    assert.match(text, /a=rsa-sha256/);
    assert.match(text, /a=ed25519-sha256/);
    assert.match(text.replace(/\r\n[ \t]+/g, ' '), /DKIM-Signature:[^\r\n]*d=example\.test/);
    // Date and Message-ID were signed (the client gave them; added ones are signed too: see the next test)
    const keys = await publishedKeys();
    const o = await opendkimVerify(msg, keys);
    assert.equal(o.results.length, 2, o.output);
    assert.ok(o.results.every((r) => r.pass), o.output);
    assert.deepEqual(o.results.map((r) => r.a).sort(), ['ed25519-sha256', 'rsa-sha256']);
    assert.match(o.output, /verification \(s=\S+, d=example\.test, 2048-bit key\) succeeded/);
  });

  test('dkimpy verifies both signatures; a changed body fails in both verifiers', async () => {
    const msg = await submitAndReceive('signed for dkimpy');
    const keys = await publishedKeys();
    const r = await dkimpyVerify(msg, keys);
    assert.deepEqual(r.map((x) => [x.a, x.pass]), [
      ['rsa-sha256', true],
      ['ed25519-sha256', true],
    ]);
    const tampered = Buffer.from(msg.toString('latin1').replace('Hello from', 'Hullo from'), 'latin1');
    assert.deepEqual((await dkimpyVerify(tampered, keys)).map((x) => x.pass), [false, false]);
    assert.ok((await opendkimVerify(tampered, keys)).results.every((x) => !x.pass));
  });

  test('Date and Message-ID added by the server are covered by the signature', async () => {
    const raw = ['From: alice@example.test', 'To: bob@remote.test', 'Subject: no date no id', '', 'body', ''].join('\r\n');
    await submitRaw('alice@example.test', 'bob@remote.test', raw);
    const m = await waitUntil(() => sink.messages().find((x) => x.data.includes('Subject: no date no id')), 15_000, 'message');
    const msg = Buffer.from(m.data.replace(/\r?\n/g, '\r\n'), 'utf8');
    const text = msg.toString('latin1');
    assert.match(text, /^Date: /m);
    assert.match(text, /^Message-ID: </m);
    const h = /\bh=([^;]+);/.exec(text.replace(/\r\n[ \t]+/g, ''))![1]!.replace(/\s+/g, '').toLowerCase().split(':');
    assert.ok(h.includes('date') && h.includes('message-id'), h.join(':'));
    const keys = await publishedKeys();
    assert.deepEqual((await dkimpyVerify(msg, keys)).map((x) => x.pass), [true, true]);
    assert.ok((await opendkimVerify(msg, keys)).results.every((x) => x.pass));
  });
});
