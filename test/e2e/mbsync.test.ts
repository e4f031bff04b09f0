/**
 * mbsync (Debian isync 1.4) syncing a Mailwright account both ways with a local Maildir, over STARTTLS (the
 * server's self-signed certificate given as CertificateFile), "Expunge Both", "Create Both", all folders.
 *
 * The tests run in order and share the server and the local Maildir:
 *  1. first run: messages delivered over SMTP and APPENDed on the server arrive locally, with their flags;
 *  2. changes on both sides, then a run: local flag changes (":2," suffix) reach the server (FETCH FLAGS), a local
 *     message marked T is expunged on the server, a locally removed file is expunged on the server, local new
 *     files are uploaded (APPEND) into the right folders; on the server a MOVE INBOX -> Archive, a flag change and
 *     a new delivery arrive locally;
 *  3. two more runs change nothing: per folder, the Message-IDs and counts on both sides are equal and unique.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  startImapServer,
  deliver,
  makeMessage,
  run,
  killChildren,
  RawImap,
  quote,
  tempDir,
  type ImapTestServer,
} from '../helpers/e2e.js';

const USER = 'sync@example.test';
const FOLDERS = ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash'];
let srv: ImapTestServer;
let dir: string;
let rc: string;
let local: string;
let imap: RawImap;

before(async () => {
  srv = await startImapServer({ users: [USER] });
  dir = tempDir('mw-mbsync-');
  local = join(dir, 'sync');
  mkdirSync(local);
  rc = join(dir, 'mbsyncrc');
  writeFileSync(
    rc,
    [
      'IMAPAccount t',
      'Host 127.0.0.1',
      `Port ${srv.imapPort}`,
      `User ${USER}`,
      'Pass secret',
      'SSLType STARTTLS',
      `CertificateFile ${srv.certFile}`,
      'AuthMechs LOGIN',
      '',
      'IMAPStore remote',
      'Account t',
      '',
      'MaildirStore local',
      `Path ${local}/`,
      `Inbox ${local}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel c',
      'Far :remote:',
      'Near :local:',
      'Patterns *',
      'Create Both',
      'Expunge Both',
      'SyncState *',
      '',
    ].join('\n'),
  );
  imap = await RawImap.login(srv.imapPort, USER);
});

after(async () => {
  killChildren();
  RawImap.closeAll();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function mbsync(): Promise<void> {
  const r = await run('mbsync', ['-c', rc, '-a'], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `mbsync exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /error|warning/i, r.stderr);
}

// ---------------------------------------------------------------------------------------------- the local side

interface LocalMsg {
  folder: string;
  path: string;
  sub: 'new' | 'cur';
  name: string;
  /** Maildir info letters (sorted), "" when none. */
  letters: string;
  id: string;
}

function messageIdOf(b: Buffer): string {
  return /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(b.toString('latin1'))?.[1] ?? '(none)';
}

function localMessages(folder: string): LocalMsg[] {
  const out: LocalMsg[] = [];
  for (const sub of ['new', 'cur'] as const) {
    const d = join(local, folder, sub);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (name.startsWith('.')) continue;
      const i = name.indexOf(':2,');
      out.push({ folder, path: join(d, name), sub, name, letters: i < 0 ? '' : name.slice(i + 3), id: messageIdOf(readFileSync(join(d, name))) });
    }
  }
  return out;
}

function localById(folder: string, id: string): LocalMsg {
  const m = localMessages(folder).filter((x) => x.id === `<${id}>`);
  assert.equal(m.length, 1, `local ${folder} should hold ${id} once: ${JSON.stringify(localMessages(folder).map((x) => x.name + ' ' + x.id))}`);
  return m[0]!;
}

/** Set the Maildir flags of a local message (moves it to cur/, as a mail client would). */
function setLocalFlags(m: LocalMsg, letters: string) {
  const base = m.name.includes(':2,') ? m.name.slice(0, m.name.indexOf(':2,')) : m.name;
  renameSync(m.path, join(local, m.folder, 'cur', `${base}:2,${[...letters].sort().join('')}`));
}

const localIds = (folder: string) => localMessages(folder).map((m) => m.id).sort();

// ---------------------------------------------------------------------------------------------- the server side

/** Message-ID -> flags (sorted) for every message in a server mailbox; ids listed once per message. */
async function serverMessages(mailbox: string): Promise<Array<{ id: string; flags: string[]; uid: number }>> {
  const s = await imap.cmd(`EXAMINE ${quote(mailbox)}`);
  assert.equal(s.status, 'OK', s.text);
  const exists = Number(/\* (\d+) EXISTS/.exec(s.untagged.join('\n'))?.[1] ?? 0);
  if (!exists) return [];
  const r = await imap.cmd('UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
  assert.equal(r.status, 'OK', r.text);
  const out = r.untagged
    .filter((l) => / FETCH /.test(l))
    .map((l) => ({
      id: /Message-ID:\s*(<[^>\r\n]+>)/i.exec(l)?.[1] ?? '(none)',
      flags: (/FLAGS \(([^)]*)\)/.exec(l)?.[1] ?? '').split(' ').filter((f) => f && f !== '\\Recent').sort(),
      uid: Number(/UID (\d+)/.exec(l)?.[1]),
    }));
  assert.equal(out.length, exists, 'one FETCH response per message');
  return out;
}

async function serverFlags(mailbox: string, id: string): Promise<string[]> {
  const all = (await serverMessages(mailbox)).filter((m) => m.id === `<${id}>`);
  assert.equal(all.length, 1, `server ${mailbox} should hold ${id} once: ${JSON.stringify(all)}`);
  return all[0]!.flags;
}

const serverIds = async (mailbox: string) => (await serverMessages(mailbox)).map((m) => m.id).sort();

async function append(mailbox: string, msg: string, flags = '') {
  const b = Buffer.from(msg, 'utf8');
  const r = await imap.cmd(`APPEND ${quote(mailbox)} (${flags}) {${b.length}+}\r\n${msg}`);
  assert.equal(r.status, 'OK', r.text);
}

async function cmdOk(line: string) {
  const r = await imap.cmd(line);
  assert.equal(r.status, 'OK', `${line}: ${r.text}`);
  return r;
}

/** Both sides hold the same messages in every folder, each once. */
async function assertInStep(expected?: Record<string, string[]>) {
  for (const f of FOLDERS) {
    const l = localIds(f);
    const s = await serverIds(f);
    assert.deepEqual(l, s, `folder ${f}: local vs server`);
    assert.equal(new Set(l).size, l.length, `folder ${f}: duplicates locally: ${l}`);
    assert.equal(new Set(s).size, s.length, `folder ${f}: duplicates on the server: ${s}`);
    if (expected) assert.deepEqual(s, (expected[f] ?? []).map((x) => `<${x}>`).sort(), `folder ${f}: expected messages`);
  }
}

// ---------------------------------------------------------------------------------------------- the steps

test('first run: delivered and appended messages arrive in the local Maildir with their flags', async () => {
  for (const id of ['m1@x.test', 'm2@x.test', 'm5@x.test']) await deliver(srv.smtpPort, USER, makeMessage({ id, to: USER }));
  await append('INBOX', makeMessage({ id: 'm3@x.test', to: USER }), '\\Seen');
  await append('Archive', makeMessage({ id: 'm4@x.test', to: USER }), '\\Seen \\Flagged');

  await mbsync();
  for (const f of FOLDERS) assert.ok(existsSync(join(local, f, 'cur')), `local folder ${f} created`);
  await assertInStep({ INBOX: ['m1@x.test', 'm2@x.test', 'm3@x.test', 'm5@x.test'], Archive: ['m4@x.test'] });
  assert.equal(localById('INBOX', 'm3@x.test').letters, 'S');
  assert.equal(localById('Archive', 'm4@x.test').letters, 'FS');
  assert.equal(localById('INBOX', 'm1@x.test').letters, '');
  // Bytes arrive unchanged.
  const c = await imap.cmd('EXAMINE INBOX');
  assert.equal(c.status, 'OK');
  const m1uid = (await serverMessages('INBOX')).find((m) => m.id === '<m1@x.test>')!.uid;
  const body = await imap.cmd(`UID FETCH ${m1uid} (BODY.PEEK[])`);
  const lit = /\{(\d+)\}\r\n/.exec(body.untagged[0]!)!;
  const serverBytes = Buffer.from(body.untagged[0]!.slice(lit.index + lit[0].length, lit.index + lit[0].length + Number(lit[1])), 'latin1');
  // mbsync stores messages with Unix line ends and adds its X-TUID header (its own tracking id).
  const localCopy = readFileSync(localById('INBOX', 'm1@x.test').path).toString('latin1').replace(/^X-TUID: .*\n/m, '');
  assert.equal(localCopy, serverBytes.toString('latin1').replace(/\r\n/g, '\n'), 'local copy equals the server copy');
});

test('second run: flags, deletes and new files go up; a server-side move, flag change and delivery come down', async () => {
  // Local changes.
  setLocalFlags(localById('INBOX', 'm1@x.test'), 'FS');
  setLocalFlags(localById('INBOX', 'm2@x.test'), 'T'); // deleted locally (Expunge Both)
  rmSync(localById('Archive', 'm4@x.test').path); // removed by hand
  writeFileSync(join(local, 'INBOX', 'new', `1700000000.L1.localhost`), makeMessage({ id: 'l1@local.test', subject: 'Written locally' }));
  writeFileSync(join(local, 'Archive', 'cur', `1700000001.L2.localhost:2,S`), makeMessage({ id: 'l2@local.test', subject: 'Archived locally' }));
  // Server changes.
  await cmdOk('SELECT INBOX');
  const uidOf = async (id: string) => (await serverMessages('INBOX')).find((m) => m.id === `<${id}>`)!.uid;
  const m5 = await uidOf('m5@x.test');
  const m3 = await uidOf('m3@x.test');
  await cmdOk('SELECT INBOX');
  await cmdOk(`UID MOVE ${m5} Archive`);
  await cmdOk(`UID STORE ${m3} +FLAGS (\\Answered)`);
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'm6@x.test', to: USER }));

  await mbsync();

  // The server got the local changes.
  assert.deepEqual(await serverFlags('INBOX', 'm1@x.test'), ['\\Flagged', '\\Seen']);
  assert.ok(!(await serverIds('INBOX')).includes('<m2@x.test>'), 'm2 (T locally) expunged on the server');
  assert.ok(!(await serverIds('Archive')).includes('<m4@x.test>'), 'm4 (removed locally) expunged on the server');
  assert.deepEqual(await serverFlags('INBOX', 'l1@local.test'), [], 'local new file uploaded unseen');
  assert.deepEqual(await serverFlags('Archive', 'l2@local.test'), ['\\Seen'], 'local cur file uploaded with \\Seen');
  // The local side got the server's changes.
  assert.equal(localById('INBOX', 'm3@x.test').letters, 'RS', '\\Answered became R');
  localById('INBOX', 'm6@x.test');
  localById('Archive', 'm5@x.test');
  assert.ok(!localIds('INBOX').includes('<m5@x.test>'), 'the moved message left the local INBOX');
  assert.ok(!localIds('INBOX').includes('<m2@x.test>'), 'the T message was expunged locally too');

  await assertInStep({
    INBOX: ['m1@x.test', 'm3@x.test', 'm6@x.test', 'l1@local.test'],
    Archive: ['m5@x.test', 'l2@local.test'],
  });
});

test('further runs change nothing: nothing lost, nothing duplicated, UIDs stable', async () => {
  const before: Record<string, Array<{ id: string; flags: string[]; uid: number }>> = {};
  for (const f of FOLDERS) before[f] = await serverMessages(f);
  const localBefore = FOLDERS.flatMap((f) => localMessages(f).map((m) => `${f}/${m.sub}/${m.name}`)).sort();
  await mbsync();
  await mbsync();
  for (const f of FOLDERS) assert.deepEqual(await serverMessages(f), before[f], `server ${f} unchanged by idle runs`);
  const localAfter = FOLDERS.flatMap((f) => localMessages(f).map((m) => `${f}/${m.sub}/${m.name}`)).sort();
  assert.deepEqual(localAfter, localBefore, 'local files unchanged by idle runs');
  await assertInStep({
    INBOX: ['m1@x.test', 'm3@x.test', 'm6@x.test', 'l1@local.test'],
    Archive: ['m5@x.test', 'l2@local.test'],
  });

  // One more round trip of a flag change from the server side, then idle again.
  await cmdOk('SELECT Archive');
  const l2 = before.Archive!.find((m) => m.id === '<l2@local.test>')!.uid;
  await cmdOk(`UID STORE ${l2} +FLAGS (\\Flagged)`);
  await mbsync();
  assert.equal(localById('Archive', 'l2@local.test').letters, 'FS');
  await assertInStep();
});

test('SSLType None over loopback (allowInsecureAuth "loopback"): mbsync logs in with LOGIN and lists the folders', async () => {
  const rc2 = join(dir, 'mbsyncrc-plain');
  writeFileSync(
    rc2,
    [
      'IMAPAccount p',
      'Host 127.0.0.1',
      `Port ${srv.imapPort}`,
      `User ${USER}`,
      'Pass secret',
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore premote',
      'Account p',
      '',
      'MaildirStore plocal',
      `Path ${join(dir, 'plain')}/`,
      `Inbox ${join(dir, 'plain')}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel p',
      'Far :premote:',
      'Near :plocal:',
      'Patterns *',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'plain'), { recursive: true });
  const r = await run('mbsync', ['-c', rc2, '-l', 'p'], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `mbsync -l exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), [...FOLDERS].sort());
});
