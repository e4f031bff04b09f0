/**
 * The parse workers (src/server/imap/parse-pool.ts): a first FETCH ENVELOPE of 2,000+ messages reads and parses
 * headers in worker threads, and SEARCH BODY/TEXT over 2,000+ messages has them answer the content keys. Their
 * answers equal the session thread's (envelopeEntry, contentMatches), files they cannot read come back marked (the
 * session then reads them itself), the workers stop when idle and start again, and a server with workers answers
 * SEARCH, FETCH ENVELOPE, SORT, THREAD and stores the cache exactly as a server without them; Python's imaplib runs
 * its first-sync FETCH ENVELOPE and SEARCH BODY through the workers with the same results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { ParsePool } from '../../src/server/imap/parse-pool.js';
import { envelopeEntry } from '../../src/server/imap/message-keys.js';
import { contentMatches, type ContentKey } from '../../src/server/imap/content-match.js';
import { UNREAD } from '../../src/server/imap/parse-pool.js';
import { startImapServer } from '../helpers/imap.js';
import { tempDir } from '../helpers/server.js';

/** Varied headers: encoded words, groups, folding, CRLF and LF, quoted names, no Date, no blank line, bad Date. */
function sample(i: number): Buffer {
  const eol = i % 3 === 0 ? '\r\n' : '\n';
  const kinds = [
    [`Date: Tue, ${(i % 27) + 1} Jan 2024 09:00:00 -0500`, `From: =?utf-8?q?=C3=89mile_${i}?= <emile${i}@example.org>`, `Subject: caf\u00e9 ${i}${eol} folded`],
    [`Date: Wed, 3 Jan 2024 10:${String(i % 60).padStart(2, '0')}:00 +0000`, `From: "A \\"quoted\\" name" <a${i}@x.org>`, `To: group: b@x.org, c@x.org;, d@x.org`, `Subject: Re: [list] Fwd: topic ${i % 7}`],
    [`From: plain${i}@example.net (Comment Name)`, `Subject:   spaced   out  ${i} `, `In-Reply-To: <p${i}@x>`, `References: <r1@x>${eol}\t<r2@x>`],
    [`Date: bogus`, `From: <>`, `Cc: undisclosed-recipients:;`, `Subject: =?iso-8859-1?q?gr=FC=DFe?= ${i}`],
  ];
  const qp = i % 7 === 0;
  const head = [...kinds[i % kinds.length]!, `Message-ID: <m${i}@example.test>`, ...(qp ? ['Content-Transfer-Encoding: quoted-printable', 'Content-Type: text/plain; charset=utf-8'] : [])].join(eol);
  if (i % 11 === 0) return Buffer.from(head + eol, 'utf8'); // header only, no blank line
  return Buffer.from(`${head}${eol}${eol}${qp ? `caf=C3=A9 bo=\r\ndy ${i}` : `body ${i}`}${eol}`, 'utf8');
}

/** `n` sample files in a new temporary directory; their paths. */
function writeSamples(prefix: string, n: number): string[] {
  const dir = tempDir(prefix);
  return Array.from({ length: n }, (_, i) => {
    const p = join(dir, `m${i}`);
    writeFileSync(p, sample(i));
    return p;
  });
}

test('pool entries equal the session thread computation; unreadable files give null', async () => {
  const dir = tempDir('mw-envpool-');
  const paths: string[] = [];
  const sizes: number[] = [];
  const expected = [];
  for (let i = 0; i < 60; i++) {
    const p = join(dir, `m${i}`);
    const raw = sample(i);
    writeFileSync(p, raw);
    paths.push(p);
    sizes.push(raw.length);
    const end = raw.indexOf('\n\n') >= 0 ? raw.indexOf('\n\n') + 2 : raw.indexOf('\n\r\n') >= 0 ? raw.indexOf('\n\r\n') + 3 : raw.length;
    expected.push(envelopeEntry(raw.subarray(0, end), NaN));
  }
  // A header longer than the limit, and a file that is gone.
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.from(`Subject: ${'x'.repeat(300_000)}\n\nbody\n`));
  paths.push(big, join(dir, 'missing'));
  sizes.push(300_020, 100);
  const pool = new ParsePool(2);
  try {
    const [a, b] = await Promise.all([pool.envelopes(paths.slice(0, 30), sizes.slice(0, 30), 256 * 1024), pool.envelopes(paths.slice(30), sizes.slice(30), 256 * 1024)]);
    const got = [...a, ...b];
    assert.equal(got.length, 62);
    assert.deepEqual(got.slice(0, 60), expected);
    assert.equal(got[60], null, 'a header over the limit is left to the session');
    assert.equal(got[61], null, 'a missing file');
    // No usable Date: the date key is left for the caller (INTERNALDATE).
    assert.ok(Number.isNaN(got[2]!.keys.date));
    assert.ok(Number.isNaN(got[3]!.keys.date));
    assert.equal(got[0]!.keys.date, Date.parse('Tue, 1 Jan 2024 09:00:00 -0500'));
    assert.equal(pool.running, 2);
  } finally {
    await pool.close();
  }
  assert.equal(pool.running, 0);
  await assert.rejects(pool.envelopes(paths, sizes, 1024), /disabled/);
});

test('search jobs answer BODY/TEXT keys as the session thread does; unreadable files are marked', async () => {
  const dir = tempDir('mw-parsepool-search-');
  const paths: string[] = [];
  const keys: ContentKey[] = [
    { type: 'BODY', value: 'body 7' },
    { type: 'BODY', value: 'CAF\u00c9' },
    { type: 'TEXT', value: 'emile1' },
    { type: 'TEXT', value: 'body 3' },
    { type: 'BODY', value: 'absent' },
  ];
  const expected: number[] = [];
  for (let i = 0; i < 40; i++) {
    const p = join(dir, `m${i}`);
    writeFileSync(p, sample(i));
    paths.push(p);
    for (const hit of contentMatches(sample(i), keys)) expected.push(hit ? 1 : 0);
  }
  paths.push(join(dir, 'missing'));
  expected.push(...keys.map(() => UNREAD));
  assert.ok(expected.filter((x) => x === 1).length >= 10, 'the sample has matches of every kind');
  const pool = new ParsePool(1);
  try {
    const hits = await pool.search(paths, paths.map(() => 300), keys);
    assert.deepEqual([...hits], expected);
  } finally {
    await pool.close();
  }
});

test('workers stop when idle and start again; a pool of size 0 is disabled', async () => {
  const dir = tempDir('mw-envpool-idle-');
  const p = join(dir, 'm');
  writeFileSync(p, sample(1));
  const pool = new ParsePool(1, 100);
  try {
    assert.equal(pool.running, 0, 'nothing starts before the first job');
    assert.equal((await pool.envelopes([p], [100], 1024))[0]!.keys.messageId, '<m1@example.test>');
    assert.equal(pool.running, 1);
    for (let i = 0; i < 50 && pool.running > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.running, 0, 'stopped after the idle time');
    assert.equal((await pool.envelopes([p], [100], 1024))[0]!.keys.messageId, '<m1@example.test>');
  } finally {
    await pool.close();
  }
  const none = new ParsePool(0);
  assert.equal(none.enabled, false);
  await assert.rejects(none.envelopes([p], [100], 1024));
});

test('a worker that dies: its jobs are rejected, the failure is reported once, the next job starts a new one', async () => {
  const paths = writeSamples('mw-parsepool-crash-', 2000);
  const errors: Error[] = [];
  const pool = new ParsePool(1, 30_000, (e) => errors.push(e));
  try {
    const job = pool.envelopes(paths, paths.map(() => 300), 1024);
    const rejected = assert.rejects(job, /exited/);
    const slots = (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } } | null> }).slots;
    await slots[0]!.worker.terminate();
    await rejected;
    assert.equal(errors.length, 1, 'reported');
    assert.equal(pool.running, 0);
    const again = await pool.envelopes(paths.slice(0, 3), [300, 300, 300], 1024);
    assert.equal(again[1]!.keys.messageId, '<m1@example.test>');
    assert.equal(errors.length, 1);
  } finally {
    await pool.close();
  }
});

test('the built pool starts its workers when the server runs with V8 options (which workers refuse)', () => {
  const dir = tempDir('mw-parsepool-dist-');
  const p = join(dir, 'm');
  writeFileSync(p, sample(5));
  const dist = fileURLToPath(new URL('../../dist/server/imap/parse-pool.js', import.meta.url));
  const code = `const m = await import(${JSON.stringify(dist)}); const pool = new m.ParsePool(1, 30000, (e) => console.log('error', e.message));
    const r = await pool.envelopes([${JSON.stringify(p)}], [300], 1024); console.log('id', r[0].keys.messageId, pool.running); await pool.close();`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=512', '--max-semi-space-size=8', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'id <m5@example.test> 1');
});

test('pending jobs are rejected when the pool stops (callers then compute themselves)', async () => {
  const paths = writeSamples('mw-parsepool-stop-', 3000);
  const pool = new ParsePool(1);
  const rejected = assert.rejects(pool.envelopes(paths, paths.map(() => 200), 1024), /stopped/);
  await pool.close();
  await rejected;
});

// ---------------------------------------------------------------- a server with workers and one without
const COUNT = 2300;

/** Python's imaplib: FETCH 1:* (ENVELOPE) and SEARCH BODY on INBOX (what a first sync of a real client sends). */
async function imaplib(port: number): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const script = `
import imaplib, sys, json, re
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.test', 'secret')
M.select('INBOX', readonly=True)
typ, data = M.fetch('1:*', '(ENVELOPE)')
assert typ == 'OK', typ
# A literal comes as a (head, bytes) tuple, the rest of that response as the next item.
heads = [(d[0] if isinstance(d, tuple) else d) for d in data]
typ, hits = M.search(None, 'BODY', '"body 17"')
assert typ == 'OK', typ
print(json.dumps({'envelopes': sum(1 for h in heads if re.match(rb'\\d+ \\(ENVELOPE ', h)), 'first': repr(data[0]), 'last': repr(data[-1]), 'body': hits[0].decode()}))
M.logout()
`;
  const p = spawn('/usr/bin/python3', ['-c', script, String(port)]);
  const r = { stdout: '', stderr: '', status: 0 as number | null };
  p.stdout.on('data', (d: Buffer) => (r.stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
  [r.status] = (await once(p, 'exit')) as [number | null];
  return r;
}

async function serverWith(workers: number) {
  const srv = await startImapServer({ users: ['alice'], imap: { parseWorkers: workers } });
  const cur = join(srv.maildir('alice'), 'cur');
  mkdirSync(cur, { recursive: true });
  for (let i = 0; i < COUNT; i++) {
    const raw = sample(i);
    const file = join(cur, `${1600000000 + i}.M${i}P1.host,S=${raw.length}:2,${i % 2 ? 'S' : ''}`);
    writeFileSync(file, raw);
    utimesSync(file, 1600000000 + i, 1600000000 + i); // INTERNALDATE: the same on both servers
  }
  return srv;
}

test('SEARCH BODY/TEXT, FETCH ENVELOPE, the stored cache and SORT are the same with and without parse workers', async () => {
  const results = [];
  for (const workers of [2, 0]) {
    const srv = await serverWith(workers);
    const c = await srv.selected('alice');
    const searches = [];
    for (const q of ['BODY "body 17"', 'BODY "body 14"', 'TEXT emile1', 'OR BODY "body 2" FLAGGED', 'NOT TEXT group SUBJECT topic', 'BODY absent']) {
      const r = await c.cmd(`UID SEARCH CHARSET UTF-8 ${q}`);
      assert.match(r.tagged, /OK/, q);
      searches.push(r.untagged);
    }
    assert.equal(srv.ts.server.parsePool.running, workers, workers ? 'the workers answered BODY/TEXT' : 'no workers');
    // A real client on the same path: Python's imaplib (on a second connection; nothing is cached yet for it to read).
    const py = await imaplib(srv.port);
    assert.equal(py.status, 0, py.stderr);
    const fromPython = JSON.parse(py.stdout) as { envelopes: number; first: string; last: string; body: string };
    assert.equal(fromPython.envelopes, COUNT);
    assert.match(fromPython.first, /ENVELOPE \("Tue, 1 Jan 2024 09:00:00 -0500"/);
    assert.ok(fromPython.body.split(' ').length >= 10, fromPython.body);
    const first = await c.cmd('FETCH 1:* (UID FLAGS ENVELOPE)');
    assert.match(first.tagged, /OK/);
    assert.equal(first.untagged.filter((u) => / FETCH /.test(u)).length, COUNT);
    const again = await c.cmd('FETCH 1:* (UID FLAGS ENVELOPE)');
    assert.deepEqual(again.untagged, first.untagged, 'the cached answer equals the first');
    const sort = await c.cmd('UID SORT (DATE SUBJECT) UTF-8 ALL');
    const thread = await c.cmd('UID THREAD REFERENCES UTF-8 ALL');
    const search = await c.cmd('UID SEARCH HEADER Message-ID m17@ SUBJECT folded');
    const db = srv.ts.server.mail.db as Kysely<any>;
    const rows = await sql<Record<string, unknown>>`select uid, envelope, envelope_imap, sort_date, sort_subject, sort_from, sort_display_from,
      thread_msgid, thread_refs, search_subject from mail_messages order by uid`.execute(db);
    assert.equal(rows.rows.length, COUNT);
    assert.ok(rows.rows.every((r) => r.envelope_imap !== null && r.sort_date !== null), 'every row has its cache and keys');
    results.push({ python: [fromPython], searches, first: first.untagged, sort: sort.untagged, thread: thread.untagged, search: search.untagged, rows: rows.rows });
    await srv.stop();
  }
  const [withWorkers, without] = results;
  for (const key of ['python', 'searches', 'first', 'sort', 'thread', 'search', 'rows'] as const) {
    const a: unknown[] = withWorkers![key];
    const b: unknown[] = without![key];
    assert.equal(a.length, b.length, key);
    // The first difference only (the lists are long).
    const i = a.findIndex((x, k) => JSON.stringify(x) !== JSON.stringify(b[k]));
    assert.ok(i < 0, i < 0 ? '' : `${key}[${i}] differs: ${JSON.stringify(a[i]).slice(0, 300)} / ${JSON.stringify(b[i]).slice(0, 300)}`);
  }
});
