/**
 * SMTP smuggling (CVE-2023-51764 class): non-standard end-of-data sequences and bare CR/LF in DATA must never end
 * a message early or split one transaction into two. The MX answers one 550 5.5.2 for the whole message (as
 * Postfix does with smtpd_forbid_bare_newline = reject), delivers nothing, and the connection stays usable.
 * Also: dot-stuffing (RFC 5321 §4.5.2) is undone byte-exact.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, provision, assertDelivered, queueIdOf, type TestServer } from '../helpers/server.js';
import { WireClient, dotStuff, type Reply } from '../helpers/smtp-client.js';

function assertReply(r: Reply, code: number, enhanced: string | null) {
  assert.equal(r.code, code, r.raw);
  assert.equal(r.enhanced, enhanced, r.raw);
}

const HEAD = 'From: <attacker@example.org>\r\nTo: <alice@example.test>\r\nSubject: first\r\n\r\nfirst message body';
// The second transaction a lax server would see after the fake end of data.
const SMUGGLED =
  'MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n' +
  'From: <admin@example.test>\r\nTo: <bob@example.test>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n';

const SEQUENCES: [string, string][] = [
  ['<LF>.<LF>', '\n.\n'],
  ['<LF>.<CR><LF>', '\n.\r\n'],
  ['<CR>.<CR>', '\r.\r'],
  ['<CR><LF>.<CR>', '\r\n.\r'],
  ['<CR>.<CR><LF>', '\r.\r\n'],
  ['<CR><LF>.<LF>', '\r\n.\n'],
  ['<LF>.<CR>', '\n.\r'],
];

describe('SMTP smuggling', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await provision(ts, { domains: ['example.test'], users: ['alice@example.test', 'bob@example.test'] });
  });
  after(async () => {
    WireClient.closeAll();
    await ts.stop();
  });

  for (const [name, seq] of SEQUENCES) {
    test(`${name} followed by a second MAIL/RCPT/DATA: one 550 5.5.2, nothing delivered, then a clean message is`, async () => {
      const before = ts.allNewFiles().length;
      const c = await WireClient.open(ts.port);
      assertReply(await c.cmd('MAIL FROM:<attacker@example.org>'), 250, '2.1.0');
      assertReply(await c.cmd('RCPT TO:<alice@example.test>'), 250, '2.1.5');
      assertReply(await c.cmd('DATA'), 354, null);
      c.write(HEAD + seq + SMUGGLED + '.\r\n');
      const r = await c.read();
      assertReply(r, 550, '5.5.2');
      assert.match(r.lines[0]!, /bare <(LF|CR)>/);
      // Exactly one reply for the message: a NOOP's reply comes next, not a reply to a smuggled command.
      assertReply(await c.cmd('NOOP'), 250, '2.0.0');
      assert.equal(c.pending, '');
      assert.equal(ts.allNewFiles().length, before, 'nothing delivered');
      // The connection stays usable.
      const clean = 'From: <a@example.org>\r\nSubject: clean\r\n\r\nclean body\r\n';
      const ok = await c.send('a@example.org', ['alice@example.test'], dotStuff(clean));
      assertReply(ok, 250, '2.0.0');
      const files = ts.allNewFiles();
      assert.equal(files.length, before + 1, 'only the clean message was delivered');
      const f = ts.newFiles('alice@example.test').find((x) => x.content.includes(`id ${queueIdOf(ok.raw)}`))!;
      assertDelivered(f.content, { from: 'a@example.org', helo: 'client.example.org', id: queueIdOf(ok.raw), forRcpt: 'alice@example.test', message: clean });
      assert.ok(!ts.newFiles('bob@example.test').length, 'the smuggled message never reached bob');
      c.close();
    });
  }

  for (const [name, body] of [
    ['bare LF in the body', 'Subject: x\r\n\r\nline one\nline two\r\n'],
    ['bare CR in the body', 'Subject: x\r\n\r\nline one\rline two\r\n'],
    ['bare CR at the end of a line before CRLF.CRLF', 'Subject: x\r\n\r\nline one\r\r\n'],
    ['bare LF in the headers', 'Subject: x\nX-Injected: yes\r\n\r\nbody\r\n'],
  ] as const) {
    test(`${name}: 550 5.5.2, nothing delivered, connection usable`, async () => {
      const before = ts.allNewFiles().length;
      const c = await WireClient.open(ts.port);
      const r = await c.send('a@example.org', ['alice@example.test'], body + '.\r\n');
      assertReply(r, 550, '5.5.2');
      assert.equal(ts.allNewFiles().length, before);
      assertReply(await c.send('a@example.org', ['alice@example.test'], dotStuff('Subject: y\r\n\r\nok\r\n')), 250, '2.0.0');
      assert.equal(ts.allNewFiles().length, before + 1);
      c.close();
    });
  }

  test('the whole attack pipelined in one write (message, smuggled transaction, QUIT)', async () => {
    const before = ts.allNewFiles().length;
    const c = await WireClient.open(ts.port);
    c.write('MAIL FROM:<attacker@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n' + HEAD + '\n.\n' + SMUGGLED + '.\r\nQUIT\r\n');
    assertReply(await c.read(), 250, '2.1.0');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 354, null);
    assertReply(await c.read(), 550, '5.5.2');
    assertReply(await c.read(), 221, '2.0.0');
    await c.waitClosed();
    assert.equal(c.pending, '');
    assert.equal(ts.allNewFiles().length, before);
  });

  test('BDAT with a bare LF is refused too (the message could be relayed onward over DATA)', async () => {
    const before = ts.allNewFiles().length;
    const c = await WireClient.open(ts.port);
    const body = HEAD + '\n.\n' + SMUGGLED;
    c.write(`MAIL FROM:<attacker@example.org>\r\nRCPT TO:<alice@example.test>\r\nBDAT ${Buffer.byteLength(body)} LAST\r\n${body}`);
    assertReply(await c.read(), 250, '2.1.0');
    assertReply(await c.read(), 250, '2.1.5');
    assertReply(await c.read(), 550, '5.5.2');
    assertReply(await c.cmd('NOOP'), 250, '2.0.0');
    assert.equal(ts.allNewFiles().length, before);
    c.close();
  });

  test('dot-stuffing: lines starting with "." and ".." arrive unstuffed, byte-exact', async () => {
    const message =
      'From: <a@example.org>\r\nSubject: dots\r\n\r\n' +
      '.\r\n' + // a line that is just a dot
      '..\r\n' +
      '.leading dot\r\n' +
      '..two leading dots\r\n' +
      'middle . dot\r\n' +
      '. \r\n' +
      '...\r\n' +
      'last\r\n';
    const wire = dotStuff(message);
    assert.ok(wire.toString('latin1').includes('\r\n..\r\n...\r\n..leading dot\r\n...two'), 'stuffed on the wire');
    const c = await WireClient.open(ts.port);
    const r = await c.send('a@example.org', ['bob@example.test'], wire);
    assertReply(r, 250, '2.0.0');
    const f = ts.newFiles('bob@example.test').find((x) => x.content.includes(`id ${queueIdOf(r.raw)}`))!;
    assertDelivered(f.content, { from: 'a@example.org', helo: 'client.example.org', id: queueIdOf(r.raw), forRcpt: 'bob@example.test', message });
    // The same split across many tiny writes (the decoder is incremental).
    const c2 = await WireClient.open(ts.port);
    assertReply(await c2.cmd('MAIL FROM:<a@example.org>'), 250, '2.1.0');
    assertReply(await c2.cmd('RCPT TO:<bob@example.test>'), 250, '2.1.5');
    assertReply(await c2.cmd('DATA'), 354, null);
    for (let i = 0; i < wire.length; i += 3) {
      c2.write(wire.subarray(i, i + 3));
      await new Promise((res) => setImmediate(res));
    }
    const r2 = await c2.read();
    assertReply(r2, 250, '2.0.0');
    const f2 = ts.newFiles('bob@example.test').find((x) => x.content.includes(`id ${queueIdOf(r2.raw)}`))!;
    assertDelivered(f2.content, { from: 'a@example.org', helo: 'client.example.org', id: queueIdOf(r2.raw), forRcpt: 'bob@example.test', message });
    // An empty message: "." right after DATA.
    const r3 = await c2.send('a@example.org', ['bob@example.test'], '.\r\n');
    assertReply(r3, 250, '2.0.0');
    const f3 = ts.newFiles('bob@example.test').find((x) => x.content.includes(`id ${queueIdOf(r3.raw)}`))!;
    assertDelivered(f3.content, { from: 'a@example.org', helo: 'client.example.org', id: queueIdOf(r3.raw), forRcpt: 'bob@example.test', message: '' });
    c.close();
    c2.close();
  });
});
