/**
 * A large first scan (store.ts syncLocked, LAZY_SCAN_AT files) whose files are all named the Maildir way
 * ("<secs>.M<usecs>P<pid>.<host>,S=<size>") indexes them without a stat per file, as Dovecot does: UIDs in order of
 * the delivery time in the name, RFC822.SIZE from ",S=", and INTERNALDATE (the file's mtime) read the first time it
 * is asked for, then written to the index. Anything else in the set (a name without ",S=") means a stat of every
 * file, UIDs by mtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { makeEnv, msg, USER } from './helpers.js';

const N = 1200;
const T0 = 1_600_000_000;

/** Files whose name times run opposite to their mtimes, written in a shuffled order. */
function drop(dir: string, o: { withoutSize?: number } = {}): Map<string, { mtime: number; size: number }> {
  const out = new Map<string, { mtime: number; size: number }>();
  const order = Array.from({ length: N }, (_, i) => (i * 7919) % N);
  for (const i of order) {
    const body = msg(`m${i}`, 'x'.repeat(i % 50));
    const size = Buffer.byteLength(body);
    // Name time: i seconds, with microseconds that order messages 2k and 2k+1 within a second when i is equal.
    const base = `${T0 + Math.floor(i / 2)}.M${(i % 2) * 500000 + 17}P42.host${i === o.withoutSize ? '' : `,S=${size}`}`;
    const name = `${base}:2,${i % 3 === 0 ? 'S' : ''}`;
    writeFileSync(join(dir, 'cur', name), body);
    const mtime = T0 + 10 * N - i * 5; // the later in the name, the earlier the mtime
    utimesSync(join(dir, 'cur', name), mtime, mtime);
    out.set(`m${i}`, { mtime: mtime * 1000, size });
  }
  return out;
}

test('a large first scan of Maildir-named files: UIDs by name time, sizes from S=, INTERNALDATE read lazily and stored', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const made = drop(inbox.path);
    assert.equal((await inbox.sync()).added, N);
    const state = (env.store as unknown as { states: Map<number, { recs: { length: number } | null }> }).states.get(inbox.id)!;
    assert.equal(state.recs?.length, N, 'the first scan leaves the in-memory copy made from its inserts');
    const { rows } = await sql<{ n: number }>`select count(*) as n from mail_messages where internaldate = -1`.execute(env.opened.db);
    assert.equal(Number(rows[0]!.n), N, 'no date read at the scan');
    const recs = await inbox.listMessages();
    const subjects = await Promise.all(recs.map(async (r) => /Subject: (\w+)/.exec((await inbox.readRecord(r))!.toString())![1]!));
    assert.deepEqual(subjects, Array.from({ length: N }, (_, i) => `m${i}`), 'UIDs in name-time order');
    for (const [i, r] of recs.entries()) {
      assert.equal(r.size, made.get(subjects[i]!)!.size);
      assert.equal(r.internalDate, made.get(subjects[i]!)!.mtime);
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = await sql<{ n: number }>`select count(*) as n from mail_messages where internaldate = -1`.execute(env.opened.db);
    assert.equal(Number(after.rows[0]!.n), 0, 'dates read from the files were written to the index');
    // A fresh store (no in-memory copy) reads them from the index.
    const again = await (await env.reopen()).openMailbox(USER, 'INBOX');
    const r5 = (await again.getMessage(5))!;
    assert.equal(r5.internalDate, made.get(subjects[4]!)!.mtime);
  } finally {
    await env.close();
  }
});

test('the in-memory copy reads unknown INTERNALDATEs too (the metadata FETCH path)', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const made = drop(inbox.path);
    await inbox.sync();
    const view = (await inbox.recordView())!;
    const first = view.internalDateAt(0);
    const subject = /Subject: (\w+)/.exec((await inbox.readMessage(view.uidAt(0)))!.toString())![1]!;
    assert.equal(first, made.get(subject)!.mtime);
    assert.equal((await inbox.listMessages({ uids: [view.uidAt(0)] }))[0]!.internalDate, first);
  } finally {
    await env.close();
  }
});

test('one name without ",S=" in a large scan: every file is stat()ed, UIDs by mtime, dates known at once', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const made = drop(inbox.path, { withoutSize: 3 });
    await inbox.sync();
    const { rows } = await sql<{ n: number }>`select count(*) as n from mail_messages where internaldate = -1`.execute(env.opened.db);
    assert.equal(Number(rows[0]!.n), 0);
    const recs = await inbox.listMessages();
    const dates = recs.map((r) => r.internalDate);
    assert.deepEqual(dates, [...dates].sort((a, b) => a - b), 'UIDs by mtime');
    assert.equal(dates[0], Math.min(...[...made.values()].map((m) => m.mtime)));
  } finally {
    await env.close();
  }
});

test('SORT keys read from the index carry the INTERNALDATE (ARRIVAL) of lazily scanned files, not the placeholder', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    drop(inbox.path);
    await inbox.sync();
    const uids = [...(await inbox.uids())];
    const rows = await inbox.readSortKeys(uids, ['date']);
    assert.equal(rows.length, N);
    const { statSync } = await import('node:fs');
    const recs = await inbox.listMessages();
    for (const [i, r] of rows.entries()) assert.equal(r.arrival, Math.floor(statSync(recs[i]!.path).mtimeMs), `uid ${r.uid}`);
  } finally {
    await env.close();
  }
});
