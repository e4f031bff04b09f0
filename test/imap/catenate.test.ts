/**
 * CATENATE (RFC 4469): APPEND ... CATENATE (TEXT literal / URL "...") with IMAP URLs (RFC 5092) to messages and
 * parts in the user's own mailboxes; [BADURL] for everything that does not resolve (and for other users' data);
 * [TOOBIG]; TEXT literal8 and LITERAL+; URLs sent as literals; with MULTIAPPEND, all or none; the parts bound;
 * and the same CATENATE sent to a private Dovecot must build the same message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, message, literalsOf, walk, ImapClient, addr, lit } from '../helpers/imap.js';
import { startReferenceDovecot } from '../helpers/dovecot.js';
import { MSG } from '../helpers/binary-sample.js';

const LIMIT = 64 * 1024;
const srv = await startImapServer({ users: ['alice', 'bob'], imap: { maxAppendSize: LIMIT } });

async function setup(cl: ImapClient): Promise<number> {
  await cl.cmd('CREATE Src');
  await cl.cmd('CREATE Dst');
  const r = await cl.append(cl.tag(), 'Src', MSG);
  assert.match(r.tagged, /OK/);
  const st = await cl.cmd('STATUS Src (UIDVALIDITY)');
  return Number(/UIDVALIDITY (\d+)/.exec(st.untagged[0]!)![1]);
}

const c = await srv.authed('alice');
const uv = await setup(c);
const bob = await srv.authed('bob');
await bob.append(bob.tag(), 'INBOX', message({ subject: 'bob secret' }));

const count = async (box = 'Dst') => Number(/MESSAGES (\d+)/.exec((await c.cmd(`STATUS ${box} (MESSAGES)`)).untagged[0]!)![1]);
const tmpFiles = () => walk(srv.maildir('alice')).filter((p) => /(^|\/)tmp\/./.test(p));

async function bodyOf(cl: ImapClient, tagged: string): Promise<string> {
  const uid = /APPENDUID \d+ (\d+)/.exec(tagged)![1];
  await cl.cmd('EXAMINE Dst');
  const f = await cl.cmd(`UID FETCH ${uid} BODY.PEEK[]`);
  await cl.cmd('UNSELECT');
  return literalsOf(f.untagged.find((l) => l.includes('BODY[]'))!)[0]!;
}

test('CAPABILITY lists CATENATE', async () => {
  assert.match((await c.cmd('CAPABILITY')).untagged[0]!, / CATENATE/);
});

test('TEXT + URL of a part + URL of a header + TEXT builds one message', async () => {
  const head = 'From: me@example.test\r\nSubject: forwarded\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n';
  const r = await c.sendParts('a1', [
    'APPEND Dst (\\Draft) CATENATE (TEXT ', lit(head),
    ` URL "/Src;UIDVALIDITY=${uv}/;UID=1/;SECTION=2.MIME" URL "/Src/;UID=1/;SECTION=2" TEXT `, lit('\r\n--X--\r\n'), ')',
  ]);
  assert.match(r.tagged, /^a1 OK \[APPENDUID \d+ \d+\]/);
  const mime = 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n';
  assert.equal(await bodyOf(c, r.tagged), `${head}${mime}AAECAwQFBgcICQ==\r\n--X--\r\n`);
});

test('a whole message by URL, HEADER and TEXT sections, and ;PARTIAL=', async () => {
  const r1 = await c.send('a1', 'APPEND Dst CATENATE (URL "/Src/;UID=1")');
  assert.equal(await bodyOf(c, r1.tagged), MSG.toString('latin1'));
  const r2 = await c.send('a2', 'APPEND Dst CATENATE (URL "/Src/;UID=1/;SECTION=HEADER" URL "/Src/;UID=1/;SECTION=TEXT")');
  assert.equal(await bodyOf(c, r2.tagged), MSG.toString('latin1'));
  const r3 = await c.send('a3', 'APPEND Dst CATENATE (URL "/Src/;UID=1/;PARTIAL=0.9" URL "/Src/;UID=1/;SECTION=4.1")');
  assert.equal(await bodyOf(c, r3.tagged), 'From: a@xaGVsbG8=');
});

test('literal8 TEXT parts, LITERAL+, and a URL sent as a literal', async () => {
  const text = Buffer.from('Subject: nul\r\n\r\na\0b');
  c.write(Buffer.concat([Buffer.from(`a1 APPEND Dst CATENATE (TEXT ~{${text.length}+}\r\n`), text, Buffer.from(' URL {16+}\r\n/Src/;UID=1/;SEC'), Buffer.from('TION=5)\r\n')]));
  const r = await c.collect('a1');
  // A literal is the whole astring: "TION=5" after it is a syntax error, and nothing is stored.
  assert.match(r.tagged, /^a1 BAD /);
  assert.deepEqual(tmpFiles(), []);
  const url = '/Src/;UID=1/;SECTION=5';
  c.write(Buffer.concat([Buffer.from(`a2 APPEND Dst CATENATE (TEXT ~{${text.length}+}\r\n`), text, Buffer.from(` URL {${url.length}+}\r\n${url})\r\n`)]));
  const r2 = await c.collect('a2');
  assert.match(r2.tagged, /^a2 OK/);
  assert.equal(await bodyOf(c, r2.tagged), 'Subject: nul\r\n\r\na\0bplain 7bit');
});

test('[BADURL] for every URL that does not resolve; nothing is stored', async () => {
  const before = await count();
  const bad = [
    `/Src;UIDVALIDITY=${uv + 1}/;UID=1`, // UIDVALIDITY mismatch
    '/Src/;UID=99', // no such message
    '/Nope/;UID=1', // no such mailbox
    '/Src/;UID=1/;SECTION=9', // no such part
    '/Src/;UID=1/;SECTION=FOO', // bad section
    '/Src', // no UID
    '/Src/;UID=1;URLAUTH=anonymous:internal:abc', // URLAUTH is not supported
    'imap://bob@mail.example.test/INBOX/;UID=1', // another user's mailbox
    'imap://alice@elsewhere.example/Src/;UID=1', // another server
    '/../bob/INBOX/;UID=1', // path games stay inside the user's mailboxes
    '/%2E%2E/INBOX/;UID=1',
    'http://example.com/x',
    '/Src/;UID=0',
    '/Src/;UID=1/;SECTION=%ZZ',
  ];
  for (const url of bad) {
    const r = await c.send('b1', `APPEND Dst CATENATE (URL "${url}")`);
    assert.match(r.tagged, /^b1 NO \[BADURL [^\]]*\] /, `${url}: ${r.tagged}`);
  }
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
  // The same URL forms that name alice herself work.
  const ok = await c.send('b2', `APPEND Dst CATENATE (URL "imap://${addr('alice')}@mail.example.test/Src;UIDVALIDITY=${uv}/;UID=1")`);
  assert.match(ok.tagged, /^b2 OK/, ok.tagged);
});

test('the URL refers to the logged-in user: bob\'s "/INBOX/;UID=1" is his own message, never alice\'s', async () => {
  await c.append(c.tag(), 'INBOX', message({ subject: 'alice own' }));
  const r = await bob.send('c1', 'APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)")');
  assert.match(r.tagged, /^c1 OK/);
  await bob.cmd('EXAMINE INBOX');
  const f = await bob.cmd('FETCH 2 BODY.PEEK[]');
  assert.equal(literalsOf(f.untagged.find((l) => l.includes('BODY[]'))!)[0], 'Subject: bob secret\r\n\r\n');
  await bob.cmd('UNSELECT');
});

test('[TOOBIG] when the parts exceed APPENDLIMIT; the connection stays up', async () => {
  const before = await count();
  const filler = Buffer.alloc(LIMIT - 100, 0x61);
  const r = await c.sendParts('d1', ['APPEND Dst CATENATE (TEXT ', lit(filler), ' URL "/Src/;UID=1")']);
  assert.match(r.tagged, /^d1 NO \[TOOBIG\]/);
  // A TEXT literal announced over the room left is refused before "+".
  const r2 = await c.sendParts('d2', ['APPEND Dst CATENATE (URL "/Src/;UID=1" TEXT ', lit(Buffer.alloc(LIMIT - 10, 0x61)), ')']);
  assert.match(r2.tagged, /^d2 NO \[TOOBIG\]/);
  assert.ok(!r2.lines.some((l) => l.startsWith('+')));
  assert.equal(await count(), before);
  assert.deepEqual(tmpFiles(), []);
  assert.match((await c.send('d3', 'NOOP')).tagged, /^d3 OK/);
});

test('MULTIAPPEND with CATENATE: all or none', async () => {
  const before = await count();
  const r = await c.sendParts('e1', ['APPEND Dst CATENATE (URL "/Src/;UID=1") ', lit(message()), ' CATENATE (TEXT ', lit('Subject: x\r\n\r\n'), ' URL "/Src/;UID=1/;SECTION=5")']);
  assert.match(r.tagged, /^e1 OK \[APPENDUID \d+ \d+:\d+\]/);
  assert.equal(await count(), before + 3);
  const r2 = await c.sendParts('e2', ['APPEND Dst ', lit(message()), ' CATENATE (TEXT ', lit('Subject: x\r\n\r\n'), ' URL "/Src/;UID=42")']);
  assert.match(r2.tagged, /^e2 NO \[BADURL \/Src\/;UID=42\]/);
  assert.equal(await count(), before + 3);
  assert.deepEqual(tmpFiles(), []);
});

test('syntax: empty list, unknown part, missing literal, too many parts are BAD', async () => {
  assert.match((await c.send('f1', 'APPEND Dst CATENATE ()')).tagged, /^f1 BAD /);
  assert.match((await c.send('f2', 'APPEND Dst CATENATE (FOO "x")')).tagged, /^f2 BAD /);
  assert.match((await c.send('f3', 'APPEND Dst CATENATE (TEXT "x")')).tagged, /^f3 BAD /);
  assert.match((await c.send('f4', 'APPEND Dst CATENATE URL "/Src/;UID=1"')).tagged, /^f4 BAD /);
  const many = Array.from({ length: 300 }, () => 'URL "/Src/;UID=1/;SECTION=5"').join(' ');
  assert.match((await c.send('f5', `APPEND Dst CATENATE (${many})`)).tagged, /^f5 BAD .*CATENATE parts/);
  assert.match((await c.send('f6', 'NOOP')).tagged, /^f6 OK/);
});

test('Dovecot builds the same message from the same CATENATE', async (t) => {
  const dove = await startReferenceDovecot([addr('alice')]).catch(() => null);
  if (!dove) return t.skip('dovecot not installed');
  t.after(() => dove.stop());
  const d = await ImapClient.connect(dove.port);
  await d.login(addr('alice'));
  const duv = await setup(d);
  const build = async (cl: ImapClient, v: number) => {
    const r = await cl.sendParts('g1', [
      'APPEND Dst CATENATE (TEXT ', lit('Subject: fwd\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\n'),
      ` URL "/Src;UIDVALIDITY=${v}/;UID=1/;SECTION=1.MIME" URL "/Src/;UID=1/;SECTION=1" TEXT `, lit('\r\n--X\r\n'),
      ' URL "/Src/;UID=1/;SECTION=4" URL "/Src/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)" TEXT ', lit('--X--\r\n'), ')',
    ]);
    assert.match(r.tagged, /^g1 OK/, r.tagged);
    return bodyOf(cl, r.tagged);
  };
  assert.equal(await build(c, uv), await build(d, duv));
  // BADURL answers carry the URL the same way.
  const bad = '/Src/;UID=77';
  const ours = await c.send('g2', `APPEND Dst CATENATE (URL "${bad}")`);
  const theirs = await d.send('g2', `APPEND Dst CATENATE (URL "${bad}")`);
  assert.equal(/\[[^\]]*\]/.exec(ours.tagged)![0], /\[[^\]]*\]/.exec(theirs.tagged)![0]);
  d.close();
});
