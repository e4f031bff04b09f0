/**
 * Outbound queue against real peers on loopback: Postfix's smtp-sink (via MX from the test DNS server and
 * delivery.port), a private Postfix as remote MX (transportMap next hop), MX failover (first MX's port closed),
 * null MX (bounce at once, 5.1.10), SERVFAIL (deferred, not bounced; `queue list` shows the error), a peer that
 * answers 4xx then 250 (delivered on retry), one that answers 5xx (bounce at once), the DSN's content, no bounce
 * for a null sender (a bounce that bounces), and alias expansion to an external address through the queue.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startSmtpSink, startPeer, startPostfix, type SmtpSink, type Peer, type PostfixPeer } from '../helpers/peers.js';
import { startMw, type Mw, waitUntil, submit, dsnParts, header, sleep, cliJson, writeMwConfig, killChildren, LogCapture } from '../helpers/queue-server.js';
import { tempDir } from '../helpers/server.js';
import type { QueueListItem } from '../../src/queue/manager.js';

const U1 = 'u1@example.test';
const BODY_TODO = {};

describe('outbound queue delivery to loopback peers', () => {
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let postfix: PostfixPeer | null = null;
  let postfixError = '';
  let flaky: Peer;
  let rejecting: Peer;
  let mw: Mw;
  let configFile: string;
  const log = new LogCapture();
  let flakyCount = 0;

  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2' });
    try {
      postfix = await startPostfix({ host: '127.0.0.5', domain: 'pf.example.test', users: ['u1'] });
    } catch (e) {
      postfixError = (e as Error).message;
    }
    flaky = await startPeer({
      host: '127.0.0.3',
      onRcpt: (rcpt) => (rcpt.startsWith('flaky') && ++flakyCount === 1 ? '451 4.3.0 try again later' : undefined),
    });
    rejecting = await startPeer({ host: '127.0.0.6', onRcpt: () => '550 5.1.1 <x>: Recipient address rejected: no such user' });
    dns = await startDnsServer({
      'remote.test': { MX: [{ exchange: 'mx.remote.test', priority: 10 }] },
      'mx.remote.test': { A: ['127.0.0.2'] },
      'failover.test': { MX: [{ exchange: 'mx1.failover.test', priority: 10 }, { exchange: 'mx2.failover.test', priority: 20 }] },
      'mx1.failover.test': { A: ['127.0.0.4'] },
      'mx2.failover.test': { A: ['127.0.0.2'] },
      'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] },
      'servfail.test': { MX: [{ exchange: 'mx.remote.test', priority: 10 }] },
    });
    dns.fault('servfail.test', 'SERVFAIL');
    const transportMap: Record<string, unknown> = {
      'flaky.test': { host: '127.0.0.3', port: flaky.port },
      'reject.test': { host: '127.0.0.6', port: rejecting.port },
    };
    if (postfix) transportMap['pf.example.test'] = { host: postfix.host, port: postfix.port };
    mw = await startMw({
      users: [U1],
      aliases: [
        ['fwd@example.test', 'someone@remote.test'],
        ['fwdreject@example.test', 'gone@reject.test'],
        ['trace@example.test', 'traced@remote.test'],
      ],
      log,
      dns: { servers: dns.servers, timeoutMs: 500 },
      queue: { retryBaseSeconds: 0.5, retryMaxSeconds: 1 },
      delivery: { port: sink.port, transportMap },
    });
    configFile = writeMwConfig(tempDir('mw-qcfg-'), mw.dataDir, { dns: { servers: dns.servers } });
  });
  after(async () => {
    killChildren();
    await mw?.stop();
    await Promise.all([sink?.close(), postfix?.stop(), flaky?.close(), rejecting?.close(), dns?.close()]);
  });

  const atSink = (rcpt: string, ms = 10_000) =>
    waitUntil(() => sink.messages().filter((m) => m.rcptArgs.some((a) => a.includes(`<${rcpt}>`))).length > 0 && sink.messages().find((m) => m.rcptArgs.some((a) => a.includes(`<${rcpt}>`))), ms, `${rcpt} at smtp-sink`);
  const gone = (id: string, ms = 10_000) => waitUntil(async () => !(await mw.queue()).some((q) => q.id === id), ms, `${id} to leave the queue`);
  const dsns = () => mw.newFiles(U1).filter((f) => /report-type=delivery-status/.test(f.text));
  const dsnFor = (rcpt: string, action = 'failed') =>
    waitUntil(() => dsns().find((f) => f.text.includes(`Final-Recipient: rfc822; ${rcpt}`) && f.text.includes(`Action: ${action}`)), 10_000, `DSN for ${rcpt}`);

  it('delivers to smtp-sink found by MX through the test DNS server', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['a@remote.test', 'b@remote.test'], subject: 'to-sink' });
    const m = await atSink('a@remote.test');
    assert.equal(m.mailArgs.replace(/ .*/, ''), '<u1@example.test>');
    assert.deepEqual(m.rcptArgs.map((a) => /<([^>]*)>/.exec(a)![1]).sort(), ['a@remote.test', 'b@remote.test'], 'one transaction for both recipients');
    await gone(id);
    const line = await log.waitFor((l) => l.queueId === id && l.result === 'sent');
    assert.equal(line.relay, 'mx.remote.test');
  });

  it('the message content arrives at smtp-sink', BODY_TODO, async () => {
    const m = await atSink('a@remote.test');
    assert.match(m.data, /Subject: to-sink/);
  });

  it('delivers to a private Postfix as remote MX (virtual mailbox)', async (t) => {
    if (!postfix) return t.skip(`postfix did not start: ${postfixError}`);
    const id = await submit(mw.submissionPort, { from: U1, to: ['u1@pf.example.test'], subject: 'to-postfix' });
    const files = await postfix.waitFor('u1', 1, 15_000);
    const text = files[0]!.content.toString('latin1');
    assert.match(text, /^Return-Path: <u1@example\.test>$/m);
    assert.match(text, /^Delivered-To: u1@pf\.example\.test$/m);
    assert.match(text, /from mail\.example\.test \(/);
    await gone(id);
  });

  it('Postfix receives the message content', BODY_TODO, async (t) => {
    if (!postfix) return t.skip('no postfix');
    const files = await postfix.waitFor('u1', 1, 1000);
    assert.match(files[0]!.content.toString('latin1'), /Subject: to-postfix/);
  });

  it('several MX: the first one (port closed) fails, the next one gets the message', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['x@failover.test'], subject: 'failover' });
    await atSink('x@failover.test');
    await gone(id);
    const attempts = log.lines.filter((l) => l.queueId === id && l.msg === 'remote delivery attempt');
    assert.ok(attempts.some((l) => l.ip === '127.0.0.4'), 'tried the first MX');
    assert.ok(attempts.some((l) => l.ip === '127.0.0.2'), 'then the second');
    assert.equal(dns.queries.filter((q) => q.name === 'failover.test' && q.type === 'MX').length >= 1, true);
  });

  it('null MX: bounced at once with Status 5.1.10, nothing queued', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['x@nullmx.test'], subject: 'to-null-mx' });
    const f = await dsnFor('x@nullmx.test');
    assert.match(dsnParts(f.text).status, /^Status: 5\.1\.10$/m);
    await gone(id, 2000);
  });

  it('DNS SERVFAIL defers (no bounce); `queue list` shows it deferred with the error', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['x@servfail.test'], subject: 'to-servfail' });
    const item = await waitUntil(async () => (await mw.queue()).find((q) => q.id === id && q.state === 'deferred'), 10_000, 'deferred');
    assert.match(item.lastError ?? '', /SERVFAIL|ESERVFAIL|4\.4\.3|temporar/i);
    const listed = await cliJson<QueueListItem[]>(configFile, ['queue', 'list', '--json']);
    const mine = listed.find((q) => q.id === id)!;
    assert.ok(mine, 'the CLI lists it through the control socket');
    assert.ok(['deferred', 'active'].includes(mine.state));
    assert.equal(mine.recipients[0]!.status, 'pending');
    assert.ok(mine.lastError);
    await sleep(1200); // a few more attempts: still deferred, never bounced
    assert.ok((await mw.queue()).some((q) => q.id === id));
    assert.ok(!dsns().some((f) => f.text.includes('x@servfail.test')));
    // fixed DNS: the next retry delivers it
    dns.clearFaults();
    await atSink('x@servfail.test');
    await gone(id);
  });

  it('a peer that answers 4xx then 250: deferred, then delivered on retry', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['flaky@flaky.test'], subject: 'flaky' });
    await waitUntil(() => flaky.messages.some((m) => m.rcptTo.includes('flaky@flaky.test')), 10_000, 'delivery on retry');
    await gone(id);
    const results = log.lines.filter((l) => l.queueId === id && (l.result === 'deferred' || l.result === 'sent')).map((l) => l.result);
    assert.deepEqual(results, ['deferred', 'sent']);
    assert.ok(!dsns().some((f) => f.text.includes('flaky@flaky.test')), 'no DSN for a delivered message');
  });

  it('a peer that answers 5xx: bounced at once; the DSN is RFC 3464', async () => {
    const id = await submit(mw.submissionPort, { from: U1, to: ['nobody@reject.test'], subject: 'will-bounce' });
    const f = await dsnFor('nobody@reject.test');
    await gone(id, 2000);
    const text = f.text;
    assert.match(text, /^Return-Path: <>\r\n/);
    assert.match(header(text, 'Content-Type') ?? '', /^multipart\/report; report-type=delivery-status; boundary="[^"]+"$/);
    assert.equal(header(text, 'To'), '<u1@example.test>');
    assert.match(header(text, 'From') ?? '', /MAILER-DAEMON@mail\.example\.test/);
    assert.equal(header(text, 'Auto-Submitted'), 'auto-replied');
    const p = dsnParts(text);
    assert.match(p.status, /^Reporting-MTA: dns; mail\.example\.test$/m);
    assert.match(p.status, /^Final-Recipient: rfc822; nobody@reject\.test$/m);
    assert.match(p.status, /^Action: failed$/m);
    assert.match(p.status, /^Status: 5\.1\.1$/m);
    assert.match(p.status, /^Diagnostic-Code: smtp; 550 5\.1\.1 .*no such user/m);
    assert.match(p.status, /^Remote-MTA: dns; 127\.0\.0\.6$/m);
    assert.match(p.original, /Content-Type: text\/rfc822-headers/);
    assert.match(p.original, /^Subject: will-bounce$/m);
    assert.match(p.original, new RegExp(`with ESMTPA id ${id}`));
    assert.ok(!/Hello\./.test(p.original), 'only the headers are attached');
    assert.equal(rejecting.messages.length, 0);
  });

  it('no bounce for a message whose sender was null (a bounce forwarded to a rejecting domain)', async () => {
    // A bounce (MAIL FROM:<>) arrives at the MX for an alias that forwards to a domain whose MX answers 5xx.
    const id = await submit(mw.smtpPort, { from: '', to: ['fwdreject@example.test'], auth: null, headerFrom: 'MAILER-DAEMON@example.org', subject: 'bounce-loop' });
    const dropped = await log.waitFor((l) => l.queueId === id && l.msg === 'no notification: the message had a null sender', 10_000);
    assert.equal(dropped.action, 'failed');
    await gone(id);
    const cmds = rejecting.sessions.flatMap((s) => s.commands);
    assert.ok(cmds.includes('MAIL FROM:<>') || cmds.some((c) => /^MAIL FROM:<> /.test(c)), `forwarded from <>: ${cmds.join(' | ')}`);
    await sleep(500);
    assert.equal((await mw.queue()).length, 0, 'no bounce was queued');
    assert.ok(!log.lines.some((l) => l.queueId === id && typeof l.notification === 'string'));
  });

  it('one id follows a message through the logs: SMTP (with its session id), queue, delivery attempt and result', async () => {
    const id = await submit(mw.smtpPort, { from: 'tracer@example.org', to: ['trace@example.test'], auth: null, subject: 'traced' });
    await atSink('traced@remote.test');
    await gone(id);
    const lines = log.lines.filter((l) => l.queueId === id);
    const smtp = lines.find((l) => l.component === 'smtp' && l.result === 'queued')!;
    assert.ok(smtp, `an SMTP line with queueId ${id}: ${JSON.stringify(lines)}`);
    assert.equal(smtp.from, 'tracer@example.org');
    assert.equal(typeof smtp.conn, 'string', 'the SMTP line names its session');
    const queued = lines.find((l) => l.component === 'queue' && l.msg === 'queued')!;
    assert.ok(queued, 'the queue line');
    assert.deepEqual(queued.to, ['traced@remote.test']);
    assert.ok(lines.some((l) => l.component === 'delivery' && l.msg === 'remote delivery attempt'), 'the delivery attempt line');
    const sent = lines.find((l) => l.result === 'sent')!;
    assert.equal(sent.to, 'traced@remote.test');
    // In that order, and the session id leads back to the client's other lines.
    assert.ok(log.lines.indexOf(smtp) < log.lines.indexOf(sent) && log.lines.indexOf(queued) < log.lines.indexOf(sent));
    assert.equal(smtp.client, '127.0.0.1');
  });

  it('alias on the test domain pointing to an external address goes through the queue to the MX', async () => {
    const id = await submit(mw.smtpPort, { from: 'someone@example.org', to: ['fwd@example.test'], auth: null, subject: 'forwarded' });
    const m = await atSink('someone@remote.test');
    assert.match(m.mailArgs, /<(someone@example\.org|SRS0=[^>]*=example\.org=someone@mail\.example\.test)>/);
    await gone(id);
    assert.ok(log.lines.some((l) => l.queueId === id && l.result === 'queued'));
  });
});
