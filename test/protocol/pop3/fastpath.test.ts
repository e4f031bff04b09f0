/**
 * The RETR fast path's pure parts: retrNumber (RETR read from the bytes) accepts exactly the lines that
 * parseCommand reads as RETR with the same number in their plain form, and sendsAsIs (a message that needs no
 * stuffing goes out as it is plus ".\r\n") agrees with DotStuffer on every input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, retrNumber, sendsAsIs, stuffWhole } from '../../../src/protocol/pop3/index.js';

function viaParser(line: string): number {
  try {
    const c = parseCommand(line);
    return c.name === 'RETR' ? c.msg : 0;
  } catch {
    return 0;
  }
}

test('retrNumber: the plain RETR lines as parseCommand reads them, 0 (general parser) for everything else', () => {
  const cases: Array<[string, number]> = [
    ['RETR 1', 1],
    ['retr 42', 42],
    ['ReTr 2147483647', 0x7fffffff],
    ['RETR 2147483648', 0],
    ['RETR 9999999999', 0],
    ['RETR 0', 0],
    ['RETR 01', 0],
    ['RETR -1', 0],
    ['RETR +1', 0],
    ['RETR', 0],
    ['RETR ', 0],
    ['RETR 1 ', 0],
    ['RETR  1', 0],
    ['RETR 1 2', 0],
    ['RETR\t1', 0],
    ['RETRX 1', 0],
    ['TOP 1 0', 0],
    ['LIST 1', 0],
    ['RETR 1a', 0],
    ['R\u00c9TR 1', 0],
    ['RETR 12345678901', 0],
  ];
  for (const [line, want] of cases) {
    assert.equal(retrNumber(Buffer.from(line, 'latin1')), want, line);
    // Whatever the fast path takes, the parser takes the same way; what it leaves, the parser still decides.
    if (want) assert.equal(viaParser(line), want, line);
  }
  // Every 1-2 character variation of a RETR line around the letters and the number.
  const alphabet = ['R', 'r', 'E', 'e', 'T', 't', ' ', '0', '1', '9', '\x00', 'x', '\xd2', '\xf2', '.'];
  const base = 'RETR 19';
  for (let i = 0; i < base.length; i++) {
    for (const ch of alphabet) {
      const line = base.slice(0, i) + ch + base.slice(i + 1);
      const fast = retrNumber(Buffer.from(line, 'latin1'));
      if (fast) assert.equal(viaParser(line), fast, JSON.stringify(line));
      else assert.ok(!/^retr [1-9][0-9]*$/i.test(line) || Number(line.slice(5)) > 0x7fffffff, JSON.stringify(line));
    }
  }
});

test('sendsAsIs: true exactly when DotStuffer would send the bytes unchanged', () => {
  const check = (s: string) => {
    const data = Buffer.from(s, 'latin1');
    // Embedded in a larger buffer with bytes around it, as RETR's response buffer holds it.
    const buf = Buffer.concat([Buffer.from('+OK 9 octets\r\n'), data, Buffer.from('.\r\n\n.x')]);
    const asIs = sendsAsIs(buf, 14, 14 + data.length);
    const stuffed = stuffWhole(data);
    assert.equal(asIs, stuffed.equals(Buffer.concat([data, Buffer.from('.\r\n')])), JSON.stringify(s));
  };
  for (const s of ['', 'a', '\r\n', '\n', 'a\r\n', 'a\n', 'a\r\nb', '.\r\n', 'a\r\n.\r\n', 'a\r\n..b\r\n', 'a\n\r\n', 'a\r\r\n', '\r\n\r\n', 'x\r\ny\r\n']) {
    check(s);
  }
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const atoms = ['a', 'b', '.', '\r', '\n', '\r\n', '\r\n.', ' '];
  for (let k = 0; k < 3000; k++) {
    let s = '';
    const n = Math.floor(rnd() * 12);
    for (let j = 0; j < n; j++) s += atoms[Math.floor(rnd() * atoms.length)];
    check(s);
  }
});
