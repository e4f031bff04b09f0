/**
 * QueueManager in process with a fake transport: a message handed over by intake together with its record is
 * activated without reading the record back from disk; one known only by id (after a restart) is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { QueueStore } from '../../src/queue/store.js';
import { QueueManager, DEFAULT_RETRY } from '../../src/queue/manager.js';
import type { OutboundMessage, QueueEntry, RecipientResult, QueueState } from '../../src/queue/types.js';

function entry(id: string): QueueEntry {
  return {
    id, sender: 'a@example.test', recipients: [{ address: 'b@remote.test', original: 'b@remote.test', status: 'pending' }],
    arrival: Date.now(), size: 0, body8bit: false, smtputf8: false, attempts: 0, nextAttempt: 0, warned: false, origin: 'test',
  };
}

test('activation uses the record handed over by intake; without it the record is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-qm-'));
  const store = new QueueStore(dir);
  await store.init();
  let reads = 0;
  const read = store.read.bind(store);
  store.read = async (state: QueueState, id: string) => {
    reads++;
    return read(state, id);
  };
  const seen: OutboundMessage[] = [];
  let done: () => void = () => {};
  let expected = 0;
  const m = new QueueManager({
    store,
    hostname: 'mx.example.test',
    retry: DEFAULT_RETRY,
    concurrency: 4,
    deliverLocal: async () => false,
    log: pino({ level: 'silent' }),
    transport: {
      async deliver(_domain, msgs) {
        seen.push(...msgs);
        if (seen.length >= expected) setImmediate(done);
        return new Map(msgs.map((x) => [x.id, x.recipients.map((address): RecipientResult => ({ address, outcome: 'ok', code: 250, message: 'ok' }))]));
      },
    },
  });
  const keepAlive = setInterval(() => {}, 1000); // the manager's timers are unref'd
  try {
    await m.start();
    // From intake: the record comes along.
    const e1 = entry('AAAAAAAA01');
    await store.enqueueBuffer(Buffer.from('Subject: 1\r\n\r\nbody\r\n'), e1);
    expected = 1;
    let finished = new Promise<void>((r) => (done = r));
    m.enqueued(e1.id, { ...e1, size: 21 });
    await finished;
    assert.equal(reads, 0, 'no read of the record');
    assert.deepEqual(seen[0]!.recipients, ['b@remote.test']);
    assert.equal(seen[0]!.size, 21);

    // Known only by id (as after a restart, or an older caller): read from disk.
    const e2 = entry('AAAAAAAA02');
    await store.enqueueBuffer(Buffer.from('Subject: 2\r\n\r\nbody\r\n'), e2);
    expected = 2;
    finished = new Promise<void>((r) => (done = r));
    m.enqueued(e2.id);
    await finished;
    assert.equal(reads, 1);
    // Both were finalized: record and body removed.
    for (let i = 0; i < 50 && (await store.list()).length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await store.list()).length, 0);
    assert.equal(existsSync(store.bodyPath(e1.id)), false);
  } finally {
    clearInterval(keepAlive);
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a message that moves to another state while the queue is listed is listed once, in its newer state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-qlist-'));
  try {
    const store = new QueueStore(dir);
    await store.init();
    const e = entry('AAAAAAAA09');
    await store.enqueueBuffer(Buffer.from('Subject: 9\r\n\r\nbody\r\n'), e);
    // The delivery loop takes it (incoming -> active) right after the listing has read it in incoming/.
    const read = store.read.bind(store);
    let moved = false;
    store.read = async (state: QueueState, id: string) => {
      const r = await read(state, id);
      if (!moved && state === 'incoming' && id === e.id) {
        moved = true;
        await store.move(id, 'incoming', 'active');
      }
      return r;
    };
    const listed = await store.list();
    assert.ok(moved, 'the move happened during the listing');
    assert.deepEqual(
      listed.map((x) => [x.entry.id, x.state]),
      [[e.id, 'active']],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
