/**
 * Durability of acknowledged mail (RFC 5321 §6.1: a 250 to DATA means responsibility for the message).
 *  - Disk full (a tiny tmpfs as the data directory): 452 4.3.1 and no partial file in any new/.
 *  - Inodes exhausted while linking to a second recipient: 452 4.3.1 and the first recipient's copy is removed.
 *  - Another I/O error (a recipient's new/ is not a directory): 451 4.3.0, nothing visible in any new/.
 *  - Crash: the real server (bin/mailwright.js serve) under load from 10 concurrent clients is killed with SIGKILL;
 *    every message that got 250 must be in its Maildir, whole. Then the server restarts on the same data.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, provision, LogCapture, tempDir, listNewFiles, spawnServe, writeConfig, requireBuild, type TestServer } from '../helpers/server.js';
import { WireClient } from '../helpers/smtp-client.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { userMaildir } from '../../src/store/maildir/paths.js';

function tryMount(dir: string, opts: string): string | null {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || `mount exited ${r.status}`).trim();
}
function umount(dir: string) {
  spawnSync('umount', ['-l', dir]);
}

const bigMessage = (n: number) => 'Subject: big\r\n\r\n' + ('y'.repeat(998) + '\r\n').repeat(Math.ceil(n / 1000)) + '.\r\n';

describe('storage errors', () => {
  after(() => WireClient.closeAll());

  test('disk full: 452 4.3.1, no partial file in new/, spool tmp/ clean, server recovers', async (t) => {
    const mnt = tempDir('mw-full-');
    const dbDir = tempDir('mw-full-db-');
    const err = tryMount(mnt, 'size=64k,mode=0700');
    if (err) {
      t.skip(`cannot mount a tmpfs (${err}): run as root to test disk-full`);
      rmSync(mnt, { recursive: true, force: true });
      return;
    }
    let ts: TestServer | null = null;
    try {
      ts = await startTestServer({ dataDir: mnt, database: `sqlite:${join(dbDir, 'db.sqlite')}`, smtp: { maxMessageSize: 1024 * 1024 } });
      await provision(ts, { domains: ['example.test'], users: ['alice@example.test', 'bob@example.test'] });
      const c = await WireClient.open(ts.port);
      const r = await c.send('a@example.org', ['alice@example.test', 'bob@example.test'], bigMessage(200 * 1024));
      assert.equal(r.code, 452, r.raw);
      assert.equal(r.enhanced, '4.3.1');
      assert.deepEqual(ts.allNewFiles(), []);
      assert.deepEqual(readdirSync(join(mnt, 'spool', 'tmp')), [], 'the partial spool file was removed');
      // Space is back: the next (small) message is accepted and delivered to both.
      const ok = await c.send('a@example.org', ['alice@example.test', 'bob@example.test'], 'Subject: small\r\n\r\nsmall\r\n.\r\n');
      assert.equal(ok.code, 250, ok.raw);
      assert.equal(ts.allNewFiles().length, 2);
      c.close();
    } finally {
      await ts?.stop();
      umount(mnt);
      rmSync(mnt, { recursive: true, force: true });
      rmSync(dbDir, { recursive: true, force: true });
    }
  });

  test('no inodes left for the second recipient\'s Maildir: 452 4.3.1 and the first copy is withdrawn', async (t) => {
    const mnt = tempDir('mw-inodes-');
    const dbDir = tempDir('mw-inodes-db-');
    const err = tryMount(mnt, 'size=4m,nr_inodes=200,mode=0700');
    if (err) {
      t.skip(`cannot mount a tmpfs (${err}): run as root to test inode exhaustion`);
      rmSync(mnt, { recursive: true, force: true });
      return;
    }
    let ts: TestServer | null = null;
    try {
      const log = new LogCapture();
      ts = await startTestServer({ dataDir: mnt, database: `sqlite:${join(dbDir, 'db.sqlite')}`, log });
      await provision(ts, { domains: ['example.test'], users: ['alice@example.test', 'zed@example.test'], aliases: [['both@example.test', 'alice@example.test'], ['both@example.test', 'zed@example.test']] });
      const c = await WireClient.open(ts.port);
      // alice's Maildir exists (one delivery); zed's does not yet.
      assert.equal((await c.send('a@example.org', ['alice@example.test'], 'Subject: 1\r\n\r\n1\r\n.\r\n')).code, 250);
      // Use up every inode but two: the spool file needs one, and on tmpfs each hard link (alice/new) uses one too.
      const fill = join(mnt, 'fill');
      mkdirSync(fill);
      let n = 0;
      for (;;) {
        try {
          writeFileSync(join(fill, String(n)), '');
          n++;
        } catch {
          break;
        }
      }
      rmSync(join(fill, '0'));
      rmSync(join(fill, '1'));
      const r = await c.send('a@example.org', ['both@example.test'], 'Subject: 2\r\n\r\n2\r\n.\r\n');
      if (r.code !== 452) console.log(JSON.stringify(log.lines.filter((l) => l.err)));
      assert.equal(r.code, 452, r.raw);
      assert.equal(r.enhanced, '4.3.1');
      assert.equal(ts.newFiles('alice@example.test').length, 1, 'the copy linked into alice/new was removed again');
      assert.equal(ts.newFiles('zed@example.test').length, 0);
      // It failed where intended: after the spool file was written and linked for alice, creating zed's Maildir.
      const line = await log.waitFor((l) => l.result === 'deferred');
      assert.match(JSON.stringify(line.err), /ENOSPC[^"]*mkdir[^"]*zed/);
      c.close();
      c.close();
    } finally {
      await ts?.stop();
      umount(mnt);
      rmSync(mnt, { recursive: true, force: true });
      rmSync(dbDir, { recursive: true, force: true });
    }
  });

  test('other I/O error (new/ is not a directory): 451 4.3.0 and nothing visible in any new/', async () => {
    const ts = await startTestServer();
    try {
      await provision(ts, { domains: ['example.test'], users: ['alice@example.test', 'bob@example.test'], aliases: [['pair@example.test', 'alice@example.test'], ['pair@example.test', 'bob@example.test']] });
      const bob = userMaildir(ts.dataDir, 'example.test', 'bob');
      mkdirSync(bob, { recursive: true });
      writeFileSync(join(bob, 'new'), 'not a directory');
      const c = await WireClient.open(ts.port);
      const r = await c.send('a@example.org', ['pair@example.test'], 'Subject: io\r\n\r\nio\r\n.\r\n');
      assert.equal(r.code, 451, r.raw);
      assert.equal(r.enhanced, '4.3.0');
      assert.deepEqual(ts.newFiles('alice@example.test'), []);
      assert.deepEqual(readdirSync(join(ts.dataDir, 'spool', 'tmp')), []);
      // The same connection still delivers to alice alone.
      assert.equal((await c.send('a@example.org', ['alice@example.test'], 'Subject: ok\r\n\r\nok\r\n.\r\n')).code, 250);
      assert.equal(ts.newFiles('alice@example.test').length, 1);
      c.close();
    } finally {
      await ts.stop();
    }
  });
});

describe('crash under load (SIGKILL)', () => {
  test('every message answered 250 is in a Maildir, whole; the server restarts on the same data', { timeout: 60000 }, async () => {
    requireBuild();
    const dir = tempDir('mw-crash-');
    const users = ['u0', 'u1', 'u2', 'u3', 'u4'].map((u) => `${u}@example.test`);
    try {
      const cfg = writeConfig(dir, 'log:\n  level: info');
      // Provision through the store, directly on the database file the server will open.
      const opened = await openDatabase(`sqlite:${join(dir, 'data', 'mailwright.db')}`).catch(async () => {
        mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
        return openDatabase(`sqlite:${join(dir, 'data', 'mailwright.db')}`);
      });
      const store = new SqlAccountStore(opened.db, opened.close);
      await store.addDomain('example.test');
      for (const u of users) await store.addUser(u, '{PLAIN}x');
      await store.close();

      const srv = await spawnServe(cfg);
      const acked = new Map<string, { rcpt: string; sha: string }>();
      let sent = 0;
      let stop = false;
      const LIMIT = 3000;
      let firstAck!: () => void;
      const firstAcked = new Promise<void>((r) => (firstAck = r));
      const loop = async (k: number) => {
        let c: WireClient;
        try {
          c = await WireClient.open(srv.port, `loader${k}.example.org`);
        } catch {
          return;
        }
        try {
          for (let i = 0; !stop && sent < LIMIT; i++) {
            sent++;
            const id = `${k}-${i}-${randomBytes(4).toString('hex')}`;
            const rcpt = users[(k + i) % users.length]!;
            const body = (randomBytes(600 + ((k * 31 + i * 17) % 2000)).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
            const sha = createHash('sha256').update(body).digest('hex');
            const msg = `From: <load@example.org>\r\nTo: <${rcpt}>\r\nSubject: load ${id}\r\nX-Test-Id: ${id}\r\nX-Body-SHA256: ${sha}\r\n\r\n${body}.\r\n`;
            // Pipelined transaction (RFC 2920).
            c.write(`MAIL FROM:<load@example.org>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
            const m = await c.read(10000);
            const r = await c.read(10000);
            const d = await c.read(10000);
            if (m.code !== 250 || r.code !== 250 || d.code !== 354) throw new Error(`unexpected: ${m.raw} / ${r.raw} / ${d.raw}`);
            c.write(msg);
            const end = await c.read(10000);
            if (end.code === 250) {
              acked.set(id, { rcpt, sha });
              firstAck();
            }
            else throw new Error(`unexpected reply to the message: ${end.raw}`);
          }
        } catch (err) {
          if (!stop) throw err;
        } finally {
          c.close();
        }
      };
      const loops = Array.from({ length: 10 }, (_, k) => loop(k));
      // Kill at a random moment 1-2 s into the load (counted from the first acknowledged message).
      const killAfter = 1000 + Math.floor(Math.random() * 1000);
      await Promise.race([firstAcked, srv.exited]);
      await new Promise((r) => setTimeout(r, killAfter));
      stop = true;
      srv.child.kill('SIGKILL');
      await srv.exited;
      await Promise.all(loops);
      assert.ok(acked.size > 0, 'some messages were acknowledged before the kill');

      // Parse every file in every new/: each must be whole (its body matches its own checksum).
      const files = listNewFiles(join(dir, 'data', 'mail'));
      const found = new Map<string, string>();
      for (const f of files) {
        const text = readFileSync(f, 'latin1');
        const sep = text.indexOf('\r\n\r\n');
        assert.ok(sep > 0, `${f} has a header`);
        const head = text.slice(0, sep);
        const body = text.slice(sep + 4);
        const id = /\r\nX-Test-Id: (\S+)/.exec(head)?.[1];
        const sha = /\r\nX-Body-SHA256: ([0-9a-f]+)/.exec(head)?.[1];
        assert.ok(id && sha, `${f} has the test headers`);
        assert.equal(createHash('sha256').update(body, 'latin1').digest('hex'), sha, `${f} is whole`);
        assert.equal(Number(/,S=(\d+)$/.exec(f)![1]), Buffer.byteLength(text, 'latin1'), `${f}: S= matches the size`);
        assert.ok(!found.has(id), `${id} delivered once`);
        found.set(id, f);
      }
      const missing = [...acked.keys()].filter((id) => !found.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged messages are missing`);
      for (const [id, a] of acked) {
        assert.ok(found.get(id)!.includes(`/${a.rcpt.split('@')[0]}/new/`), `${id} is in ${a.rcpt}'s Maildir`);
      }
      // At most the in-flight messages (one per client) were stored without their 250 arriving.
      assert.ok(found.size - acked.size <= 10, `${found.size} stored, ${acked.size} acknowledged`);

      // Restart on the same data: accepts mail again.
      const srv2 = await spawnServe(cfg);
      try {
        const c = await WireClient.open(srv2.port);
        const r = await c.send('after@example.org', ['u0@example.test'], 'Subject: after the crash\r\nX-Test-Id: after\r\n\r\nok\r\n.\r\n');
        assert.equal(r.code, 250, r.raw);
        c.close();
        assert.ok(listNewFiles(join(dir, 'data', 'mail')).length === files.length + 1);
        assert.ok(!existsSync(join(dir, 'data', 'spool', 'tmp')) || readdirSync(join(dir, 'data', 'spool', 'tmp')).length === 0, 'spool tmp/ cleaned at start');
      } finally {
        srv2.child.kill('SIGTERM');
        await srv2.exited;
      }
      process.stdout.write(`# crash test: killed after ${killAfter} ms, ${sent} sent, ${acked.size} acknowledged, ${found.size} on disk\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
