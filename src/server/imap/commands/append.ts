/**
 * APPEND (RFC 3501 §6.3.11, UIDPLUS RFC 4315 §3 APPENDUID). The message literal is streamed: the reader hands us
 * chunks (append-data) which flow straight into the store's tmp/ file, so a large message is never held in memory.
 * The store commits (fsync file, rename into cur/, fsync directory, index row) only when the complete command has
 * been parsed; on any error the temporary file is removed. OK is sent only after the commit.
 */
import type { AppendCommand, AppendHead } from '../../../protocol/imap/index.js';
import { isStreamedLiteral } from '../../../protocol/imap/index.js';
import type { Mailbox, AppendResult } from '../../../store/mail/index.js';
import { MailStoreError } from '../../../store/mail/index.js';
import { AUTHED, type Handler } from './types.js';
import type { ImapSession } from '../session.js';
import { bad, no } from '../errors.js';

const SIGNAL_ABORT = new Error('APPEND aborted');

/** A streamed APPEND: chunks in, one store.append() consuming them. */
export class AppendInProgress {
  private chunks: Buffer[] = [];
  private waiting: (() => void) | null = null;
  private finished = false;
  private aborted = false;
  private drainWaiter: (() => void) | null = null;
  readonly result: Promise<AppendResult>;
  literalComplete = false;

  constructor(
    readonly head: AppendHead,
    readonly mailbox: Mailbox,
    origin: unknown,
  ) {
    const self = this;
    async function* source(): AsyncGenerator<Buffer> {
      for (;;) {
        if (self.aborted) throw SIGNAL_ABORT;
        const c = self.chunks.shift();
        if (c) {
          if (self.chunks.length === 0) {
            const d = self.drainWaiter;
            self.drainWaiter = null;
            d?.();
          }
          yield c;
          continue;
        }
        if (self.finished) return;
        await new Promise<void>((r) => (self.waiting = r));
      }
    }
    this.result = mailbox.append(source(), { flags: head.flags, internalDate: head.internalDate, origin });
    this.result.catch(() => {}); // observed by commit()/abort()
  }

  private wake() {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  /** Queue a chunk; resolves when the store has taken it (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    this.chunks.push(Buffer.from(chunk)); // the reader's buffer may be reused
    this.wake();
    if (this.chunks.length > 4) await new Promise<void>((r) => (this.drainWaiter = r));
  }

  async end(): Promise<void> {
    this.literalComplete = true;
  }

  /** The command parsed: finish the file and commit it. */
  async commit(): Promise<AppendResult> {
    this.finished = true;
    this.wake();
    return this.result;
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.wake();
    const d = this.drainWaiter;
    this.drainWaiter = null;
    d?.();
    await this.result.catch(() => {});
  }
}

function storeError(err: unknown): never {
  if (err instanceof MailStoreError && err.code === 'NONEXISTENT') throw no('No such mailbox', 'TRYCREATE');
  throw err;
}

/** append-start: check the target before the client sends the message (so "+" is not sent for a refusal). */
export async function startAppend(s: ImapSession, head: AppendHead, size: number, previous: AppendInProgress | null): Promise<AppendInProgress> {
  if (previous) throw bad('MULTIAPPEND is not supported');
  if (head.messageIndex > 0) throw bad('MULTIAPPEND is not supported');
  if (size === 0) throw bad('Empty message');
  const mbx = await s.ctx.mail.openMailbox(s.user!, head.mailbox).catch(storeError);
  await s.ctx.mail.checkQuota(s.user!, size);
  const origin = s.selected && s.selected.mailbox.id === mbx.id ? s.selected : s;
  return new AppendInProgress(head, mbx, origin);
}

export const APPEND: Handler<AppendCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    if (cmd.messages.length !== 1) throw bad('MULTIAPPEND is not supported');
    const msg = cmd.messages[0]!;
    let result: AppendResult;
    let mbx: Mailbox;
    if (isStreamedLiteral(msg.literal)) {
      const a = s.append;
      if (!a || !a.literalComplete) throw bad('APPEND literal missing');
      s.append = null;
      mbx = a.mailbox;
      try {
        result = await a.commit();
      } catch (err) {
        await a.abort();
        throw err;
      }
    } else {
      if (msg.literal.length === 0) throw bad('Empty message');
      mbx = await s.ctx.mail.openMailbox(s.user!, cmd.mailbox).catch(storeError);
      const origin = s.selected && s.selected.mailbox.id === mbx.id ? s.selected : s;
      result = await mbx.append(msg.literal, { flags: msg.flags, internalDate: msg.internalDate, origin });
    }
    // RFC 3501 §6.3.11: appending to the selected mailbox should update the client (EXISTS).
    if (s.selected && s.selected.mailbox.id === mbx.id) await s.selected.reportChanges(s, { expunges: true, force: true });
    return { text: 'APPEND completed', code: `APPENDUID ${result.uidValidity} ${result.uid}` };
  },
};
