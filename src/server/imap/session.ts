/**
 * One IMAP connection (RFC 3501 §3 state machine: not authenticated -> authenticated -> selected -> logout).
 * The reader (src/protocol/imap/reader.ts) turns bytes into events; this class runs them strictly one at a
 * time, dispatches commands to the handlers in ./commands (each declares the states it is allowed in), and writes
 * responses with backpressure. IDLE (RFC 2177) and SASL continuation lines are modes of this class.
 *
 * Untrusted input: all client bytes. Bounded by the reader's limits; failed logins are delayed through the shared
 * LoginThrottle; an idle client is logged out after the autologout time (RFC 3501 §5.4: at least 30 minutes).
 * Invariant: never write a tagged response before the untagged responses it depends on; never process a command
 * while an earlier one is still running.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { serverTlsOptions } from '../../tls/context.js';
import { randomBytes } from 'node:crypto';
import {
  CommandReader,
  parseCommand,
  parseErrorResponse,
  taggedResponse,
  untaggedStatus,
  continuationResponse,
  isIdleDone,
  continuationLine,
  rawTag,
  isImapParseError,
  type ReaderEvent,
  type RawCommand,
  type ImapCommand,
  type AppendHead,
} from '../../protocol/imap/index.js';
import { ImapCommandError } from './errors.js';
import { MailStoreError } from '../../store/mail/index.js';
import type { ImapContext } from './context.js';
import { handlers } from './commands/index.js';
import { isLoopback } from '../../dns/resolver.js';
import type { User } from '../../store/types.js';
import type { SelectedMailbox } from './selected.js';
import { AppendInProgress, startAppend } from './commands/append.js';
import { DeflateStream } from '../net/deflate.js';
import type { NotifyState } from './notify.js';

export type ImapState = 'notauth' | 'auth' | 'selected' | 'logout';

/** Commands after which CONTEXT=SEARCH/SORT results are re-checked for this session's own changes. */
const MUTATING = new Set(['STORE', 'FETCH', 'COPY', 'MOVE', 'APPEND', 'EXPUNGE', 'NOOP', 'CHECK']);

export class ImapSession {
  readonly id = randomBytes(6).toString('hex').toUpperCase();
  state: ImapState = 'notauth';
  user: User | null = null;
  selected: SelectedMailbox | null = null;
  /** Extensions turned on with ENABLE (RFC 5161). */
  readonly enabled = new Set<string>();
  socket: Socket;
  tls: boolean;
  /** COMPRESS=DEFLATE (RFC 4978) is active: `socket` is the DeflateStream over the connection. */
  compressed = false;
  readonly remoteAddress: string;
  private reader: CommandReader;
  private events: ReaderEvent[] = [];
  private running = false;
  private closed = false;
  /** Set while a command waits for a continuation line (AUTHENTICATE). */
  private lineWaiter: ((raw: RawCommand | null) => void) | null = null;
  /** Set while IDLE runs. */
  private idleTag: string | null = null;
  private idleDone: ((done: boolean) => void) | null = null;
  /** The APPEND being streamed, if any. */
  append: AppendInProgress | null = null;
  private autologout: NodeJS.Timeout | null = null;
  /** NOTIFY SET state (RFC 5465, notify.ts); null after NOTIFY NONE or overflow. */
  notify: NotifyState | null = null;

  constructor(
    socket: Socket,
    readonly ctx: ImapContext,
    implicitTls: boolean,
  ) {
    this.socket = socket;
    this.tls = implicitTls;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.reader = this.newReader();
  }

  private newReader(): CommandReader {
    return new CommandReader((ev) => this.onEvent(ev), {
      maxLineLength: this.ctx.limits.maxLineLength,
      maxLiteralSize: this.ctx.limits.maxLiteralSize,
      maxAppendLiteralSize: this.ctx.limits.maxAppendSize,
      parseOptions: this.parseOptions(),
    });
  }

  parseOptions() {
    return { utf8Mailboxes: this.utf8Names };
  }

  /** After ENABLE: the reader parses APPEND heads itself and must decode mailbox names the new way too. */
  refreshParseOptions(): void {
    this.reader.parseOptions = this.parseOptions();
  }

  /** `ENABLE IMAP4rev2` was given: RFC 9051 behaviour (see docs/imap.md and the list in commands/any-state.ts). */
  get rev2(): boolean {
    return this.enabled.has('IMAP4REV2');
  }

  /** Mailbox names travel as UTF-8 both ways (RFC 9051 §5.1, RFC 6855 UTF8=ACCEPT), not modified UTF-7. */
  get utf8Names(): boolean {
    return this.rev2 || this.enabled.has('UTF8=ACCEPT');
  }

  get log() {
    return this.ctx.log;
  }

  /** Runs until the connection ends. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.attach(this.socket);
      this.offDrain = this.ctx.shutdown?.onDrain(() => this.drainIfIdle()) ?? null;
      this.socket.once('close', () => {
        this.shutdown();
        resolve();
      });
      this.write(untaggedStatus('OK', `${this.ctx.hostname} Mailwright IMAP ready`, `CAPABILITY ${this.capabilities().join(' ')}`));
      this.touch();
    });
  }

  private onData = (chunk: Buffer) => {
    this.touch();
    if (!this.reader.push(chunk)) this.socket.pause();
  };

  private attach(sock: Socket) {
    sock.on('data', this.onData);
    sock.on('error', () => sock.destroy());
  }

  /** Restart the autologout timer (RFC 3501 §5.4). */
  private touch() {
    if (this.autologout) clearTimeout(this.autologout);
    const ms = this.state === 'notauth' ? this.ctx.limits.preAuthTimeoutMs : this.ctx.limits.autologoutMs;
    this.autologout = setTimeout(() => {
      // A command the server is still working on (a LOGIN's password check on a busy machine) is not idleness;
      // one stuck because the client does not read its output is, and ends here.
      if (this.running && !this.idleTag && this.socket.writableLength === 0) {
        this.touch();
        return;
      }
      this.write(untaggedStatus('BYE', 'Autologout; idle for too long'));
      this.close();
    }, ms);
    this.autologout.unref();
  }

  capabilities(): string[] {
    // RFC 9051 §7.2.2: IMAP4rev2 beside IMAP4rev1; the client picks rev2 with ENABLE IMAP4rev2 (§6.3.1).
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE'];
    if (this.state === 'notauth') {
      if (!this.tls && this.ctx.secureContext) caps.push('STARTTLS');
      if (this.authAllowed()) caps.push('AUTH=PLAIN');
      else caps.push('LOGINDISABLED');
    } else {
      caps.push('UIDPLUS', 'MOVE', 'UNSELECT', 'CHILDREN', 'SPECIAL-USE');
      caps.push('SORT', 'SORT=DISPLAY', 'I18NLEVEL=1');
      caps.push('THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES');
      caps.push('WITHIN');
      caps.push(`APPENDLIMIT=${this.ctx.limits.maxAppendSize}`);
      caps.push('QUOTA', 'QUOTA=RES-STORAGE');
      caps.push('LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE');
      caps.push('COMPRESS=DEFLATE');
      caps.push('BINARY', 'MULTIAPPEND', 'CATENATE');
      // RFC 7162 CONDSTORE QRESYNC; RFC 4731 ESEARCH; RFC 5182 SEARCHRES; RFC 5267 ESORT CONTEXT=SEARCH CONTEXT=SORT.
      caps.push('CONDSTORE', 'QRESYNC', 'ESEARCH', 'ESORT', 'SEARCHRES', 'CONTEXT=SEARCH', 'CONTEXT=SORT');
      caps.push('NOTIFY');
    }
    return caps;
  }

  /** A command runs (or waits for a continuation / APPEND data): unsolicited responses must wait. */
  get busy(): boolean {
    return this.running || this.lineWaiter !== null || this.append !== null;
  }

  /** In IDLE, where unsolicited responses are welcome. */
  get idling(): boolean {
    return this.idleTag !== null;
  }

  authAllowed(): boolean {
    return this.tls || this.ctx.allowInsecureAuth === 'always' || (this.ctx.allowInsecureAuth === 'loopback' && isLoopback(this.remoteAddress));
  }

  write(data: Buffer | string) {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(data);
  }

  /** Wait until the socket's buffered output is small (for long FETCH responses). */
  async flush(): Promise<void> {
    if (this.socket.writableLength < 256 * 1024 || this.closed) return;
    await new Promise<void>((r) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        r();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  close() {
    if (this.closed) return;
    this.state = 'logout';
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.shutdown();
  }

  private offDrain: (() => void) | null = null;

  /** Graceful stop: BYE now when no command runs (or in IDLE); otherwise after the running command. */
  private drainIfIdle() {
    if (this.closed || !this.ctx.shutdown?.draining) return;
    if ((this.running || this.lineWaiter || this.append) && !this.idleTag) return;
    this.write(untaggedStatus('BYE', 'Server shutting down, try again later'));
    this.close();
  }

  private shutdown() {
    if (this.closed) return;
    this.closed = true;
    this.offDrain?.();
    if (this.autologout) clearTimeout(this.autologout);
    this.idleDone?.(false);
    this.lineWaiter?.(null);
    this.selected?.close();
    this.selected = null;
    this.notify?.close();
    this.notify = null;
    void this.append?.abort();
    this.append = null;
  }

  private onEvent(ev: ReaderEvent) {
    if (ev.type === 'command' && (this.lineWaiter || this.idleTag)) {
      // The running command (AUTHENTICATE, IDLE) is waiting for exactly this line.
      void this.onCommand(ev.raw);
      return;
    }
    this.events.push(ev);
    this.reader.pause();
    if (!this.running) void this.pump();
  }

  private async pump() {
    this.running = true;
    try {
      while (this.events.length && !this.closed) {
        // Let a NOTIFY push that is being written finish first (its responses must not interleave with ours).
        if (this.notify) await this.notify.settle();
        const ev = this.events.shift()!;
        await this.handleEvent(ev);
      }
    } finally {
      this.running = false;
    }
    this.notify?.kick();
    this.drainIfIdle();
    if (!this.closed) {
      this.reader.resume();
      if (this.socket.isPaused()) this.socket.resume();
    }
  }

  private async handleEvent(ev: ReaderEvent): Promise<void> {
    switch (ev.type) {
      case 'continue':
        this.write(continuationResponse());
        return;
      case 'error':
        if (this.append) {
          await this.append.abort();
          this.append = null;
        }
        this.write(parseErrorResponse(ev.error));
        if (ev.fatal) {
          this.write(untaggedStatus('BYE', 'Protocol stream out of sync'));
          this.close();
        }
        return;
      case 'append-start':
        await this.onAppendStart(ev.head, ev.size);
        return;
      case 'append-data':
        if (this.append) await this.append.write(ev.chunk);
        return;
      case 'append-end':
        if (this.append) await this.append.end();
        return;
      case 'command':
        await this.onCommand(ev.raw);
        return;
    }
  }

  private async onAppendStart(head: AppendHead, size: number) {
    if (this.state !== 'auth' && this.state !== 'selected') {
      this.write(taggedResponse(head.tag, 'BAD', 'APPEND is not allowed before authentication'));
      this.reader.discardCommand();
      return;
    }
    try {
      this.append = await startAppend(this, head, size, this.append);
    } catch (err) {
      if (this.append) await this.append.abort();
      this.append = null;
      this.writeError(head.tag, err, 'APPEND');
      this.reader.discardCommand();
    }
  }

  private async onCommand(raw: RawCommand) {
    if (this.lineWaiter) {
      const w = this.lineWaiter;
      this.lineWaiter = null;
      w(raw);
      return;
    }
    if (this.idleTag) {
      this.idleTag = null;
      const done = this.idleDone;
      this.idleDone = null;
      done?.(isIdleDone(raw));
      return;
    }
    const allowed = this.ctx.commandRate ? this.ctx.commandRate.command(this.remoteAddress) : true;
    if (allowed !== true && !(await allowed)) {
      this.write(untaggedStatus('BYE', 'Too many commands, slow down'));
      this.close();
      return;
    }
    let cmd: ImapCommand;
    try {
      cmd = parseCommand(raw, this.parseOptions());
    } catch (err) {
      if (this.append) {
        await this.append.abort();
        this.append = null;
      }
      if (isImapParseError(err)) {
        if (err.resetsSearchResult && this.selected) this.selected.saved = new Set(); // RFC 5182 §2.1
        this.write(parseErrorResponse(err));
        return;
      }
      throw err;
    }
    await this.dispatch(cmd);
  }

  async dispatch(cmd: ImapCommand): Promise<void> {
    const h = handlers[cmd.name];
    const tag = cmd.tag;
    try {
      if (!h) throw new ImapCommandError('BAD', `Unknown command ${cmd.name}`);
      if (!h.states.includes(this.state)) {
        throw new ImapCommandError('BAD', `${cmd.name} is not allowed ${this.state === 'notauth' ? 'before authentication' : this.state === 'auth' ? 'without a selected mailbox' : 'now'}`);
      }
      this.notify?.beginCommand(cmd);
      const text = await h.run(this, cmd as never);
      if (this.closed && cmd.name !== 'LOGOUT') return;
      if (text === null) return; // the handler answered itself (IDLE, LOGOUT, STARTTLS)
      // RFC 3501 §7.4.1, §5.2: untagged updates before the tagged OK; no EXPUNGE after FETCH, STORE or SEARCH
      // (unless NOTIFY SELECTED MessageExpunge is on: then the client uses no MSNs, RFC 5465 §5.3).
      if (this.selected && this.selected.dirty) {
        const noExpunge = (cmd.name === 'FETCH' || cmd.name === 'STORE' || cmd.name === 'SEARCH') && !(cmd as { uid?: boolean }).uid;
        await this.selected.reportChanges(this, { expunges: !noExpunge || this.notify?.immediateExpunge === true, uid: Boolean((cmd as { uid?: boolean }).uid) });
      }
      // RFC 5267 §4: live SEARCH/SORT contexts see this session's own changes too (after the updates above, so
      // new messages are already known).
      if (this.selected && this.selected.contexts.size && MUTATING.has(cmd.name)) await this.selected.afterChanges?.(this);
      let code = typeof text === 'string' ? undefined : text.code;
      if (this.selected?.expungesReported) {
        // Other sessions' expunges were just reported: with CONDSTORE the client also learns the new
        // HIGHESTMODSEQ in the tagged OK (Dovecot's behaviour; RFC 7162 §3.1.2.1 allows it on any OK).
        this.selected.expungesReported = false;
        if (code === undefined && this.enabled.has('CONDSTORE')) code = `HIGHESTMODSEQ ${(await this.selected.mailbox.counters()).highestModseq}`;
      }
      if (this.notify) await this.notify.beforeTagged();
      this.write(taggedResponse(tag, 'OK', typeof text === 'string' ? text : text.text, code));
    } catch (err) {
      this.writeError(tag, err, cmd.name);
    } finally {
      if (this.append && cmd.name === 'APPEND') {
        await this.append.abort();
        this.append = null;
      }
    }
  }

  writeError(tag: string, err: unknown, what: string) {
    if (err instanceof MailStoreError) {
      const code = err.code === 'BADNAME' ? 'CANNOT' : err.code;
      this.write(taggedResponse(tag, err.code === 'BADFLAG' ? 'BAD' : 'NO', err.message, code === 'BADFLAG' ? undefined : code));
    } else if (err instanceof ImapCommandError) {
      this.write(taggedResponse(tag, err.status, err.message, err.code));
    } else if (isImapParseError(err)) {
      this.write(taggedResponse(tag, err.status, err.message, err.code));
    } else {
      this.log.error({ err, conn: this.id, command: what }, 'imap command failed');
      this.write(taggedResponse(tag, 'NO', `${what} failed: internal server error`, 'SERVERBUG'));
    }
  }

  /** Read one continuation line from the client (AUTHENTICATE). Null when the connection ended. */
  readLine(prompt: string): Promise<string | null> {
    this.write(continuationResponse(prompt));
    this.reader.skipEmptyLines = false; // an empty SASL response is valid
    return new Promise((resolve) => {
      this.lineWaiter = (raw) => {
        this.reader.skipEmptyLines = true;
        resolve(raw ? continuationLine(raw) : null);
      };
      // Let the reader deliver the next line while this command is still running.
      this.reader.resume();
      if (this.socket.isPaused()) this.socket.resume();
    });
  }

  /** Enter IDLE (RFC 2177): returns when DONE arrives or the connection ends. */
  idle(tag: string, onStart: () => void): Promise<boolean> {
    this.write(continuationResponse('idling'));
    this.idleTag = tag;
    return new Promise((resolve) => {
      this.idleDone = resolve;
      onStart();
      this.reader.resume();
      if (this.socket.isPaused()) this.socket.resume();
    });
  }

  /** STARTTLS (RFC 3501 §6.2.1, RFC 2595): drop everything the client sent after the command, then handshake. */
  async startTls(tag: string): Promise<void> {
    const raw = this.socket;
    this.reader.reset();
    this.events = [];
    raw.removeListener('data', this.onData);
    this.write(taggedResponse(tag, 'OK', 'Begin TLS negotiation now'));
    const sock = new TLSSocket(raw, serverTlsOptions(this.ctx.secureContext!));
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('secure', () => resolve(true));
      sock.once('error', () => resolve(false));
    });
    if (!ok) {
      raw.destroy();
      return;
    }
    this.socket = sock;
    this.tls = true;
    this.reader = this.newReader();
    this.attach(sock);
  }

  /** COMPRESS DEFLATE (RFC 4978 §3-4): the tagged OK goes out uncompressed, then both directions are deflated. */
  startCompression(tag: string): void {
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    this.write(taggedResponse(tag, 'OK', 'DEFLATE active'));
    // Bytes the client sent after the command are already compressed.
    const z = new DeflateStream(raw, this.reader.takeInput());
    this.socket = z as unknown as Socket;
    this.compressed = true;
    this.attach(this.socket);
  }

  /** Called after a successful LOGIN/AUTHENTICATE. */
  async loggedIn(user: User) {
    this.user = user;
    this.state = 'auth';
    await this.ctx.mail.ensureUser(user);
    this.touch();
  }
}
