/**
 * APPEND (RFC 3501 §6.3.11) with UIDPLUS (RFC 4315 §3 APPENDUID), MULTIAPPEND (RFC 3502), CATENATE (RFC 4469) and
 * literal8 messages (RFC 3516 §4.4).
 *
 * Streaming: the reader hands every message literal (and every CATENATE TEXT literal) over in chunks (append-data)
 * which go straight into a file in the mailbox's tmp/, so a large message is never held in memory. URL parts of
 * CATENATE are copied into the same file in their place (./catenate.ts). Each `append-start` carries what was
 * parsed of the command so far; AppendJob "catches up" on it: finishes the messages before the current one
 * (writing their trailing URL parts) and writes the URL parts before the current literal. The command event
 * catches up on the rest.
 *
 * Atomicity (RFC 3502 §6.3.11): nothing is visible until the whole command has been parsed; then all files are
 * committed together (Mailbox.appendStaged: fsync, rename into cur/, one index transaction). Any error — a
 * refused literal, a bad URL, a syntax error after the literals, a dropped connection — removes every file.
 * OK is sent only after the commit.
 *
 * Checked before the client sends a literal (so a synchronizing literal is refused instead of "+"): the target
 * mailbox ([TRYCREATE]), the quota ([OVERQUOTA]), the size of each message against APPENDLIMIT ([TOOBIG], RFC 7889;
 * a CATENATE message counts all its parts), the number of messages and parts (parser.ts bounds) and the total
 * size of one command (MAX_TOTAL_FACTOR × APPENDLIMIT).
 */
import type { AppendCommand, AppendHead, AppendMessage, CatenatePart } from '../../../protocol/imap/index.js';
import { isStreamedLiteral } from '../../../protocol/imap/index.js';
import type { Mailbox } from '../../../store/mail/index.js';
import { MailStoreError } from '../../../store/mail/index.js';
import type { MaildirTmpFile } from '../../../store/maildir/maildir.js';
import { AUTHED, type Handler } from './types.js';
import type { ImapSession } from '../session.js';
import { bad, no } from '../errors.js';
import { resolveUrl } from './catenate.js';

/** One APPEND command may stage at most this many times APPENDLIMIT in total. */
const MAX_TOTAL_FACTOR = 4;

function storeError(err: unknown): never {
  if (err instanceof MailStoreError && err.code === 'NONEXISTENT') throw no('No such mailbox', 'TRYCREATE');
  throw err;
}

/** The parts of a message: a plain APPEND message is one TEXT part. */
function partsOf(m: AppendMessage): readonly CatenatePart[] {
  return m.catenate ?? (m.literal ? [{ type: 'TEXT', literal: m.literal, binary: m.binary }] : []);
}

interface Staged {
  file: MaildirTmpFile;
  flags: readonly string[];
  internalDate?: Date;
  catenate: boolean;
}

/** The messages of one APPEND command being written to tmp/. */
export class AppendJob {
  private readonly done: Staged[] = [];
  private cur: (Staged & { partsDone: number }) | null = null;
  private total = 0;
  private aborted = false;

  constructor(
    private readonly s: ImapSession,
    readonly tag: string,
    readonly mailbox: Mailbox,
  ) {}

  private get limit(): number {
    return this.s.ctx.limits.maxAppendSize;
  }

  /** Room left in the current message and in the command, before writing `n` more bytes; TOOBIG past either. */
  private reserve(n: number) {
    const cur = this.cur!;
    if (cur.file.size + n > this.limit) throw no(`Message too large (APPENDLIMIT ${this.limit})`, 'TOOBIG');
    if (this.total + n > this.limit * MAX_TOTAL_FACTOR) throw no('APPEND too large in total', 'TOOBIG');
  }

  private async put(data: Buffer) {
    if (!data.length) return;
    this.reserve(data.length);
    await this.cur!.file.write(data);
    this.total += data.length;
  }

  private async open(m: { flags: readonly string[]; internalDate?: Date }, catenate: boolean) {
    if (this.done.length >= 1000) throw bad('Too many messages in one APPEND');
    const file = await this.mailbox.stageFile();
    this.cur = { file, flags: m.flags, ...(m.internalDate ? { internalDate: m.internalDate } : {}), catenate, partsDone: 0 };
  }

  private async close() {
    const cur = this.cur!;
    this.cur = null;
    this.done.push(cur);
    // RFC 3501 §6.3.11 / Dovecot: an empty message is refused (and with it the whole command).
    if (cur.file.size === 0) throw no("Can't save a zero byte message");
    await cur.file.finish();
  }

  /** Write the parts [partsDone, upTo) of the current message (URLs; streamed TEXT parts were written already). */
  private async writeParts(parts: readonly CatenatePart[], upTo: number) {
    const cur = this.cur!;
    for (let i = cur.partsDone; i < upTo; i++) {
      const p = parts[i]!;
      if (p.type === 'URL') await this.put(await resolveUrl(this.s, p.url, this.limit - cur.file.size));
      else if (!isStreamedLiteral(p.literal)) await this.put(p.literal);
      else throw bad('APPEND literal missing');
      cur.partsDone = i + 1;
    }
  }

  /** Finish every message before `index` (from `messages`), and open message `index` if `open` is given. */
  private async catchUp(messages: readonly AppendMessage[], index: number) {
    for (let i = this.done.length; i < index; i++) {
      const m = messages[i];
      if (!m) throw bad('APPEND message missing');
      if (!this.cur) await this.open(m, Boolean(m.catenate));
      const parts = partsOf(m);
      await this.writeParts(parts, parts.length);
      await this.close();
    }
  }

  /** append-start: a literal (a message, or a CATENATE TEXT part) is announced. */
  async beginLiteral(head: AppendHead, size: number): Promise<void> {
    await this.catchUp(head.previous ?? [], head.messageIndex);
    if (!this.cur) await this.open(head, Boolean(head.catenate));
    const cur = this.cur!;
    if (head.catenate) await this.writeParts(head.catenate.before, head.catenate.index);
    else if (size === 0) throw no("Can't save a zero byte message");
    this.reserve(size);
    await this.s.ctx.mail.checkQuota(this.s.user!, this.total + size);
    cur.partsDone++; // the literal itself, streamed next
  }

  /** append-data */
  async writeChunk(chunk: Buffer): Promise<void> {
    if (this.aborted || !this.cur) return;
    await this.cur.file.write(chunk);
    this.total += chunk.length;
  }

  /** The command parsed: finish every message and commit them all at once. */
  async commit(cmd: AppendCommand) {
    await this.catchUp(cmd.messages, cmd.messages.length);
    const items = this.done.map((d) => ({ file: d.file, flags: d.flags, internalDate: d.internalDate }));
    const origin = this.s.selected && this.s.selected.mailbox.id === this.mailbox.id ? this.s.selected : this.s;
    return this.mailbox.appendStaged(items, { origin });
  }

  async abort(): Promise<void> {
    this.aborted = true;
    const files = [...this.done.map((d) => d.file), ...(this.cur ? [this.cur.file] : [])];
    this.cur = null;
    this.done.length = 0;
    await Promise.all(files.map((f) => f.abort().catch(() => {})));
  }

  // The session's streaming interface (session.ts calls write/end/abort).
  write(chunk: Buffer): Promise<void> {
    return this.writeChunk(chunk);
  }

  async end(): Promise<void> {}
}

/** The session refers to the streaming APPEND by this name. */
export { AppendJob as AppendInProgress };

async function openTarget(s: ImapSession, tag: string, mailbox: string): Promise<AppendJob> {
  const mbx = await s.ctx.mail.openMailbox(s.user!, mailbox).catch(storeError);
  return new AppendJob(s, tag, mbx);
}

/** append-start: check the target before the client sends the literal (so "+" is not sent for a refusal). */
export async function startAppend(s: ImapSession, head: AppendHead, size: number, previous: AppendJob | null): Promise<AppendJob> {
  let job = previous;
  if (job && job.tag !== head.tag) {
    await job.abort();
    job = null;
  }
  job ??= await openTarget(s, head.tag, head.mailbox);
  try {
    await job.beginLiteral(head, size);
  } catch (err) {
    await job.abort();
    throw err;
  }
  return job;
}

export const APPEND: Handler<AppendCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    if (cmd.messages.length === 0) throw bad('APPEND needs a message');
    const streamed = cmd.messages.some((m) => partsOf(m).some((p) => p.type === 'TEXT' && isStreamedLiteral(p.literal)));
    let job = s.append;
    if (streamed && (!job || job.tag !== cmd.tag)) throw bad('APPEND literal missing');
    if (!streamed) job = await openTarget(s, cmd.tag, cmd.mailbox);
    s.append = job; // aborted by the session if anything below fails
    const results = await job!.commit(cmd);
    s.append = null;
    const mbx = job!.mailbox;
    // RFC 3501 §6.3.11: appending to the selected mailbox should update the client (EXISTS).
    if (s.selected && s.selected.mailbox.id === mbx.id) await s.selected.reportChanges(s, { expunges: true, force: true });
    // RFC 4315 §3 / RFC 3502 §6.3.11: APPENDUID with the UID set of all appended messages (consecutive here).
    const first = results[0]!.uid;
    const last = results[results.length - 1]!.uid;
    const set = first === last ? String(first) : `${first}:${last}`;
    return { text: 'APPEND completed', code: `APPENDUID ${results[0]!.uidValidity} ${set}` };
  },
};
