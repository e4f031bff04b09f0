import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, msg, USER } from './helpers.js';
import { MailStoreError } from '../../../src/store/mail/errors.js';

const code = (c: string) => (err: unknown) => err instanceof MailStoreError && err.code === c;

test('ensureUser creates INBOX and the special-use mailboxes once', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    await s.ensureUser(USER);
    const list = await s.listMailboxes(USER);
    assert.deepEqual(
      list.map((m) => [m.name, m.specialUse]),
      [
        ['INBOX', null],
        ['Archive', '\\Archive'],
        ['Drafts', '\\Drafts'],
        ['Junk', '\\Junk'],
        ['Sent', '\\Sent'],
        ['Trash', '\\Trash'],
      ],
    );
    assert.ok(list.every((m) => m.subscribed && m.attributes.includes('\\HasNoChildren')));
    assert.deepEqual(list.find((m) => m.name === 'Sent')!.attributes, ['\\HasNoChildren', '\\Sent']);
    const root = s.userMaildir(USER);
    for (const d of ['cur', 'new', 'tmp', '.Sent/cur', '.Drafts/new', '.Trash/tmp', '.Junk', '.Archive']) assert.ok(existsSync(join(root, d)), d);
    // A deleted special-use mailbox is not recreated, not even by a new process.
    await s.deleteMailbox(USER, 'Junk');
    const s2 = await env.reopen();
    await s2.ensureUser({ address: 'Alice@Example.com' });
    assert.ok(!(await s2.listMailboxes(USER)).some((m) => m.name === 'Junk'));
    const st = await s2.status(USER, 'inbox');
    assert.equal(st.messages, 0);
    assert.equal(st.uidNext, 1);
    assert.ok(st.uidValidity > 0);
  } finally {
    await env.close();
  }
});

test('create makes parents; names are validated; nothing escapes the user directory', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    await s.createMailbox(USER, 'Archive/2024/Q1');
    const names = (await s.listMailboxes(USER)).map((m) => m.name);
    assert.ok(names.includes('Archive/2024') && names.includes('Archive/2024/Q1'));
    const arch = (await s.listMailboxes(USER)).find((m) => m.name === 'Archive')!;
    assert.ok(arch.hasChildren && arch.attributes.includes('\\HasChildren'));
    await assert.rejects(s.createMailbox(USER, 'Archive/2024'), code('ALREADYEXISTS'));
    await assert.rejects(s.createMailbox(USER, 'inbox'), code('ALREADYEXISTS'));
    for (const bad of ['', 'a//b', 'x\u0000y', 'a'.repeat(500), Array(40).fill('d').join('/')]) {
      await assert.rejects(s.createMailbox(USER, bad), code('BADNAME'), JSON.stringify(bad.slice(0, 10)));
    }
    for (const odd of ['..', '../x', 'a/../../b', '.hidden', '%2e%2e']) {
      await s.createMailbox(USER, odd);
    }
    const root = s.userMaildir(USER);
    // Everything created lives directly in the user's Maildir root.
    const parentEntries = readdirSync(join(root, '..'));
    assert.deepEqual(parentEntries, [root.split('/').pop()]);
    const entries = readdirSync(root).filter((e) => e.startsWith('.'));
    for (const e of entries) assert.ok(!e.startsWith('..') && !e.includes('/'), e);
    assert.ok(entries.includes('.%2E%2E.x'));
    assert.ok(entries.includes('.%2Ehidden'));
    const listed = (await s.listMailboxes(USER)).map((m) => m.name);
    for (const odd of ['../x', '..', 'a/../../b', '.hidden', '%2e%2e']) assert.ok(listed.includes(odd), odd);
    // The folders map back to the same names after a reindex from disk.
    await env.opened.db.deleteFrom('mail_messages').execute();
    await env.opened.db.deleteFrom('mail_mailboxes').execute();
    await env.opened.db.deleteFrom('mail_users').execute();
    const s2 = await env.reopen();
    const again = (await s2.listMailboxes(USER)).map((m) => m.name).sort();
    assert.deepEqual(again, [...listed].sort());
  } finally {
    await env.close();
  }
});

test('delete rules (RFC 3501 §6.3.4)', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    await assert.rejects(s.deleteMailbox(USER, 'INBOX'), code('CANNOT'));
    await assert.rejects(s.deleteMailbox(USER, 'nope'), code('NONEXISTENT'));
    await s.createMailbox(USER, 'P/C');
    const p = await s.openMailbox(USER, 'P');
    await p.append(msg('in parent'));
    const events: string[] = [];
    s.watch(p.id, (e) => events.push(e.kind));
    // A parent with children loses its messages and becomes \Noselect.
    await s.deleteMailbox(USER, 'P');
    assert.deepEqual(events, ['deleted']);
    assert.ok(p.gone);
    let entry = (await s.listMailboxes(USER)).find((m) => m.name === 'P')!;
    assert.ok(entry.noselect && entry.attributes.includes('\\Noselect') && entry.hasChildren);
    assert.ok(!existsSync(join(s.userMaildir(USER), '.P')));
    await assert.rejects(s.openMailbox(USER, 'P'), code('CANNOT'));
    await assert.rejects(p.append(msg('x')), code('NONEXISTENT'));
    // \Noselect with children cannot be deleted.
    await assert.rejects(s.deleteMailbox(USER, 'P'), code('CANNOT'));
    // Deleting the last child removes the \Noselect parent too.
    await s.deleteMailbox(USER, 'P/C');
    assert.ok(!(await s.listMailboxes(USER)).some((m) => m.name.startsWith('P')));
    // Recreate: fresh mailbox, new UIDVALIDITY, UIDs from 1.
    await s.createMailbox(USER, 'P');
    const p2 = await s.openMailbox(USER, 'P');
    assert.notEqual(p2.uidValidity, p.uidValidity);
    assert.equal((await p2.status()).messages, 0);
    assert.equal((await p2.append(msg('again'))).uid, 1);
    // CREATE on a \Noselect name makes it selectable again.
    await s.createMailbox(USER, 'Q/R');
    await s.deleteMailbox(USER, 'Q');
    await s.createMailbox(USER, 'Q');
    entry = (await s.listMailboxes(USER)).find((m) => m.name === 'Q')!;
    assert.ok(!entry.noselect);
    await (await s.openMailbox(USER, 'Q')).append(msg('q'));
  } finally {
    await env.close();
  }
});

test('rename moves children; INBOX rename moves messages and leaves INBOX empty', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    await s.createMailbox(USER, 'Work/Projects/X');
    const w = await s.openMailbox(USER, 'Work/Projects');
    const a = await w.append(msg('p1'), { flags: ['\\Seen'] });
    const uv = w.uidValidity;
    await assert.rejects(s.renameMailbox(USER, 'Work', 'Work/Sub'), code('CANNOT'));
    await assert.rejects(s.renameMailbox(USER, 'Work', 'Sent'), code('ALREADYEXISTS'));
    await assert.rejects(s.renameMailbox(USER, 'Nope', 'Other'), code('NONEXISTENT'));
    await s.renameMailbox(USER, 'Work', 'Old/Work');
    const names = (await s.listMailboxes(USER)).map((m) => m.name);
    assert.ok(names.includes('Old') && names.includes('Old/Work') && names.includes('Old/Work/Projects') && names.includes('Old/Work/Projects/X'));
    assert.ok(!names.some((n) => n.startsWith('Work')));
    const root = s.userMaildir(USER);
    assert.ok(existsSync(join(root, '.Old.Work.Projects.X', 'cur')));
    assert.ok(!existsSync(join(root, '.Work.Projects')));
    // The old handle follows the rename; UIDVALIDITY and UIDs are kept.
    assert.equal(w.name, 'Old/Work/Projects');
    const moved = await s.openMailbox(USER, 'Old/Work/Projects');
    assert.equal(moved.uidValidity, uv);
    assert.equal((await moved.readMessage(a.uid))!.toString().includes('Subject: p1'), true);
    assert.deepEqual((await moved.getMessage(a.uid))!.flags, ['\\Seen']);
    await moved.sync({ force: true });
    assert.equal((await moved.status()).messages, 1);

    // INBOX rename.
    const inbox = await s.openMailbox(USER, 'INBOX');
    await s.createMailbox(USER, 'INBOX/Child');
    const u1 = await inbox.append(msg('i1'));
    const u2 = await inbox.append(msg('i2'), { flags: ['$Label1'] });
    const before = await inbox.counters();
    await s.renameMailbox(USER, 'INBOX', 'Old Inbox');
    const inboxSt = await s.status(USER, 'INBOX');
    assert.equal(inboxSt.messages, 0);
    assert.equal(inboxSt.uidValidity, before.uidValidity);
    assert.ok(inboxSt.uidNext >= before.uidNext, 'UIDs are not reused');
    assert.deepEqual(await inbox.expungedSince(before.highestModseq), [u1.uid, u2.uid]);
    const old = await s.openMailbox(USER, 'Old Inbox');
    const st = await old.status();
    assert.equal(st.messages, 2);
    assert.notEqual(st.uidValidity, before.uidValidity);
    assert.deepEqual((await old.getMessage(u2.uid))!.flags, ['$Label1']);
    assert.ok((await old.readMessage(u1.uid))!.toString().includes('Subject: i1'));
    assert.equal((await old.sync({ force: true })).expunged, 0);
    assert.equal((await inbox.sync({ force: true })).added, 0);
    assert.ok((await s.listMailboxes(USER)).some((m) => m.name === 'INBOX/Child'));
    // INBOX still works.
    assert.equal((await inbox.append(msg('i3'))).uid, before.uidNext);
  } finally {
    await env.close();
  }
});

test('subscribe and unsubscribe', async () => {
  const env = await makeEnv();
  try {
    const s = env.store;
    await s.createMailbox(USER, 'Lists');
    assert.equal((await s.listMailboxes(USER)).find((m) => m.name === 'Lists')!.subscribed, false);
    await s.setSubscribed(USER, 'Lists', true);
    assert.equal((await s.listMailboxes(USER)).find((m) => m.name === 'Lists')!.subscribed, true);
    await s.setSubscribed(USER, 'Lists', false);
    assert.equal((await s.listMailboxes(USER)).find((m) => m.name === 'Lists')!.subscribed, false);
    await assert.rejects(s.setSubscribed(USER, 'Nope', true), code('NONEXISTENT'));
  } finally {
    await env.close();
  }
});
