/**
 * Every queue command through the real CLI (`node bin/mailwright.js --config F queue ...`, needs `npm run build`):
 * while the server runs (through its control socket; effects at once) and with the server stopped (on the files).
 * queue.retryBaseSeconds is an hour, so only `flush`/`release`/`requeue` make a deferred message go out quickly.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPeer, type Peer } from '../helpers/peers.js';
import { startMw, type Mw, waitUntil, submit, cli, cliJson, writeMwConfig, killChildren, sleep } from '../helpers/queue-server.js';
import { tempDir } from '../helpers/server.js';
import type { QueueListItem } from '../../src/queue/manager.js';

const U1 = 'u1@example.test';
const U2 = 'u2@example.test';

describe('queue commands via the CLI', () => {
  let peer: Peer;
  let accept = false;
  let mw: Mw;
  let dataDir: string;
  let cfg: string;
  const opts = () => ({
    dataDir,
    users: [U1, U2],
    queue: { retryBaseSeconds: 3600, retryMaxSeconds: 3600, delayWarningHours: 0 },
    delivery: { transportMap: { 'cli.test': { host: '127.0.0.3', port: peer.port }, 'cli2.test': { host: '127.0.0.3', port: peer.port } } },
  });

  before(async () => {
    peer = await startPeer({ host: '127.0.0.3', onRcpt: () => (accept ? undefined : '451 4.7.1 greylisted, come back later') });
    dataDir = tempDir('mw-qcli-');
    mw = await startMw(opts());
    cfg = writeMwConfig(tempDir('mw-qcli-cfg-'), dataDir, opts());
  });
  after(async () => {
    killChildren();
    await mw?.stop();
    await peer?.close();
  });

  const list = () => cliJson<QueueListItem[]>(cfg, ['queue', 'list', '--json']);
  const q = async (...args: string[]) => {
    const r = await cli(cfg, ['queue', ...args]);
    assert.equal(r.code, 0, `queue ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const delivered = (rcpt: string) => peer.messages.some((m) => m.rcptTo.includes(rcpt));
  const deferred = (ids: string[]) =>
    waitUntil(async () => {
      const l = await mw.queue();
      return ids.every((id) => l.find((x) => x.id === id)?.state === 'deferred');
    }, 10_000, 'messages deferred');

  let m1 = '', m2 = '', m3 = '';

  it('list (text and --json) and show, live', async () => {
    m1 = await submit(mw.submissionPort, { from: U1, to: ['r1@cli.test'], subject: 'cli-m1' });
    m2 = await submit(mw.submissionPort, { from: U1, to: ['r2@cli.test'], subject: 'cli-m2' });
    m3 = await submit(mw.submissionPort, { from: U2, to: ['r3@cli.test'], subject: 'cli-m3' });
    await deferred([m1, m2, m3]);
    const text = await q('list');
    for (const id of [m1, m2, m3]) assert.match(text, new RegExp(`^${id} `, 'm'));
    assert.match(text, /\[deferred, 1 attempt\(s\)\]/);
    assert.match(text, /r1@cli\.test {2}\(451 4\.7\.1 greylisted, come back later\)/);
    assert.match(text, /-- \d+ bytes in 3 requests\./);
    const items = await list();
    assert.equal(items.length, 3);
    const i1 = items.find((i) => i.id === m1)!;
    assert.equal(i1.state, 'deferred');
    assert.equal(i1.sender, U1);
    assert.equal(i1.attempts, 1);
    assert.ok(i1.size > 0);
    assert.equal(i1.lastError, '451 4.7.1 greylisted, come back later');
    assert.deepEqual(i1.recipients.map((r) => [r.address, r.status]), [['r1@cli.test', 'pending']]);
    const show = await q('show', m1);
    assert.match(show, new RegExp(`^id: ${m1}$`, 'm'));
    assert.match(show, /^state: deferred$/m);
    assert.match(show, /^sender: u1@example\.test$/m);
    assert.match(show, /^recipient: r1@cli\.test pending \(451 4\.7\.1/m);
    assert.match(show, /^Subject: cli-m1\r?$/m);
    assert.match(show, /^Hello\.\r?$/m);
    const bad = await cli(cfg, ['queue', 'show', 'NOSUCHID0000']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /no message NOSUCHID0000/);
  });

  it('hold keeps a message; flush ID and flush send deferred mail at once; release sends the held one', async () => {
    assert.match(await q('hold', m1), /1 message\(s\) put on hold/);
    assert.equal((await list()).find((i) => i.id === m1)!.state, 'hold');
    accept = true;
    assert.match(await q('flush', m2), /1 message\(s\) scheduled/);
    await waitUntil(() => delivered('r2@cli.test'), 5000, 'm2 delivered after flush ID');
    assert.ok(!delivered('r3@cli.test'), 'flush ID touched only that message');
    await q('flush');
    await waitUntil(() => delivered('r3@cli.test'), 5000, 'm3 delivered after flush');
    await sleep(300);
    assert.ok(!delivered('r1@cli.test'), 'the held message stays');
    assert.deepEqual((await list()).map((i) => [i.id, i.state]), [[m1, 'hold']]);
    assert.match(await q('release', m1), /1 message\(s\) released/);
    await waitUntil(() => delivered('r1@cli.test'), 5000, 'm1 delivered after release');
    await waitUntil(async () => (await list()).length === 0, 5000, 'empty queue');
    assert.match(await q('list'), /Mail queue is empty/);
  });

  it('delete by id, --sender, --domain, --all; requeue resets the retry clock', async () => {
    accept = false;
    const a = await submit(mw.submissionPort, { from: U1, to: ['d1@cli.test'] });
    const b = await submit(mw.submissionPort, { from: U2, to: ['d2@cli.test'] });
    const c = await submit(mw.submissionPort, { from: U1, to: ['d3@cli2.test'] });
    const d = await submit(mw.submissionPort, { from: U1, to: ['d4@cli.test'] });
    const e = await submit(mw.submissionPort, { from: U1, to: ['d5@cli.test'] });
    await deferred([a, b, c, d, e]);
    assert.match(await q('delete', a), /1 message\(s\) deleted/);
    assert.match(await q('delete', '--sender', U2), /1 message\(s\) deleted/);
    assert.match(await q('delete', '--domain', 'cli2.test'), /1 message\(s\) deleted/);
    assert.deepEqual((await list()).map((i) => i.id).sort(), [d, e].sort());
    const sessions = peer.sessions.length;
    assert.match(await q('requeue', d), /1 message\(s\) requeued/);
    await waitUntil(() => peer.sessions.length > sessions, 5000, 'requeued message attempted at once');
    await waitUntil(async () => (await list()).find((i) => i.id === d)?.state === 'deferred', 5000, 'deferred again');
    assert.equal((await list()).find((i) => i.id === d)!.attempts, 1, 'attempts counted from zero again');
    const noSel = await cli(cfg, ['queue', 'delete']);
    assert.notEqual(noSel.code, 0, 'delete without a selector is refused');
    assert.match(await q('delete', '--all'), /2 message\(s\) deleted/);
    assert.equal((await list()).length, 0);
    assert.ok(!delivered('d1@cli.test') && !delivered('d2@cli.test') && !delivered('d3@cli2.test'));
  });

  it('with the server stopped, the commands act on the files; a restart honours them', async () => {
    accept = false;
    const h = await submit(mw.submissionPort, { from: U1, to: ['o1@cli.test'], subject: 'offline-held' });
    const r = await submit(mw.submissionPort, { from: U1, to: ['o2@cli.test'], subject: 'offline-requeued' });
    const x = await submit(mw.submissionPort, { from: U2, to: ['o3@cli.test'], subject: 'offline-deleted' });
    const f = await submit(mw.submissionPort, { from: U1, to: ['o4@cli.test'], subject: 'offline-flushed' });
    const k = await submit(mw.submissionPort, { from: U1, to: ['o5@cli.test'], subject: 'offline-kept' });
    await deferred([h, r, x, f, k]);
    await mw.stop();
    const items = await list();
    assert.deepEqual(items.map((i) => i.id).sort(), [h, r, x, f, k].sort());
    assert.ok(items.every((i) => i.state === 'deferred'));
    assert.match(await q('show', h), /^Subject: offline-held\r?$/m);
    assert.match(await q('hold', h, k), /2 message\(s\) put on hold/);
    assert.match(await q('release', k), /1 message\(s\) released/);
    assert.match(await q('requeue', r), /1 message\(s\) requeued/);
    assert.match(await q('delete', '--sender', U2), /1 message\(s\) deleted/);
    assert.match(await q('flush', f), /1 message\(s\) scheduled/);
    const after = await list();
    const state = Object.fromEntries(after.map((i) => [i.id, i.state]));
    assert.deepEqual(state, { [h]: 'hold', [r]: 'incoming', [f]: 'deferred', [k]: 'deferred' });
    assert.equal(after.find((i) => i.id === r)!.attempts, 0);
    // restart: requeued, flushed and released messages go out at once; the held one stays; the deleted one is gone
    accept = true;
    mw = await startMw(opts());
    await waitUntil(() => delivered('o2@cli.test') && delivered('o4@cli.test') && delivered('o5@cli.test'), 10_000, 'delivery after restart');
    await sleep(300);
    assert.ok(!delivered('o1@cli.test'), 'held stays held across the restart');
    assert.ok(!delivered('o3@cli.test'), 'deleted is gone');
    assert.deepEqual((await list()).map((i) => [i.id, i.state]), [[h, 'hold']]);
    await q('delete', '--all');
  });
});
