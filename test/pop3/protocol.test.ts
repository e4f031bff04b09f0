/**
 * The pure POP3 wire code (src/protocol/pop3): dot-stuffing with every chunk split, bare LF, missing final CRLF,
 * TOP line counting across chunks; the line reader's bounds; command parsing; SASL PLAIN decoding; UIDL forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotStuffer, stuffWhole, LineReader, parseCommand, decodeSaslPlain, uidlOf, Pop3Error } from '../../src/protocol/pop3/index.js';

function stuffChunks(data: Buffer, cuts: number[], bodyLines: number | null = null): Buffer {
  const d = new DotStuffer(bodyLines);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    out.push(...d.push(data.subarray(prev, c)));
    prev = c;
    if (d.done) break;
  }
  out.push(d.end());
  return Buffer.concat(out);
}

test('dot-stuffing: lines starting with "." get one more; terminator; final CRLF added', () => {
  assert.equal(stuffWhole(Buffer.from('a\r\n.b\r\n..c\r\n.\r\nd\r\n')).toString(), 'a\r\n..b\r\n...c\r\n..\r\nd\r\n.\r\n');
  assert.equal(stuffWhole(Buffer.from('.x')).toString(), '..x\r\n.\r\n');
  assert.equal(stuffWhole(Buffer.from('')).toString(), '.\r\n');
  assert.equal(stuffWhole(Buffer.from('x\r')).toString(), 'x\r\n.\r\n');
  assert.equal(stuffWhole(Buffer.from('a\n.b\nc')).toString(), 'a\r\n..b\r\nc\r\n.\r\n', 'bare LF becomes CRLF');
  assert.equal(stuffWhole(Buffer.from('a\rb\r\n')).toString(), 'a\rb\r\n.\r\n', 'a bare CR inside a line is left alone');
});

test('dot-stuffing gives the same bytes for every split of the input into two and three chunks', () => {
  const samples = ['H: v\r\n\r\n.a\r\n..\r\nb\r\n.', 'H: v\n\n.a\n.\nz', '.\r\n.\r\n.\r\n', 'x\r\n\r\n\r\n.y\r\nlast'];
  for (const s of samples) {
    const data = Buffer.from(s);
    for (const lines of [null, 0, 1, 2]) {
      const whole = stuffWhole(data, lines);
      for (let i = 0; i <= data.length; i++) {
        assert.ok(stuffChunks(data, [i], lines).equals(whole), `${JSON.stringify(s)} split at ${i}, TOP ${lines}`);
        for (let j = i; j <= data.length; j++) assert.ok(stuffChunks(data, [i, j], lines).equals(whole), `${JSON.stringify(s)} at ${i},${j}`);
      }
    }
  }
});

test('TOP: header, blank line and n body lines; no blank line = all header', () => {
  const m = Buffer.from('A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n');
  assert.equal(stuffWhole(m, 0).toString(), 'A: 1\r\nB: 2\r\n\r\n.\r\n');
  assert.equal(stuffWhole(m, 2).toString(), 'A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n');
  assert.equal(stuffWhole(m, 99).toString(), 'A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n');
  assert.equal(stuffWhole(Buffer.from('A: 1\r\nB: 2'), 0).toString(), 'A: 1\r\nB: 2\r\n.\r\n');
  assert.equal(stuffWhole(Buffer.from('\r\nbody\r\n'), 0).toString(), '\r\n.\r\n', 'empty header');
});

test('line reader: CRLF and LF lines, split chunks, over-long lines reported once and dropped to the next LF', () => {
  const r = new LineReader(10);
  assert.deepEqual(r.push(Buffer.from('NOOP\r\nST')).map((e) => (e.type === 'line' ? e.line.toString() : e.type)), ['NOOP']);
  assert.deepEqual(r.push(Buffer.from('AT\nQUIT\r\n')).map((e) => (e.type === 'line' ? e.line.toString() : e.type)), ['STAT', 'QUIT']);
  assert.deepEqual(r.push(Buffer.from('x'.repeat(50))).map((e) => e.type), ['too-long']);
  assert.deepEqual(r.push(Buffer.from('y'.repeat(5000))), []);
  assert.ok(r.buffered <= 11);
  assert.deepEqual(r.push(Buffer.from('zz\r\nNOOP\r\n')).map((e) => (e.type === 'line' ? e.line.toString() : e.type)), ['NOOP']);
  assert.deepEqual(r.push(Buffer.from('0123456789abcdef\r\n')).map((e) => e.type), ['too-long']);
  assert.deepEqual(r.push(Buffer.from('0123456789\r\n')).map((e) => e.type), ['line'], 'exactly the limit is accepted');
});

test('command parsing', () => {
  assert.deepEqual(parseCommand('retr 7'), { name: 'RETR', msg: 7 });
  assert.deepEqual(parseCommand('TOP 3 0'), { name: 'TOP', msg: 3, lines: 0 });
  assert.deepEqual(parseCommand('LIST'), { name: 'LIST', msg: null });
  assert.deepEqual(parseCommand('PASS  pass with  spaces '), { name: 'PASS', password: ' pass with  spaces ' });
  assert.deepEqual(parseCommand('AUTH plain dGVzdA=='), { name: 'AUTH', mechanism: 'PLAIN', initialResponse: 'dGVzdA==' });
  assert.deepEqual(parseCommand('AUTH'), { name: 'AUTH', mechanism: null, initialResponse: null });
  assert.throws(() => parseCommand('RETR 0'), Pop3Error);
  assert.throws(() => parseCommand('RETR 2147483648'), /Invalid message number/);
  assert.throws(() => parseCommand('DELE 1 2'), /Too many arguments/);
  assert.throws(() => parseCommand('\u0001\u0002'), /Unknown command \?\?/);
});

test('SASL PLAIN decoding', () => {
  const b = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(decodeSaslPlain(b('\0u@x\0pw')), { authzid: '', authcid: 'u@x', password: 'pw' });
  assert.deepEqual(decodeSaslPlain(b('u@x\0u@x\0p w')), { authzid: 'u@x', authcid: 'u@x', password: 'p w' });
  assert.throws(() => decodeSaslPlain('*'), /cancelled/);
  assert.throws(() => decodeSaslPlain('='), /Malformed/);
  assert.throws(() => decodeSaslPlain('!!!!'), /Invalid base64/);
  assert.throws(() => decodeSaslPlain(b('only-two\0parts')), /Malformed/);
});

test('UIDL: Maildir base names as they are; long or unprintable names as a stable hash form', () => {
  assert.equal(uidlOf('1700000000.M1P2Q3.host'), '1700000000.M1P2Q3.host');
  const long = 'x'.repeat(71);
  assert.match(uidlOf(long), /^H[A-Za-z0-9_-]{43}$/);
  assert.equal(uidlOf(long), uidlOf(long));
  assert.notEqual(uidlOf(long), uidlOf('y'.repeat(71)));
  assert.match(uidlOf('with space'), /^H[A-Za-z0-9_-]{43}$/);
  assert.match(uidlOf('ünïcode'), /^H/);
  assert.equal(uidlOf('x'.repeat(70)), 'x'.repeat(70));
});
