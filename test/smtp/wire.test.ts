/**
 * The MX over a raw socket (RFC 5321 and its ESMTP extensions): banner, EHLO keywords, command sequencing,
 * syntax errors, SIZE, PIPELINING (RFC 2920), CHUNKING/BDAT (RFC 3030), STARTTLS (RFC 3207, including the
 * CVE-2011-0411 command injection), and the hostile-input limits: line length, error count, HTTP requests,
 * idle timeout, recipients per message, connections per IP, and a slow client that must not stall others.
 * Every reply is checked with its code and enhanced code; deliveries are checked byte for byte in the Maildir.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import net from 'node:net';
import { startTestServer, provision, assertDelivered, queueIdOf, HOSTNAME, type TestServer } from '../helpers/server.js';
import { WireClient, dotStuff, type Reply } from '../helpers/smtp-client.js';
import { SmtpListener } from '../../src/server/smtp/listener.js';
import { createLogger } from '../../src/log/logger.js';
import type { MessageSink } from '../../src/server/smtp/types.js';

const MAX_SIZE = 20000;

function assertReply(r: Reply, code: number, enhanced: string | null, text?: RegExp) {
  assert.equal(r.code, code, `expected ${code}, got: ${r.raw}`);
  assert.equal(r.enhanced, enhanced, `expected enhanced ${enhanced}, got: ${r.raw}`);
  if (text) assert.match(r.lines.join('\n'), text, r.raw);
}

const MSG = 'From: <sender@example.org>\r\nTo: <alice@example.test>\r\nSubject: wire test\r\n\r\nHello Alice.\r\n';

describe('SMTP wire (raw socket)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ smtp: { maxRecipients: 3, maxMessageSize: MAX_SIZE } });
    await provision(ts, { domains: ['example.test'], users: ['alice@example.test', 'bob@example.test', 'carol@example.test', 'dave@example.test'] });
  });
  after(async () => {
    WireClient.closeAll();
    await ts.stop();
  });

  test('banner, EHLO keywords, HELO', async () => {
    const c = await WireClient.connect(ts.port);
    const banner = await c.read();
    assertReply(banner, 220, null);
    assert.equal(banner.raw, `220 ${HOSTNAME} ESMTP Mailwright`);
    const e = await c.cmd('EHLO client.example.org');
    assert.equal(e.code, 250);
    assert.deepEqual(e.lines, [HOSTNAME, 'PIPELINING', `SIZE ${MAX_SIZE}`, 'STARTTLS', 'ENHANCEDSTATUSCODES', '8BITMIME', 'SMTPUTF8', 'CHUNKING']);
    const h = await c.cmd('HELO client.example.org');
    assert.equal(h.raw, `250 ${HOSTNAME}`);
    assertReply(await c.cmd('HELO'), 501, '5.5.4');
    assertReply(await c.cmd('EHLO'), 501, '5.5.4');
    assertReply(await c.cmd('QUIT'), 221, '2.0.0');
    await c.waitClosed();
  });

  test('bad command sequences: 503 5.5.1 and 554 5.5.1', async () => {
    const c = await WireClient.open(ts.port, null);
    assertReply(await c.cmd('MAIL FROM:<a@example.org>'), 503, '5.5.1'); // before EHLO
    assertReply(await c.cmd('EHLO client.example.org'), 250, null);
    assertReply(await c.cmd('RCPT TO:<alice@example.test>'), 503, '5.5.1'); // before MAIL
    assertReply(await c.cmd('DATA'), 503, '5.5.1'); // before MAIL
    assertReply(await c.cmd('MAIL FROM:<a@example.org>'), 250, '2.1.0');
    assertReply(await c.cmd('MAIL FROM:<a@example.org>'), 503, '5.5.1'); // nested MAIL
    assertReply(await c.cmd('DATA'), 554, '5.5.1', /no valid recipients/); // before any RCPT (RFC 5321 §3.3)
    assertReply(await c.cmd('RSET'), 250, '2.0.0');
    assertReply(await c.cmd('RCPT TO:<alice@example.test>'), 503, '5.5.1'); // RSET ended the transaction
    c.close();
  });

  test('unknown command 502, NOOP, RSET, VRFY 252, HELP, QUIT', async () => {
    const c = await WireClient.open(ts.port);
    assertReply(await c.cmd('FROB'), 502, '5.5.2');
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    assertReply(await c.cmd('noop'), 250, '2.0.0');
    assertReply(await c.cmd('RSET'), 250, '2.0.0');
    assertReply(await c.cmd('VRFY alice@example.test'), 252, '2.0.0');
    assertReply(await c.cmd('HELP'), 214, '2.0.0');
    assertReply(await c.cmd(''), 500, '5.5.2');
    assertReply(await c.cmd('QUIT'), 221, '2.0.0', new RegExp(`${HOSTNAME} Bye`));
    await c.waitClosed();
  });

  test('MAIL FROM syntax errors are 501 (or 555 for unknown parameters); null sender is fine', async () => {
    const c = await WireClient.open(ts.port);
    assertReply(await c.cmd('MAIL alice@example.org'), 501, '5.5.4');
    assertReply(await c.cmd('MAIL FROM:<alice@example.org'), 501, '5.1.7');
    assertReply(await c.cmd('MAIL FROM:<no-at-sign>'), 501, '5.1.7');
    assertReply(await c.cmd('MAIL FROM:<a b@example.org>'), 501, '5.1.7');
    assertReply(await c.cmd('MAIL FROM:<a@example.org> SIZE=abc'), 501, '5.5.4');
    assertReply(await c.cmd('MAIL FROM:<a@example.org> BODY=9BIT'), 501, '5.5.4');
    assertReply(await c.cmd('MAIL FROM:<a@example.org> SMTPUTF8=yes'), 501, '5.5.4');
    assertReply(await c.cmd('MAIL FROM:<a@example.org> FOO=bar'), 555, '5.5.4');
    assertReply(await c.cmd('MAIL FROM:<jörg@example.org>'), 553, '5.6.7'); // non-ASCII without SMTPUTF8
    assertReply(await c.cmd('MAIL FROM:<>'), 250, '2.1.0');
    assertReply(await c.cmd('RCPT TO:<>'), 501, '5.1.3');
    assertReply(await c.cmd('RCPT TO:<alice@example.test> FOO=1'), 555, '5.5.4');
    assertReply(await c.cmd('RSET'), 250, '2.0.0');
    assertReply(await c.cmd('MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8 SIZE=100'), 250, '2.1.0');
    c.close();
  });

  test('SIZE= above the limit: 552 5.3.4 at MAIL', async () => {
    const c = await WireClient.open(ts.port);
    assertReply(await c.cmd(`MAIL FROM:<a@example.org> SIZE=${MAX_SIZE + 1}`), 552, '5.3.4');
    assertReply(await c.cmd(`MAIL FROM:<a@example.org> SIZE=${MAX_SIZE}`), 250, '2.1.0');
    c.close();
  });

  test('pipelined MAIL/RCPT/RCPT/DATA in one write, then the message: delivered to both byte-exact', async () => {
    const c = await WireClient.open(ts.port);
    c.write('MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n');
    assertReply(await c.read(), 250, '2.1.0');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 354, null);
    const before = ts.newFiles('alice@example.test').length;
    c.write(dotStuff(MSG));
    const r = await c.read();
    assertReply(r, 250, '2.0.0', /^Ok: queued as [0-9A-Z]+$/);
    const id = queueIdOf(r.raw);
    for (const who of ['alice@example.test', 'bob@example.test']) {
      const files = ts.newFiles(who);
      const f = files.find((x) => x.content.includes(`id ${id}`))!;
      assert.ok(f, `${who} got the message`);
      assertDelivered(f.content, { from: 'sender@example.org', helo: 'client.example.org', id, forRcpt: null, message: MSG });
    }
    assert.equal(ts.newFiles('alice@example.test').length, before + 1);
    // Everything pipelined at once, including the message and QUIT.
    c.write(`MAIL FROM:<sender@example.org>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n${dotStuff(MSG).toString('latin1')}QUIT\r\n`);
    assertReply(await c.read(), 250, '2.1.0');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 354, null);
    const r2 = await c.read();
    assertReply(r2, 250, '2.0.0');
    assertReply(await c.read(), 221, '2.0.0');
    await c.waitClosed();
    const [f] = ts.newFiles('carol@example.test');
    assertDelivered(f!.content, { from: 'sender@example.org', helo: 'client.example.org', id: queueIdOf(r2.raw), forRcpt: 'carol@example.test', message: MSG });
  });

  test('BDAT (CHUNKING): several chunks, and BDAT 0 LAST', async () => {
    const c = await WireClient.open(ts.port);
    const part1 = 'From: <sender@example.org>\r\nSubject: chunked\r\n\r\n';
    const part2 = 'line one\r\n.a line with a leading dot, not stuffed in BDAT\r\n';
    const part3 = 'last line\r\n';
    assertReply(await c.cmd('MAIL FROM:<sender@example.org>'), 250, '2.1.0');
    assertReply(await c.cmd('RCPT TO:<dave@example.test>'), 250, '2.1.5');
    c.write(`BDAT ${part1.length}\r\n${part1}`);
    assertReply(await c.read(), 250, '2.0.0', new RegExp(`^${part1.length} octets received$`));
    c.write(`BDAT ${part2.length}\r\n${part2}`);
    assertReply(await c.read(), 250, '2.0.0', new RegExp(`^${part1.length + part2.length} octets received$`));
    c.write(`BDAT ${part3.length} LAST\r\n${part3}`);
    const r = await c.read();
    assertReply(r, 250, '2.0.0', /queued as/);
    let files = ts.newFiles('dave@example.test');
    assert.equal(files.length, 1);
    assertDelivered(files[0]!.content, { from: 'sender@example.org', helo: 'client.example.org', id: queueIdOf(r.raw), forRcpt: 'dave@example.test', message: part1 + part2 + part3 });

    // One chunk, then an empty LAST chunk; all pipelined in one write.
    c.write(`MAIL FROM:<>\r\nRCPT TO:<dave@example.test>\r\nBDAT ${MSG.length}\r\n${MSG}BDAT 0 LAST\r\n`);
    assertReply(await c.read(), 250, '2.1.0');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 250, '2.0.0', /octets received/);
    const r2 = await c.read();
    assertReply(r2, 250, '2.0.0', /queued as/);
    files = ts.newFiles('dave@example.test');
    const f = files.find((x) => x.content.includes(`id ${queueIdOf(r2.raw)}`))!;
    assertDelivered(f.content, { from: '', helo: 'client.example.org', id: queueIdOf(r2.raw), forRcpt: 'dave@example.test', message: MSG });
    // DATA after BDAT in the same transaction is a sequence error; BDAT without a transaction skips the chunk.
    c.write('BDAT 5\r\nhello');
    assertReply(await c.read(), 503, '5.5.1');
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    c.write('BDAT 5 LAST\r\nhello');
    assertReply(await c.read(), 503, '5.5.1');
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    // A BDAT without a size cannot be skipped: 501 and the connection is closed.
    c.write('BDAT x\r\n');
    assertReply(await c.read(), 501, '5.5.4');
    await c.waitClosed();
  });

  test('STARTTLS, then EHLO over TLS; delivery over TLS', async () => {
    const c = await WireClient.open(ts.port);
    const t = await c.startTls();
    assert.ok(t.encrypted);
    // RFC 3207 §4.2: the session starts over; MAIL before EHLO is a sequence error.
    assertReply(await c.cmd('MAIL FROM:<a@example.org>'), 503, '5.5.1');
    const e = await c.cmd('EHLO client.example.org');
    assert.equal(e.code, 250);
    assert.ok(!e.lines.includes('STARTTLS'), 'no STARTTLS offered inside TLS');
    assert.ok(e.lines.includes('PIPELINING') && e.lines.includes('CHUNKING'));
    assertReply(await c.cmd('STARTTLS'), 502, '5.5.1');
    const r = await c.send('sender@example.org', ['alice@example.test'], dotStuff(MSG));
    assertReply(r, 250, '2.0.0');
    const id = queueIdOf(r.raw);
    const f = ts.newFiles('alice@example.test').find((x) => x.content.includes(`id ${id}`))!;
    const cipher = t.getCipher();
    assertDelivered(f.content, {
        from: 'sender@example.org',
        helo: 'client.example.org',
        id,
        forRcpt: 'alice@example.test',
        tls: { version: t.getProtocol()!, cipher: cipher.name },
        message: MSG,
      });
    c.close();
  });

  test('STARTTLS command injection: commands pipelined after STARTTLS in the clear are discarded', async () => {
    const c = await WireClient.open(ts.port);
    c.write('STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@example.test>\r\nNOOP\r\n');
    assertReply(await c.read(), 220, '2.0.0');
    await c.upgrade();
    // Had the injected commands been run, their replies (or state) would show up now.
    const e = await c.cmd('EHLO client.example.org');
    assert.equal(e.code, 250, e.raw);
    assert.equal(e.lines[0], HOSTNAME);
    assertReply(await c.cmd('RCPT TO:<alice@example.test>'), 503, '5.5.1'); // no MAIL is in effect
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    assert.equal(c.pending, '');
    c.close();
  });

  test('line too long: 500 5.5.2 and the connection stays usable', async () => {
    const c = await WireClient.open(ts.port);
    c.write(`MAIL FROM:<${'a'.repeat(10000)}@example.org>\r\n`);
    assertReply(await c.read(), 500, '5.5.2', /line too long/);
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    const r = await c.send('sender@example.org', ['bob@example.test'], dotStuff(MSG));
    assertReply(r, 250, '2.0.0');
    c.close();
  });

  test('too many errors: 421 4.7.0 and the connection is closed', async () => {
    const c = await WireClient.open(ts.port);
    // maxErrors is 20: 19 errors are answered, the 20th is answered and followed by 421.
    c.write('BOGUS\r\n'.repeat(20));
    for (let i = 0; i < 20; i++) assertReply(await c.read(), 502, '5.5.2');
    assertReply(await c.read(), 421, '4.7.0', /too many errors/);
    await c.waitClosed();
  });

  test('an HTTP request gets 421 4.7.0 and the connection is closed', async () => {
    const c = await WireClient.connect(ts.port);
    assertReply(await c.read(), 220, null);
    c.write('GET / HTTP/1.1\r\nHost: mail.example.test\r\n\r\n');
    assertReply(await c.read(), 421, '4.7.0', /not an SMTP client/);
    await c.waitClosed();
    assert.equal(c.pending, '');
  });

  test('max recipients: 452 4.5.3 for the one over the limit; the others get the message', async () => {
    const c = await WireClient.open(ts.port);
    assertReply(await c.cmd('MAIL FROM:<sender@example.org>'), 250, '2.1.0');
    for (const u of ['alice', 'bob', 'carol']) assertReply(await c.cmd(`RCPT TO:<${u}@example.test>`), 250, '2.1.5');
    assertReply(await c.cmd('RCPT TO:<dave@example.test>'), 452, '4.5.3');
    const before = ts.newFiles('dave@example.test').length;
    assertReply(await c.cmd('DATA'), 354, null);
    c.write(dotStuff(MSG));
    const r = await c.read();
    assertReply(r, 250, '2.0.0');
    const id = queueIdOf(r.raw);
    for (const u of ['alice', 'bob', 'carol']) assert.ok(ts.newFiles(`${u}@example.test`).some((f) => f.content.includes(`id ${id}`)));
    assert.equal(ts.newFiles('dave@example.test').length, before);
    c.close();
  });

  test('a slow client (connected, sending nothing or half a message) does not stall another client', async () => {
    const idle = await WireClient.connect(ts.port); // never reads nor writes
    const half = await WireClient.open(ts.port);
    assertReply(await half.cmd('MAIL FROM:<slow@example.org>'), 250, '2.1.0');
    assertReply(await half.cmd('RCPT TO:<alice@example.test>'), 250, '2.1.5');
    assertReply(await half.cmd('DATA'), 354, null);
    half.write('Subject: half\r\n\r\nthis message never ends');
    const partial = await WireClient.connect(ts.port);
    partial.write('MAIL FROM:<slow@exa'); // half a command line
    const c = await WireClient.open(ts.port);
    const r = await c.send('sender@example.org', ['bob@example.test'], dotStuff(MSG));
    assertReply(r, 250, '2.0.0');
    assert.ok(ts.newFiles('bob@example.test').some((f) => f.content.includes(`id ${queueIdOf(r.raw)}`)));
    for (const x of [idle, half, partial, c]) x.close();
  });
});

describe('connection limits', () => {
  test('per-IP limit: connection N+1 gets 421 4.7.0; after one leaves a new one is accepted', async () => {
    const ts = await startTestServer({ smtp: { maxConnectionsPerIp: 2 } });
    try {
      const a = await WireClient.open(ts.port, null);
      const b = await WireClient.open(ts.port, null);
      const c = await WireClient.connect(ts.port);
      const r = await c.read();
      assertReply(r, 421, '4.7.0', /too many connections from your address/);
      await c.waitClosed();
      // Another loopback address is another client.
      const other = await WireClient.connect(ts.port, '127.0.0.1', '127.0.0.9');
      assertReply(await other.read(), 220, null);
      other.close();
      assertReply(await a.cmd('QUIT'), 221, '2.0.0');
      await a.waitClosed();
      // The slot is released when the server has finished the session: retry briefly.
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        const d = await WireClient.connect(ts.port);
        const rr = await d.read();
        ok = rr.code === 220;
        d.close();
        if (!ok) await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(ok, 'a new connection is accepted after one closed');
      b.close();
    } finally {
      await ts.stop();
    }
  });

  test('idle timeout: 421 4.4.2 and the connection is closed', async () => {
    // The config allows at least 5 s; the listener itself takes milliseconds, so build one directly.
    const sink: MessageSink = { write: async () => {}, end: async () => ({ code: 250, enhanced: '2.0.0', text: 'Ok' }), abort: async () => {} };
    const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
    const l = new SmtpListener({
      hostname: HOSTNAME,
      secureContext: null,
      implicitTls: false,
      maxMessageSize: 10000,
      maxRecipients: 10,
      idleTimeoutMs: 300,
      maxLineLength: 4096,
      maxErrors: 20,
      allowInsecureAuth: false,
      authRequired: false,
      rejectBareNewlines: true,
      maxConnections: 10,
      maxConnectionsPerIp: 10,
      resolver: null,
      hooks: { onRcptTo: async () => {}, onData: async () => sink },
      log,
    });
    const addr = await l.listen('127.0.0.1', 0);
    try {
      const c = await WireClient.connect(addr.port);
      assertReply(await c.read(), 220, null);
      const started = Date.now();
      assertReply(await c.read(3000), 421, '4.4.2', /timeout/);
      await c.waitClosed();
      assert.ok(Date.now() - started >= 250);
      // Activity resets the timer; the timeout also applies in the middle of DATA.
      const d = await WireClient.open(addr.port);
      assertReply(await d.cmd('MAIL FROM:<a@example.org>'), 250, '2.1.0');
      assertReply(await d.cmd('RCPT TO:<b@example.test>'), 250, '2.1.5');
      assertReply(await d.cmd('DATA'), 354, null);
      d.write('Subject: x\r\n\r\nstalled');
      assertReply(await d.read(3000), 421, '4.4.2');
      await d.waitClosed();
    } finally {
      await l.close();
    }
  });

  test('PIPELINING (RFC 2920): the replies to one group are written together; a lone command is answered at once', async () => {
    const sink: MessageSink = { write: async () => {}, end: async () => ({ code: 250, enhanced: '2.0.0', text: 'Ok' }), abort: async () => {} };
    const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
    const l = new SmtpListener({
      hostname: HOSTNAME, secureContext: null, implicitTls: false, maxMessageSize: 10000, maxRecipients: 10, idleTimeoutMs: 5000,
      maxLineLength: 4096, maxErrors: 20, allowInsecureAuth: false, authRequired: false, rejectBareNewlines: true, maxConnections: 10,
      maxConnectionsPerIp: 10, resolver: null,
      // A slow RCPT check: without batching, the 250 to MAIL would leave 50 ms before the RCPT and DATA replies.
      hooks: { onRcptTo: async () => void (await new Promise((r) => setTimeout(r, 50))), onData: async () => sink },
      log,
    });
    const addr = await l.listen('127.0.0.1', 0);
    const sock = net.connect(addr.port, '127.0.0.1');
    const chunks: string[] = [];
    let waiter: (() => void) | null = null;
    sock.on('data', (d) => {
      chunks.push(d.toString('latin1'));
      waiter?.();
    });
    const nextChunk = async (ms = 3000) => {
      const t0 = Date.now();
      while (!chunks.length) {
        if (Date.now() - t0 > ms) throw new Error('no reply');
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 20);
        });
      }
      return chunks.shift()!;
    };
    try {
      assert.match(await nextChunk(), /^220 /);
      sock.write('EHLO client.example\r\n');
      assert.match(await nextChunk(), /250 /);
      sock.write('MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n');
      const first = await nextChunk();
      assert.match(first, /^250 2\.1\.0 .*\r\n250 2\.1\.5 .*\r\n354 /, `first read: ${JSON.stringify(first)}`);
      sock.write('Subject: x\r\n\r\nhi\r\n.\r\n');
      assert.match(await nextChunk(), /^250 2\.0\.0/);
      // A client that does not pipeline gets each reply without waiting for anything else.
      const t0 = Date.now();
      sock.write('RSET\r\n');
      assert.match(await nextChunk(), /^250 /);
      assert.ok(Date.now() - t0 < 1000);
    } finally {
      sock.destroy();
      await l.close();
    }
  });
});
