import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataDecoder } from '../../../src/protocol/smtp/data-decoder.js';

/** Feed `input` split at every position in `splits` and return the decoded result. */
function decode(input: string, splitEvery = 0, max = Infinity) {
  const d = new DataDecoder(max);
  const buf = Buffer.from(input, 'latin1');
  const out: Buffer[] = [];
  let rest = Buffer.alloc(0);
  let done = false;
  const chunks: Buffer[] = [];
  if (splitEvery > 0) for (let i = 0; i < buf.length; i += splitEvery) chunks.push(buf.subarray(i, i + splitEvery));
  else chunks.push(buf);
  for (let i = 0; i < chunks.length; i++) {
    if (done) {
      rest = Buffer.concat([rest, chunks[i]!]);
      continue;
    }
    const r = d.push(chunks[i]!);
    out.push(...r.out);
    if (r.done) {
      done = true;
      rest = Buffer.concat([rest, chunks[i]!.subarray(r.consumed)]);
    }
  }
  return { body: Buffer.concat(out).toString('latin1'), done, rest: rest.toString('latin1'), d };
}

test('ends at CRLF.CRLF and keeps the CRLF before the dot', () => {
  for (const split of [0, 1, 2, 3, 5, 7]) {
    const r = decode('Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n', split);
    assert.equal(r.done, true);
    assert.equal(r.body, 'Subject: x\r\n\r\nhello\r\n');
    assert.equal(r.rest, 'QUIT\r\n');
    assert.equal(r.d.bareLf + r.d.bareCr, 0);
  }
});

test('an immediate ".CRLF" is an empty message', () => {
  const r = decode('.\r\n');
  assert.equal(r.done, true);
  assert.equal(r.body, '');
});

test('dot-stuffing is removed (RFC 5321 §4.5.2)', () => {
  for (const split of [0, 1, 2]) {
    const r = decode('..leading\r\n...\r\n.x\r\nend\r\n.\r\n', split);
    assert.equal(r.body, '.leading\r\n..\r\nx\r\nend\r\n');
  }
});

test('smuggling sequences never end the data and are counted', () => {
  const cases: Array<[string, 'lf' | 'cr']> = [
    ['a\n.\nMAIL FROM:<x@y>\r\n', 'lf'],
    ['a\n.\r\nMAIL FROM:<x@y>\r\n', 'lf'],
    ['a\r.\rMAIL FROM:<x@y>\r\n', 'cr'],
    ['a\r\n.\rMAIL FROM:<x@y>\r\n', 'cr'],
    ['a\r.\r\nMAIL FROM:<x@y>\r\n', 'cr'],
  ];
  for (const [s, kind] of cases) {
    for (const split of [0, 1, 3]) {
      const r = decode(`${s}body\r\n.\r\n`, split);
      assert.equal(r.done, true, JSON.stringify(s));
      assert.ok(r.body.includes('MAIL FROM'), `smuggled command stays inside the message: ${JSON.stringify(s)}`);
      assert.equal(r.rest, '');
      if (kind === 'lf') assert.ok(r.d.bareLf > 0, JSON.stringify(s));
      else assert.ok(r.d.bareCr > 0, JSON.stringify(s));
    }
  }
});

test('size limit stops output but keeps reading to the end', () => {
  const r = decode('0123456789\r\n.\r\n', 1, 5);
  assert.equal(r.done, true);
  assert.equal(r.body, '01234');
  assert.equal(r.d.sizeExceeded, true);
});

test('longest line is measured', () => {
  const r = decode(`${'x'.repeat(1200)}\r\nshort\r\n.\r\n`, 100);
  assert.equal(r.d.maxLine, 1200);
});

test('random input never throws and only ends at CRLF.CRLF', () => {
  const alphabet = ['\r', '\n', '.', 'a', ' '];
  for (let n = 0; n < 2000; n++) {
    let s = '';
    const len = Math.floor(Math.random() * 40);
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    const d = new DataDecoder();
    const r = d.push(Buffer.from(s, 'latin1'));
    if (r.done) {
      const consumed = ('\r\n' + s).slice(0, r.consumed + 2);
      assert.ok(consumed.endsWith('\r\n.\r\n'), JSON.stringify(s));
    }
  }
});
