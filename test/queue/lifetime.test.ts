/**
 * Retry policy end to end with tiny times: the maximum queue lifetime bounces with Status 4.4.7 (queue.maxLifetimeHours),
 * and the delay warning (queue.delayWarningHours) sends exactly one Action: delayed DSN while retries go on.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPeer, type Peer } from '../helpers/peers.js';
import { startMw, type Mw, waitUntil, submit, dsnParts, sleep } from '../helpers/queue-server.js';

const U1 = 'u1@example.test';

describe('queue lifetime and delay warnings', () => {
  const open: Array<Mw | Peer> = [];
  after(async () => {
    for (const x of open.reverse()) await ('stop' in x ? x.stop() : x.close());
  });
  const dsns = (mw: Mw) => mw.newFiles(U1).filter((f) => /report-type=delivery-status/.test(f.text));
  // Attempts are counted by MAIL commands: retries may reuse a cached connection (delivery.connectionCacheSeconds).
  const attempts = (p: Peer) => p.sessions.flatMap((s) => s.commands).filter((c) => /^MAIL FROM:/i.test(c)).length;

  it('maximum queue lifetime: a message that keeps getting 4xx is bounced with Status 4.4.7', async () => {
    const peer = await startPeer({ host: '127.0.0.3', onRcpt: () => '451 4.3.0 busy, try later' });
    const mw = await startMw({
      users: [U1],
      queue: { retryBaseSeconds: 0.3, retryMaxSeconds: 0.3, maxLifetimeHours: 0.0006, delayWarningHours: 0 },
      delivery: { transportMap: { 'slow.test': { host: '127.0.0.3', port: peer.port } } },
    });
    open.push(peer, mw);
    const id = await submit(mw.submissionPort, { from: U1, to: ['x@slow.test'], subject: 'expires' });
    const f = await waitUntil(() => dsns(mw)[0], 10_000, 'the bounce');
    const p = dsnParts(f.text);
    assert.match(p.status, /^Action: failed$/m);
    assert.match(p.status, /^Status: 4\.4\.7$/m);
    assert.match(p.status, /^Diagnostic-Code: smtp; 451 4\.3\.0 busy, try later/m);
    assert.match(p.original, /^Subject: expires$/m);
    await waitUntil(async () => !(await mw.queue()).some((q) => q.id === id), 3000, 'removed');
    assert.ok(attempts(peer) >= 2, `retried before giving up (${attempts(peer)} attempts)`);
    assert.equal(dsns(mw).length, 1);
  });

  it('delay warning: exactly one Action: delayed DSN, retries continue, then delivered', async () => {
    let accept = false;
    const peer = await startPeer({ host: '127.0.0.3', onRcpt: () => (accept ? undefined : '450 4.2.0 mailbox busy') });
    const mw = await startMw({
      users: [U1],
      queue: { retryBaseSeconds: 0.3, retryMaxSeconds: 0.3, delayWarningHours: 0.0002 },
      delivery: { transportMap: { 'slow.test': { host: '127.0.0.3', port: peer.port } } },
    });
    open.push(peer, mw);
    const id = await submit(mw.submissionPort, { from: U1, to: ['y@slow.test'], subject: 'delayed' });
    const f = await waitUntil(() => dsns(mw)[0], 10_000, 'the delay warning');
    assert.match(f.text, /Subject: Delayed Mail/);
    const p = dsnParts(f.text);
    assert.match(p.status, /^Action: delayed$/m);
    assert.match(p.status, /^Status: 4\.2\.0$/m);
    assert.match(p.status, /^Will-Retry-Until: /m);
    assert.match(p.original, /^Subject: delayed$/m);
    const before = attempts(peer);
    await sleep(1200);
    assert.ok(attempts(peer) > before, 'still retrying');
    assert.equal(dsns(mw).length, 1, 'only one warning');
    const item = (await mw.queue()).find((q) => q.id === id)!;
    assert.ok(item && item.state !== 'hold');
    accept = true;
    await waitUntil(() => peer.messages.length === 1, 5000, 'delivery');
    await waitUntil(async () => !(await mw.queue()).some((q) => q.id === id), 3000, 'removed');
    assert.equal(dsns(mw).length, 1);
  });
});
