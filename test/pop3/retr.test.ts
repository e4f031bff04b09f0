/**
 * RETR byte for byte through the fast path (RFC 1939 §7): messages read straight into a reused response buffer.
 * Pipelined RETRs to a client that does not read (the socket keeps earlier responses queued, so the buffer must not
 * be reused under them), sizes that make the buffer grow, files over the blocking-read limit (asynchronous path),
 * dot-stuffing, LF-only lines and a missing final CRLF, mixed-case "retr" and forms the fast path leaves to the parser.
 * LIST and UIDL of a maildrop large enough to go out in several pieces, with deleted messages left out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startPop3Server, message, unstuff, type Pop3TestServer } from './helpers.js';

const srv: Pop3TestServer = await startPop3Server({ users: ['carol', 'dave'] });

function filler(n: number, seed: number): string {
  let s = '';
  let i = 0;
  while (s.length < n) {
    // Every 7th line begins with a dot: stuffing needed at many places, also near buffer boundaries.
    s += (i % 7 === 3 ? '.' : '') + `line ${seed}-${i} ${'x'.repeat((i * 13 + seed) % 70)}\r\n`;
    i++;
  }
  return s;
}

const msgs: Buffer[] = [];
const sizes = [200, 5_000, 70_000, 3_000, 150_000, 300_000, 900, 40_000, 1_200_000, 10];
sizes.forEach((n, k) => {
  let m = message({ subject: `m${k}`, body: k % 3 === 0 ? 'plain body\r\nno dots here\r\n' + 'y'.repeat(n) : filler(n, k) });
  if (k === 6) m = Buffer.from(m.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'); // LF-only file
  if (k === 9) m = Buffer.from('Subject: tiny\r\n\r\n.no final CRLF', 'latin1');
  msgs.push(m);
});
for (const m of msgs) await srv.append('carol', m);

const expected = (m: Buffer) => {
  const crlf = Buffer.from(m.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  return crlf.subarray(crlf.length - 2).toString() === '\r\n' ? crlf : Buffer.concat([crlf, Buffer.from('\r\n')]);
};

test('pipelined RETRs to a client that reads nothing until all were sent: every message byte for byte', async () => {
  const c = await srv.login('carol');
  c.socket.pause();
  // ~11 MB of small messages (blocking-read path) fill the socket buffers: the later ones are written while earlier
  // output is still queued in the socket. The large ones (asynchronous path) in between.
  const order: number[] = [];
  for (let k = 0; k < 40; k++) order.push(5, 3, 8, 1, 2, 10, 7, 4, ...(k % 10 === 9 ? [6, 9] : []));
  c.write(order.map((n, i) => `${i % 2 ? 'retr' : 'RETR'} ${n}\r\n`).join(''));
  // Let the server answer into the full socket buffers before the client reads anything.
  await new Promise((r) => setTimeout(r, 300));
  c.socket.resume();
  for (const n of order) {
    const st = await c.line();
    assert.match(st, /^\+OK \d+ octets$/, `RETR ${n}`);
    const b = await c.body();
    const e = expected(msgs[n - 1]!);
    if (!b.data.equals(e)) {
      let d = 0;
      while (d < e.length && b.data[d] === e[d]) d++;
      assert.fail(`RETR ${n}: ${b.data.length} bytes, expected ${e.length}; first difference at ${d}: ${JSON.stringify(b.data.subarray(Math.max(0, d - 40), d + 40).toString('latin1'))}`);
    }
    // Only line-leading dots were added.
    assert.ok(unstuff(b.raw).equals(b.data));
  }
  await c.ok('QUIT');
});

test('RETR one at a time (answered in the socket callback when it can): small, large, LF-only and dot-stuffed messages byte for byte; errors, DELE and other commands in between', async () => {
  const c = await srv.login('carol');
  for (let round = 0; round < 2; round++) {
    for (let n = 1; n <= msgs.length; n++) {
      // The octets of the stored file (RFC 1939 §11: as LIST gives them), also for the LF-only one.
      assert.equal(await c.cmd(round ? `retr ${n}` : `RETR ${n}`), `+OK ${msgs[n - 1]!.length} octets`, `RETR ${n}`);
      const b = await c.body();
      assert.ok(b.data.equals(expected(msgs[n - 1]!)), `RETR ${n} byte for byte`);
      assert.ok(unstuff(b.raw).equals(b.data));
    }
    assert.equal(await c.cmd('RETR 11'), '-ERR No such message 11 (there are 10)');
    assert.match(await c.cmd('STAT'), /^\+OK 10 \d+$/);
  }
  await c.ok('DELE 3');
  assert.equal(await c.cmd('RETR 3'), '-ERR Message 3 already deleted');
  assert.equal(await c.cmd('RETR 4'), `+OK ${msgs[3]!.length} octets`);
  assert.ok((await c.body()).data.equals(expected(msgs[3]!)));
  await c.ok('RSET');
  // Half a command, then the rest: the line reader joins them.
  c.write('RE');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await c.cmd('TR 5'), `+OK ${msgs[4]!.length} octets`);
  assert.ok((await c.body()).data.equals(expected(msgs[4]!)));
  await c.ok('QUIT');
});

test('the per-IP command rate applies to RETRs sent one at a time: slowed, every message still byte for byte', async () => {
  const limited = await startPop3Server({ users: ['erin'], limits: { exemptLoopback: false, commandsPerSecond: 20, commandBurst: 3 } });
  try {
    for (let k = 0; k < 4; k++) await limited.append('erin', msgs[k]!);
    const c = await limited.login('erin');
    const t0 = Date.now();
    for (let round = 0; round < 3; round++) {
      for (let n = 1; n <= 4; n++) {
        assert.equal(await c.cmd(`RETR ${n}`), `+OK ${msgs[n - 1]!.length} octets`);
        assert.ok((await c.body()).data.equals(expected(msgs[n - 1]!)));
      }
    }
    // 12 RETRs after USER/PASS took the burst of 3: at least ~11 waits of 50 ms.
    assert.ok(Date.now() - t0 >= 400, `${Date.now() - t0} ms`);
    await c.ok('QUIT');
  } finally {
    await limited.stop();
  }
});

test('RETR forms the fast path leaves to the parser are answered as before', async () => {
  const c = await srv.login('carol');
  assert.equal(await c.cmd('RETR  1'), `+OK ${msgs[0]!.length} octets`);
  assert.ok((await c.body()).data.equals(msgs[0]!));
  assert.equal(await c.cmd('RETR 0'), '-ERR Invalid message number: 0');
  assert.equal(await c.cmd('RETR 11'), '-ERR No such message 11 (there are 10)');
  assert.equal(await c.cmd('RETR 1 2'), '-ERR Too many arguments to RETR');
  await c.ok('DELE 2');
  assert.equal(await c.cmd('RETR 2'), '-ERR Message 2 already deleted');
  await c.ok('RSET');
  c.write('QUIT\r\n');
  assert.match(await c.line(), /^\+OK/);
  if (!c.closed) await once(c.socket, 'close');
});

test('LIST and UIDL of 700 messages (several 16 KB pieces) with some marked deleted: the lines of LIST n / UIDL n', async () => {
  for (let i = 0; i < 700; i++) await srv.append('dave', message({ subject: `d${i}`, body: 'b'.repeat(i % 50) }));
  const c = await srv.login('dave');
  for (const n of [1, 350, 700]) await c.ok(`DELE ${n}`);
  const list = await c.multi('LIST');
  const uidl = await c.multi('UIDL');
  assert.match(list.status, /^\+OK 697 messages \(\d+ octets\)$/);
  assert.equal(uidl.status, '+OK Unique-ID listing follows');
  assert.ok(uidl.raw.length > 16 * 1024, `UIDL is ${uidl.raw.length} bytes`);
  const wantList: string[] = [];
  const wantUidl: string[] = [];
  c.write(Array.from({ length: 700 }, (_, i) => `LIST ${i + 1}\r\nUIDL ${i + 1}\r\n`).join(''));
  for (let n = 1; n <= 700; n++) {
    const l = await c.line();
    const u = await c.line();
    if (n === 1 || n === 350 || n === 700) {
      assert.match(l, /^-ERR Message \d+ already deleted$/);
      continue;
    }
    wantList.push(l.replace(/^\+OK /, ''));
    wantUidl.push(u.replace(/^\+OK /, ''));
  }
  assert.deepEqual(list.lines, wantList);
  assert.deepEqual(uidl.lines, wantUidl);
  await c.ok('RSET');
  await c.ok('QUIT');
});
