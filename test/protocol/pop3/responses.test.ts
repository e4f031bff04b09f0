/**
 * POP3 multi-line responses (RFC 1939 §3): built whole (multiline) or in pieces (multilineChunks, for LIST and UIDL
 * of large maildrops) — the same bytes either way, dot-stuffed, CR/LF inside a line never sent, "." at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multiline, multilineChunks } from '../../../src/protocol/pop3/index.js';

test('multilineChunks joins to exactly what multiline sends, at any chunk size', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => (i % 97 === 0 ? `.${i} dotted` : `${i + 1} ${1000 + i * 7}`));
  lines.push('bad\r\nline');
  const whole = multiline('1000 messages', lines);
  for (const size of [1, 10, 100, 4096, 16384, 1 << 20]) {
    const pieces = [...multilineChunks('1000 messages', lines, size)];
    assert.equal(pieces.join(''), whole, `chunk ${size}`);
    if (size <= 4096) assert.ok(pieces.length > 1, `chunk ${size} gives several pieces`);
    for (const p of pieces.slice(0, -1)) assert.ok(p.length >= size, 'pieces are at least the chunk size (but the last)');
  }
  assert.ok(whole.startsWith('+OK 1000 messages\r\n'));
  assert.ok(whole.endsWith('\r\n.\r\n'));
  assert.ok(whole.includes('\r\n..0 dotted\r\n'), 'a line starting with "." is stuffed');
  assert.ok(whole.includes('\r\nbad line\r\n'), 'CR/LF inside a line become a space');
});

test('an empty listing is the status line and the terminator', () => {
  assert.deepEqual([...multilineChunks('0 messages', [])], ['+OK 0 messages\r\n.\r\n']);
});
