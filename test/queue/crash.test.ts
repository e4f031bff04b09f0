/**
 * Crash and restart mid-queue: `mailwright serve` as a child process is killed with SIGKILL while messages are
 * queued and deferred (peer down) and while they are being delivered (peer up); after a restart every
 * acknowledged message reaches Postfix's smtp-sink at least once (a duplicate is allowed, a loss is not).
 * Messages are told apart by a unique envelope recipient each.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, closedPort, type SmtpSink } from '../helpers/peers.js';
import { startMw, spawnMw, writeMwConfig, submit, waitUntil, cliJson, killChildren, sleep, type MwOptions, type ServeChild } from '../helpers/queue-server.js';
import { tempDir } from '../helpers/server.js';
import type { QueueListItem } from '../../src/queue/manager.js';

const U1 = 'u1@example.test';

describe('crash and restart mid-queue', () => {
  let sink: SmtpSink;
  let dir: string;
  let dataDir: string;
  let child: ServeChild | null = null;
  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2' });
    dir = tempDir('mw-crash-');
    dataDir = `${dir}/data`;
    const setup = await startMw({ dataDir, users: [U1] });
    await setup.stop();
  });
  after(async () => {
    await child?.stop();
    killChildren();
    await sink?.close();
  });

  const config = (port: number): string => {
    const o: MwOptions = {
      users: [U1],
      listen: { submissions: false },
      queue: { retryBaseSeconds: 0.5, retryMaxSeconds: 1 },
      delivery: { transportMap: { 'crash.test': { host: '127.0.0.2', port } } },
    };
    return writeMwConfig(dir, dataDir, o);
  };
  const seen = () => {
    const n = new Map<string, number>();
    for (const m of sink.messages()) for (const a of m.rcptArgs) {
      const r = /<([^>]*)>/.exec(a)?.[1];
      if (r) n.set(r, (n.get(r) ?? 0) + 1);
    }
    return n;
  };

  it('kill -9 with messages deferred (peer down); restart with the peer up: all delivered', async () => {
    const down = await closedPort('127.0.0.2');
    child = await spawnMw(config(down));
    const acked: string[] = [];
    for (let i = 0; i < 15; i++) {
      await submit(child.ports.submission!, { from: U1, to: [`down${i}@crash.test`], subject: `down-${i}` });
      acked.push(`down${i}@crash.test`);
    }
    await waitUntil(() => /"result":"deferred"/.test(child!.output()), 10_000, 'a deferral');
    await sleep(300);
    child.child.kill('SIGKILL');
    await child.exited;
    child = null;
    // with the server stopped, the CLI sees every message on disk
    const onDisk = await cliJson<QueueListItem[]>(config(down), ['queue', 'list', '--json']);
    assert.equal(onDisk.length, 15, 'every acknowledged message is in the queue files');
    child = await spawnMw(config(sink.port));
    await waitUntil(() => acked.every((r) => seen().has(r)), 20_000, 'every message at the sink');
    await waitUntil(async () => (await cliJson<QueueListItem[]>(config(sink.port), ['queue', 'list', '--json'])).length === 0, 10_000, 'empty queue');
    await child.stop();
    child = null;
  });

  it('kill -9 during delivery (peer up): nothing acknowledged is lost', async () => {
    child = await spawnMw(config(sink.port));
    const acked: string[] = [];
    const sending = (async () => {
      for (let i = 0; i < 40; i++) {
        try {
          await submit(child!.ports.submission!, { from: U1, to: [`live${i}@crash.test`], subject: `live-${i}` });
          acked.push(`live${i}@crash.test`);
        } catch {
          return; // the server died under this transaction: not acknowledged
        }
      }
    })();
    await waitUntil(() => acked.length >= 10, 20_000, 'ten acknowledged');
    child.child.kill('SIGKILL');
    await child.exited;
    await sending;
    child = await spawnMw(config(sink.port));
    await waitUntil(() => acked.every((r) => seen().has(r)), 20_000, 'every acknowledged message at the sink');
    const dups = acked.filter((r) => (seen().get(r) ?? 0) > 1);
    assert.ok(dups.length <= acked.length, `duplicates allowed (${dups.length})`);
    await waitUntil(async () => (await cliJson<QueueListItem[]>(config(sink.port), ['queue', 'list', '--json'])).length === 0, 10_000, 'empty queue');
  });
});
