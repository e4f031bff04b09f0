/**
 * The in-memory copy of a mailbox's rows (src/store/mail/record-cache.ts): it must give exactly what the SQL index
 * gives, follow the store's own commits, and be dropped when another process changes the index.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { makeEnv, msg, USER } from './helpers.js';
import { RecordCache, type CacheRow } from '../../../src/store/mail/record-cache.js';
import type { Mailbox, MessageRecord } from '../../../src/store/mail/store.js';
import { DELETED, SEEN } from '../../../src/store/mail/flags.js';
import { openDatabase } from '../../../src/store/sql/db.js';
import { testBackend } from '../../backends/scratch.js';

const plain = (r: MessageRecord) => ({
  uid: r.uid,
  modseq: r.modseq,
  sysflags: r.sysflags,
  keywords: [...r.keywords],
  internalDate: r.internalDate,
  size: r.size,
  base: r.base,
  mdflags: r.mdflags,
  path: r.path,
});

function row(uid: number, o: Partial<CacheRow> = {}): CacheRow {
  return { uid, modseq: uid, sysflags: 0, keywords: '', internaldate: uid * 1000, size: uid * 10, base: `b${uid}`, mdflags: '', ...o };
}

test('RecordCache: select by UIDs (unsorted, repeated, missing), CHANGEDSINCE, afterUid and limit', () => {
  const c = RecordCache.fromRows([row(2), row(3, { modseq: 9 }), row(5), row(8, { modseq: 7 }), row(9)], 9, 10, { curDir: '/m/cur' });
  const uids = (rs: MessageRecord[]) => rs.map((r) => r.uid);
  assert.deepEqual(uids(c.select({})), [2, 3, 5, 8, 9]);
  assert.deepEqual(uids(c.select({ uids: [9, 2, 4, 2, 8] })), [2, 8, 9]);
  assert.deepEqual(uids(c.select({ uids: [1, 2, 3, 4, 5, 6] })), [2, 3, 5]);
  assert.deepEqual(uids(c.select({ uids: [10, 11] })), []);
  assert.deepEqual(uids(c.select({ changedSince: 6 })), [3, 8, 9]);
  assert.deepEqual(uids(c.select({ afterUid: 3, limit: 2 })), [5, 8]);
  assert.deepEqual(uids(c.select({ uids: [2, 3, 5, 8], afterUid: 2, changedSince: 6 })), [3, 8]);
  assert.equal(c.select({ uids: [3] })[0]!.path, '/m/cur/b3:2,');
  assert.equal(c.indexOf(5), 2);
  assert.equal(c.indexOf(4), -1);
});

test('RecordCache: applying commits (expunge, flags, inserts past the initial capacity) and totals', () => {
  const c = RecordCache.fromRows([row(1, { sysflags: SEEN }), row(2), row(3, { sysflags: SEEN | DELETED })], 3, 4, { curDir: '/m' });
  assert.deepEqual(c.totals(SEEN, DELETED), { messages: 3, bytes: 60, unseen: 1, deleted: 1 });
  assert.equal(c.firstWithout(SEEN), 2);
  c.apply({ expungeUids: [3], flagUpdates: [{ uids: [2, 7], sysflags: SEEN, keywords: 'Work Home', mdflags: 'S' }] }, 4, 4, 4);
  assert.deepEqual([...c.uidList()], [1, 2]);
  const two = c.select({ uids: [2] })[0]!;
  assert.equal(two.modseq, 4);
  assert.deepEqual(two.flags, ['\\Seen', 'Work', 'Home']);
  assert.equal(two.fileName, 'b2:2,S');
  assert.equal(c.firstWithout(SEEN), 0);
  const inserts = Array.from({ length: 40 }, (_, i) => ({ base: `n${i}`, mdflags: '', sysflags: 0, keywords: '', internaldate: i, size: 1 }));
  c.apply({ inserts }, 5, 4, 44);
  assert.equal(c.length, 42);
  assert.equal(c.uidNext, 44);
  assert.equal(c.highestModseq, 5);
  assert.deepEqual(plain(c.select({ uids: [43] })[0]!), { uid: 43, modseq: 5, sysflags: 0, keywords: [], internalDate: 39, size: 1, base: 'n39', mdflags: '', path: '/m/n39:2,' });
});

async function all(box: Mailbox) {
  return (await box.listMessages()).map(plain);
}

test('store: the copy answers as SQL does through appends, STORE, expunge, copy/move and a sync of hand-made changes', async () => {
  const withCache = await makeEnv();
  try {
    const inbox = await withCache.store.openMailbox(USER, 'INBOX');
    const trash = await withCache.store.openMailbox(USER, 'Trash');
    for (let i = 0; i < 80; i++) await inbox.append(msg(`m${i}`), { flags: i % 3 ? ['\\Seen'] : [] });
    const before = await all(inbox); // loads the copy (a whole-mailbox request)
    assert.equal(before.length, 80);
    await inbox.setFlags([1, 2, 3, 40], 'add', ['\\Deleted', 'Work']);
    await inbox.setFlags([5], 'replace', ['\\Flagged']);
    await inbox.expunge({ uids: [1, 2] });
    await inbox.copyTo(trash, [10, 11]);
    await inbox.moveTo(trash, [12]);
    await inbox.append(msg('late'), { flags: ['\\Answered'] });
    // A flag letter changed and a file dropped in new/ by another program.
    const m20 = (await inbox.getMessage(20))!;
    const { renameSync } = await import('node:fs');
    renameSync(m20.path, join(inbox.path, 'cur', `${m20.base}:2,FS`));
    writeFileSync(join(inbox.path, 'new', '1700000000.M1P1.host'), msg('dropped'));
    await inbox.sync({ force: true });
    const cached = await all(inbox);
    const status = await inbox.status();
    const unseen = await inbox.firstUnseenUid();
    const uids = [...(await inbox.uids())];
    const some = (await inbox.listMessages({ uids: [90, 5, 3, 20, 81], changedSince: 1 })).map(plain);
    // POP3's columns snapshot: a copy, not changed by later commits.
    const cols = await inbox.columns();
    const colsPlain = (c: typeof cols) => ({ length: c.length, uids: [...c.uids], sysflags: [...c.sysflags], sizes: [...c.sizes], bases: [...c.bases], mdflags: [...c.mdflags] });
    const snap = colsPlain(cols);
    assert.deepEqual(snap.uids, uids);
    assert.deepEqual(snap.bases, cached.map((m) => m.base));
    assert.deepEqual(snap.sizes, cached.map((m) => m.size));
    assert.deepEqual(snap.mdflags, cached.map((m) => m.mdflags));
    assert.equal(inbox.pathOf(snap.bases[0]!, snap.mdflags[0]!), cached[0]!.path);
    // The same store reopened without the copy: every answer comes from SQL.
    const sqlStore = await withCache.reopen({ recordCacheMessages: 0 });
    const inbox2 = await sqlStore.openMailbox(USER, 'INBOX');
    assert.deepEqual(cached, await all(inbox2));
    assert.deepEqual(status, await inbox2.status());
    assert.equal(unseen, await inbox2.firstUnseenUid());
    assert.deepEqual(uids, [...(await inbox2.uids())]);
    assert.deepEqual(some, (await inbox2.listMessages({ uids: [90, 5, 3, 20, 81], changedSince: 1 })).map(plain));
    assert.deepEqual(colsPlain(await inbox2.columns()), snap);
    assert.deepEqual(cached.find((m) => m.uid === 20)!.mdflags, 'FS');
    assert.equal(cached.length, 80 - 2 - 1 + 1 + 1);
  } finally {
    await withCache.close();
  }
});

test('store: a columns snapshot (POP3) is a copy that later commits do not change', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 5; i++) await inbox.append(msg(`m${i}`));
    const cols = await inbox.columns();
    const copy = { uids: [...cols.uids], sysflags: [...cols.sysflags], bases: [...cols.bases], mdflags: [...cols.mdflags] };
    await inbox.setFlags([1, 2], 'add', ['\\Seen']);
    await inbox.append(msg('later'));
    await inbox.setFlags([3], 'add', ['\\Deleted']);
    await inbox.expunge({ uids: [3] });
    assert.equal(cols.length, 5);
    assert.deepEqual({ uids: [...cols.uids], sysflags: [...cols.sysflags], bases: [...cols.bases], mdflags: [...cols.mdflags] }, copy);
    const now = await inbox.columns();
    assert.deepEqual([...now.uids], [1, 2, 4, 5, 6]);
    assert.deepEqual([...now.sysflags].map((f) => f & SEEN), [SEEN, SEEN, 0, 0, 0]);
    assert.deepEqual([...now.mdflags], ['S', 'S', '', '', '']);
  } finally {
    await env.close();
  }
});

test('store: a change made by another process (another database handle) is seen at once', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 70; i++) await inbox.append(msg(`m${i}`));
    assert.equal((await inbox.listMessages()).filter((m) => m.sysflags & SEEN).length, 0);
    // Another process (e.g. the CLI) writes to the index: a commit bumps HIGHESTMODSEQ as the store's do.
    const other = testBackend() === 'sqlite' ? await openDatabase('sqlite:' + env.dbPath) : null;
    const db = other?.db ?? env.opened.db;
    try {
      await sql`update mail_messages set sysflags = ${SEEN}, modseq = modseq + 1000 where uid <= 10`.execute(db);
      await sql`update mail_mailboxes set highestmodseq = highestmodseq + 1000 where id = ${inbox.id}`.execute(db);
    } finally {
      await other?.close();
    }
    const recs = await inbox.listMessages();
    assert.equal(recs.filter((m) => m.sysflags & SEEN).length, 10);
    assert.equal((await inbox.status()).unseen, 60);
    assert.equal(await inbox.firstUnseenUid(), 11);
    assert.equal((await inbox.getMessage(3))!.sysflags, SEEN);
  } finally {
    await env.close();
  }
});

test('store: copies stay within recordCacheMessages (least recently used mailbox dropped), 0 turns them off', async () => {
  const env = await makeEnv({ recordCacheMessages: 100 });
  try {
    const a = await env.store.openMailbox(USER, 'INBOX');
    const b = await env.store.openMailbox(USER, 'Archive');
    for (let i = 0; i < 60; i++) {
      await a.append(msg(`a${i}`));
      await b.append(msg(`b${i}`));
    }
    const state = (m: Mailbox) => (env.store as unknown as { states: Map<number, { recs: RecordCache | null }> }).states.get(m.id)!;
    await a.listMessages();
    assert.equal(state(a).recs?.length, 60);
    await b.listMessages();
    assert.equal(state(b).recs?.length, 60);
    assert.equal(state(a).recs, null, 'the older copy was dropped to stay within 100 rows');
    await a.setFlags([1], 'add', ['\\Seen']);
    assert.equal((await a.getMessage(1))!.sysflags, SEEN);
    const off = await env.reopen({ recordCacheMessages: 0 });
    const a2 = await off.openMailbox(USER, 'INBOX');
    assert.equal((await a2.listMessages()).length, 60);
    assert.equal((off as unknown as { states: Map<number, { recs: unknown }> }).states.get(a2.id)!.recs, null);
  } finally {
    await env.close();
  }
});
