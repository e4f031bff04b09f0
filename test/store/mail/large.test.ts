import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, msg, USER } from './helpers.js';

const N = 20_000;

test(`a ${N}-message mailbox syncs in reasonable time (times printed, not asserted)`, async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const base = Math.floor(Date.now() / 1000) - 100_000;
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      const p = join(inbox.path, 'new', `${base + i}.M${i}P1.gen,S=100`);
      writeFileSync(p, msg(`n${i}`));
      utimesSync(p, base + i, base + i);
    }
    const gen = performance.now() - t;
    t = performance.now();
    const r = await inbox.sync();
    const first = performance.now() - t;
    assert.equal(r.added, N);
    t = performance.now();
    const again = await inbox.sync({ force: true });
    const rescan = performance.now() - t;
    assert.equal(again.added + again.expunged + again.flagsChanged, 0);
    t = performance.now();
    const quiet = await inbox.sync();
    const noop = performance.now() - t;
    t = performance.now();
    const list = await inbox.listMessages();
    const listMs = performance.now() - t;
    assert.equal(list.length, N);
    assert.equal(list[N - 1]!.uid, N);
    assert.ok((await inbox.readMessage(N))!.toString().includes(`Subject: n${N - 1}`), 'arrival order');
    t = performance.now();
    const uids = await inbox.uids();
    const uidsMs = performance.now() - t;
    t = performance.now();
    const st = await inbox.status();
    const statusMs = performance.now() - t;
    assert.equal(st.messages, N);
    t = performance.now();
    await inbox.setFlags(Array.from(uids.subarray(0, 1000)), 'add', ['\\Seen']);
    const store1000 = performance.now() - t;
    console.log(
      `${N} messages: write files ${gen.toFixed(0)} ms; first sync (new/ -> cur/, index) ${first.toFixed(0)} ms; ` +
        `forced rescan ${rescan.toFixed(0)} ms; unchanged sync ${noop.toFixed(1)} ms (scanned: ${quiet.scanned}); ` +
        `listMessages ${listMs.toFixed(0)} ms; uids ${uidsMs.toFixed(0)} ms; status ${statusMs.toFixed(1)} ms; ` +
        `STORE +FLAGS on 1000 ${store1000.toFixed(0)} ms`,
    );
  } finally {
    await env.close();
  }
});
