/**
 * Every POP3 command over a real socket (RFC 1939 §4-§7, RFC 2449 CAPA), as a transcript: the good paths and
 * the errors, including commands in the wrong state, bad message numbers, DELE twice, TOP with 0 lines, RSET,
 * LIST/UIDL of one message and of all, pipelined commands answered in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPop3Server, message, addr, HOSTNAME, type Pop3TestServer } from './helpers.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['alice', 'bob', 'empty'] });
const msgs: Buffer[] = [
  message({ subject: 'one', body: 'First body line\r\nsecond line\r\nthird line' }),
  message({ subject: 'two', body: '.starts with a dot\r\n..two dots\r\n.\r\nend' }),
  message({ subject: 'three' }),
];
for (const m of msgs) await srv.append('alice', m);
for (const m of msgs) await srv.append('bob', m);

test('greeting names the host; QUIT in AUTHORIZATION closes without an update', async () => {
  const c = await srv.connect();
  assert.match(c.greeting, new RegExp(`^\\+OK ${HOSTNAME} Mailwright POP3 ready$`));
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  assert.deepEqual(await c.untilClosed(), []);
});

test('CAPA before and after login (RFC 2449)', async () => {
  const c = await srv.connect();
  const r = await c.multi('CAPA');
  assert.match(r.status, /^\+OK/);
  for (const cap of ['TOP', 'UIDL', 'USER', 'SASL PLAIN', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'STLS', 'EXPIRE NEVER', 'IMPLEMENTATION Mailwright']) {
    assert.ok(r.lines.includes(cap), `missing ${cap} in ${JSON.stringify(r.lines)}`);
  }
  await c.ok(`USER ${addr('alice')}`);
  await c.ok('PASS secret');
  const after = await c.multi('capa');
  assert.ok(after.lines.includes('UIDL') && after.lines.includes('TOP'));
  assert.ok(!after.lines.includes('STLS') && !after.lines.includes('USER') && !after.lines.includes('SASL PLAIN'), JSON.stringify(after.lines));
  await c.ok('QUIT');
});

test('transaction commands before login are refused', async () => {
  const c = await srv.connect();
  for (const cmd of ['STAT', 'LIST', 'LIST 1', 'RETR 1', 'DELE 1', 'RSET', 'TOP 1 0', 'UIDL', 'UIDL 1']) {
    assert.match(await c.cmd(cmd), /^-ERR \w+ is not allowed before login$/, cmd);
  }
  assert.match(await c.cmd('NOOP'), /^\+OK/);
  await c.ok('QUIT');
});

test('PASS without USER, unknown commands, APOP, empty line, arguments where none are allowed', async () => {
  const c = await srv.connect();
  assert.equal(await c.cmd('PASS secret'), '-ERR Send USER first');
  assert.equal(await c.cmd('XYZZY 1 2'), '-ERR Unknown command XYZZY');
  assert.match(await c.cmd('APOP alice 0123456789abcdef0123456789abcdef'), /^-ERR APOP is not supported/);
  assert.equal(await c.cmd(''), '-ERR Empty command');
  assert.equal(await c.cmd('USER'), '-ERR USER needs a user name');
  assert.equal(await c.cmd('NOOP now'), '-ERR NOOP takes no arguments');
  assert.equal(await c.cmd('STLS please'), '-ERR STLS takes no arguments');
  // USER then a wrong password: [AUTH], the user name is forgotten (PASS again needs USER again).
  await c.ok(`USER ${addr('alice')}`);
  assert.equal(await c.cmd('PASS wrong'), '-ERR [AUTH] Authentication failed');
  assert.equal(await c.cmd('PASS secret'), '-ERR Send USER first');
  await c.ok(`user ${addr('alice')}`);
  assert.match(await c.cmd('pass secret'), /^\+OK Logged in: 3 messages \(\d+ octets\)$/);
  // After login, authorization commands are refused.
  assert.equal(await c.cmd(`USER ${addr('alice')}`), '-ERR USER is not allowed after login');
  assert.equal(await c.cmd('PASS x'), '-ERR PASS is not allowed after login');
  assert.equal(await c.cmd('STLS'), '-ERR STLS is not allowed after login');
  assert.equal(await c.cmd('AUTH PLAIN'), '-ERR AUTH is not allowed after login');
  await c.ok('QUIT');
});

test('STAT, LIST, LIST n, UIDL, UIDL n', async () => {
  const c = await srv.login('alice');
  const total = msgs.reduce((a, m) => a + m.length, 0);
  assert.equal(await c.cmd('STAT'), `+OK 3 ${total}`);
  const list = await c.multi('LIST');
  assert.equal(list.status, `+OK 3 messages (${total} octets)`);
  assert.deepEqual(list.lines, msgs.map((m, i) => `${i + 1} ${m.length}`));
  assert.equal(await c.cmd('LIST 2'), `+OK 2 ${msgs[1]!.length}`);
  const uidl = await c.multi('UIDL');
  assert.equal(uidl.lines.length, 3);
  const bases = [...srv.filesByBase('alice').keys()];
  for (const [i, l] of uidl.lines.entries()) {
    const [n, id] = l.split(' ');
    assert.equal(n, String(i + 1));
    assert.match(id!, /^[\x21-\x7e]{1,70}$/);
    assert.ok(bases.includes(id!), `${id} is not a Maildir base name`);
  }
  assert.equal(await c.cmd('UIDL 3'), `+OK 3 ${uidl.lines[2]!.split(' ')[1]}`);
  await c.ok('QUIT');
});

test('bad message numbers: 0, negative, sign, junk, too large, missing', async () => {
  const c = await srv.login('alice');
  assert.equal(await c.cmd('LIST 0'), '-ERR Invalid message number: 0');
  assert.equal(await c.cmd('RETR -1'), '-ERR Invalid message number: -1');
  assert.equal(await c.cmd('RETR +1'), '-ERR Invalid message number: +1');
  assert.equal(await c.cmd('DELE 1x'), '-ERR Invalid message number: 1x');
  assert.equal(await c.cmd('RETR 01'), '-ERR Invalid message number: 01');
  assert.equal(await c.cmd('RETR 4'), '-ERR No such message 4 (there are 3)');
  assert.equal(await c.cmd('UIDL 99999999999'), '-ERR Invalid message number: 99999999999');
  assert.equal(await c.cmd('RETR'), '-ERR Missing message number');
  assert.equal(await c.cmd('TOP 1'), '-ERR Missing number of lines');
  assert.equal(await c.cmd('TOP 1 -1'), '-ERR Invalid number of lines: -1');
  assert.equal(await c.cmd('LIST 1 2'), '-ERR Too many arguments to LIST');
  // Nothing was changed by the errors.
  assert.match(await c.cmd('STAT'), /^\+OK 3 /);
  await c.ok('QUIT');
});

test('RETR sends the message byte for byte with dot-stuffing; TOP n 0 / TOP n 2 / TOP n huge', async () => {
  const c = await srv.login('alice');
  const r1 = await c.multi('RETR 1');
  assert.equal(r1.status, `+OK ${msgs[0]!.length} octets`);
  assert.ok(r1.data.equals(msgs[0]!));
  const r2 = await c.multi('RETR 2');
  assert.ok(r2.data.equals(msgs[1]!), r2.data.toString());
  assert.ok(r2.raw.includes('\r\n..starts with a dot\r\n...two dots\r\n..\r\nend\r\n'), r2.raw.toString());
  const header = msgs[0]!.subarray(0, msgs[0]!.indexOf('\r\n\r\n') + 4);
  const t0 = await c.multi('TOP 1 0');
  assert.match(t0.status, /^\+OK/);
  assert.ok(t0.data.equals(header), JSON.stringify(t0.data.toString()));
  const t2 = await c.multi('TOP 1 2');
  assert.equal(t2.data.toString(), header.toString() + 'First body line\r\nsecond line\r\n');
  const tAll = await c.multi('TOP 1 1000000');
  assert.ok(tAll.data.equals(msgs[0]!));
  const t2b = await c.multi('TOP 2 1');
  assert.ok(t2b.raw.toString().endsWith('\r\n\r\n..starts with a dot\r\n'), JSON.stringify(t2b.raw.toString()));
  await c.ok('QUIT');
});

test('DELE marks, DELE twice and RETR/LIST/UIDL/TOP of a deleted message fail, RSET unmarks; nothing deleted without QUIT', async () => {
  const c = await srv.login('bob');
  const before = srv.curFiles('bob');
  assert.equal(await c.cmd('DELE 2'), '+OK Message 2 deleted');
  assert.equal(await c.cmd('DELE 2'), '-ERR Message 2 already deleted');
  for (const cmd of ['RETR 2', 'LIST 2', 'UIDL 2', 'TOP 2 0']) assert.equal(await c.cmd(cmd), '-ERR Message 2 already deleted', cmd);
  const list = await c.multi('LIST');
  assert.deepEqual(list.lines.map((l) => l.split(' ')[0]), ['1', '3']);
  assert.deepEqual((await c.multi('UIDL')).lines.map((l) => l.split(' ')[0]), ['1', '3']);
  assert.equal(await c.cmd('STAT'), `+OK 2 ${msgs[0]!.length + msgs[2]!.length}`);
  const total = msgs.reduce((a, m) => a + m.length, 0);
  assert.equal(await c.cmd('RSET'), `+OK Maildrop has 3 messages (${total} octets)`);
  assert.match(await c.cmd('RETR 2'), /^\+OK/);
  await c.body();
  assert.equal(await c.cmd('DELE 3'), '+OK Message 3 deleted');
  c.close(); // dropped: no UPDATE state
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(srv.curFiles('bob').map((f) => f.split(':2,')[0]), before.map((f) => f.split(':2,')[0]));
  const again = await srv.login('bob');
  assert.match(await again.cmd('STAT'), /^\+OK 3 /);
  await again.ok('QUIT');
});

test('an empty maildrop', async () => {
  const c = await srv.login('empty');
  assert.equal(await c.cmd('STAT'), '+OK 0 0');
  const l = await c.multi('LIST');
  assert.equal(l.status, '+OK 0 messages (0 octets)');
  assert.deepEqual(l.lines, []);
  assert.deepEqual((await c.multi('UIDL')).lines, []);
  assert.equal(await c.cmd('RETR 1'), '-ERR No such message 1 (there are 0)');
  assert.match(await c.cmd('QUIT'), /^\+OK .* signing off \(0 messages left\)$/);
});

test('pipelined commands are answered in order (RFC 2449 PIPELINING)', async () => {
  const c = await srv.connect();
  c.write(`CAPA\r\nUSER ${addr('alice')}\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nRETR 1\r\nUIDL 1\r\nTOP 2 0\r\nNOOP\r\nQUIT\r\n`);
  assert.match(await c.line(), /^\+OK/);
  await c.body();
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK Logged in/);
  assert.match(await c.line(), /^\+OK 3 /);
  assert.equal(await c.line(), `+OK 1 ${msgs[0]!.length}`);
  assert.match(await c.line(), /^\+OK \d+ octets/);
  assert.ok((await c.body()).data.equals(msgs[0]!));
  assert.match(await c.line(), /^\+OK 1 \S+$/);
  assert.match(await c.line(), /^\+OK/);
  await c.body();
  assert.equal(await c.line(), '+OK');
  assert.match(await c.line(), /^\+OK .*signing off/);
  await c.untilClosed();
});

test('LIST and RETR of a message without a final CRLF and of LF-only files add CRLF; sizes of ,W= names', async () => {
  await srv.append('empty', Buffer.from('Subject: no final newline\r\n\r\nlast line without CRLF'));
  const c = await srv.login('empty');
  const r = await c.multi('RETR 1');
  assert.equal(r.data.toString(), 'Subject: no final newline\r\n\r\nlast line without CRLF\r\n');
  await c.ok('DELE 1');
  await c.ok('QUIT');
  await c.untilClosed();
});
