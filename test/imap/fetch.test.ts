/**
 * FETCH (RFC 3501 §6.4.5, §7.4.2) over a real socket: every data item on the MIME fixtures compared byte for byte
 * with Dovecot 2.3's recorded answers (test/fixtures/mime/*.dovecot.json, see test/mime/record-dovecot.py); the
 * macros; BODY.PEEK leaves \Seen alone while BODY[] / RFC822 / RFC822.TEXT set it and report FLAGS in the same
 * response; partial fetches; UID FETCH; and RFC 3501 §7.4.1: another session's EXPUNGE is not reported during FETCH
 * (the sequence numbers stay valid) but at the next NOOP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, literalsOf, lit, utf8 } from '../helpers/imap.js';
import { answerBytes, crlf, dovecotAnswers, dovecotFixtures, fixture } from '../mime/helpers.js';

const srv = await startImapServer({ users: ['alice', 'bob'] });
const c = await srv.authed('alice');
await c.cmd('CREATE Fixtures');
const names = dovecotFixtures();
const raws = new Map<string, Buffer>();
for (const name of names) {
  // Dovecot's answers are for the CRLF form (it reads a bare LF as CRLF).
  const raw = crlf(fixture(name));
  raws.set(name, raw);
  const r = await c.sendParts(c.tag(), ['APPEND Fixtures (\\Seen) ', lit(raw)], { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
}
await c.select('Fixtures');

/** The value of `item` in a "* n FETCH (...)" line (literal bytes for a literal). */
function valueOf(line: string, item: string): string {
  const m = /^\* \d+ FETCH \((.*)\)$/s.exec(line);
  assert.ok(m, `a FETCH response: ${line.slice(0, 200)}`);
  const body = m[1]!;
  assert.ok(body.startsWith(item + ' '), `${item} first in: ${body.slice(0, 200)}`);
  const v = body.slice(item.length + 1);
  if (/^\{\d+\}\r\n/.test(v)) return literalsOf(v)[0]!;
  if (v === '""' || v === 'NIL') return '';
  if (v.startsWith('"')) return JSON.parse(v) as string;
  return v;
}

for (const [i, name] of names.entries()) {
  const seq = i + 1;
  test(`${name}: every FETCH item equals Dovecot's answer`, async () => {
    const d = dovecotAnswers(name);
    let checked = 0;
    for (const [key, want] of Object.entries(d)) {
      if (key.startsWith('_')) continue;
      const r = await c.cmd(`FETCH ${seq} ${key}`);
      assert.match(r.tagged, /^t\d+ OK /, `${key}: ${r.tagged}`);
      assert.equal(r.untagged.length, 1, `${key}: ${r.untagged.join('\n')}`);
      // The response names the item without .PEEK and a partial by its origin only (RFC 3501 §7.4.2).
      const item = key.replace('BODY.PEEK[', 'BODY[').replace(/<(\d+)\.\d+>$/, '<$1>');
      const got = valueOf(r.untagged[0]!, item);
      if (key === 'RFC822.SIZE') assert.equal(Number(got), want);
      else if (['BODYSTRUCTURE', 'BODY', 'ENVELOPE'].includes(key)) assert.equal(utf8(got), want as string, `${name} ${key}`);
      else assert.equal(got, answerBytes(want).toString('latin1'), `${name} ${key}`);
      checked++;
    }
    assert.ok(checked >= 20, `checked ${checked}`);
  });
}

const seqOf = (name: string) => names.indexOf(name) + 1;

test('several items at once, in the order asked; UID always present for UID FETCH', async () => {
  const n = seqOf('mixed-attachment');
  const r = await c.send('a1', `FETCH ${n} (FLAGS INTERNALDATE RFC822.SIZE UID)`);
  assert.match(r.untagged[0]!, new RegExp(`^\\* ${n} FETCH \\(FLAGS \\(\\\\Seen\\) INTERNALDATE "[ \\d]\\d-[A-Z][a-z]{2}-\\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}" RFC822.SIZE 946 UID ${n}\\)$`));
  const u = await c.send('a2', `UID FETCH ${n} (FLAGS)`);
  assert.deepEqual(u.untagged, [`* ${n} FETCH (UID ${n} FLAGS (\\Seen))`]);
  const u2 = await c.send('a3', `UID FETCH ${n} (RFC822.SIZE UID)`);
  assert.deepEqual(u2.untagged, [`* ${n} FETCH (RFC822.SIZE 946 UID ${n})`]);
});

test('macros ALL, FAST, FULL', async () => {
  const n = seqOf('plain');
  const all = await c.send('a1', `FETCH ${n} ALL`);
  assert.match(all.untagged[0]!, /^\* \d+ FETCH \(FLAGS \([^)]*\) INTERNALDATE "[^"]+" RFC822.SIZE \d+ ENVELOPE \(.*\)\)$/s);
  const fast = await c.send('a2', `FETCH ${n} FAST`);
  assert.match(fast.untagged[0]!, /^\* \d+ FETCH \(FLAGS \([^)]*\) INTERNALDATE "[^"]+" RFC822.SIZE \d+\)$/);
  const full = await c.send('a3', `FETCH ${n} FULL`);
  assert.match(full.untagged[0]!, /ENVELOPE \(.*\) BODY \(/s);
});

test('partial fetches: <0.10>, beyond the end, and of a section', async () => {
  const n = seqOf('nested');
  const raw = raws.get('nested')!.toString('latin1');
  assert.deepEqual((await c.send('a1', `FETCH ${n} BODY.PEEK[]<0.10>`)).untagged, [`* ${n} FETCH (BODY[]<0> {10}\r\n${raw.slice(0, 10)})`]);
  assert.deepEqual((await c.send('a2', `FETCH ${n} BODY.PEEK[]<5.3>`)).untagged, [`* ${n} FETCH (BODY[]<5> {3}\r\n${raw.slice(5, 8)})`]);
  const beyond = await c.send('a3', `FETCH ${n} BODY.PEEK[]<100000.10>`);
  assert.match(beyond.untagged[0]!, /^\* \d+ FETCH \(BODY\[\]<100000> (\{0\}\r\n|"")\)$/);
  const sec = await c.send('a4', `FETCH ${n} BODY.PEEK[1.1]<0.5>`);
  assert.deepEqual(sec.untagged, [`* ${n} FETCH (BODY[1.1]<0> {5}\r\nGr=FC)`]);
});

test('HEADER.FIELDS matches names case-insensitively; a non-multipart message has part 1', async () => {
  const n = seqOf('plain');
  const r = await c.send('a1', `FETCH ${n} BODY.PEEK[HEADER.FIELDS (subject message-id)]`);
  assert.equal(literalsOf(r.untagged[0]!)[0], 'Subject: Plain text message\r\nMessage-ID: <plain-1@example.org>\r\n\r\n');
  assert.match(r.untagged[0]!, /BODY\[HEADER\.FIELDS \(SUBJECT MESSAGE-ID\)\] \{/i);
  const p1 = await c.send('a2', `FETCH ${n} BODY.PEEK[1]`);
  const text = raws.get('plain')!.toString('latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n');
  assert.equal(literalsOf(p1.untagged[0]!)[0], text);
});

test('\\Seen: BODY.PEEK and RFC822.HEADER leave it; BODY[] sets it and reports FLAGS in the same response', async () => {
  const b = await srv.authed('bob');
  const msg = raws.get('alternative')!;
  for (let i = 0; i < 4; i++) await b.sendParts(b.tag(), ['APPEND INBOX ', lit(msg)], { literalPlus: true });
  await b.select('INBOX');
  const peek = await b.send('a1', 'FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] RFC822.HEADER BODY.PEEK[1.MIME] BODYSTRUCTURE ENVELOPE)');
  assert.doesNotMatch(peek.untagged.join(''), /FLAGS/);
  assert.deepEqual((await b.send('a2', 'FETCH 1 FLAGS')).untagged, ['* 1 FETCH (FLAGS ())']);

  const body = await b.send('a3', 'FETCH 1 BODY[HEADER]');
  assert.equal(body.untagged.length, 1);
  assert.match(body.untagged[0]!, /^\* 1 FETCH \(BODY\[HEADER\] \{\d+\}\r\n[\s\S]*\r\n\r\n FLAGS \(\\Seen\)\)$/);
  // Already seen: no FLAGS unless asked.
  const again = await b.send('a4', 'FETCH 1 BODY[HEADER]');
  assert.doesNotMatch(again.untagged[0]!, /FLAGS/);
  // Asked for FLAGS: reported once, with \Seen.
  const both = await b.send('a5', 'FETCH 2 (FLAGS BODY[TEXT])');
  assert.match(both.untagged[0]!, /^\* 2 FETCH \(FLAGS \(\\Seen\) BODY\[TEXT\] /);
  assert.equal(both.untagged[0]!.match(/FLAGS/g)!.length, 1);
  // RFC822 and RFC822.TEXT set \Seen too.
  assert.match((await b.send('a6', 'FETCH 3 RFC822')).untagged[0]!, /FLAGS \(\\Seen\)\)$/);
  assert.match((await b.send('a7', 'FETCH 4 RFC822.TEXT')).untagged[0]!, /FLAGS \(\\Seen\)\)$/);
  // Another session sees the change.
  const other = await srv.selected('bob');
  assert.deepEqual((await other.send('o1', 'FETCH 1:4 FLAGS')).untagged, [1, 2, 3, 4].map((n) => `* ${n} FETCH (FLAGS (\\Seen))`));
  other.close();
  b.close();
});

test('an EXPUNGE by another session is not reported during FETCH, but at NOOP (RFC 3501 §7.4.1)', async () => {
  const b = await srv.authed('bob');
  await b.cmd('CREATE Race');
  for (let i = 0; i < 3; i++) await b.sendParts(b.tag(), ['APPEND Race ', lit(raws.get('plain')!)], { literalPlus: true });
  await b.select('Race');
  const other = await srv.selected('bob', 'Race');
  await other.send('o1', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  assert.deepEqual((await other.send('o2', 'EXPUNGE')).untagged, ['* 1 EXPUNGE']);

  // b still numbers the messages 1..3; FETCH must not shift them with an EXPUNGE.
  const f = await b.send('b1', 'FETCH 2:3 (UID)');
  assert.match(f.tagged, /^b1 OK /);
  assert.ok(!f.untagged.some((l) => / EXPUNGE$/.test(l)), f.untagged.join('\n'));
  assert.deepEqual(f.untagged.filter((l) => / FETCH /.test(l)), ['* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)']);
  // STORE and SEARCH are not allowed to report it either.
  const s = await b.send('b2', 'SEARCH ALL');
  assert.ok(!s.untagged.some((l) => / EXPUNGE$/.test(l)));
  // NOOP reports it.
  const n = await b.send('b3', 'NOOP');
  assert.ok(n.untagged.includes('* 1 EXPUNGE'), n.untagged.join('\n'));
  assert.deepEqual((await b.send('b4', 'FETCH 1:* (UID)')).untagged, ['* 1 FETCH (UID 2)', '* 2 FETCH (UID 3)']);
  // UID FETCH may report EXPUNGE (sequence numbers are not used): a later expunge shows up there.
  await other.send('o3', 'UID STORE 3 +FLAGS.SILENT (\\Deleted)');
  await other.send('o4', 'EXPUNGE');
  const uf = await b.send('b5', 'UID FETCH 1:* (FLAGS)');
  const lines = uf.untagged;
  assert.ok(lines.includes('* 2 EXPUNGE') || lines.some((l) => /UID 3/.test(l)), lines.join('\n'));
  other.close();
  b.close();
});

test('sequence numbers beyond the mailbox -> BAD; UIDs beyond -> nothing', async () => {
  const n = names.length;
  assert.match((await c.send('a1', `FETCH ${n + 1} FLAGS`)).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'FETCH 0 FLAGS')).tagged, /^a2 BAD /);
  const u = await c.send('a3', 'UID FETCH 9000:9999 FLAGS');
  assert.match(u.tagged, /^a3 OK /);
  assert.deepEqual(u.untagged, []);
  // "*" is the highest UID: "UID FETCH n:*" with n beyond it still returns the last message (RFC 3501 §6.4.8).
  const star = await c.send('a4', 'UID FETCH 9000:* (UID)');
  assert.deepEqual(star.untagged, [`* ${n} FETCH (UID ${n})`]);
});

test('wrong state: FETCH before SELECT and before login -> BAD', async () => {
  const d = await srv.connect();
  assert.match((await d.send('a1', 'FETCH 1 FLAGS')).tagged, /^a1 BAD /);
  await d.login('alice@example.test');
  assert.match((await d.send('a2', 'FETCH 1 FLAGS')).tagged, /^a2 BAD /);
  assert.match((await d.send('a3', 'UID FETCH 1 FLAGS')).tagged, /^a3 BAD /);
  d.close();
});

test('bad syntax -> BAD with the tag, connection usable', async () => {
  const bad = [
    'FETCH',
    'FETCH 1',
    'FETCH 1 BOGUS',
    'FETCH 1 (FLAGS',
    'FETCH 1 FLAGS)',
    'FETCH 1 BODY[HEADER.FIELDS]',
    'FETCH 1 BODY[HEADER.FIELDS ()]',
    'FETCH 1 BODY[1.X]',
    'FETCH 1 BODY[MIME]',
    'FETCH 1 BODY[]<10>',
    'FETCH 1 BODY[]<1.0>',
    'FETCH -1 FLAGS',
    'FETCH 1:2:3 FLAGS',
    'FETCH 1 (FLAGS FLAGS',
  ];
  for (const line of bad) {
    const r = await c.cmd(line);
    assert.match(r.tagged, /^t\d+ BAD /, `${line} -> ${r.tagged}`);
  }
  assert.match((await c.send('z', 'FETCH 1 FLAGS')).tagged, /^z OK /);
});
