/**
 * MULTIAPPEND (RFC 3502): several messages in one APPEND, with synchronizing literals and LITERAL+, flags and dates
 * per message, APPENDUID with a UID range (RFC 4315), all or none (a refused literal, a syntax error after the
 * literals, an empty message, a dropped connection leave nothing behind, also not in tmp/), EXISTS for the selected
 * mailbox; the same commands against a private Dovecot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, message, literalsOf, walk, ImapClient, addr, lit } from '../helpers/imap.js';
import { startReferenceDovecot } from '../helpers/dovecot.js';

const LIMIT = 256 * 1024;
const srv = await startImapServer({ users: ['alice'], imap: { maxAppendSize: LIMIT } });
const c = await srv.authed('alice');
await c.cmd('CREATE Box');

const count = async (box = 'Box') => Number(/MESSAGES (\d+)/.exec((await c.cmd(`STATUS ${box} (MESSAGES)`)).untagged[0]!)![1]);
const tmpFiles = () => walk(srv.maildir('alice')).filter((p) => /(^|\/)tmp\/./.test(p));

test('CAPABILITY lists MULTIAPPEND', async () => {
  assert.match((await c.cmd('CAPABILITY')).untagged[0]!, / MULTIAPPEND/);
});

test('two messages with synchronizing literals: one "+" each, flags and dates per message, APPENDUID a:b', async () => {
  const m1 = message({ subject: 'one' });
  const m2 = message({ subject: 'two' });
  const r = await c.sendParts('a1', ['APPEND Box (\\Seen) ', lit(m1), ' (\\Flagged $Work) "05-Nov-2026 10:00:00 +0100" ', lit(m2)]);
  assert.equal(r.lines.filter((l) => l.startsWith('+')).length, 2);
  const m = /^a1 OK \[APPENDUID (\d+) (\d+):(\d+)\] /.exec(r.tagged);
  assert.ok(m, r.tagged);
  assert.equal(Number(m[3]) - Number(m[2]), 1);
  await c.select('Box');
  const f = await c.send('a2', `UID FETCH ${m[2]}:${m[3]} (FLAGS INTERNALDATE BODY.PEEK[])`);
  assert.match(f.untagged[0]!, /FLAGS \(\\Seen\)/);
  assert.match(f.untagged[1]!, /FLAGS \(\\Flagged \$Work\)/);
  assert.match(f.untagged[1]!, /INTERNALDATE " 5-Nov-2026 09:00:00 \+0000"/); // the same instant, kept in UTC
  assert.equal(literalsOf(f.untagged[0]!)[0], m1.toString('latin1'));
  assert.equal(literalsOf(f.untagged[1]!)[0], m2.toString('latin1'));
  await c.cmd('UNSELECT');
});

test('LITERAL+ with three messages, and literal8; the selected mailbox sees EXISTS', async () => {
  await c.select('Box');
  const before = await count();
  const msgs = [message({ subject: 'p1' }), message({ subject: 'p2' }), message({ subject: 'p3' })];
  c.write(Buffer.concat([
    Buffer.from(`a1 APPEND Box {${msgs[0]!.length}+}\r\n`), msgs[0]!,
    Buffer.from(` ~{${msgs[1]!.length}+}\r\n`), msgs[1]!,
    Buffer.from(` () {${msgs[2]!.length}+}\r\n`), msgs[2]!, Buffer.from('\r\n'),
  ]));
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ \d+:\d+\]/);
  assert.ok(r.untagged.includes(`* ${before + 3} EXISTS`), r.untagged.join('\n'));
  await c.cmd('UNSELECT');
});

test('all or none: a refused second literal (over APPENDLIMIT) gets [TOOBIG] instead of "+", nothing is stored', async () => {
  const before = await count();
  const r = await c.sendParts('a1', ['APPEND Box ', lit(message({ subject: 'ok' })), ` {${LIMIT + 1}}`]);
  assert.match(r.tagged, /^a1 (NO|BAD) \[TOOBIG\]/); // the reader refuses a literal over APPENDLIMIT (BAD, as before)
  assert.equal(r.lines.filter((l) => l.startsWith('+')).length, 1);
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
  assert.match((await c.send('a2', 'NOOP')).tagged, /^a2 OK/);
});

test('all or none: a syntax error after the literals is BAD and nothing is stored', async () => {
  const before = await count();
  const r = await c.sendParts('a1', ['APPEND Box ', lit(message()), ' ', lit(message()), ' FOO']);
  assert.match(r.tagged, /^a1 BAD /);
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
  const r2 = await c.sendParts('a2', ['APPEND Box ', lit(message()), ' NOPE ', lit(message())], { literalPlus: true });
  assert.match(r2.tagged, /^a2 BAD /);
  assert.equal(await count(), before);
});

test('all or none: an empty message is refused, the others with it', async () => {
  const before = await count();
  c.write(Buffer.concat([Buffer.from(`a1 APPEND Box {3+}\r\nabc {0+}\r\n\r\n`)]));
  const r = await c.collect('a1');
  assert.match(r.tagged, /^a1 NO /);
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
});

test('all or none: a connection dropped in the middle of the second message leaves nothing', async () => {
  const d = await srv.authed('alice');
  const before = await count();
  const m = message();
  d.write(Buffer.concat([Buffer.from(`a1 APPEND Box {${m.length}+}\r\n`), m, Buffer.from(` {5000+}\r\n`), Buffer.alloc(1000, 0x61)]));
  await new Promise((r) => setTimeout(r, 200));
  d.close();
  await d.closedPromise;
  for (let i = 0; i < 50 && tmpFiles().length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
});

test('a missing mailbox is NO [TRYCREATE] before any literal is sent', async () => {
  const r = await c.sendParts('a1', ['APPEND Nope ', lit(message()), ' ', lit(message())]);
  assert.match(r.tagged, /^a1 NO \[TRYCREATE\]/);
  assert.ok(!r.lines.some((l) => l.startsWith('+')));
});

test('the total of one APPEND is bounded (4 x APPENDLIMIT)', async () => {
  const before = await count();
  const big = Buffer.concat([message(), Buffer.alloc(LIMIT - 1000, 0x61)]);
  const parts: Array<string | ReturnType<typeof lit>> = ['APPEND Box '];
  for (let i = 0; i < 5; i++) parts.push(i ? ' ' : '', lit(big));
  const r = await c.sendParts('a1', parts);
  assert.match(r.tagged, /^a1 NO \[TOOBIG\]/);
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
});

test('Dovecot answers the same MULTIAPPEND the same way (APPENDUID range, EXISTS, refusals)', async (t) => {
  const dove = await startReferenceDovecot([addr('alice')]).catch(() => null);
  if (!dove) return t.skip('dovecot not installed');
  t.after(() => dove.stop());
  const d = await ImapClient.connect(dove.port);
  await d.login(addr('alice'));
  const ours = await srv.authed('alice');
  for (const cl of [d, ours]) await cl.cmd('CREATE Multi');
  const run = async (cl: ImapClient) => {
    const out: string[] = [];
    const m = message({ subject: 'same', date: 'Mon, 2 Nov 2026 10:00:00 +0000' });
    let r = await cl.sendParts('m1', ['APPEND Multi ', lit(m), ' (\\Seen) ', lit(m)]);
    out.push(r.tagged.replace(/APPENDUID \d+/, 'APPENDUID v').replace(/ \(.*secs\)\.$/, ''));
    r = await cl.sendParts('m2', ['APPEND Multi ', lit(m), ' {0}']);
    out.push(r.tagged.split(' ')[1]!);
    r = await cl.sendParts('m3', ['APPEND Nope ', lit(m)]);
    out.push(r.tagged.split(' ').slice(1, 3).join(' '));
    r = await cl.send('m4', 'STATUS Multi (MESSAGES)');
    out.push(r.untagged[0]!);
    return out;
  };
  const theirs = await run(d);
  const mine = await run(ours);
  assert.equal(mine[0]!.replace(/ APPEND completed$/, ''), theirs[0]!.replace(/ Append completed$/, ''));
  assert.deepEqual(mine.slice(1), theirs.slice(1));
  d.close();
  ours.close();
});

