import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, msg, USER } from './helpers.js';
import { MaildirTmpFile } from '../../../src/store/maildir/maildir.js';
import type { MailboxEvent } from '../../../src/store/mail/store.js';

test('files dropped into new/ and cur/ by hand get new UIDs in arrival order and move to cur/', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    await inbox.append(msg('appended'));
    const t0 = Math.floor(Date.now() / 1000) - 100;
    writeFileSync(join(inbox.path, 'new', 'zzz.dropped'), msg('third'));
    utimesSync(join(inbox.path, 'new', 'zzz.dropped'), t0 + 3, t0 + 3);
    writeFileSync(join(inbox.path, 'new', 'aaa.dropped'), msg('first'));
    utimesSync(join(inbox.path, 'new', 'aaa.dropped'), t0 + 1, t0 + 1);
    writeFileSync(join(inbox.path, 'cur', 'mmm.mutt:2,FS'), msg('second'));
    utimesSync(join(inbox.path, 'cur', 'mmm.mutt:2,FS'), t0 + 2, t0 + 2);
    writeFileSync(join(inbox.path, 'cur', 'noinfo.file'), msg('fourth'));
    utimesSync(join(inbox.path, 'cur', 'noinfo.file'), t0 + 4, t0 + 4);
    writeFileSync(join(inbox.path, 'new', '.hidden'), 'not mail');
    const events: MailboxEvent[] = [];
    env.store.watch(inbox.id, (e) => events.push(e));
    const r = await inbox.sync();
    assert.equal(r.added, 4);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind, 'append');
    assert.deepEqual(readdirSync(join(inbox.path, 'new')), ['.hidden']);
    const msgs = await inbox.listMessages();
    const subjects = await Promise.all(msgs.map(async (m) => /Subject: (\w+)/.exec((await inbox.readMessage(m.uid))!.toString())![1]));
    assert.deepEqual(subjects, ['appended', 'first', 'second', 'third', 'fourth']);
    assert.deepEqual(msgs.map((m) => m.uid), [1, 2, 3, 4, 5]);
    assert.deepEqual(msgs[2]!.flags, ['\\Seen', '\\Flagged']);
    assert.equal(msgs[1]!.internalDate, Math.floor((t0 + 1) * 1000));
    const cur = readdirSync(join(inbox.path, 'cur')).sort();
    assert.ok(cur.includes('aaa.dropped:2,') && cur.includes('zzz.dropped:2,') && cur.includes('noinfo.file:2,'), cur.join());
    // Nothing changed: cheap, no scan of cur/ (the last change was long enough ago only after a second).
    const again = await inbox.sync();
    assert.deepEqual([again.added, again.expunged, again.flagsChanged], [0, 0, 0]);
  } finally {
    await env.close();
  }
});

test('a first scan: sizes and INTERNALDATEs from stat, UIDs by mtime then name, duplicates renamed, non-files skipped', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const cur = join(inbox.path, 'cur');
    const t0 = Math.floor(Date.now() / 1000) - 1000;
    // name -> [mtime offset, body]; "b" and "c" share an mtime (ordered by name); "dup" appears twice.
    const files: Array<[string, number, string]> = [
      ['c.host:2,S', 5, 'c-body'],
      ['a.host:2,', 9, 'a-body-longer'],
      ['b.host:2,F', 5, 'b'],
      ['dup.host:2,S', 1, 'dup-one'],
      ['dup.host:2,RS', 2, 'dup-two!'],
    ];
    for (const [name, off, body] of files) {
      writeFileSync(join(cur, name), msg(body));
      utimesSync(join(cur, name), t0 + off, t0 + off);
    }
    mkdirSync(join(cur, 'subdir.host:2,'));
    const r = await inbox.sync();
    assert.equal(r.added, 5);
    const msgs = await inbox.listMessages();
    const bodies = await Promise.all(msgs.map(async (m) => (await inbox.readMessage(m.uid))!.toString().split('\r\n\r\n')[0]!.match(/Subject: (\S+)/)![1]));
    assert.deepEqual(bodies, ['dup-one', 'dup-two!', 'b', 'c-body', 'a-body-longer']);
    assert.deepEqual(msgs.map((m) => m.uid), [1, 2, 3, 4, 5]);
    assert.deepEqual(msgs.map((m) => m.internalDate), [1, 2, 5, 5, 9].map((o) => (t0 + o) * 1000));
    for (const m of msgs) assert.equal(m.size, msg(bodies[m.uid - 1]!).length);
    // One of the two keeps the name (which one depends on the directory order), the other gets a new one.
    assert.equal(msgs.filter((m) => m.base === 'dup.host').length, 1);
    assert.notEqual(msgs[0]!.base, msgs[1]!.base);
    assert.deepEqual(msgs[1]!.flags, ['\\Seen', '\\Answered']);
    assert.ok(readdirSync(cur).includes('subdir.host:2,'));
  } finally {
    await env.close();
  }
});

test('files deleted by hand become expunged with a new modseq; sync without changes does not scan', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 4; i++) await inbox.append(msg(`m${i}`));
    const m2 = (await inbox.getMessage(2))!;
    const m3 = (await inbox.getMessage(3))!;
    const before = (await inbox.counters()).highestModseq;
    unlinkSync(m2.path);
    unlinkSync(m3.path);
    const r = await inbox.sync();
    assert.equal(r.expunged, 2);
    assert.deepEqual(await inbox.expungedSince(before), [2, 3]);
    assert.ok((await inbox.counters()).highestModseq > before);
    assert.deepEqual([...(await inbox.uids())], [1, 4]);
    // Make cur/ look old, then a sync with no change does not rescan.
    const old = Date.now() / 1000 - 60;
    utimesSync(join(inbox.path, 'cur'), old, old);
    await inbox.sync();
    const quiet = await inbox.sync();
    assert.equal(quiet.scanned, false);
    // A reader of a vanished file heals the index.
    const m4 = (await inbox.getMessage(4))!;
    unlinkSync(m4.path);
    assert.equal(await inbox.readMessage(4), undefined);
  } finally {
    await env.close();
  }
});

for (const cache of [true, false]) {
  test(`a scan after a restart (${cache ? 'through the in-memory copy' : 'index copy off: from SQL'}) finds flag letters changed, files removed and files added by hand`, async () => {
    const env = await makeEnv(cache ? {} : { recordCacheMessages: 0 });
    try {
      let inbox = await env.store.openMailbox(USER, 'INBOX');
      for (let i = 0; i < 6; i++) await inbox.append(msg(`m${i}`), { flags: i === 1 ? ['\\Flagged', 'Work'] : [] });
      const m2 = (await inbox.getMessage(2))!;
      const m3 = (await inbox.getMessage(3))!;
      const m5 = (await inbox.getMessage(5))!;
      // A new process: nothing in memory, the next sync scans cur/.
      const store = await env.reopen(cache ? {} : { recordCacheMessages: 0 });
      inbox = await store.openMailbox(USER, 'INBOX');
      const { renameSync } = await import('node:fs');
      renameSync(m2.path, join(inbox.path, 'cur', `${m2.base}:2,FS`));
      unlinkSync(m3.path);
      renameSync(m5.path, join(inbox.path, 'cur', m5.base)); // no ":2," at all
      writeFileSync(join(inbox.path, 'cur', 'handmade.host:2,S'), msg('by hand'));
      const r = await inbox.sync({ force: true });
      assert.deepEqual({ added: r.added, expunged: r.expunged, flagsChanged: r.flagsChanged }, { added: 1, expunged: 1, flagsChanged: 1 });
      const all = await inbox.listMessages();
      assert.deepEqual(all.map((m) => m.uid), [1, 2, 4, 5, 6, 7]);
      assert.deepEqual(all.find((m) => m.uid === 2)!.flags.sort(), ['Work', '\\Flagged', '\\Seen']);
      assert.equal(all.find((m) => m.uid === 5)!.path, join(inbox.path, 'cur', `${m5.base}:2,`));
      assert.deepEqual(all.find((m) => m.uid === 7)!.flags, ['\\Seen']);
      assert.equal((await inbox.sync({ force: true })).flagsChanged, 0);
    } finally {
      await env.close();
    }
  });
}

test('SMTP delivery fast path: onDelivered syncs INBOX and notifies', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const seen: MailboxEvent[] = [];
    env.store.watch(inbox.id, (e) => seen.push(e));
    const spool = join(env.dataDir, 'spool');
    const f = await MaildirTmpFile.create(spool);
    await f.write(Buffer.from(msg('delivered')));
    await f.commit([env.store.userMaildir(USER)]);
    await env.store.onDelivered({ targets: [{ address: USER }, { address: 'bob@example.com' }] });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.uidNext, 2);
    const m = (await inbox.getMessage(1))!;
    assert.ok((await inbox.readMessage(1))!.toString().includes('delivered'));
    assert.ok(m.base.includes(',S='));
    assert.deepEqual(m.flags, []);
    // A crash between rename into cur/ and the index insert: the next sync heals it with a new UID.
    writeFileSync(join(inbox.path, 'cur', `${Date.now()}.Mcrash.host,S=10:2,S`), msg('crash'));
    const r = await inbox.sync();
    assert.equal(r.added, 1);
    assert.deepEqual((await inbox.getMessage(2))!.flags, ['\\Seen']);
  } finally {
    await env.close();
  }
});

test('reindex after deleting the database keeps all messages; full mode assigns a new UIDVALIDITY', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    const inbox = await s.openMailbox(USER, 'INBOX');
    await s.createMailbox(USER, 'Lists/Rust');
    const rust = await s.openMailbox(USER, 'Lists/Rust');
    for (let i = 0; i < 5; i++) await inbox.append(msg(`i${i}`), { flags: i === 0 ? ['\\Seen'] : [] });
    for (let i = 0; i < 3; i++) await rust.append(msg(`r${i}`));
    // keep mode on an intact index changes nothing
    const k = await s.reindex(USER);
    assert.deepEqual([k.added, k.expunged], [0, 0]);
    assert.equal(k.messages, 8, JSON.stringify(k));
    const uvInbox = inbox.uidValidity;
    // Lose the database.
    await env.opened.close();
    rmSync(join(env.dir, 'db'), { recursive: true, force: true });
    const s2 = await env.reopen();
    const r = await s2.reindex(USER);
    assert.equal(r.messages, 8);
    const names = (await s2.listMailboxes(USER)).map((m) => m.name);
    for (const n of ['INBOX', 'Lists', 'Lists/Rust', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) assert.ok(names.includes(n), n);
    const i2 = await s2.openMailbox(USER, 'INBOX');
    assert.equal((await i2.status()).messages, 5);
    assert.deepEqual((await i2.listMessages()).map((m) => m.flags.length), [1, 0, 0, 0, 0]);
    assert.equal((await (await s2.openMailbox(USER, 'Lists/Rust')).status()).messages, 3);
    // A hierarchy-only parent (folder missing on disk) is \Noselect after discovery.
    mkdirSync(join(s2.userMaildir(USER), '.Only.Child', 'cur'), { recursive: true });
    await s2.reindex(USER);
    const only = (await s2.listMailboxes(USER)).find((m) => m.name === 'Only')!;
    assert.ok(only.noselect && only.hasChildren);
    // Full rebuild.
    const uv = i2.uidValidity;
    const events: string[] = [];
    s2.watch(i2.id, (e) => events.push(e.kind));
    await s2.reindex(USER, { mode: 'full' });
    assert.ok(events.includes('uidvalidity'));
    const i3 = await s2.openMailbox(USER, 'INBOX');
    assert.notEqual(i3.uidValidity, uv);
    assert.notEqual(i3.uidValidity, uvInbox);
    assert.deepEqual([...(await i3.uids())], [1, 2, 3, 4, 5]);
    // Rows of a folder removed by hand are dropped by reindex.
    rmSync(join(s2.userMaildir(USER), '.Lists.Rust'), { recursive: true });
    await s2.reindex(USER);
    const after = await s2.listMailboxes(USER);
    assert.ok(!after.some((m) => m.name === 'Lists/Rust'));
    assert.ok(after.some((m) => m.name === 'Lists' && !m.hasChildren));
  } finally {
    await env.close();
  }
});

test('concurrent syncs and appends in one process do not duplicate or lose messages', async () => {
  const env = await makeEnv();
  try {
    const a = await env.store.openMailbox(USER, 'INBOX');
    const b = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 200; i++) writeFileSync(join(a.path, 'new', `drop.${i}`), msg(`d${i}`));
    const results = await Promise.all([a.sync(), b.sync(), a.append(msg('x')), b.sync({ force: true }), env.store.onDelivered({ targets: [{ address: USER }] })]);
    const added = results.slice(0, 2).concat(results[3] as never).reduce((n, r) => n + (r as { added: number }).added, 0);
    assert.equal(added, 200);
    const uids = [...(await a.uids())];
    assert.equal(uids.length, 201);
    assert.deepEqual(uids, Array.from({ length: 201 }, (_, i) => i + 1));
    assert.equal(readdirSync(join(a.path, 'cur')).length, 201);
  } finally {
    await env.close();
  }
});

test('modseq increases with every change', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    const seq: number[] = [(await inbox.counters()).highestModseq];
    seq.push((await inbox.append(msg('a'))).modseq);
    seq.push((await inbox.setFlags([1], 'add', ['\\Flagged'])).highestModseq);
    writeFileSync(join(inbox.path, 'new', 'x.y'), msg('b'));
    await inbox.sync();
    seq.push((await inbox.counters()).highestModseq);
    await inbox.setFlags([1], 'add', ['\\Deleted']);
    await inbox.expunge();
    seq.push((await inbox.counters()).highestModseq);
    for (let i = 1; i < seq.length; i++) assert.ok(seq[i]! > seq[i - 1]!, seq.join());
    assert.equal((await inbox.getMessage(2))!.modseq, seq[3]);
  } finally {
    await env.close();
  }
});
