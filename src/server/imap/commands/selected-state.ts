/**
 * Selected-state commands (RFC 3501 §6.4): CHECK, CLOSE, EXPUNGE, STORE, COPY; UID EXPUNGE and COPYUID
 * (UIDPLUS, RFC 4315), MOVE (RFC 6851), UNSELECT (RFC 3691), IDLE (RFC 2177).
 */
import type { CopyCommand, ExpungeCommand, SimpleCommand, StoreCommand } from '../../../protocol/imap/index.js';
import { compressSequenceSet, fetchResponse, formatFlags, taggedResponse } from '../../../protocol/imap/index.js';
import { AUTHED, SELECTED, type Handler } from './types.js';
import { resolveTargets } from '../messages.js';
import { bad, no } from '../errors.js';
import { MailStoreError } from '../../../store/mail/index.js';
import { condstoreOn, enableCondstore, flagsFetch, highestModseqCode, reportExpunged } from '../qresync.js';
import type { ImapSession } from '../session.js';

function writable(s: ImapSession) {
  if (s.selected!.readOnly) throw no('The mailbox is read-only (EXAMINE)', 'READ-ONLY');
}

export const CHECK: Handler<SimpleCommand> = {
  states: SELECTED,
  async run(s) {
    await s.selected!.mailbox.sync();
    return 'CHECK completed';
  },
};

/** RFC 3501 §6.4.2: silently expunge \Deleted messages (unless read-only), then leave the mailbox. */
export const CLOSE: Handler<SimpleCommand> = {
  states: SELECTED,
  async run(s) {
    const sel = s.selected!;
    if (!sel.readOnly) await sel.mailbox.expunge({ origin: sel });
    sel.close();
    s.selected = null;
    s.state = 'auth';
    return 'CLOSE completed';
  },
};

export const UNSELECT: Handler<SimpleCommand> = {
  states: SELECTED,
  async run(s) {
    s.selected!.close();
    s.selected = null;
    s.state = 'auth';
    return 'UNSELECT completed';
  },
};

export const EXPUNGE: Handler<ExpungeCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    writable(s);
    let uids: number[] | undefined;
    if (cmd.uid && cmd.sequenceSet) uids = resolveTargets(sel, cmd.sequenceSet, true).map((t) => t.uid);
    await sel.reportChanges(s, { expunges: true, uid: cmd.uid });
    const before = (await sel.mailbox.counters()).highestModseq;
    const gone = await sel.mailbox.expunge({ uids, origin: sel });
    if (sel.contexts.size) await sel.beforeExpunge?.(s, gone);
    // EXPUNGE responses, or VANISHED with QRESYNC (RFC 7162 §3.2.10).
    reportExpunged(s, sel, gone);
    sel.ownChange(before, (await sel.mailbox.counters()).highestModseq);
    // RFC 7162 §3.2.7/§3.2.9 (and Dovecot with CONDSTORE alone): the tagged OK carries HIGHESTMODSEQ.
    return { text: 'EXPUNGE completed', code: await highestModseqCode(s, sel) };
  },
};

export const STORE: Handler<StoreCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    writable(s);
    if (cmd.flags.some((f) => f.toLowerCase() === '\\recent')) throw bad('\\Recent cannot be stored');
    // RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE n) is a CONDSTORE enabling command.
    if (cmd.unchangedSince !== undefined) await enableCondstore(s);
    const targets = resolveTargets(sel, cmd.sequenceSet, cmd.uid);
    if (!targets.length) return 'STORE completed';
    await sel.reportChanges(s, { expunges: cmd.uid, uid: cmd.uid });
    const before = sel.lastModseq;
    const mode = cmd.action === 'set' ? 'replace' : cmd.action;
    let r;
    try {
      r = await sel.mailbox.setFlags(targets.map((t) => t.uid), mode, cmd.flags, {
        unchangedSince: cmd.unchangedSince === undefined ? undefined : Number(cmd.unchangedSince),
        origin: sel,
      });
    } catch (err) {
      if (err instanceof MailStoreError && err.code === 'BADFLAG') throw bad(err.message);
      throw err;
    }
    if (condstoreOn(s)) {
      // RFC 7162 §3.1.3/§3.2.4 (Dovecot's form): "* n FETCH ([UID u] MODSEQ (m) FLAGS (...))" for each changed
      // message, also for .SILENT (then without FLAGS): the client learns the new modseq.
      let out = '';
      for (const c of r.updated) {
        const n = sel.seqOf(c.uid);
        if (n) out += flagsFetch(s, n, c, { uid: cmd.uid, silent: cmd.silent });
      }
      // Messages that already had the flags got no new modseq and are not reported (as Dovecot).
      if (out) s.write(out);
    } else if (!cmd.silent) {
      // One write for all the responses (a socket write per message was most of a 1,000-message STORE's CPU).
      const out: Buffer[] = [];
      for (const c of [...r.updated, ...r.unchanged].sort((a, b) => a.uid - b.uid)) {
        const n = sel.seqOf(c.uid);
        if (!n) continue;
        const items: Array<[string, import('../../../protocol/imap/index.js').ResponseValue]> = [['FLAGS', formatFlags(c.flags)]];
        if (cmd.uid) items.push(['UID', c.uid]);
        out.push(fetchResponse(n, items));
      }
      if (out.length) s.write(Buffer.concat(out));
    }
    if (r.updated.length) sel.ownChange(before, r.highestModseq);
    if (r.modified.length) {
      // RFC 7162 §3.1.3: OK [MODIFIED set]: UIDs for UID STORE, sequence numbers otherwise.
      return { text: 'Conditional STORE failed', code: `MODIFIED ${compressSequenceSet(cmd.uid ? r.modified : r.modified.map((u) => sel.seqOf(u)))}` };
    }
    return 'STORE completed';
  },
};

async function copyOrMove(s: ImapSession, cmd: CopyCommand, move: boolean) {
  const sel = s.selected!;
  if (move) writable(s);
  const targets = resolveTargets(sel, cmd.sequenceSet, cmd.uid);
  let dest;
  try {
    dest = await s.ctx.mail.openMailbox(s.user!, cmd.mailbox);
  } catch (err) {
    if (err instanceof MailStoreError && err.code === 'NONEXISTENT') throw no('No such mailbox', 'TRYCREATE');
    throw err;
  }
  if (!targets.length) return `${move ? 'MOVE' : 'COPY'} completed (no messages)`;
  const uids = targets.map((t) => t.uid);
  const origin = dest.id === sel.mailbox.id ? sel : s;
  const r = move ? await sel.mailbox.moveTo(dest, uids, { origin: sel }) : await sel.mailbox.copyTo(dest, uids, { origin });
  const copyuid = `COPYUID ${r.uidValidity} ${compressSequenceSet(r.mapping.map((m) => m[0]), { sort: false })} ${compressSequenceSet(
    r.mapping.map((m) => m[1]),
    { sort: false },
  )}`;
  if (move) {
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGE (or, with QRESYNC, VANISHED) responses.
    if (r.mapping.length) s.write(`* OK [${copyuid}] Moved\r\n`);
    const moved = r.mapping.map((m) => m[0]);
    if (sel.contexts.size) await sel.beforeExpunge?.(s, moved);
    reportExpunged(s, sel, moved);
    if (dest.id === sel.mailbox.id) await sel.reportChanges(s, { expunges: true, force: true, uid: cmd.uid });
    return { text: 'MOVE completed', code: await highestModseqCode(s, sel) };
  }
  if (dest.id === sel.mailbox.id) await sel.reportChanges(s, { expunges: true, force: true });
  return r.mapping.length ? { text: 'COPY completed', code: copyuid } : 'COPY completed';
}

export const COPY: Handler<CopyCommand> = {
  states: SELECTED,
  run: (s, cmd) => copyOrMove(s, cmd, false),
};

export const MOVE: Handler<CopyCommand> = {
  states: SELECTED,
  run: (s, cmd) => copyOrMove(s, cmd, true),
};

/** RFC 2177: report changes as they happen until DONE. */
export const IDLE: Handler<SimpleCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    const sel = s.selected;
    let reporting = Promise.resolve();
    const report = (sync = false) => {
      // RFC 5465 §4: with NOTIFY, IDLE sends what NOTIFY asked for: nothing for the selected mailbox without SELECTED.
      if (!sel || s.selected !== sel || s.notify?.selMode === null) return;
      reporting = reporting
        .then(async () => {
          if (sync) await sel.mailbox.sync();
          await sel.reportChanges(s, { expunges: true });
        })
        .catch(() => {});
    };
    let poll: NodeJS.Timeout | null = null;
    const done = await s.idle(cmd.tag, () => {
      if (!sel) return;
      sel.onChange = () => report();
      // Mail dropped in by other programs, and anything that happened before IDLE; then poll for the former.
      report(true);
      poll = setInterval(() => report(true), 15_000);
      poll.unref();
    });
    if (poll) clearInterval(poll);
    if (sel) sel.onChange = null;
    await reporting;
    if (done) s.write(taggedResponse(cmd.tag, 'OK', 'IDLE terminated'));
    else s.write(taggedResponse(cmd.tag, 'BAD', 'Expected DONE to end IDLE'));
    return null;
  },
};
