import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeEnv, msg, USER } from './helpers.js';
import { MailStoreError } from '../../../src/store/mail/errors.js';
import type { MailboxEvent } from '../../../src/store/mail/store.js';

const code = (c: string) => (err: unknown) => err instanceof MailStoreError && err.code === c;

test('append: file in cur/ with flags suffix, UIDs increase, INTERNALDATE kept, streams work', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const date = new Date('2024-03-01T10:00:00Z');
    const r1 = await inbox.append(msg('one'), { flags: ['\\Seen', '\\Flagged', 'Work', '\\Recent'], internalDate: date });
    assert.equal(r1.uid, 1);
    assert.equal(r1.uidValidity, inbox.uidValidity);
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const stream = Readable.from((function* () {
      yield Buffer.from(msg('two', ''));
      for (let i = 0; i < 3; i++) yield big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024);
    })());
    const r2 = await inbox.append(stream, { flags: ['\\Answered', '\\Draft', '\\Deleted', '$Forwarded'] });
    assert.equal(r2.uid, 2);
    assert.ok(r2.modseq > r1.modseq);
    const cur = readdirSync(join(inbox.path, 'cur')).sort();
    assert.equal(cur.length, 2);
    assert.equal(readdirSync(join(inbox.path, 'tmp')).length, 0);
    const m1 = (await inbox.getMessage(1))!;
    assert.ok(m1.fileName.endsWith(':2,FS'), m1.fileName);
    assert.ok(m1.base.includes(',S='));
    assert.deepEqual(m1.flags, ['\\Seen', '\\Flagged', 'Work']);
    assert.equal(m1.internalDate, date.getTime());
    assert.equal(statSync(m1.path).mtimeMs, date.getTime());
    assert.equal(m1.size, Buffer.byteLength(msg('one')));
    const m2 = (await inbox.getMessage(2))!;
    assert.ok(m2.fileName.endsWith(':2,DPRT'), m2.fileName);
    assert.deepEqual(m2.flags, ['\\Answered', '\\Deleted', '\\Draft', '$Forwarded']);
    assert.equal(m2.size, Buffer.byteLength(msg('two', '')) + big.length);
    assert.equal((await inbox.readMessage(1))!.toString(), msg('one'));
    const chunks: Buffer[] = [];
    for await (const c of (await inbox.openMessage(1, { start: 0, end: 3 }))!) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'From');
    assert.equal(await inbox.readMessage(99), undefined);
    await assert.rejects(inbox.append(msg('bad'), { flags: ['\\Bogus'] }), code('BADFLAG'));
    await assert.rejects(inbox.append(msg('bad'), { flags: ['bad(keyword'] }), code('BADFLAG'));
    const st = await inbox.status();
    assert.deepEqual(
      { messages: st.messages, unseen: st.unseen, deleted: st.deleted, uidNext: st.uidNext, recent: st.recent },
      { messages: 2, unseen: 1, deleted: 1, uidNext: 3, recent: 0 },
    );
    assert.equal(st.size, m1.size + m2.size);
    assert.deepEqual([...(await inbox.uids())], [1, 2]);
  } finally {
    await env.close();
  }
});

test('concurrent appends keep UIDs unique and dense', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const other = await env.store.openMailbox(USER, 'INBOX');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? inbox : other).append(msg(`m${i}`))));
    const uids = results.map((r) => r.uid).sort((a, b) => a - b);
    assert.deepEqual(uids, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(new Set(results.map((r) => r.modseq)).size, 50);
    assert.equal(readdirSync(join(inbox.path, 'cur')).length, 50);
    const s = await inbox.sync({ force: true });
    assert.deepEqual([s.added, s.expunged, s.flagsChanged], [0, 0, 0]);
  } finally {
    await env.close();
  }
});

test('flags round-trip through the file name and the index; UNCHANGEDSINCE', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 5; i++) await inbox.append(msg(`m${i}`));
    const events: MailboxEvent[] = [];
    env.store.watch(inbox.id, (e) => events.push(e));
    const r = await inbox.setFlags([1, 2, 3], 'add', ['\\seen', 'Important'], { origin: 'me' });
    assert.deepEqual(r.updated.map((u) => u.uid), [1, 2, 3]);
    assert.deepEqual(r.updated[0]!.flags, ['\\Seen', 'Important']);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind, 'flags');
    assert.equal(events[0]!.origin, 'me');
    assert.equal(events[0]!.highestModseq, r.highestModseq);
    const m = (await inbox.getMessage(2))!;
    assert.ok(m.fileName.endsWith(':2,S'));
    assert.ok(existsSync(m.path));
    // Same change again: nothing changes, no new modseq.
    const again = await inbox.setFlags([2], 'add', ['\\Seen']);
    assert.deepEqual(again.updated, []);
    assert.equal(again.unchanged[0]!.modseq, m.modseq);
    const rep = await inbox.setFlags([2], 'replace', ['\\Answered', '\\Deleted']);
    assert.deepEqual(rep.updated[0]!.flags, ['\\Answered', '\\Deleted']);
    assert.ok((await inbox.getMessage(2))!.fileName.endsWith(':2,RT'));
    const rem = await inbox.setFlags([1], 'remove', ['Important', '\\Seen']);
    assert.deepEqual(rem.updated[0]!.flags, []);
    // UNCHANGEDSINCE: message 3 was modified at r.updated[2].modseq.
    const cond = await inbox.setFlags([3, 4], 'add', ['\\Flagged'], { unchangedSince: r.updated[2]!.modseq - 1 });
    assert.deepEqual(cond.modified, [3]);
    assert.deepEqual(cond.updated.map((u) => u.uid), [4]);
    const zero = await inbox.setFlags([5], 'add', ['\\Flagged'], { unchangedSince: 0 });
    assert.deepEqual(zero.modified, [5]);
    // Another program (mutt) changes flags in the file name: sync picks it up, keywords stay.
    const m3 = (await inbox.getMessage(3))!;
    const { renameSync } = await import('node:fs');
    renameSync(m3.path, join(inbox.path, 'cur', `${m3.base}:2,FRSa`));
    const s = await inbox.sync({ force: true });
    assert.equal(s.flagsChanged, 1);
    const m3b = (await inbox.getMessage(3))!;
    assert.deepEqual(m3b.flags, ['\\Seen', '\\Answered', '\\Flagged', 'Important']);
    assert.ok(m3b.modseq > m3.modseq);
    // Our next change keeps the foreign letter "a".
    await inbox.setFlags([3], 'remove', ['\\Answered']);
    assert.ok((await inbox.getMessage(3))!.fileName.endsWith(':2,FSa'));
    // Flags survive a restart (index) and the file names survive a rebuild.
    const s2 = await env.reopen();
    const i2 = await s2.openMailbox(USER, 'INBOX');
    assert.deepEqual((await i2.getMessage(3))!.flags, ['\\Seen', '\\Flagged', 'Important']);
    await assert.rejects(inbox.setFlags([1], 'add', ['\\Nope']), code('BADFLAG'));
  } finally {
    await env.close();
  }
});

test('copy, move and expunge', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    const inbox = await s.openMailbox(USER, 'INBOX');
    const arch = await s.openMailbox(USER, 'Archive');
    for (let i = 1; i <= 6; i++) await inbox.append(msg(`m${i}`), { flags: i === 2 ? ['\\Seen', 'Tag'] : [] });
    const parsedJson = '{"subject":"m2"}';
    await inbox.setParsed(2, { envelope: parsedJson });
    const archEvents: string[] = [];
    s.watch(arch.id, (e) => archEvents.push(e.kind));
    const c = await inbox.copyTo(arch, [2, 3, 99]);
    assert.equal(c.uidValidity, arch.uidValidity);
    assert.deepEqual(c.mapping, [[2, 1], [3, 2]]);
    assert.deepEqual(archEvents, ['append']);
    const a1 = (await arch.getMessage(1))!;
    assert.deepEqual(a1.flags, ['\\Seen', 'Tag']);
    assert.equal(statSync(a1.path).ino, statSync((await inbox.getMessage(2))!.path).ino, 'hard link');
    assert.equal((await arch.getParsed([1])).get(1)!.envelope, parsedJson);
    // Copy into the same mailbox is allowed.
    const self = await inbox.copyTo(inbox, [1]);
    assert.deepEqual(self.mapping, [[1, 7]]);
    // Move.
    const inboxEvents: string[] = [];
    s.watch(inbox.id, (e) => inboxEvents.push(e.kind));
    const before = (await inbox.counters()).highestModseq;
    const mv = await inbox.moveTo(arch, [4, 5]);
    assert.deepEqual(mv.mapping, [[4, 3], [5, 4]]);
    assert.deepEqual(inboxEvents, ['expunge']);
    assert.deepEqual(await inbox.expungedSince(before), [4, 5]);
    assert.equal(await inbox.getMessage(4), undefined);
    assert.ok((await arch.readMessage(3))!.toString().includes('Subject: m4'));
    // Expunge only removes \Deleted messages (and only the given UIDs when asked).
    await inbox.setFlags([1, 3, 6], 'add', ['\\Deleted']);
    assert.deepEqual(await inbox.expunge({ uids: [1, 2] }), [1]);
    const ch = await inbox.changesSince(before);
    assert.deepEqual(ch.expunged, [1, 4, 5]);
    assert.deepEqual(await inbox.expunge(), [3, 6]);
    assert.deepEqual([...(await inbox.uids())], [2, 7]);
    assert.equal(readdirSync(join(inbox.path, 'cur')).length, 2);
    // The index agrees with the disk.
    for (const m of [inbox, arch]) {
      const r = await m.sync({ force: true });
      assert.deepEqual([r.added, r.expunged], [0, 0]);
    }
    assert.deepEqual((await s.quotaUsage(USER)).messages, 6);
  } finally {
    await env.close();
  }
});

test('quota hook rejects appends and copies over the limit', async () => {
  const env = await makeEnv({ quota: () => 1000 });
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    await inbox.append(Buffer.alloc(600, 'a'));
    await assert.rejects(inbox.append(Buffer.alloc(600, 'b')), code('OVERQUOTA'));
    assert.equal(readdirSync(join(inbox.path, 'tmp')).length, 0);
    const trash = await env.store.openMailbox(USER, 'Trash');
    await assert.rejects(inbox.copyTo(trash, [1]), code('OVERQUOTA'));
    await inbox.moveTo(trash, [1]); // a move within the user does not grow usage
    assert.equal((await env.store.quotaUsage(USER)).bytes, 600);
    await assert.rejects(env.store.checkQuota(USER, 500), code('OVERQUOTA'));
  } finally {
    await env.close();
  }
});

test('change notification and changesSince', async () => {
  const env = await makeEnv();
  try {
    const a = await env.store.openMailbox(USER, 'INBOX');
    const b = await env.store.openMailbox(USER, 'INBOX');
    const start = (await b.counters()).highestModseq;
    const seen: MailboxEvent[] = [];
    const off = env.store.watch(b.id, (e) => seen.push(e));
    await a.append(msg('x'));
    await a.append(msg('y'));
    await a.setFlags([1], 'add', ['\\Seen']);
    await a.setFlags([2], 'add', ['\\Deleted']);
    await a.expunge();
    assert.deepEqual(seen.map((e) => e.kind), ['append', 'append', 'flags', 'flags', 'expunge']);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.highestModseq > seen[i - 1]!.highestModseq);
    const ch = await b.changesSince(start);
    assert.deepEqual(ch.changed.map((m) => [m.uid, m.flags]), [[1, ['\\Seen']]]);
    assert.deepEqual(ch.expunged, [2]);
    assert.equal(ch.highestModseq, seen[seen.length - 1]!.highestModseq);
    assert.equal(ch.uidNext, 3);
    const none = await b.changesSince(ch.highestModseq);
    assert.deepEqual([none.changed.length, none.expunged.length], [0, 0]);
    off();
    await a.append(msg('z'));
    assert.equal(seen.length, 5);
    // listMessages with changedSince / paging
    assert.deepEqual((await a.listMessages({ changedSince: ch.highestModseq })).map((m) => m.uid), [3]);
    const all: number[] = [];
    for await (const m of a.iterateMessages({ pageSize: 1 })) all.push(m.uid);
    assert.deepEqual(all, [1, 3]);
  } finally {
    await env.close();
  }
});
