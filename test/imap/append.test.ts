/**
 * APPEND (RFC 3501 §6.3.11) with UIDPLUS APPENDUID (RFC 4315 §3), LITERAL+ (RFC 7888): flags and INTERNALDATE
 * are kept; a missing mailbox is NO [TRYCREATE] (also when the message was already sent with LITERAL+); the
 * selected mailbox reports EXISTS before the tagged OK; a 20 MiB message is streamed to disk (the server does not
 * hold it in memory) and OK comes only once the file is in cur/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startImapServer, message, fixture, lit } from '../helpers/imap.js';

/** A full garbage collection, without starting node with --expose-gc. */
function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const srv = await startImapServer({ users: ['alice', 'bob'] });
const c = await srv.authed('alice');

test('APPEND with flags and a date: APPENDUID, then FETCH shows them', async () => {
  const sel = await c.send('a0', 'EXAMINE INBOX');
  const uv = /\[UIDVALIDITY (\d+)\]/.exec(sel.untagged.join('\n'))![1];
  await c.send('a00', 'UNSELECT');
  const msg = message({ subject: 'flags and date' });
  // RFC 3501 §9 date-day-fixed: a one-digit day is written with a leading space.
  const r = await c.append('a1', 'INBOX', msg, { flags: '\\Seen \\Flagged $Important', date: '01-Feb-2026 10:20:30 +0100' });
  assert.match(r.tagged, new RegExp(`^a1 OK \\[APPENDUID ${uv} 1\\] `));
  assert.ok(r.lines.some((l) => l.startsWith('+')), 'a synchronizing literal gets "+"');
  await c.send('a2', 'EXAMINE INBOX');
  const f = await c.send('a3', 'FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)');
  assert.deepEqual(f.untagged, [`* 1 FETCH (FLAGS (\\Seen \\Flagged $Important) INTERNALDATE " 1-Feb-2026 09:20:30 +0000" RFC822.SIZE ${msg.length} UID 1)`]);
  const body = await c.send('a4', 'FETCH 1 BODY.PEEK[]');
  assert.equal(body.untagged[0], `* 1 FETCH (BODY[] {${msg.length}}\r\n${msg.toString('latin1')})`);
  await c.send('a5', 'UNSELECT');
});

test('APPEND without flags or date: no flags, INTERNALDATE is now', async () => {
  const r = await c.append('a1', 'Drafts', message({ subject: 'plain' }));
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ 1\] /);
  await c.send('a2', 'EXAMINE Drafts');
  const f = await c.send('a3', 'FETCH 1 (FLAGS INTERNALDATE)');
  const m = /INTERNALDATE "([^"]+)"/.exec(f.untagged[0]!)!;
  const when = Date.parse(m[1]!.replace(/^(\d+)-(\w+)-(\d+) /, '$2 $1 $3 '));
  assert.ok(Math.abs(Date.now() - when) < 120_000, m[1]);
  assert.match(f.untagged[0]!, /FLAGS \(\)/);
  await c.send('a4', 'UNSELECT');
});

test('APPEND with LITERAL+: no "+" is waited for', async () => {
  const r = await c.append('a1', 'INBOX', message({ subject: 'literal plus' }), { literalPlus: true });
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ 2\] /);
  assert.ok(!r.lines.some((l) => l.startsWith('+')));
});

test('APPEND to a missing mailbox: NO [TRYCREATE], before the "+" (no message bytes asked for)', async () => {
  c.write('a1 APPEND Nowhere {20}\r\n');
  const line = await c.next();
  assert.match(line, /^a1 NO \[TRYCREATE\] /);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK /);
});

test('APPEND with LITERAL+ to a missing mailbox: the message is skipped, NO [TRYCREATE], connection in sync', async () => {
  const r = await c.append('a1', 'Nowhere', message({ subject: 'a1 NOOP\r\n' }), { literalPlus: true });
  assert.match(r.tagged, /^a1 NO \[TRYCREATE\] /);
  const n = await c.send('a2', 'NOOP');
  assert.deepEqual(n.lines, []);
  assert.match(n.tagged, /^a2 OK /);
});

test('APPEND to the selected mailbox: * n EXISTS before the tagged OK', async () => {
  const b = await srv.authed('bob');
  await b.send('a0', 'SELECT INBOX');
  const r = await b.append('a1', 'INBOX', fixture('alternative'), { literalPlus: true });
  assert.ok(r.untagged.includes('* 1 EXISTS'), r.lines.join('\n'));
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ 1\]/);
  const r2 = await b.append('a2', 'INBOX', fixture('nested'));
  assert.ok(r2.untagged.includes('* 2 EXISTS'));
  assert.deepEqual((await b.send('a3', 'NOOP')).untagged, []);
  b.close();
});

test('APPEND to a \\Noselect mailbox -> NO; an empty message -> BAD or NO', async () => {
  await c.send('a0', 'CREATE NS/Child');
  await c.send('a00', 'DELETE NS');
  const r = await c.append('a1', 'NS', message());
  assert.match(r.tagged, /^a1 NO /);
  const e = await c.sendParts('a2', ['APPEND INBOX {0+}\r\n']);
  assert.match(e.tagged, /^a2 (BAD|NO) /);
  assert.match((await c.send('a3', 'NOOP')).tagged, /^a3 OK /);
});

test('a 40 MiB APPEND is streamed: OK only once the file is in cur/, memory does not grow by the message size', async () => {
  // Socket and file-write buffers in flight can add several MiB on a fast machine; holding the message (or a queue
  // of its chunks) would add about its whole size, so the message is large and the bound is half of it.
  const size = 40 * 1024 * 1024;
  const head = Buffer.from('From: big@example.org\r\nTo: alice@example.test\r\nSubject: big\r\n\r\n');
  const big = Buffer.alloc(size, 'x');
  head.copy(big);
  for (let i = head.length + 76; i < size; i += 78) big.write('\r\n', i - 2);
  const cur = join(srv.maildir('alice'), '.Archive', 'cur');
  const before = new Set(readdirSync(cur));
  // Live buffer memory, sampled with a full GC each time so garbage (socket read buffers, copies) is not counted:
  // holding the message whole, or a queue of its chunks, in the server would show as ~20 MiB more.
  const gc = forceGc();
  gc();
  const ab0 = process.memoryUsage().arrayBuffers;
  let peak = ab0;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 50);
  const r = await c.sendParts('a1', ['APPEND Archive (\\Seen) ', lit(big)], { timeoutMs: 60_000 });
  // The moment OK arrives the message must be in cur/ at full size.
  const added = readdirSync(cur).filter((f) => !before.has(f));
  clearInterval(timer);
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ 1\] /);
  assert.equal(added.length, 1);
  assert.match(added[0]!, /:2,S$/);
  assert.equal(statSync(join(cur, added[0]!)).size, size);
  const grew = (peak - ab0) / 1024 / 1024;
  assert.ok(grew < size / 2 / 1024 / 1024, `live buffers grew by ${grew.toFixed(1)} MiB during the APPEND of ${size / 1024 / 1024} MiB`);
  const st = await c.send('a2', 'STATUS Archive (MESSAGES)');
  assert.deepEqual(st.untagged, ['* STATUS Archive (MESSAGES 1)']);
});

test('wrong state: APPEND before login -> BAD, and the literal is not asked for', async () => {
  const d = await srv.connect();
  d.write('a1 APPEND INBOX {10}\r\n');
  assert.match(await d.next(), /^a1 BAD /);
  assert.match((await d.send('a2', 'NOOP')).tagged, /^a2 OK /);
  // With LITERAL+ the bytes are skipped.
  const r = await d.append('a3', 'INBOX', 'a4 LOGIN alice@example.test secret\r\n', { literalPlus: true });
  assert.match(r.tagged, /^a3 BAD /);
  assert.match((await d.send('a5', 'SELECT INBOX')).tagged, /^a5 BAD /);
  d.close();
});

test('bad syntax: bad flag list, bad date, no literal, \\Recent -> BAD with the tag', async () => {
  assert.match((await c.append('a1', 'INBOX', message(), { flags: '\\Seen', date: '32-Foo-2026 99:00:00 +0000' })).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'APPEND INBOX (\\Seen')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'APPEND INBOX')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'APPEND INBOX "not a literal"')).tagged, /^a4 BAD /);
  assert.match((await c.append('a5', 'INBOX', message(), { flags: '\\Bogus' })).tagged, /^a5 BAD /);
  // \Recent cannot be set by a client: refused or ignored.
  assert.match((await c.append('a6', 'INBOX', message(), { flags: '\\Recent' })).tagged, /^a6 (BAD|OK) /);
  assert.match((await c.send('a7', 'NOOP')).tagged, /^a7 OK /);
});
