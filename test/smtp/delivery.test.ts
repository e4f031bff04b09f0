/**
 * End-to-end delivery through the MX with real clients: swaks, Python's smtplib and nodemailer.
 * Users, an alias to two users, a catch-all, plus-addressing and mixed-case local parts are delivered (checked byte
 * for byte: Return-Path + Received + the message as sent); disabled and unknown users, other domains and
 * over-size messages are refused with their exact codes and nothing reaches any Maildir. Also: the Received header
 * names TLS, Maildir permissions are owner-only, and one structured log line per transaction.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import nodemailer from 'nodemailer';
import { startTestServer, provision, assertDelivered, queueIdOf, LogCapture, ROOT, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/smtp-client.js';

const PY = '/usr/bin/python3';
const PY_SEND = join(ROOT, 'test', 'fixtures', 'smtp', 'smtplib_send.py');
const MAX_SIZE = 64 * 1024;

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

interface PyResult {
  mail: [number, string] | null;
  rcpt: Record<string, [number, string]>;
  data: [number, string] | null;
  tls: [string, string] | null;
  error: { type: string; code?: number; text?: string; recipients?: Record<string, [number, string]> } | null;
  refused?: Record<string, [number, string]>;
}

function python(req: Record<string, unknown>): Promise<PyResult> {
  return new Promise((res, rej) => {
    const child = execFile(PY, [PY_SEND], { timeout: 20000 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`${err.message}\n${stderr}`));
      res(JSON.parse(stdout) as PyResult);
    });
    child.stdin!.end(JSON.stringify(req));
  });
}

function swaks(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile('swaks', args, { timeout: 20000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

/** The last server reply line swaks printed for a given phase (lines "<-  250 ..." / "<** 550 ..." / "<~  ..." over TLS). */
function swaksReplies(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => /^<(-|~|\*\*|~\*)\s+\d{3}/.test(l))
    .map((l) => l.replace(/^<\S*\s+/, ''));
}

// Messages in CRLF form (what every client sends on the wire), with leading-dot lines to exercise dot-stuffing.
const message = (subject: string, to: string) =>
  `From: Sender <sender@example.org>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n` +
  `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n` +
  `Hello,\r\n.a line with a leading dot\r\nGrüße aus Köln\r\n\r\n-- \r\nsender\r\n`;

describe('delivery with real clients', () => {
  let ts: TestServer;
  const log = new LogCapture();
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'mw-deliv-'));
    ts = await startTestServer({ smtp: { maxMessageSize: MAX_SIZE }, log });
    await provision(ts, {
      domains: ['example.test', 'catchall.test'],
      users: ['alice@example.test', 'bob@example.test', 'carol@example.test', 'Dave.Mixed@example.test'],
      aliases: [
        ['team@example.test', 'alice@example.test'],
        ['team@example.test', 'bob@example.test'],
        ['@catchall.test', 'carol@example.test'],
      ],
      disabled: ['gone@example.test'],
    });
  });
  after(async () => {
    WireClient.closeAll();
    await ts.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('swaks: delivery to a user, byte-exact', { skip: !have('swaks') && 'swaks is not installed (apt-get install swaks)' }, async () => {
    const msg = message('swaks user', 'alice@example.test');
    const file = join(tmp, 'swaks-user.eml');
    writeFileSync(file, msg.slice(0, -2)); // swaks sends <CRLF>.<CRLF> after the data itself
    const r = await swaks(['--server', `127.0.0.1:${ts.port}`, '--helo', 'swaks.example.org', '--from', 'sender@example.org', '--to', 'alice@example.test', '--data', `@${file}`]);
    assert.equal(r.code, 0, r.out);
    const last = swaksReplies(r.out).find((l) => /queued as/.test(l))!;
    assert.match(last, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
    const id = queueIdOf(last);
    const f = ts.newFiles('alice@example.test').find((x) => x.content.includes(`id ${id}`))!;
    assert.ok(f, 'delivered');
    assertDelivered(f.content, { from: 'sender@example.org', helo: 'swaks.example.org', id, forRcpt: 'alice@example.test', message: msg });
    assert.match(f.name, /^\d+\.M\d+P\d+Q\d+\..+,S=\d+$/);
    assert.equal(Number(/,S=(\d+)$/.exec(f.name)![1]), f.content.length, 'S= is the file size');
  });

  test('swaks: unknown user 550 5.1.1, other domain 554 5.7.1 (never relayed)', { skip: !have('swaks') && 'swaks is not installed' }, async () => {
    const before = ts.allNewFiles().length;
    const r = await swaks(['--server', `127.0.0.1:${ts.port}`, '--from', 'sender@example.org', '--to', 'nobody@example.test']);
    assert.notEqual(r.code, 0);
    assert.ok(swaksReplies(r.out).some((l) => /^550 5\.1\.1 <nobody@example\.test>: Recipient address rejected: User unknown$/.test(l)), r.out);
    const r2 = await swaks(['--server', `127.0.0.1:${ts.port}`, '--from', 'sender@example.org', '--to', 'someone@elsewhere.example']);
    assert.notEqual(r2.code, 0);
    assert.ok(swaksReplies(r2.out).some((l) => /^554 5\.7\.1 <someone@elsewhere\.example>: Relay access denied$/.test(l)), r2.out);
    assert.equal(ts.allNewFiles().length, before);
    await log.waitFor((l) => l.result === 'reject' && l.to === 'nobody@example.test');
  });

  test('swaks --tls: Received names ESMTPS and the TLS version and cipher', { skip: !have('swaks') && 'swaks is not installed' }, async () => {
    const msg = message('swaks tls', 'bob@example.test');
    const file = join(tmp, 'swaks-tls.eml');
    writeFileSync(file, msg.slice(0, -2));
    const r = await swaks(['--server', `127.0.0.1:${ts.port}`, '--tls', '--helo', 'swaks.example.org', '--from', 'sender@example.org', '--to', 'bob@example.test', '--data', `@${file}`]);
    assert.equal(r.code, 0, r.out);
    const id = queueIdOf(swaksReplies(r.out).find((l) => /queued as/.test(l))!);
    const f = ts.newFiles('bob@example.test').find((x) => x.content.includes(`id ${id}`))!;
    const m = /\r\n\t\(using (TLSv1\.[23]) with cipher ([A-Z0-9_-]+)\)\r\n\tby mail\.example\.test \(Mailwright\) with ESMTPS id /.exec(f.content.toString());
    assert.ok(m, f.content.toString().slice(0, 400));
    assertDelivered(f.content, { from: 'sender@example.org', helo: 'swaks.example.org', id, forRcpt: 'bob@example.test', tls: { version: m[1]!, cipher: m[2]! }, message: msg });
  });

  test('smtplib: STARTTLS delivery, Received with the exact protocol and cipher the client negotiated', async () => {
    const msg = message('python tls', 'carol@example.test');
    const r = await python({ port: ts.port, helo: 'py.example.org', from: 'sender@example.org', to: ['carol@example.test'], message: msg, starttls: true });
    assert.deepEqual(r.mail, [250, '2.1.0 Ok']);
    assert.deepEqual(r.rcpt['carol@example.test'], [250, '2.1.5 Ok']);
    assert.equal(r.data![0], 250);
    const id = queueIdOf(r.data![1]);
    const f = ts.newFiles('carol@example.test').find((x) => x.content.includes(`id ${id}`))!;
    assertDelivered(f.content, { from: 'sender@example.org', helo: 'py.example.org', id, forRcpt: 'carol@example.test', tls: { version: r.tls![0], cipher: r.tls![1] }, message: msg });
  });

  test('smtplib: catch-all @domain and plus-address user+tag@', async () => {
    const m1 = message('catch all', 'whoever@catchall.test');
    const r1 = await python({ port: ts.port, from: 'sender@example.org', to: ['whoever@catchall.test'], message: m1 });
    assert.equal(r1.data![0], 250, JSON.stringify(r1));
    const id1 = queueIdOf(r1.data![1]);
    const f1 = ts.newFiles('carol@example.test').find((x) => x.content.includes(`id ${id1}`))!;
    assertDelivered(f1.content, { from: 'sender@example.org', helo: 'python.example.org', id: id1, forRcpt: 'whoever@catchall.test', message: m1 });

    const m2 = message('plus address', 'alice+lists@example.test');
    const r2 = await python({ port: ts.port, from: 'sender@example.org', to: ['alice+lists@example.test'], message: m2 });
    assert.deepEqual(r2.rcpt['alice+lists@example.test'], [250, '2.1.5 Ok']);
    const id2 = queueIdOf(r2.data![1]);
    const f2 = ts.newFiles('alice@example.test').find((x) => x.content.includes(`id ${id2}`))!;
    assertDelivered(f2.content, { from: 'sender@example.org', helo: 'python.example.org', id: id2, forRcpt: 'alice+lists@example.test', message: m2 });
    // A +tag on an unknown user is still unknown.
    const r3 = await python({ port: ts.port, from: 'sender@example.org', to: ['nobody+x@example.test'], message: m2 });
    assert.equal(r3.rcpt['nobody+x@example.test']![0], 550);
    assert.match(r3.rcpt['nobody+x@example.test']![1], /^5\.1\.1 /);
  });

  test('smtplib sendmail: disabled user 550 5.2.1, unknown user 550 5.1.1 (SMTPRecipientsRefused)', async () => {
    const before = ts.allNewFiles().length;
    const r = await python({ port: ts.port, sendmail: true, from: 'sender@example.org', to: ['gone@example.test', 'nobody@example.test'], message: message('refused', 'gone@example.test') });
    assert.equal(r.error?.type, 'SMTPRecipientsRefused', JSON.stringify(r));
    assert.deepEqual(r.error!.recipients, {
      'gone@example.test': [550, '5.2.1 <gone@example.test>: Recipient address rejected: mailbox disabled'],
      'nobody@example.test': [550, '5.1.1 <nobody@example.test>: Recipient address rejected: User unknown'],
    });
    // One good and one refused recipient: delivered to the good one only, the refusal reported.
    const r2 = await python({ port: ts.port, sendmail: true, from: 'sender@example.org', to: ['gone@example.test', 'bob@example.test'], message: message('partly', 'bob@example.test') });
    assert.equal(r2.error, null);
    assert.deepEqual(r2.refused, { 'gone@example.test': [550, '5.2.1 <gone@example.test>: Recipient address rejected: mailbox disabled'] });
    assert.equal(ts.allNewFiles().length, before + 1);
    assert.equal(ts.newFiles('gone@example.test').length, 0);
  });

  test('nodemailer: alias expanding to two users, each gets it (byte-exact)', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ts.port, secure: false, name: 'nm.example.org', tls: { rejectUnauthorized: false } });
    try {
      const msg = message('alias', 'team@example.test');
      const info = await transport.sendMail({ envelope: { from: 'sender@example.org', to: ['team@example.test'] }, raw: msg });
      assert.deepEqual(info.accepted, ['team@example.test']);
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
      const id = queueIdOf(info.response);
      const fa = ts.newFiles('alice@example.test').find((x) => x.content.includes(`id ${id}`))!;
      const fb = ts.newFiles('bob@example.test').find((x) => x.content.includes(`id ${id}`))!;
      assert.ok(fa && fb, 'both alias members got the message');
      // nodemailer used STARTTLS (the server offers it): the Received header says so.
      const m = /\(using (TLSv1\.[23]) with cipher ([A-Z0-9_-]+)\)/.exec(fa.content.toString())!;
      assert.ok(m, 'TLS named');
      for (const f of [fa, fb]) {
        assertDelivered(f.content, { from: 'sender@example.org', helo: 'nm.example.org', id, forRcpt: 'team@example.test', tls: { version: m[1]!, cipher: m[2]! }, message: msg });
      }
      assert.equal(statSync(fa.path).ino, statSync(fb.path).ino, 'one file, hard-linked');
    } finally {
      transport.close();
    }
  });

  test('nodemailer: mixed-case local part reaches the user; relay attempt gets 554 5.7.1', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ts.port, secure: false, name: 'nm.example.org', ignoreTLS: true });
    try {
      // (nodemailer lower-cases the domain of envelope addresses itself; the local part is sent as given.)
      const msg = message('mixed case', 'DAVE.mixed@example.test');
      const info = await transport.sendMail({ envelope: { from: 'sender@example.org', to: ['DAVE.mixed@example.test'] }, raw: msg });
      const id = queueIdOf(info.response);
      const f = ts.newFiles('dave.mixed@example.test').find((x) => x.content.includes(`id ${id}`))!;
      assert.ok(f, 'delivered to Dave.Mixed@example.test');
      assertDelivered(f.content, { from: 'sender@example.org', helo: 'nm.example.org', id, forRcpt: 'DAVE.mixed@example.test', message: msg });
      // Mixed case in the domain too, over a raw socket.
      const c = await WireClient.open(ts.port);
      const r = await c.send('sender@example.org', ['dave.MIXED@Example.TEST'], 'Subject: case\r\n\r\nx\r\n.\r\n');
      c.close();
      assert.equal(r.code, 250, r.raw);
      assert.ok(ts.newFiles('Dave.Mixed@example.test').some((x) => x.content.includes(`id ${queueIdOf(r.raw)}`)));

      const before = ts.allNewFiles().length;
      await assert.rejects(
        transport.sendMail({ envelope: { from: 'sender@example.org', to: ['victim@relay.example'] }, raw: message('relay', 'victim@relay.example') }),
        (err: { responseCode?: number; response?: string }) => {
          assert.equal(err.responseCode, 554);
          assert.match(err.response ?? '', /^554 5\.7\.1 <victim@relay\.example>: Relay access denied$/);
          return true;
        },
      );
      assert.equal(ts.allNewFiles().length, before);
    } finally {
      transport.close();
    }
  });

  test('size limit exceeded during DATA: 552 5.3.4, nothing in any Maildir, no spool leftovers', async () => {
    const before = ts.allNewFiles().length;
    const c = await WireClient.open(ts.port);
    const line = 'x'.repeat(998) + '\r\n';
    const big = 'Subject: big\r\n\r\n' + line.repeat(Math.ceil((MAX_SIZE * 3) / line.length)) + '.\r\n';
    const r = await c.send('sender@example.org', ['alice@example.test', 'bob@example.test'], big);
    assert.equal(r.code, 552, r.raw);
    assert.equal(r.enhanced, '5.3.4');
    assert.equal(ts.allNewFiles().length, before);
    const ok = await c.send('sender@example.org', ['alice@example.test'], 'Subject: small\r\n\r\nok\r\n.\r\n');
    assert.equal(ok.code, 250);
    const { readdirSync } = await import('node:fs');
    assert.deepEqual(readdirSync(join(ts.dataDir, 'spool', 'tmp')), []);
    c.close();
    // smtplib declares SIZE= (the server offers SIZE): refused at MAIL FROM. (nodemailer refuses on its own, client side.)
    const py = await python({ port: ts.port, sendmail: true, from: 'sender@example.org', to: ['alice@example.test'], message: big.slice(0, -3) });
    assert.equal(py.error?.type, 'SMTPSenderRefused', JSON.stringify(py));
    assert.equal(py.error!.code, 552);
    assert.match(py.error!.text!, /^5\.3\.4 Message size exceeds fixed limit of 65536 bytes$/);
    assert.equal(ts.allNewFiles().length, before + 1);
  });

  test('Maildir tmp/new/cur are mode 0700, message files 0600', async () => {
    const c = await WireClient.open(ts.port);
    assert.equal((await c.send('sender@example.org', ['carol@example.test'], 'Subject: m\r\n\r\nm\r\n.\r\n')).code, 250);
    c.close();
    const md = ts.maildir('carol@example.test');
    for (const d of [ts.dataDir, join(ts.dataDir, 'mail'), join(ts.dataDir, 'mail', 'example.test'), md, join(md, 'tmp'), join(md, 'new'), join(md, 'cur')]) {
      assert.equal(statSync(d).mode & 0o777, 0o700, `${d} is 0700`);
    }
    const files = ts.newFiles('carol@example.test');
    assert.ok(files.length > 0);
    for (const f of files) assert.equal(statSync(f.path).mode & 0o777, 0o600, `${f.path} is 0600`);
  });

  test('one transaction log line: queue id, client, from, to and result', async () => {
    const c = await WireClient.open(ts.port);
    const r = await c.send('logger@example.org', ['alice@example.test', 'team@example.test'], 'Subject: log\r\n\r\nlog\r\n.\r\n');
    c.close();
    const id = queueIdOf(r.raw);
    const line = await log.waitFor((l) => l.queueId === id);
    assert.equal(line.msg, 'message delivered');
    assert.equal(line.result, 'delivered');
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.from, 'logger@example.org');
    assert.deepEqual(line.to, ['alice@example.test', 'team@example.test']);
    assert.deepEqual((line.delivered as string[]).slice().sort(), ['alice@example.test', 'bob@example.test']);
    assert.equal(line.helo, 'client.example.org');
    assert.equal(typeof line.size, 'number');
    assert.equal(log.lines.filter((l) => l.queueId === id).length, 1, 'exactly one line per transaction');
    // Nothing secret or message content in any log line.
    assert.ok(!log.lines.some((l) => JSON.stringify(l).includes('secret')));
    // Rejections log one line too, with the reply.
    const rej = log.lines.find((l) => l.result === 'reject' && l.to === 'nobody@example.test')!;
    assert.equal(rej.client, '127.0.0.1');
    assert.match(String(rej.reply), /^550 5\.1\.1 /);
  });
});
