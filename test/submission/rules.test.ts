/**
 * Submission rules on the wire (RFC 6409, RFC 4954, RFC 8314): MAIL before AUTH 530 5.7.0; AUTH without TLS from a
 * non-loopback client 538 5.7.11; a wrong password 535 5.7.8 after a delay; envelope sender or From: not owned
 * 553 5.7.1; aliases and plus-addresses of the user allowed; the null sender refused; unknown local recipients
 * 550 5.1.1; Date/Message-ID added when missing and kept when present; Received "with ESMTPSA".
 *
 * AUTH before STARTTLS: isLoopback() covers all of 127/8, so a 127.0.0.x client cannot stand in for a remote one.
 * The test runs the real server with smtp.allowInsecureAuthOnLoopback: false (what a loopback client then sees
 * is what a remote client always sees), and, when this machine has a non-loopback IPv4 address, also listens on
 * that address with the default configuration and connects from it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { WireClient, dotStuff } from '../helpers/smtp-client.js';
import { startMw, type Mw, waitUntil, header, message, PASSWORD } from '../helpers/queue-server.js';

const U1 = 'u1@example.test';
const U2 = 'u2@example.test';
const plain = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');

async function session(port: number, o: { tls?: boolean; auth?: [string, string] | null; localAddress?: string; host?: string } = {}): Promise<WireClient> {
  const c = await WireClient.connect(port, o.host ?? '127.0.0.1', o.localAddress);
  assert.equal((await c.read()).code, 220);
  assert.equal((await c.cmd('EHLO client.example.org')).code, 250);
  if (o.tls !== false) {
    await c.startTls();
    assert.equal((await c.cmd('EHLO client.example.org')).code, 250);
  }
  if (o.auth !== null) {
    const [u, p] = o.auth ?? [U1, PASSWORD];
    const r = await c.cmd(`AUTH PLAIN ${plain(u, p)}`);
    assert.equal(r.code, 235, r.raw);
  }
  return c;
}

describe('submission rules', () => {
  let mw: Mw;
  before(async () => {
    mw = await startMw({
      users: [U1, U2],
      aliases: [
        ['sales@example.test', U1],
        ['team@example.test', U1],
        ['team@example.test', U2],
        ['u2alias@example.test', U2],
      ],
    });
  });
  after(async () => {
    WireClient.closeAll();
    await mw?.stop();
  });

  it('MAIL before AUTH: 530 5.7.0 (with and without TLS)', async () => {
    for (const tls of [true, false]) {
      const c = await session(mw.submissionPort, { tls, auth: null });
      const r = await c.cmd(`MAIL FROM:<${U1}>`);
      assert.equal(r.code, 530);
      assert.equal(r.enhanced, '5.7.0');
      c.close();
    }
  });

  it('implicit TLS port: MAIL before AUTH is 530 5.7.0 too', async () => {
    const tls = await import('node:tls');
    const sock = tls.connect({ port: mw.submissionsPort, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((res, rej) => (sock.once('secureConnect', () => res()), sock.once('error', rej)));
    sock.destroy();
  });

  it('wrong password: 535 5.7.8, answered after a delay', async () => {
    const c = await session(mw.submissionPort, { auth: null, localAddress: '127.0.0.31' });
    const t0 = Date.now();
    const r = await c.cmd(`AUTH PLAIN ${plain(U1, 'wrong')}`, 20_000);
    const took = Date.now() - t0;
    assert.equal(r.code, 535);
    assert.equal(r.enhanced, '5.7.8');
    assert.ok(took >= 800, `answered after ${took} ms`);
    // AUTH LOGIN the same
    const r2 = await c.cmd('AUTH LOGIN');
    assert.equal(r2.code, 334);
    assert.equal((await c.cmd(Buffer.from(U1).toString('base64'))).code, 334);
    const t1 = Date.now();
    const r3 = await c.cmd(Buffer.from('nope').toString('base64'), 20_000);
    assert.equal(r3.code, 535);
    assert.equal(r3.enhanced, '5.7.8');
    assert.ok(Date.now() - t1 >= 800);
    c.close();
  });

  it('envelope sender not owned: 553 5.7.1; other user, other domain, lookalike', async () => {
    const c = await session(mw.submissionPort);
    for (const from of [U2, 'someone@example.org', 'u1@example.test.evil', 'u2alias@example.test']) {
      const r = await c.cmd(`MAIL FROM:<${from}>`);
      assert.equal(r.code, 553, from);
      assert.equal(r.enhanced, '5.7.1', from);
    }
    c.close();
  });

  it('null sender refused: 553 5.7.1', async () => {
    const c = await session(mw.submissionPort);
    const r = await c.cmd('MAIL FROM:<>');
    assert.equal(r.code, 553);
    assert.equal(r.enhanced, '5.7.1');
    c.close();
  });

  it('unknown local recipient: 550 5.1.1', async () => {
    const c = await session(mw.submissionPort);
    assert.equal((await c.cmd(`MAIL FROM:<${U1}>`)).code, 250);
    const r = await c.cmd('RCPT TO:<nobody@example.test>');
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.1.1');
    c.close();
  });

  it('From: header not owned (envelope ok): 553 5.7.1 at the end of data, nothing delivered', async () => {
    const before = mw.newFiles(U2).length;
    const c = await session(mw.submissionPort);
    const r = await c.send(U1, [U2], dotStuff(message({ from: `Someone Else <${U2}>`, to: U2, subject: 'forged-from' })));
    assert.equal(r.code, 553);
    assert.equal(r.enhanced, '5.7.1');
    // a second From: address not owned, in a list
    const r2 = await c.send(U1, [U2], dotStuff(message({ from: `${U1}, boss@example.org`, to: U2, subject: 'forged-from-2' })));
    assert.equal(r2.code, 553);
    assert.equal(r2.enhanced, '5.7.1');
    c.close();
    await new Promise((r3) => setTimeout(r3, 200));
    assert.equal(mw.newFiles(U2).length, before);
  });

  it('alias of the user and plus-address allowed as envelope sender and From:', async () => {
    const c = await session(mw.submissionPort);
    for (const from of ['sales@example.test', 'u1+lists@example.test', 'U1@Example.Test']) {
      const r = await c.send(from, [U2], dotStuff(message({ from: `U1 <${from}>`, to: U2, subject: `allowed-${from}` })));
      assert.equal(r.code, 250, `${from}: ${r.raw}`);
    }
    c.close();
    const files = mw.newFiles(U2).filter((f) => f.text.includes('allowed-'));
    assert.equal(files.length, 3);
  });

  it('an alias expanding to several users including this one is allowed (it delivers to the user)', async () => {
    const c = await session(mw.submissionPort);
    const r = await c.cmd('MAIL FROM:<team@example.test>');
    assert.equal(r.code, 250, r.raw);
    c.close();
  });

  it('Date and Message-ID added when missing, kept when present; Received says ESMTPSA', async () => {
    const c = await session(mw.submissionPort);
    let r = await c.send(U1, [U2], dotStuff(message({ from: U1, to: U2, subject: 'no-date-no-id', date: null, messageId: null })));
    assert.equal(r.code, 250, r.raw);
    const id1 = /queued as ([0-9A-Z]+)/.exec(r.raw)![1]!;
    r = await c.send(U1, [U2], dotStuff(message({ from: U1, to: U2, subject: 'has-date-and-id', date: 'Wed, 02 Dec 2026 08:00:00 +0100', messageId: '<mine@client.test>' })));
    assert.equal(r.code, 250, r.raw);
    c.close();
    const added = await waitUntil(() => mw.newFiles(U2).find((f) => f.text.includes('no-date-no-id')));
    const date = header(added.text, 'Date')!;
    assert.ok(Math.abs(Date.now() - Date.parse(date)) < 120_000, date);
    assert.match(header(added.text, 'Message-ID')!, new RegExp(`^<${id1}\\.[0-9a-f]+@mail\\.example\\.test>$`));
    assert.match(added.text, new RegExp(`by mail\\.example\\.test \\(Mailwright\\) with ESMTPSA id ${id1}`));
    assert.match(added.text, /^Return-Path: <u1@example\.test>\r\n/);
    const kept = mw.newFiles(U2).find((f) => f.text.includes('has-date-and-id'))!;
    assert.equal(header(kept.text, 'Date'), 'Wed, 02 Dec 2026 08:00:00 +0100');
    assert.equal(header(kept.text, 'Message-ID'), '<mine@client.test>');
    assert.equal((kept.text.match(/^Date:/gim) ?? []).length, 1);
    assert.equal((kept.text.match(/^Message-ID:/gim) ?? []).length, 1);
  });

  it('after authentication, relaying to any remote domain is accepted (queued)', async () => {
    const c = await session(mw.submissionPort);
    assert.equal((await c.cmd(`MAIL FROM:<${U1}>`)).code, 250);
    const r = await c.cmd('RCPT TO:<friend@elsewhere.test>');
    assert.equal(r.code, 250, r.raw);
    c.close();
  });
});

describe('AUTH before STARTTLS from a non-loopback client', () => {
  it('allowInsecureAuthOnLoopback: false: EHLO offers no AUTH before TLS, AUTH gets 538 5.7.11, works after STARTTLS', async () => {
    const mw = await startMw({ users: [U1], smtp: { allowInsecureAuthOnLoopback: false } });
    try {
      const c = await WireClient.connect(mw.submissionPort);
      await c.read();
      const e = await c.cmd('EHLO client.example.org');
      assert.ok(!e.lines.some((l) => /^AUTH\b/.test(l)), e.raw);
      assert.ok(e.lines.includes('STARTTLS'));
      for (const cmd of [`AUTH PLAIN ${plain(U1, PASSWORD)}`, 'AUTH LOGIN']) {
        const r = await c.cmd(cmd);
        assert.equal(r.code, 538, r.raw);
        assert.equal(r.enhanced, '5.7.11');
      }
      await c.startTls();
      const e2 = await c.cmd('EHLO client.example.org');
      assert.ok(e2.lines.some((l) => /^AUTH\b.*PLAIN/.test(l)), e2.raw);
      assert.equal((await c.cmd(`AUTH PLAIN ${plain(U1, PASSWORD)}`)).code, 235);
      c.close();
    } finally {
      await mw.stop();
    }
  });

  const ext = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  it(`default config on a non-loopback address (${ext?.address ?? 'none on this machine'}): 538 5.7.11`, { skip: ext ? false : 'no non-loopback IPv4 address' }, async () => {
    const mw = await startMw({ users: [U1], listen: { submission: `${ext!.address}:0`, submissions: false } });
    try {
      const c = await session(mw.submissionPort, { host: ext!.address, localAddress: ext!.address, tls: false, auth: null });
      const r = await c.cmd(`AUTH PLAIN ${plain(U1, PASSWORD)}`);
      assert.equal(r.code, 538, r.raw);
      assert.equal(r.enhanced, '5.7.11');
      c.close();
    } finally {
      await mw.stop();
    }
  });
});
