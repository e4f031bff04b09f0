/**
 * THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES on a fixed corpus whose threads are worked
 * out by hand below (References and In-Reply-To, a missing parent with one child (promoted) and with two (a
 * dummy at the root), a reply grouped with its original by base subject, no Message-ID, a duplicate Message-ID,
 * a References loop), the thread-list wire form against the RFC's examples, search criteria, UIDs, errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, lit } from '../helpers/imap.js';
import { formatThreads, threadReferences, threadOrderedSubject, orderedSubjectText, messageIds, type ThreadNode, type ThreadMessage } from '../../src/server/imap/thread.js';
import { mulberry32 } from '../../bench/lib/maildir-gen.mjs';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE T');

const m = (id: string | null, subject: string, date: string, extra: string[] = []) =>
  Buffer.from([...(id ? [`Message-ID: ${id}`] : []), `Subject: ${subject}`, `Date: ${date}`, 'From: x@example.org', ...extra, '', 'body', ''].join('\r\n'));

const corpus: Buffer[] = [
  m('<zero@x>', 'throwaway', 'Sat, 31 Oct 2026 00:00:00 +0000'), // expunged: UID = seq + 1
  /* 1 */ m('<a@x>', 'Lunch', 'Sun, 1 Nov 2026 10:00:00 +0000'),
  /* 2 */ m('<b@x>', 'Re: Lunch', 'Sun, 1 Nov 2026 11:00:00 +0000', ['References: <a@x>']),
  /* 3 */ m('<c@x>', 'Re: Lunch', 'Sun, 1 Nov 2026 12:00:00 +0000', ['References: <a@x>', ' <b@x>']),
  /* 4 */ m('<d@x>', 'Re: Lunch', 'Sun, 1 Nov 2026 13:00:00 +0000', ['In-Reply-To: <a@x> (Alice)']),
  /* 5 */ m('<e@x>', 'Report', 'Sun, 1 Nov 2026 09:00:00 +0000'),
  /* 6 */ m('<f@x>', 'Re: Report', 'Sun, 1 Nov 2026 14:00:00 +0000', ['References: <missing@x>']),
  /* 7 */ m('<g@x>', 'Re: Party', 'Mon, 2 Nov 2026 10:00:00 +0000', ['References: <p@x>']),
  /* 8 */ m('<h@x>', 'Re: Party', 'Mon, 2 Nov 2026 09:00:00 +0000', ['References: <p@x>']),
  /* 9 */ m(null, 'Hello', 'Tue, 3 Nov 2026 10:00:00 +0000'),
  /* 10 */ m('<a@x>', 'Dup', 'Wed, 4 Nov 2026 10:00:00 +0000'),
  /* 11 */ m('<k@x>', 'Loop', 'Thu, 5 Nov 2026 10:00:00 +0000', ['References: <l@x>']),
  /* 12 */ m('<l@x>', 'Re: Loop', 'Thu, 5 Nov 2026 11:00:00 +0000', ['References: <k@x>']),
];
for (const raw of corpus) {
  const r = await c.sendParts(c.tag(), ['APPEND T ', lit(raw)], { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
}
await c.select('T');
await c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)');
await c.cmd('EXPUNGE');

const thread = async (args: string) => {
  const r = await c.cmd(args);
  assert.match(r.tagged, /^t\d+ OK THREAD completed/, `${args}: ${r.tagged}`);
  const lines = r.untagged.filter((l) => l.startsWith('* THREAD'));
  assert.equal(lines.length, 1, r.untagged.join('\n'));
  return lines[0]!;
};

test('CAPABILITY advertises THREAD=ORDEREDSUBJECT and THREAD=REFERENCES', async () => {
  const caps = (await c.cmd('CAPABILITY')).untagged.find((l) => l.startsWith('* CAPABILITY'))!.split(' ');
  assert.ok(caps.includes('THREAD=ORDEREDSUBJECT'));
  assert.ok(caps.includes('THREAD=REFERENCES'));
});

test('ORDEREDSUBJECT: by base subject, threads and members by sent date', async () => {
  // REPORT [5 6] (1 Nov 09:00), LUNCH [1 2 3 4], PARTY [8 7], HELLO [9], DUP [10], LOOP [11 12]
  assert.equal(await thread('THREAD ORDEREDSUBJECT UTF-8 ALL'), '* THREAD (5 6)(1 (2)(3)(4))(8 7)(9)(10)(11 12)');
});

test('REFERENCES: steps 1-6 on the hand-worked corpus', async () => {
  // 1: a<-b<-c, a<-d (In-Reply-To); 6 under a dummy <missing@x> with one child: promoted to the root, then made
  // a child of 5 (same base subject, 6 is a reply, 5 is not); 7 and 8 under dummy <p@x> kept at the root (two
  // children), sorted 8 then 7; 9 (no Message-ID) and 10 (duplicate <a@x>) alone; 11 <-> 12 loop: 12 <- 11.
  assert.equal(await thread('THREAD REFERENCES UTF-8 ALL'), '* THREAD (5 6)(1 (2 3)(4))((8)(7))(9)(10)(12 11)');
});

test('UID THREAD returns UIDs; search criteria restrict the messages threaded', async () => {
  assert.equal(await thread('UID THREAD REFERENCES UTF-8 ALL'), '* THREAD (6 7)(2 (3 4)(5))((9)(8))(10)(11)(13 12)');
  // Without 1 (<a@x>), <a@x> becomes a dummy: 2 <- 3, and 4 sit under it (two children: kept at the root).
  assert.equal(await thread('THREAD REFERENCES UTF-8 2:4'), '* THREAD ((2 3)(4))');
  assert.equal(await thread('THREAD ORDEREDSUBJECT US-ASCII SUBJECT lunch'), '* THREAD (1 (2)(3)(4))');
  assert.equal(await thread('THREAD REFERENCES UTF-8 SUBJECT nothing-matches'), '* THREAD');
});

test('errors: unknown algorithm, charset, syntax, state', async () => {
  for (const bad of ['THREAD', 'THREAD REFERENCES', 'THREAD REFERENCES UTF-8', 'THREAD FOO UTF-8 ALL', 'THREAD (REFERENCES) UTF-8 ALL', 'UID THREAD']) {
    assert.match((await c.cmd(bad)).tagged, /^t\d+ BAD /, bad);
  }
  assert.match((await c.cmd('THREAD REFERENCES KOI8-R ALL')).tagged, /^t\d+ NO \[BADCHARSET/);
  const d = await srv.authed('alice');
  assert.match((await d.cmd('THREAD REFERENCES UTF-8 ALL')).tagged, /^t\d+ BAD /);
  d.close();
});

const node = (seq: number | null, ...children: ThreadNode[]): ThreadNode => ({
  msg: seq === null ? null : ({ seq } as ThreadMessage),
  children,
});

test('thread-list wire form: the RFC 5256 examples', () => {
  const seq = (x: ThreadMessage) => x.seq;
  // "(2)(3 6 (4 23)(44 7 96))"
  const t = [node(2), node(3, node(6, node(4, node(23)), node(44, node(7, node(96)))))];
  assert.equal(formatThreads(t, seq), '(2)(3 6 (4 23)(44 7 96))');
  // "((3)(5))": a dummy parent
  assert.equal(formatThreads([node(null, node(3), node(5))], seq), '((3)(5))');
  assert.equal(formatThreads([], seq), '');
});

test('REFERENCES on long chains does not exhaust the stack; message-id parsing', async () => {
  const msgs: ThreadMessage[] = [];
  for (let i = 1; i <= 20000; i++) {
    msgs.push({ seq: i, uid: i, date: i, subject: 'x', messageId: `<${i}@x>`, references: i > 1 ? `<${i - 1}@x>` : null, inReplyTo: null });
  }
  const roots = await threadReferences(msgs);
  assert.equal(roots.length, 1);
  const text = formatThreads(roots, (x) => x.seq);
  assert.ok(text.startsWith('(1 2 3 ') && text.endsWith(' 19999 20000)'));
  assert.deepEqual(messageIds('<a@x> junk < b @ y >\r\n <c@z>'), ['a@x', 'b@y', 'c@z']);
  assert.deepEqual(messageIds('no ids'), []);
});

test('deeply nested branches are formatted without recursion', () => {
  // Message i has children i+1 and a leaf: nesting depth n.
  let root: ThreadNode = node(100000);
  for (let i = 50000; i >= 1; i--) root = node(i, root, node(100000 + i));
  const text = formatThreads([root], (x) => x.seq);
  assert.ok(text.startsWith('(1 (2 (3 (4 '), text.slice(0, 40));
  assert.ok(text.includes('(50000 (100000)(150000))(149999))(149998))'));
  assert.ok(text.endsWith('(100002))(100001))'), text.slice(-40));
});

test('REFERENCES and ORDEREDSUBJECT give the event loop turns on large inputs, with the same result', async () => {
  const msgs: ThreadMessage[] = [];
  for (let i = 1; i <= 5000; i++) {
    const parent = i > 1 && i % 7 ? `<${i - 1}@x>` : null;
    msgs.push({ seq: i, uid: i, date: 5000 - i, subject: i % 3 ? `Re: topic ${i % 50}` : `topic ${i % 50}`, messageId: `<${i}@x>`, references: parent, inReplyTo: null });
  }
  let calls = 0;
  let yields = 0;
  const every100 = { due: () => ++calls % 100 === 0, yield: async () => void yields++ };
  const fresh = () => msgs.map((m) => ({ ...m }));
  const a = formatThreads(await threadReferences(fresh(), every100), (x) => x.seq);
  assert.ok(yields >= 50, `yielded ${yields} times`);
  assert.equal(a, formatThreads(await threadReferences(fresh()), (x) => x.seq));
  // ORDEREDSUBJECT looks at the clock once per 1024 messages (and in its sorts): with a slice always due, it yields
  // at each look.
  yields = 0;
  const always = { due: () => true, yield: async () => void yields++ };
  const b = formatThreads(await threadOrderedSubject(fresh(), always), (x) => x.seq);
  assert.ok(yields >= 4, `yielded ${yields} times`);
  assert.equal(b, formatThreads(await threadOrderedSubject(fresh()), (x) => x.seq));
});

test('ORDEREDSUBJECT text without nodes equals threading then formatting (random dates, subjects, ties)', async () => {
  const rnd = mulberry32(11);
  for (let round = 0; round < 30; round++) {
    const n = 1 + Math.floor(rnd() * (round < 25 ? 60 : 6000));
    const subjects = ['A', 'B', 'C', 'HELLO', '', 'X Y'].slice(0, 1 + Math.floor(rnd() * 6));
    const msgs = Array.from({ length: n }, (_, i) => ({
      seq: i + 1,
      uid: 10 + i * 3,
      date: 1.7e12 + Math.floor(rnd() * 20) * 60_000, // many equal dates: ties by sequence number
      subject: null,
      messageId: null,
      references: null,
      inReplyTo: null,
      base: { base: round % 3 === 0 ? `S${i}` : subjects[Math.floor(rnd() * subjects.length)]!, replyOrForward: false },
    }));
    for (const uid of [false, true]) {
      const num = (m: { seq: number; uid: number }) => (uid ? m.uid : m.seq);
      const expected = formatThreads(await threadOrderedSubject(msgs), num);
      const got = await orderedSubjectText(msgs.map((m) => m.date), msgs.map((m) => m.base.base), msgs.map(num));
      assert.equal(got, expected, `round ${round}`);
    }
  }
});
