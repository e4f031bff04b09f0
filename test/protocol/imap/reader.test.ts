// CommandReader: lines, literals (sync, LITERAL+, literal8), limits, APPEND streaming, backpressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandReader, type ReaderEvent } from '../../../src/protocol/imap/reader.js';
import { parseCommand } from '../../../src/protocol/imap/parser.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import type { RawCommand, StreamedLiteral } from '../../../src/protocol/imap/lexer.js';
import { readEvents } from './helpers.js';

const types = (evs: ReaderEvent[]): string[] => evs.map((e) => e.type);
const raws = (evs: ReaderEvent[]): RawCommand[] =>
  evs.flatMap((e) => (e.type === 'command' ? [e.raw] : []));

test('CRLF-terminated lines become commands; empty lines between commands are ignored', () => {
  const evs = readEvents('a1 NOOP\r\n\r\na2 CAPABILITY\r\n');
  assert.deepEqual(types(evs), ['command', 'command']);
  assert.deepEqual(raws(evs).map((r) => r.segments[0]!.toString()), ['a1 NOOP', 'a2 CAPABILITY']);
});

test('a bare LF also ends a line; a partial line waits for more input', () => {
  assert.deepEqual(types(readEvents('a1 NOOP\n')), ['command']);
  assert.deepEqual(types(readEvents('a1 NOO')), []);
});

test('synchronizing literal asks for continuation and is buffered into the command', () => {
  const evs = readEvents('a1 LOGIN {4}\r\nfred {6}\r\nse\r\n\0t\r\n');
  assert.deepEqual(types(evs), ['continue', 'continue', 'command']);
  assert.deepEqual(evs[0], { type: 'continue', tag: 'a1', size: 4 });
  const raw = raws(evs)[0]!;
  assert.deepEqual(raw.segments.map(String), ['a1 LOGIN {4}', ' {6}', '']);
  assert.deepEqual(raw.literals, [Buffer.from('fred'), Buffer.from('se\r\n\0t')]);
});

test('a literal split across chunks at every byte position gives the same command', () => {
  const wire = Buffer.from('a1 LOGIN {5}\r\nf\r\n\0d "pw"\r\na2 LOGIN {3+}\r\nabc xyz\r\n', 'latin1');
  const whole = readEvents(wire);
  assert.deepEqual(types(whole), ['continue', 'command', 'command']);
  for (let i = 0; i <= wire.length; i++) {
    for (const j of [i, Math.min(wire.length, i + 1), Math.min(wire.length, i + 7)]) {
      const evs = readEvents([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]);
      assert.deepEqual(evs, whole, `split at ${i}/${j}`);
    }
  }
  // And byte by byte.
  assert.deepEqual(readEvents([...wire].map((b) => Buffer.from([b]))), whole);
});

test('LITERAL+ non-synchronizing literal: no continuation', () => {
  const evs = readEvents('a1 LOGIN {4+}\r\nfred {2+}\r\npw\r\n');
  assert.deepEqual(types(evs), ['command']);
  const c = parseCommand(raws(evs)[0]!);
  assert.deepEqual(c, { tag: 'a1', name: 'LOGIN', username: 'fred', password: 'pw' });
});

test('zero-length literals', () => {
  const evs = readEvents('a1 LOGIN {0}\r\n {0+}\r\n\r\n');
  assert.deepEqual(types(evs), ['continue', 'command']);
  assert.deepEqual(parseCommand(raws(evs)[0]!), { tag: 'a1', name: 'LOGIN', username: '', password: '' });
});

test('command line too long: error, then resync at the next CRLF', () => {
  const long = 'a1 NOOP ' + 'x'.repeat(200);
  const evs = readEvents([long.slice(0, 50), long.slice(50), ' {5+}\r\nhello\r\na2 NOOP\r\n'], { maxLineLength: 100 });
  assert.deepEqual(types(evs), ['error', 'command', 'command']);
  const err = (evs[0] as { error: ImapParseError }).error;
  assert.ok(err instanceof ImapParseError);
  assert.equal(err.message, 'Command line too long');
  assert.equal(err.tag, 'a1');
  // The literal spec was inside the skipped line, so "hello" is read as a (bad) command line.
  assert.deepEqual(raws(evs).map((r) => r.segments[0]!.toString()), ['hello', 'a2 NOOP']);
});

test('exactly maxLineLength is allowed', () => {
  const line = 'a1 NOOP ' + 'x'.repeat(92);
  assert.equal(line.length, 100);
  assert.deepEqual(types(readEvents(line + '\r\n', { maxLineLength: 100 })), ['command']);
  assert.deepEqual(types(readEvents(line + 'y\r\n', { maxLineLength: 100 })), ['error']);
});

test('oversize synchronizing literal is refused (TOOBIG) and its bytes are not expected', () => {
  const evs = readEvents('a1 LOGIN fred {2000}\r\na2 NOOP\r\n', { maxLiteralSize: 1000 });
  assert.deepEqual(types(evs), ['error', 'command']);
  const err = (evs[0] as { error: ImapParseError }).error;
  assert.equal(err.code, 'TOOBIG');
  assert.equal(err.tag, 'a1');
  assert.equal(parseCommand(raws(evs)[0]!).name, 'NOOP');
});

test('oversize LITERAL+ literal: error, bytes discarded without buffering, rest of command skipped', () => {
  const big = Buffer.alloc(5000, 0x41);
  const evs = readEvents(
    [Buffer.from('a1 LOGIN fred {5000+}\r\n'), big.subarray(0, 2500), big.subarray(2500), Buffer.from(' {3+}\r\nabc\r\na2 NOOP\r\n')],
    { maxLiteralSize: 1000 },
  );
  assert.deepEqual(types(evs), ['error', 'command']);
  assert.equal((evs[0] as { error: ImapParseError }).error.code, 'TOOBIG');
  assert.equal(parseCommand(raws(evs)[0]!).tag, 'a2');
});

test('absurd literal size: sync is refused, non-sync is fatal', () => {
  const sync = readEvents('a1 LOGIN {99999999999}\r\na2 NOOP\r\n');
  assert.deepEqual(types(sync), ['error', 'command']);
  assert.equal((sync[0] as { fatal: boolean }).fatal, false);
  const nonSync = readEvents('a1 LOGIN {99999999999+}\r\n');
  assert.deepEqual(types(nonSync), ['error']);
  assert.equal((nonSync[0] as { fatal: boolean }).fatal, true);
});

test('total command size is bounded', () => {
  const wire = 'a1 X {600+}\r\n' + 'a'.repeat(600) + ' {600+}\r\n' + 'b'.repeat(600) + '\r\na2 NOOP\r\n';
  const evs = readEvents(wire, { maxCommandSize: 1000 });
  assert.deepEqual(types(evs), ['error', 'command']);
  assert.equal(parseCommand(raws(evs)[0]!).tag, 'a2');
});

test('APPEND: head, continuation, streamed chunks, end, then the command', () => {
  const msg = 'From: a@b\r\n\r\nhello\r\n';
  const evs = readEvents(`A3 APPEND "Sent" (\\Seen) "17-Jul-1996 02:44:25 -0700" {${msg.length}}\r\n${msg}\r\n`);
  assert.deepEqual(types(evs), ['append-start', 'continue', 'append-data', 'append-end', 'command']);
  const start = evs[0] as Extract<ReaderEvent, { type: 'append-start' }>;
  assert.equal(start.size, msg.length);
  assert.equal(start.sync, true);
  assert.equal(start.head.tag, 'A3');
  assert.equal(start.head.mailbox, 'Sent');
  assert.deepEqual(start.head.flags, ['\\Seen']);
  assert.equal(start.head.internalDate?.toISOString(), '1996-07-17T09:44:25.000Z');
  assert.equal((evs[2] as { chunk: Buffer }).chunk.toString(), msg);
  const c = parseCommand(raws(evs)[0]!);
  assert.equal(c.name, 'APPEND');
  if (c.name !== 'APPEND') return;
  assert.deepEqual(c.messages[0]!.literal, { kind: 'streamed', size: msg.length, binary: false } satisfies StreamedLiteral);
});

test('APPEND with a literal mailbox name: that literal is buffered, the message streamed', () => {
  const evs = readEvents('A1 APPEND {5+}\r\nDraft {3+}\r\nabc\r\n');
  assert.deepEqual(types(evs), ['append-start', 'append-data', 'append-end', 'command']);
  const c = parseCommand(raws(evs)[0]!);
  assert.ok(c.name === 'APPEND' && c.mailbox === 'Draft');
});

test('MULTIAPPEND streams each message', () => {
  const evs = readEvents('A1 APPEND INBOX {3+}\r\nabc (\\Flagged) ~{2+}\r\nxy\r\n');
  assert.deepEqual(types(evs), ['append-start', 'append-data', 'append-end', 'append-start', 'append-data', 'append-end', 'command']);
  const second = evs[3] as Extract<ReaderEvent, { type: 'append-start' }>;
  assert.equal(second.head.messageIndex, 1);
  assert.equal(second.head.binary, true);
  assert.deepEqual(second.head.flags, ['\\Flagged']);
  const c = parseCommand(raws(evs)[0]!);
  assert.ok(c.name === 'APPEND' && c.messages.length === 2 && c.messages[1]!.binary);
});

test('APPEND with bad syntax before the literal is refused before the continuation', () => {
  const evs = readEvents('A1 APPEND INBOX (\\Seen "bad {10}\r\nA2 NOOP\r\n');
  assert.deepEqual(types(evs), ['error', 'command']);
  assert.equal((evs[0] as { error: ImapParseError }).error.tag, 'A1');
});

test('APPEND over the append limit: TOOBIG', () => {
  const evs = readEvents('A1 APPEND INBOX {2000}\r\nA2 NOOP\r\n', { maxAppendLiteralSize: 1000 });
  assert.deepEqual(types(evs), ['error', 'command']);
  assert.equal((evs[0] as { error: ImapParseError }).error.code, 'TOOBIG');
});

test('APPEND of a 5 MiB literal is streamed in bounded chunks, never buffered whole', () => {
  const size = 5 * 1024 * 1024;
  const message = Buffer.alloc(size);
  for (let i = 0; i < size; i++) message[i] = (i * 31 + 7) & 0xff;
  let received = 0;
  let chunks = 0;
  let maxChunk = 0;
  let mismatch = false;
  let command: RawCommand | undefined;
  let maxBuffered = 0;
  const reader = new CommandReader((ev) => {
    if (ev.type === 'append-data') {
      if (!ev.chunk.equals(message.subarray(received, received + ev.chunk.length))) mismatch = true;
      received += ev.chunk.length;
      chunks++;
      maxChunk = Math.max(maxChunk, ev.chunk.length);
    } else if (ev.type === 'command') command = ev.raw;
  });
  reader.push(Buffer.from(`A1 APPEND INBOX {${size}+}\r\n`));
  // As one huge push (the reader must slice it) and then as socket-sized pieces.
  reader.push(message.subarray(0, 2 * 1024 * 1024));
  for (let off = 2 * 1024 * 1024; off < size; off += 100_000) {
    reader.push(message.subarray(off, Math.min(size, off + 100_000)));
    maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
  }
  reader.push(Buffer.from('\r\n'));
  assert.equal(received, size);
  assert.equal(mismatch, false);
  assert.ok(chunks >= size / (64 * 1024), `chunks: ${chunks}`);
  assert.ok(maxChunk <= 64 * 1024, `max chunk ${maxChunk}`);
  assert.equal(maxBuffered, 0);
  assert.ok(command);
  assert.deepEqual(command.literals, [{ kind: 'streamed', size, binary: false }]);
  // The raw command holds only the short lines, not the message.
  assert.ok(command.segments.reduce((n, s) => n + s.length, 0) < 100);
});

test('backpressure: pause inside append-data stops emission; resume continues in order', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader(
    (ev) => {
      events.push(ev);
      if (ev.type === 'append-data') reader.pause();
    },
    { maxChunkSize: 4 },
  );
  const ok = reader.push(Buffer.from('A1 APPEND INBOX {10+}\r\n0123456789\r\nA2 NOOP\r\n'));
  assert.equal(ok, false);
  assert.deepEqual(types(events), ['append-start', 'append-data']);
  assert.ok(reader.bufferedBytes > 0);
  reader.resume();
  reader.resume();
  reader.resume();
  assert.deepEqual(types(events), ['append-start', 'append-data', 'append-data', 'append-data', 'append-end', 'command', 'command']);
  const data = events.flatMap((e) => (e.type === 'append-data' ? [e.chunk.toString()] : []));
  assert.deepEqual(data, ['0123', '4567', '89']);
});

test('session refuses a synchronizing APPEND at append-start: no continuation, no bytes expected', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => {
    events.push(ev);
    if (ev.type === 'append-start') reader.discardCommand(); // e.g. NO [TRYCREATE]
  });
  reader.push(Buffer.from('A1 APPEND Nope {100}\r\nA2 NOOP\r\n'));
  assert.deepEqual(types(events), ['append-start', 'command']);
});

test('session refuses asynchronously: pause at append-start, later discard', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => {
    events.push(ev);
    if (ev.type === 'append-start') reader.pause();
  });
  reader.push(Buffer.from('A1 APPEND Nope {100+}\r\n'));
  reader.push(Buffer.alloc(100, 0x61));
  reader.push(Buffer.from('\r\nA2 NOOP\r\n'));
  assert.deepEqual(types(events), ['append-start']);
  reader.discardCommand();
  reader.resume();
  assert.deepEqual(types(events), ['append-start', 'command']);
  assert.equal(parseCommand((events[1] as { raw: RawCommand }).raw).tag, 'A2');
});

test('session discards in the middle of a stream (write failed): rest skipped', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader(
    (ev) => {
      events.push(ev);
      if (ev.type === 'append-data') reader.discardCommand();
    },
    { maxChunkSize: 3 },
  );
  reader.push(Buffer.from('A1 APPEND INBOX {9}\r\n'));
  assert.deepEqual(types(events), ['append-start', 'continue']);
  reader.push(Buffer.from('abcdefghi (\\Seen) {5+}\r\n12345\r\nA2 NOOP\r\n'));
  assert.deepEqual(types(events), ['append-start', 'continue', 'append-data', 'command']);
});

test('reset() drops pipelined bytes (STARTTLS)', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => {
    events.push(ev);
    reader.pause();
  });
  reader.push(Buffer.from('a1 STARTTLS\r\na2 LOGIN evil pw\r\n'));
  assert.equal(events.length, 1);
  reader.reset();
  reader.resume();
  assert.equal(events.length, 1);
  reader.push(Buffer.from('a3 NOOP\r\n'));
  assert.equal(events.length, 2);
});

test('limits can be changed at run time', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => events.push(ev));
  reader.limits.maxLiteralSize = 10;
  reader.push(Buffer.from('a1 LOGIN {11}\r\n'));
  assert.deepEqual(types(events), ['error']);
});

test('AUTHENTICATE exchange: continuation lines and empty responses arrive as commands', () => {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => events.push(ev));
  reader.push(Buffer.from('a1 AUTHENTICATE PLAIN\r\n'));
  reader.skipEmptyLines = false;
  reader.push(Buffer.from('AGZyZWQAc2VjcmV0\r\n\r\n'));
  reader.skipEmptyLines = true;
  reader.push(Buffer.from('\r\na2 NOOP\r\n'));
  assert.deepEqual(raws(events).map((r) => r.segments[0]!.toString()), ['a1 AUTHENTICATE PLAIN', 'AGZyZWQAc2VjcmV0', '', 'a2 NOOP']);
});

test('IDLE then DONE', async () => {
  const { isIdleDone } = await import('../../../src/protocol/imap/parser.js');
  const evs = readEvents('a1 IDLE\r\nDONE\r\n');
  assert.equal(parseCommand(raws(evs)[0]!).name, 'IDLE');
  assert.equal(isIdleDone(raws(evs)[1]!), true);
});
