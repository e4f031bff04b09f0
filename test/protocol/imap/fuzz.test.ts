// Fuzz: random and mutated input through reader + parser only ever yields ImapParseError, never hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandReader } from '../../../src/protocol/imap/reader.js';
import { parseCommand } from '../../../src/protocol/imap/parser.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import { fetchItemName, serializeValue } from '../../../src/protocol/imap/response.js';
import { prng } from './helpers.js';

const FRAGMENTS = [
  'a1 ', 'UID ', 'FETCH ', 'SEARCH ', 'STORE ', 'APPEND ', 'LOGIN ', 'SELECT ', 'LIST ', 'STATUS ', 'ID ', 'ENABLE ',
  'AUTHENTICATE ', 'COPY ', 'MOVE ', 'EXPUNGE', 'CREATE ', 'RENAME ', 'OR ', 'NOT ', 'CHARSET ', 'RETURN ',
  'BODY.PEEK[', 'HEADER.FIELDS ', 'BINARY[', ']', '<0.10>', '(', ')', '"', '\\', '{', '}', '{3}', '{2+}', '~{1+}',
  '{0}', '+', '*', '1:*', ',', ':', '$', '\r\n', '\n', '\r', ' ', 'NIL', 'INBOX', '&AOQ-', '&', '-', '1-Feb-1994',
  '"17-Jul-1996 02:44:25 -0700"', '+FLAGS.SILENT ', '\\Seen', '\0', '\xff', 'MODSEQ ', '(CHANGEDSINCE 1)', 'DONE',
];

function randomInput(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 40);
  for (let i = 0; i < n; i++) {
    if (rand() < 0.7) parts.push(Buffer.from(FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!, 'latin1'));
    else {
      const b = Buffer.alloc(1 + Math.floor(rand() * 8));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

const stats = { parsed: 0, parseErrors: 0, readerErrors: 0, appendStarts: 0 };

function runOne(input: Buffer, rand: () => number): void {
  const reader = new CommandReader(
    (ev) => {
      if (ev.type === 'command') {
        try {
          const c = parseCommand(ev.raw);
          stats.parsed++;
          if (c.name === 'FETCH') for (const item of c.items) serializeValue(fetchItemName(item));
        } catch (err) {
          if (!(err instanceof ImapParseError)) throw err;
          stats.parseErrors++;
        }
      } else if (ev.type === 'error') {
        assert.ok(ev.error instanceof ImapParseError);
        stats.readerErrors++;
      } else if (ev.type === 'append-start') {
        stats.appendStarts++;
        if (rand() < 0.2) reader.discardCommand();
      }
    },
    { maxLineLength: 200, maxLiteralSize: 50, maxAppendLiteralSize: 100, maxCommandSize: 400, maxChunkSize: 7 },
  );
  let off = 0;
  while (off < input.length) {
    const n = 1 + Math.floor(rand() * 16);
    reader.push(input.subarray(off, off + n));
    off += n;
  }
}

test('random token soup never throws anything but ImapParseError', { timeout: 60_000 }, () => {
  const rand = prng(12345);
  for (let i = 0; i < 20000; i++) runOne(randomInput(rand), rand);
});

test('mutated valid commands never throw anything but ImapParseError', { timeout: 60_000 }, () => {
  const seeds = [
    'a1 UID FETCH 1:*,5 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (DATE FROM)]<0.100> BINARY.SIZE[1]) (CHANGEDSINCE 5 VANISHED)\r\n',
    'a2 SEARCH RETURN (MIN) CHARSET UTF-8 OR (FLAGGED SINCE 1-Feb-1994) NOT FROM {5}\r\nSmith UID 1:5\r\n',
    'a3 APPEND "Entw&APw-rfe" (\\Seen) "17-Jul-1996 02:44:25 -0700" {10+}\r\n0123456789 ~{3+}\r\nabc\r\n',
    'a4 LIST (SUBSCRIBED) "" ("*" %) RETURN (CHILDREN STATUS (MESSAGES))\r\n',
    'a5 STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Deleted $x)\r\n',
    'a6 SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4)))\r\n',
    'a7 ID ("name" "x" "v" NIL)\r\n',
  ].map((s) => Buffer.from(s, 'latin1'));
  const rand = prng(777);
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.from(seeds[i % seeds.length]!);
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const pos = Math.floor(rand() * b.length);
      b[pos] = rand() < 0.5 ? Math.floor(rand() * 256) : (FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!.charCodeAt(0));
    }
    runOne(b, rand);
  }
  // The fuzzer must actually reach every path: successes, parse errors, reader errors, APPENDs.
  assert.ok(stats.parsed > 200 && stats.parseErrors > 1000 && stats.readerErrors > 100 && stats.appendStarts > 200, JSON.stringify(stats));
});
