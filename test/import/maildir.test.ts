/**
 * `import maildir` at size, as a child process (the built CLI): 5,000 generated messages with a gapped
 * dovecot-uidlist and keywords; the import is killed (SIGKILL) part-way, then run again: it resumes and ends with
 * every message exactly once, with Dovecot's UIDs, flags and keywords; peak memory of the run is recorded (getrusage
 * via /usr/bin/time). --dry-run writes nothing. The 100,000-message run is bench/import.mjs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error plain JavaScript helper shared with the benchmark
import { makeDovecotTree, UIDVALIDITY, KEYWORDS } from '../../bench/lib/dovecot-tree.mjs';
import { BIN, requireBuild, tempDir } from '../helpers/server.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { MailStore } from '../../src/store/mail/store.js';

const N = 5000;
const USER = 'bulk@example.com';
const base = tempDir('mw-import-big-');
after(() => rmSync(base, { recursive: true, force: true }));

function cli(config: string, args: string[]): { out: string; err: string; maxRssKiB: number } {
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS_KB %M', process.execPath, BIN, '--config', config, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return { out: r.stdout, err: r.stderr, maxRssKiB: Number(/MAXRSS_KB (\d+)/.exec(r.stderr)?.[1] ?? 0) };
}

test(`${N} messages: dry run, killed import, resumed import; UIDs, flags, keywords; peak memory`, async () => {
  requireBuild();
  const src = join(base, 'src');
  const tree = makeDovecotTree(src, { count: N, keepMap: true }) as { count: number; uidByBase: Map<string, { uid: number; name: string }> };
  const dbPath = join(base, 'data', 'mailwright.db');
  const config = join(base, 'mailwright.yaml');
  writeFileSync(config, `hostname: mail.example.test\ndataDir: ./data\n`);
  cli(config, ['domain', 'add', 'example.com']);
  cli(config, ['user', 'add', USER, '--password', 'pw-bulk']);

  const dry = cli(config, ['import', 'maildir', '--user', USER, '--from', src, '--dry-run']);
  assert.match(dry.out, new RegExp(`total: ${N} imported`));
  const count = async () => {
    const o = await openDatabase(`sqlite:${dbPath}`);
    try {
      const r = await o.db.selectFrom('mail_messages').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirst();
      return Number(r?.n ?? 0);
    } finally {
      await o.close();
    }
  };
  assert.equal(await count(), 0, 'dry run wrote nothing');

  // Kill the import part-way (after at least one committed batch, before the end).
  const child = spawn(process.execPath, [BIN, '--config', config, 'import', 'maildir', '--user', USER, '--from', src, '--batch', '100'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const n = await count();
    if (n >= 500 || child.exitCode !== null) break;
  }
  child.kill('SIGKILL');
  await exited;
  const partial = await count();
  assert.ok(partial > 0 && partial < N, `killed part-way (${partial} indexed)`);

  const r = cli(config, ['import', 'maildir', '--user', USER, '--from', src]);
  const m = /total: (\d+) imported, (\d+) already there/.exec(r.out)!;
  assert.equal(Number(m[1]) + Number(m[2]), N, r.out);
  assert.ok(Number(m[2]) >= partial, 'resumed: earlier progress skipped');
  assert.equal(await count(), N, 'every message exactly once');
  console.log(`import of ${N} messages (resumed after kill at ${partial}): peak RSS ${(r.maxRssKiB / 1024).toFixed(1)} MiB`);
  assert.ok(r.maxRssKiB < 400 * 1024, `peak RSS ${r.maxRssKiB} KiB`);

  const o = await openDatabase(`sqlite:${dbPath}`);
  try {
    const store = new MailStore({ db: o.db, dataDir: join(base, 'data') });
    const inbox = await store.openMailbox(USER, 'INBOX');
    assert.equal(inbox.uidValidity, UIDVALIDITY);
    const files = readdirSync(join(inbox.path, 'cur'));
    assert.equal(files.length, N, 'no duplicate files');
    let checked = 0;
    for await (const msg of inbox.iterateMessages()) {
      const want = tree.uidByBase.get(msg.base)!;
      assert.equal(msg.uid, want.uid, msg.base);
      const letters = want.name.split(':2,')[1]!;
      const kws = [...letters].filter((c) => c >= 'a' && c <= 'z').map((c) => KEYWORDS[c.charCodeAt(0) - 97]);
      assert.deepEqual([...msg.keywords].sort(), kws.sort(), msg.base);
      assert.equal(msg.mdflags, [...letters].filter((c) => c >= 'A' && c <= 'Z').sort().join(''));
      checked++;
    }
    assert.equal(checked, N);
    const st = await inbox.status();
    assert.equal(st.messages, N);
    assert.ok(st.uidNext > 2 * (N - 1) + 1);
    const sync = await inbox.sync({ force: true });
    assert.deepEqual([sync.added, sync.expunged, sync.flagsChanged], [0, 0, 0], 'index and Maildir agree');
  } finally {
    await o.close();
  }
});
