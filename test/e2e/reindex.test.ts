/**
 * The Maildir is the truth: hand edits and crashes, seen through IMAP.
 *  - With the server stopped, files copied by hand into new/ and cur/ and a file deleted from cur/, then the real
 *    CLI `mailwright --config F reindex USER`: the new files get new UIDs above the old ones, the deleted one is
 *    gone, existing messages keep UID, flags and keywords, UIDVALIDITY is unchanged. `reindex --full` gives a new
 *    UIDVALIDITY and UIDs 1..n.
 *  - The same hand edits without reindex: starting the server and SELECTing is enough.
 *  - While the server runs: a file dropped into new/ (and one removed from cur/) shows up at the next NOOP in a live
 *    session, and in a new SELECT.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync, unlinkSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import {
  startImapServer,
  deliver,
  makeMessage,
  runMailwright,
  serveMailwright,
  writeCliConfig,
  killChildren,
  RawImap,
  tempDir,
  DOMAIN,
  type ServedMailwright,
} from '../helpers/e2e.js';
import { userMaildir } from '../../src/store/maildir/paths.js';

const USER = 'keep@example.test';
let dir: string;
let dataDir: string;
let cfg: string;
let srv: ServedMailwright | null = null;

async function mw(...args: string[]) {
  const r = await runMailwright(['--config', cfg, ...args]);
  assert.equal(r.code, 0, `mailwright ${args.join(' ')} (${r.via}) exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(async () => {
  dir = tempDir('mw-reindex-');
  dataDir = join(dir, 'data');
  cfg = writeCliConfig(dir, dataDir);
  await mw('domain', 'add', DOMAIN);
  await mw('user', 'add', USER, '--password', 'secret');
});

after(async () => {
  RawImap.closeAll();
  await srv?.stop();
  killChildren();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `mailwright serve` as a child process: the CLI and the server run the same code on the same database. */
async function start(): Promise<ServedMailwright> {
  srv = await serveMailwright(cfg);
  return srv;
}

async function stop() {
  RawImap.closeAll();
  const code = await srv?.stop();
  srv = null;
  assert.equal(code, 0, 'serve exits 0 on SIGTERM');
}

const maildir = () => userMaildir(dataDir, DOMAIN, USER.split('@')[0]!);
const curDir = () => join(maildir(), 'cur');
const newDir = () => join(maildir(), 'new');

/** The cur/ file holding a Message-ID. */
function curFileOf(id: string): string {
  for (const f of readdirSync(curDir())) {
    if (readFileSync(join(curDir(), f), 'latin1').includes(`Message-ID: <${id}>`)) return join(curDir(), f);
  }
  throw new Error(`no cur/ file for ${id}`);
}

interface View {
  uidValidity: number;
  exists: number;
  /** Message-ID -> { uid, flags } */
  byId: Map<string, { uid: number; flags: string[] }>;
}

async function select(c: RawImap, mailbox = 'INBOX'): Promise<View> {
  const s = await c.cmd(`SELECT ${mailbox}`);
  assert.equal(s.status, 'OK', s.text);
  const all = s.untagged.join('\n');
  const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(all)?.[1]);
  const exists = Number(/\* (\d+) EXISTS/.exec(all)?.[1]);
  return { uidValidity, exists, byId: await fetchAll(c, exists) };
}

async function fetchAll(c: RawImap, exists: number): Promise<View['byId']> {
  const byId = new Map<string, { uid: number; flags: string[] }>();
  if (!exists) return byId;
  const r = await c.cmd('UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
  assert.equal(r.status, 'OK', r.text);
  for (const l of r.untagged) {
    if (!/ FETCH /.test(l)) continue;
    const id = /Message-ID:\s*<([^>]+)>/i.exec(l)?.[1] ?? '(none)';
    assert.ok(!byId.has(id), `${id} twice`);
    byId.set(id, { uid: Number(/UID (\d+)/.exec(l)?.[1]), flags: (/FLAGS \(([^)]*)\)/.exec(l)?.[1] ?? '').split(' ').filter((f) => f && f !== '\\Recent').sort() });
  }
  return byId;
}

// The steps share one data directory and run in order; the server is started only four times (each start of a
// child process costs about a second on a loaded 2-core machine).
let uidValidity0 = 0;
let last: View;

test('hand edits with the server stopped, then `mailwright reindex USER`: new UIDs, deleted ones gone, the rest kept', async () => {
  await start();
  for (const id of ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test']) await deliver(srv!.smtpPort, USER, makeMessage({ id, to: USER }));
  let c = await RawImap.login(srv!.imapPort, USER);
  const v0 = await select(c);
  uidValidity0 = v0.uidValidity;
  assert.equal(v0.exists, 4);
  const a = v0.byId.get('a@x.test')!;
  const st = await c.cmd(`UID STORE ${a.uid} +FLAGS ($Important \\Flagged)`);
  assert.equal(st.status, 'OK', st.text);
  const maxUid = Math.max(...[...v0.byId.values()].map((x) => x.uid));
  await stop();

  // Hand edits: one file into new/ (no info), one into cur/ with ":2,S", one removed from cur/.
  writeFileSync(join(newDir(), '1700000000.hand1.localhost'), makeMessage({ id: 'hand-new@x.test', to: USER }));
  writeFileSync(join(curDir(), '1700000001.hand2.localhost:2,S'), makeMessage({ id: 'hand-cur@x.test', to: USER }));
  unlinkSync(curFileOf('b@x.test'));

  const r = await mw('reindex', USER);
  assert.match(r.stdout, new RegExp(`^reindexed ${USER.replace('.', '\\.')}: 6 mailbox\\(es\\), 5 message\\(s\\), 2 added, 1 expunged\\n$`));
  assert.equal(r.stderr, '');
  assert.equal(readdirSync(newDir()).length, 0, 'new/ was emptied into cur/');

  await start();
  c = await RawImap.login(srv!.imapPort, USER);
  const v1 = await select(c);
  assert.equal(v1.uidValidity, v0.uidValidity, 'UIDVALIDITY kept');
  assert.equal(v1.exists, 5);
  assert.ok(!v1.byId.has('b@x.test'), 'the deleted file is gone');
  assert.deepEqual(v1.byId.get('a@x.test'), { uid: a.uid, flags: ['$Important', '\\Flagged'] }, 'UID, flags and keyword kept');
  assert.equal(v1.byId.get('c@x.test')!.uid, v0.byId.get('c@x.test')!.uid);
  const n1 = v1.byId.get('hand-new@x.test')!;
  const n2 = v1.byId.get('hand-cur@x.test')!;
  assert.ok(n1.uid > maxUid && n2.uid > maxUid, `new UIDs above ${maxUid}: ${n1.uid}, ${n2.uid}`);
  assert.notEqual(n1.uid, n2.uid);
  assert.deepEqual(n1.flags, []);
  assert.deepEqual(n2.flags, ['\\Seen'], 'flags from the ":2,S" suffix');
  last = v1;
  await stop();
});

test('hand edits with the server stopped are found at the next start by SELECT, without reindex', async () => {
  const v0 = last;
  const maxUid = Math.max(...[...v0.byId.values()].map((x) => x.uid));
  writeFileSync(join(newDir(), '1700000002.hand3.localhost'), makeMessage({ id: 'hand3@x.test', to: USER }));
  writeFileSync(join(curDir(), '1700000003.hand4.localhost:2,FS'), makeMessage({ id: 'hand4@x.test', to: USER }));
  unlinkSync(curFileOf('c@x.test'));
  // A flag change by hand (another program renamed the file).
  const aFile = curFileOf('a@x.test');
  renameSync(aFile, `${aFile.slice(0, aFile.lastIndexOf(':2,'))}:2,FRS`);

  await start(); // stays up for the next test
  const c = await RawImap.login(srv!.imapPort, USER);
  const v1 = await select(c);
  assert.equal(v1.uidValidity, v0.uidValidity);
  assert.equal(v1.exists, v0.exists + 1);
  assert.ok(!v1.byId.has('c@x.test'));
  assert.ok(v1.byId.get('hand3@x.test')!.uid > maxUid);
  assert.ok(v1.byId.get('hand4@x.test')!.uid > maxUid);
  assert.deepEqual(v1.byId.get('hand4@x.test')!.flags, ['\\Flagged', '\\Seen']);
  assert.equal(v1.byId.get('a@x.test')!.uid, v0.byId.get('a@x.test')!.uid);
  assert.deepEqual(v1.byId.get('a@x.test')!.flags, ['$Important', '\\Answered', '\\Flagged', '\\Seen'], 'flags from the renamed file; keyword kept');
  last = v1;
  c.close();
});

test('while the server runs: a file dropped into new/ appears at NOOP; a file removed from cur/ is expunged', async () => {
  if (!srv) await start();
  const live = await RawImap.login(srv!.imapPort, USER);
  const v0 = await select(live);
  const maxUid = Math.max(...[...v0.byId.values()].map((x) => x.uid));

  // The other program writes via tmp/ and renames into new/, as Maildir delivery does.
  const tmpFile = join(maildir(), 'tmp', '1700000004.live.localhost');
  writeFileSync(tmpFile, makeMessage({ id: 'live@x.test', to: USER }));
  renameSync(tmpFile, join(newDir(), '1700000004.live.localhost'));

  const n = await live.cmd('NOOP');
  assert.equal(n.status, 'OK');
  assert.deepEqual(n.untagged, [`* ${v0.exists + 1} EXISTS`]);
  const f = await live.cmd(`FETCH ${v0.exists + 1} (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`);
  assert.match(f.untagged[0]!, /Message-ID: <live@x\.test>/);
  const uid = Number(/UID (\d+)/.exec(f.untagged[0]!)?.[1]);
  assert.ok(uid > maxUid);
  assert.ok(!existsSync(join(newDir(), '1700000004.live.localhost')), 'moved to cur/');

  // Removed from cur/ by another program: EXPUNGE at the next NOOP.
  const gone = v0.byId.get('hand3@x.test')!;
  const seq = [...v0.byId.values()].map((x) => x.uid).sort((p, q) => p - q).indexOf(gone.uid) + 1;
  unlinkSync(curFileOf('hand3@x.test'));
  const n2 = await live.cmd('NOOP');
  assert.equal(n2.status, 'OK');
  assert.deepEqual(n2.untagged, [`* ${seq} EXPUNGE`]);

  // A second session sees the same at SELECT.
  const other = await RawImap.login(srv!.imapPort, USER);
  const v1 = await select(other);
  assert.equal(v1.exists, v0.exists);
  assert.equal(v1.byId.get('live@x.test')!.uid, uid);
  assert.ok(!v1.byId.has('hand3@x.test'));
  last = v1;
  await stop();
});

test('`mailwright reindex --full USER`: new UIDVALIDITY, UIDs 1..n, the same messages and Maildir flags', async () => {
  const v0 = last;
  const f = await mw('reindex', '--full', USER);
  assert.match(f.stdout, new RegExp(`${v0.exists} message\\(s\\), ${v0.exists} added, 0 expunged\\n$`));
  await start();
  const c = await RawImap.login(srv!.imapPort, USER);
  const v1 = await select(c);
  assert.notEqual(v1.uidValidity, uidValidity0, 'UIDVALIDITY changed by --full');
  assert.equal(v1.exists, v0.exists);
  assert.deepEqual([...v1.byId.keys()].sort(), [...v0.byId.keys()].sort());
  assert.deepEqual(
    [...v1.byId.values()].map((x) => x.uid).sort((p, q) => p - q),
    Array.from({ length: v0.exists }, (_, i) => i + 1),
  );
  for (const [id, m] of v0.byId) {
    assert.deepEqual(v1.byId.get(id)!.flags, m.flags.filter((x) => x.startsWith('\\')), `${id}: Maildir flags kept; keywords are dropped by --full (documented)`);
  }
  await stop();
});

test('the in-process server (src/main.ts startServer) opens a database that the CLI has migrated', async () => {
  const s = await startImapServer({ users: [], dataDir });
  await s.stop();
});
