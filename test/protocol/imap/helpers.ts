// Shared helpers for the IMAP wire-protocol tests: run bytes through the reader, parse commands.
import { CommandReader, type ReaderEvent, type ReaderOptions } from '../../../src/protocol/imap/reader.js';
import { parseCommand, type ParseOptions } from '../../../src/protocol/imap/parser.js';
import type { ImapCommand } from '../../../src/protocol/imap/types.js';
import type { RawCommand } from '../../../src/protocol/imap/lexer.js';

/** Feed `input` (string or bytes, optionally in pieces) to a new reader; collect all events. */
export function readEvents(input: string | Buffer | Array<string | Buffer>, options?: ReaderOptions): ReaderEvent[] {
  const events: ReaderEvent[] = [];
  const reader = new CommandReader((ev) => events.push(ev), options);
  const pieces = Array.isArray(input) ? input : [input];
  for (const p of pieces) reader.push(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  return events;
}

/** The single raw command in `line` (CRLF added if missing). Throws if there is not exactly one. */
export function rawOf(line: string | Buffer): RawCommand {
  let buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  if (buf.subarray(-2).toString() !== '\r\n') buf = Buffer.concat([buf, Buffer.from('\r\n')]);
  const cmds = readEvents(buf).filter((e) => e.type === 'command');
  if (cmds.length !== 1) throw new Error(`expected one command, got ${cmds.length}`);
  return (cmds[0] as { raw: RawCommand }).raw;
}

/** Read and parse one command. */
export function cmd(line: string | Buffer, options?: ParseOptions): ImapCommand {
  return parseCommand(rawOf(line), options);
}

/** A simple deterministic PRNG (mulberry32) for fuzzing and random splits. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
