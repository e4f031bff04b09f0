/**
 * Incremental IMAP command reader: fed raw bytes from the connection, it emits complete commands
 * (as RawCommand, for parser.ts), continuation requests for synchronizing literals, and APPEND
 * message literals as a stream of bounded chunks — never holding a message whole in memory.
 *
 * Standards: RFC 3501 §2.2 and §4.3 (lines, literals, "+" continuation before a synchronizing
 * literal, §7.5), §9 `literal`; RFC 7888 (LITERAL+ / LITERAL-: non-synchronizing "{N+}", §4 TOOBIG);
 * RFC 3516 §4.2 literal8 "~{N}"; RFC 3502 MULTIAPPEND; RFC 2177 (IDLE's DONE arrives as a command).
 * Untrusted input: all bytes from the client. Bounded by ReaderLimits: line length outside
 * literals, buffered literal size, total buffered command size, APPEND literal size and the size of
 * each emitted chunk. The reader never throws for any input; problems become `error` events.
 *
 * HOW A SESSION DRIVES IT
 *   const reader = new CommandReader((ev) => session.onReaderEvent(ev), { maxLineLength: 65536 });
 *   socket.on('data', (chunk) => { if (!reader.push(chunk)) socket.pause(); });
 *   // after the session calls reader.resume() it also calls socket.resume().
 *
 * Events (ReaderEvent), in wire order:
 *   command       A complete command: `parseCommand(ev.raw)` (or, while idling / authenticating,
 *                 `isIdleDone(ev.raw)` / `continuationLine(ev.raw)`; set `skipEmptyLines = false`
 *                 during AUTHENTICATE so an empty response line arrives). Typically the session calls
 *                 `reader.pause()` here and `reader.resume()` once the tagged reply is written, so
 *                 commands run one at a time and no "+" is sent ahead of an earlier reply.
 *   continue      A synchronizing literal was accepted: write "+ Ready for literal data\r\n" now.
 *                 (RFC 3501 §7.5; the client sends nothing more of this command until then.)
 *   append-start  An APPEND message literal is announced (`ev.head`: tag, mailbox, flags,
 *                 internalDate, messageIndex; `ev.size`, `ev.sync`). It is emitted BEFORE the
 *                 `continue` of a synchronizing literal, so the session may refuse it first:
 *                 write `tag NO [TRYCREATE] ...` / `tag NO [OVERQUOTA] ...` and call
 *                 `reader.discardCommand()`; no "+" is then asked for and the reader expects no
 *                 message bytes (for a non-synchronizing literal it discards them).
 *                 It may also pause() here to check asynchronously, then resume() or discard.
 *   append-data   A chunk of the message (at most maxChunkSize bytes; may be a view of the pushed
 *                 Buffer). To apply backpressure call reader.pause() until the chunk is written.
 *   append-end    The message literal is complete. The command continues: another message
 *                 (MULTIAPPEND) or the CRLF; then a `command` event whose raw holds a
 *                 StreamedLiteral placeholder for each streamed message. Commit on that event
 *                 after `parseCommand` succeeded; throw the temporary data away on `error`.
 *   error         `ev.error` is an ImapParseError (tag when known; code TOOBIG for size limits):
 *                 answer `tag BAD/NO [CODE] text` (response.ts `parseErrorResponse`). The reader has
 *                 already arranged to skip the rest of that command. `ev.fatal` means the stream
 *                 cannot be resynchronized (absurd literal size): send BYE and close.
 *
 * After STARTTLS: pause in the STARTTLS `command` event, and before the TLS handshake call
 * `reader.reset()` so plaintext pipelined after STARTTLS is never processed (command injection).
 */
import { ImapParseError } from './errors.js';
import { TAG_CHAR, type RawCommand, type RawLiteral, type StreamedLiteral } from './lexer.js';
import { parseAppendHead, type ParseOptions } from './parser.js';
import type { AppendHead } from './types.js';

export interface ReaderLimits {
  /** Longest line outside literals, without CRLF (default 64 KiB). */
  maxLineLength: number;
  /** Largest literal of any command except APPEND messages; buffered in memory (default 1 MiB). */
  maxLiteralSize: number;
  /** Largest APPEND message literal; streamed, never buffered (default 50 MiB). */
  maxAppendLiteralSize: number;
  /** Largest total of lines + buffered literals of one command (default 2 MiB). */
  maxCommandSize: number;
  /** Largest `append-data` chunk emitted (default 64 KiB). */
  maxChunkSize: number;
}

export const DEFAULT_READER_LIMITS: Readonly<ReaderLimits> = {
  maxLineLength: 64 * 1024,
  maxLiteralSize: 1024 * 1024,
  maxAppendLiteralSize: 50 * 1024 * 1024,
  maxCommandSize: 2 * 1024 * 1024,
  maxChunkSize: 64 * 1024,
};

export type ReaderEvent =
  | { readonly type: 'command'; readonly raw: RawCommand }
  | { readonly type: 'continue'; readonly tag: string | undefined; readonly size: number }
  | { readonly type: 'append-start'; readonly head: AppendHead; readonly size: number; readonly sync: boolean }
  | { readonly type: 'append-data'; readonly chunk: Buffer }
  | { readonly type: 'append-end' }
  | { readonly type: 'error'; readonly error: ImapParseError; readonly fatal: boolean };

export type ReaderHandler = (event: ReaderEvent) => void;

export interface ReaderOptions extends Partial<ReaderLimits> {
  /** Passed to parseAppendHead (mailbox name decoding). Mutable later via `reader.parseOptions`. */
  parseOptions?: ParseOptions;
}

interface LiteralSpec {
  size: number; // Infinity when not a valid number (RFC 3501 §9 number is 32-bit)
  sync: boolean;
  binary: boolean;
}

interface LiteralState {
  remaining: number;
  target: 'buffer' | 'stream' | 'discard';
  sync: boolean;
  continued: boolean; // "+" already requested (always true for non-sync)
  binary: boolean;
  size: number;
  buf: Buffer | null;
  filled: number;
}

const LITERAL_SPEC = /(~?)\{([0-9]+)(\+?)\}$/;
const APPEND_RE = /^[^ ]+ APPEND /i;

/** Parse the literal spec ending `line`, if any (RFC 3501 §9 literal, RFC 7888, RFC 3516). */
function literalSpecOf(line: Buffer): LiteralSpec | null {
  if (line.length < 3 || line[line.length - 1] !== 0x7d) return null;
  const m = LITERAL_SPEC.exec(line.toString('latin1', Math.max(0, line.length - 32)));
  if (!m) return null;
  const digits = m[2]!;
  const n = digits.length > 10 ? Infinity : Number(digits);
  return { size: n > 4294967295 ? Infinity : n, sync: m[3] !== '+', binary: m[1] === '~' };
}

/** Longest tag we echo back (clients use a few characters). */
const MAX_TAG_LENGTH = 64;

function tagOf(line: Buffer | undefined): string | undefined {
  if (!line) return undefined;
  let i = 0;
  while (i < line.length && i <= MAX_TAG_LENGTH && TAG_CHAR[line[i]!] === 1) i++;
  // A tag must be followed by SP; a run longer than any sane tag (or a cut-off line) is not one.
  if (i === 0 || i > MAX_TAG_LENGTH || (i < line.length && line[i] !== 0x20)) return undefined;
  return line.toString('latin1', 0, i);
}

export class CommandReader {
  /** Limits in force; the session may change them at any time (e.g. lower before login). */
  readonly limits: ReaderLimits;
  parseOptions: ParseOptions;
  /**
   * Ignore empty lines between commands (default true). Set false while an AUTHENTICATE exchange
   * is in progress: an empty line is then a valid (empty) client response (RFC 3501 §6.2.2).
   */
  skipEmptyLines = true;
  private readonly handler: ReaderHandler;

  private input: Buffer[] = [];
  private inputOffset = 0;
  private queue: ReaderEvent[] = [];
  private paused = false;
  private running = false;

  private mode: 'line' | 'skip-line' | 'literal' = 'line';
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  private segments: Buffer[] = [];
  private literals: RawLiteral[] = [];
  private commandBytes = 0;
  private isAppend: boolean | undefined;
  private discarding = false;
  private lit: LiteralState | null = null;

  constructor(handler: ReaderHandler, options: ReaderOptions = {}) {
    this.handler = handler;
    const { parseOptions, ...limits } = options;
    this.limits = { ...DEFAULT_READER_LIMITS, ...limits };
    this.parseOptions = parseOptions ?? {};
  }

  /**
   * Feed bytes from the client. Processes synchronously as far as possible, calling the handler.
   * Returns false when the reader is paused: stop reading the socket until you call resume().
   * Bytes pushed while paused are kept (unprocessed) and handled on resume().
   */
  push(chunk: Buffer): boolean {
    if (chunk.length > 0) this.input.push(chunk);
    this.run();
    return !this.paused;
  }

  /** Stop emitting events (takes effect right after the current handler call returns). */
  pause(): void {
    this.paused = true;
  }

  /** Continue processing buffered input. Safe to call from inside the handler. */
  resume(): void {
    this.paused = false;
    this.run();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Bytes pushed but not yet processed. */
  get bufferedBytes(): number {
    return this.input.reduce((n, b) => n + b.length, 0) - this.inputOffset;
  }

  /**
   * The session has answered the command in progress (e.g. NO after `append-start`, or a failed
   * write during `append-data`): skip whatever of it is still to come. For a synchronizing literal
   * not yet continued, no bytes are expected; otherwise announced literal bytes are discarded.
   * No-op when no command is in progress.
   */
  discardCommand(): void {
    this.queue = this.queue.filter((ev) => ev.type !== 'continue' && ev.type !== 'append-data' && ev.type !== 'append-end');
    const lit = this.lit;
    if (this.mode === 'literal' && lit) {
      if (lit.sync && !lit.continued) {
        this.endCommand();
        return;
      }
      lit.target = 'discard';
      lit.buf = null;
      this.discarding = true;
      return;
    }
    if (this.segments.length > 0 || this.lineParts.length > 0) this.discarding = true;
  }

  /** Remove and return the bytes pushed but not yet processed (after COMPRESS they are compressed data). */
  takeInput(): Buffer[] {
    const out = this.input.map((b, i) => (i === 0 ? b.subarray(this.inputOffset) : b));
    this.input = [];
    this.inputOffset = 0;
    return out;
  }

  /** Drop all unprocessed input and any partial command (after STARTTLS; RFC 3501 §6.2.1). */
  reset(): void {
    this.input = [];
    this.inputOffset = 0;
    this.queue = [];
    this.endCommand();
    this.mode = 'line';
  }

  private run(): void {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.paused) {
        const ev = this.queue.shift();
        if (ev) {
          if (ev.type === 'continue' && this.lit) this.lit.continued = true;
          this.handler(ev);
          continue;
        }
        if (!this.step()) break;
      }
    } finally {
      this.running = false;
    }
  }

  /** Consume some input. Returns false when nothing can be done without more input. */
  private step(): boolean {
    if (this.mode === 'literal') return this.stepLiteral();
    const chunk = this.input[0];
    if (!chunk) return false;
    const lf = chunk.indexOf(0x0a, this.inputOffset);
    const end = lf < 0 ? chunk.length : lf;
    const piece = chunk.subarray(this.inputOffset, end);
    this.consume(lf < 0 ? chunk.length - this.inputOffset : end - this.inputOffset + 1);
    if (this.mode === 'skip-line') {
      if (lf >= 0) this.mode = 'line';
      return true;
    }
    this.lineLength += piece.length;
    // +1: the CR of CRLF is still part of the line here.
    if (this.lineLength > this.limits.maxLineLength + 1) {
      const tag = tagOf(this.segments[0] ?? this.lineParts[0] ?? piece);
      if (!this.discarding) this.emitError(new ImapParseError('Command line too long', { tag }));
      this.endCommand();
      this.mode = lf < 0 ? 'skip-line' : 'line';
      return true;
    }
    if (piece.length > 0) this.lineParts.push(piece);
    if (lf >= 0) {
      // Always a copy: a line must not keep a (possibly huge) pushed chunk alive.
      let line = Buffer.concat(this.lineParts, this.lineLength);
      this.lineParts = [];
      this.lineLength = 0;
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      this.finishLine(line);
    }
    return true;
  }

  private consume(n: number): void {
    this.inputOffset += n;
    if (this.inputOffset >= this.input[0]!.length) {
      this.input.shift();
      this.inputOffset = 0;
    }
  }

  private stepLiteral(): boolean {
    const lit = this.lit!;
    if (lit.remaining > 0) {
      const chunk = this.input[0];
      if (!chunk) return false;
      const max = lit.target === 'stream' ? this.limits.maxChunkSize : Infinity;
      const n = Math.min(lit.remaining, chunk.length - this.inputOffset, max);
      const data = chunk.subarray(this.inputOffset, this.inputOffset + n);
      this.consume(n);
      lit.remaining -= n;
      if (lit.target === 'buffer') {
        data.copy(lit.buf!, lit.filled);
        lit.filled += n;
      } else if (lit.target === 'stream') {
        this.queue.push({ type: 'append-data', chunk: data });
      }
      if (lit.remaining > 0) return true;
    }
    // Literal complete.
    this.lit = null;
    this.mode = 'line';
    if (lit.target === 'buffer') this.literals.push(lit.buf!);
    else if (lit.target === 'stream') {
      const placeholder: StreamedLiteral = { kind: 'streamed', size: lit.size, binary: lit.binary };
      this.literals.push(placeholder);
      this.queue.push({ type: 'append-end' });
    }
    return true;
  }

  private finishLine(line: Buffer): void {
    const spec = literalSpecOf(line);
    if (this.discarding) {
      // Skipping the rest of an answered command: follow its literals, keep nothing.
      if (spec && !spec.sync && spec.size !== Infinity) this.startLiteral(spec, 'discard');
      else this.endCommand();
      return;
    }
    if (this.segments.length === 0 && line.length === 0 && this.skipEmptyLines) return; // between commands
    this.segments.push(line);
    this.commandBytes += line.length;
    const tag = tagOf(this.segments[0]);
    if (!spec) {
      const raw: RawCommand = { segments: this.segments, literals: this.literals };
      this.endCommand();
      this.queue.push({ type: 'command', raw });
      return;
    }
    if (spec.size === Infinity) {
      this.abort(spec, new ImapParseError('Invalid literal size', { tag, code: 'TOOBIG' }));
      return;
    }
    if (this.commandBytes > this.limits.maxCommandSize) {
      this.abort(spec, new ImapParseError('Command too long', { tag, code: 'TOOBIG' }));
      return;
    }
    if (this.isAppend === undefined) this.isAppend = APPEND_RE.test(this.segments[0]!.toString('latin1'));
    let head: AppendHead | null = null;
    if (this.isAppend) {
      try {
        head = parseAppendHead({ segments: this.segments, literals: this.literals }, this.parseOptions);
      } catch (err) {
        if (!(err instanceof ImapParseError)) throw err;
        this.abort(spec, err);
        return;
      }
    }
    if (head) {
      if (spec.size > this.limits.maxAppendLiteralSize) {
        this.abort(spec, new ImapParseError('Message too large', { tag, code: 'TOOBIG' }));
        return;
      }
      this.queue.push({ type: 'append-start', head, size: spec.size, sync: spec.sync });
      this.startLiteral(spec, 'stream');
    } else {
      if (spec.size > this.limits.maxLiteralSize || this.commandBytes + spec.size > this.limits.maxCommandSize) {
        this.abort(spec, new ImapParseError('Literal too large', { tag, code: 'TOOBIG' }));
        return;
      }
      this.commandBytes += spec.size;
      this.startLiteral(spec, 'buffer');
    }
    if (spec.sync) this.queue.push({ type: 'continue', tag, size: spec.size });
  }

  private startLiteral(spec: LiteralSpec, target: LiteralState['target']): void {
    this.mode = 'literal';
    this.lit = {
      remaining: spec.size,
      target,
      sync: spec.sync,
      continued: !spec.sync || target === 'discard',
      binary: spec.binary,
      size: spec.size,
      buf: target === 'buffer' ? Buffer.allocUnsafe(spec.size) : null,
      filled: 0,
    };
  }

  /** Reject the command at a literal: report, then skip what the client will still send. */
  private abort(spec: LiteralSpec, error: ImapParseError): void {
    const fatal = !spec.sync && spec.size === Infinity;
    this.emitError(error, fatal);
    this.endCommand();
    if (!spec.sync && !fatal) {
      // RFC 7888 §4: the bytes of a non-synchronizing literal arrive anyway; read and drop them.
      this.discarding = true;
      this.startLiteral(spec, 'discard');
    }
  }

  private emitError(error: ImapParseError, fatal = false): void {
    this.queue.push({ type: 'error', error, fatal });
  }

  private endCommand(): void {
    this.segments = [];
    this.literals = [];
    this.lineParts = [];
    this.lineLength = 0;
    this.commandBytes = 0;
    this.isAppend = undefined;
    this.discarding = false;
    this.lit = null;
    if (this.mode === 'literal') this.mode = 'line';
  }
}
