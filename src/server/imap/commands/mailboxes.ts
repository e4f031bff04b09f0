/**
 * Authenticated-state mailbox commands (RFC 3501 §6.3): SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, LIST, LSUB, STATUS; with CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes in LIST.
 * Mailbox names arrive decoded (modified UTF-7 -> Unicode) and are checked by the store, which keeps every name
 * inside the user's directory.
 */
import type {
  CreateCommand,
  MailboxCommand,
  RenameCommand,
  SelectCommand,
  StatusCommand,
} from '../../../protocol/imap/index.js';
import { encodeMailboxName, formatAString } from '../../../protocol/imap/index.js';
import { AUTHED, type Handler } from './types.js';
import { SelectedMailbox } from '../selected.js';
import type { ImapSession } from '../session.js';
import { bad, no } from '../errors.js';
import { checkQresyncParameter, enableCondstore, qresyncOn, qresyncSelect } from '../qresync.js';
import { isInbox } from '../../../store/mail/index.js';

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];
const CREATABLE_USES = new Map(['\\Archive', '\\Drafts', '\\Junk', '\\Sent', '\\Trash'].map((u) => [u.toLowerCase(), u]));
const COMMON_KEYWORDS = ['$Forwarded', '$MDNSent', '$Junk', '$NotJunk'];

export function mailboxNameOut(s: ImapSession, name: string): Buffer {
  // RFC 9051 §5.1 / RFC 6855 §3: UTF-8 in a quoted string (as Dovecot does); modified UTF-7 otherwise.
  return s.utf8Names ? formatAString(name, { utf8: true }) : formatAString(encodeMailboxName(name));
}

function leaveSelected(s: ImapSession) {
  if (s.selected) {
    s.selected.close();
    s.selected = null;
    s.state = 'auth';
  }
}

async function select(s: ImapSession, cmd: SelectCommand, readOnly: boolean) {
  const user = s.user!;
  // RFC 7162 §3.2.5: QRESYNC parameter without ENABLE QRESYNC is BAD (checked before anything is closed).
  if (cmd.qresync) {
    if (!qresyncOn(s)) throw bad('QRESYNC not enabled');
    checkQresyncParameter(cmd.qresync);
  }
  // RFC 7162 §3.1.8: SELECT/EXAMINE (CONDSTORE) is a CONDSTORE enabling command.
  if (cmd.condStore) await enableCondstore(s, { announce: false });
  const hadSelected = Boolean(s.selected);
  leaveSelected(s);
  // RFC 7162 §3.2.11 / RFC 5530: tell the client the previous mailbox is closed.
  if (hadSelected) s.write('* OK [CLOSED] Previous mailbox closed\r\n');
  const mbx = await s.ctx.mail.openMailbox(user, cmd.mailbox);
  await mbx.sync();
  const counters = await mbx.counters();
  const uids = await mbx.uids();
  const sel = new SelectedMailbox(s.ctx.mail, mbx, readOnly, uids, counters);
  // First unseen message (RFC 3501 §6.3.1 OK [UNSEEN n]): one indexed query.
  const unseenUid = await mbx.firstUnseenUid();
  const firstUnseen = unseenUid ? sel.seqOf(unseenUid) : 0;
  s.write(`* FLAGS (${[...SYSTEM_FLAGS, ...COMMON_KEYWORDS].join(' ')})\r\n`);
  s.write(`* OK [PERMANENTFLAGS (${readOnly ? '' : [...SYSTEM_FLAGS, ...COMMON_KEYWORDS, '\\*'].join(' ')})] ${readOnly ? 'Read-only mailbox' : 'Flags permitted'}\r\n`);
  s.write(`* ${sel.exists} EXISTS\r\n`);
  // RFC 9051 §6.3.2 (Appendix E): no RECENT response and no [UNSEEN n] in rev2, and a LIST response with the
  // mailbox's name as the server spells it (attributes may be empty; the example there is `* LIST () "/" INBOX`).
  // Names are not normalized here, so there is never an OLDNAME item.
  if (!s.rev2) s.write('* 0 RECENT\r\n');
  if (firstUnseen && !s.rev2) s.write(`* OK [UNSEEN ${firstUnseen}] First unseen\r\n`);
  if (s.rev2) s.write(Buffer.concat([Buffer.from('* LIST () "/" '), mailboxNameOut(s, mbx.name), Buffer.from('\r\n')]));
  s.write(`* OK [UIDVALIDITY ${counters.uidValidity}] UIDs valid\r\n`);
  s.write(`* OK [UIDNEXT ${counters.uidNext}] Predicted next UID\r\n`);
  // RFC 7162 §3.1.2.1: a server with persistent mod-sequences sends HIGHESTMODSEQ with every SELECT/EXAMINE
  // (Dovecot does once the mailbox tracks modseqs; ours always does). Never NOMODSEQ.
  s.write(`* OK [HIGHESTMODSEQ ${counters.highestModseq}] Highest\r\n`);
  s.selected = sel;
  s.state = 'selected';
  // RFC 7162 §3.2.5: QRESYNC resynchronization: VANISHED (EARLIER) then FETCH of what changed.
  if (cmd.qresync) await qresyncSelect(s, sel, cmd.qresync, counters.uidValidity);
  return { text: `${readOnly ? 'EXAMINE' : 'SELECT'} completed`, code: readOnly ? 'READ-ONLY' : 'READ-WRITE' };
}

export const SELECT: Handler<SelectCommand> = {
  states: AUTHED,
  run: (s, cmd) => select(s, cmd, false),
};

export const EXAMINE: Handler<SelectCommand> = {
  states: AUTHED,
  run: (s, cmd) => select(s, cmd, true),
};

export const CREATE: Handler<CreateCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    let name = cmd.mailbox;
    // RFC 3501 §6.3.3: a trailing separator means the client intends to create children; we create the name.
    while (name.endsWith('/')) name = name.slice(0, -1);
    if (isInbox(name)) throw no('INBOX always exists', 'ALREADYEXISTS');
    // RFC 6154 §3: a use we cannot give the mailbox is NO [USEATTR] and nothing is created. \All and \Flagged
    // are virtual (no real mailbox holds them); one mailbox has at most one use here.
    if (cmd.specialUse.length > 1) throw no('Only one special-use attribute per mailbox', 'USEATTR');
    const requested = cmd.specialUse[0];
    const specialUse = requested === undefined ? undefined : CREATABLE_USES.get(requested.toLowerCase());
    if (requested !== undefined && !specialUse) throw no(`Cannot create a mailbox with the use ${requested}`, 'USEATTR');
    await s.ctx.mail.createMailbox(s.user!, name, { specialUse });
    return 'CREATE completed';
  },
};

export const DELETE: Handler<MailboxCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    if (isInbox(cmd.mailbox)) throw no('INBOX cannot be deleted', 'CANNOT');
    if (s.selected && s.selected.mailbox.name === cmd.mailbox) leaveSelected(s);
    await s.ctx.mail.deleteMailbox(s.user!, cmd.mailbox);
    return 'DELETE completed';
  },
};

export const RENAME: Handler<RenameCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    await s.ctx.mail.renameMailbox(s.user!, cmd.mailbox, cmd.newMailbox);
    return 'RENAME completed';
  },
};

export const SUBSCRIBE: Handler<MailboxCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    await s.ctx.mail.setSubscribed(s.user!, cmd.mailbox, true);
    return 'SUBSCRIBE completed';
  },
};

export const UNSUBSCRIBE: Handler<MailboxCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    await s.ctx.mail.setSubscribed(s.user!, cmd.mailbox, false);
    return 'UNSUBSCRIBE completed';
  },
};

/** RFC 3501 §6.3.8: "*" matches anything, "%" anything but the hierarchy separator. */
export function patternToRegExp(reference: string, pattern: string): RegExp {
  let full = pattern;
  if (reference && !pattern.startsWith('/')) full = reference.endsWith('/') || !reference ? reference + pattern : `${reference}/${pattern}`;
  let re = '';
  for (const ch of full) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  // INBOX is case-insensitive (RFC 3501 §5.1).
  re = re.replace(/^INBOX/i, '[Ii][Nn][Bb][Oo][Xx]');
  return new RegExp(`^${re}$`, 'su');
}

// LIST and LSUB: ./list.ts (LIST-EXTENDED, LIST-STATUS).

export const STATUS: Handler<StatusCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    if (s.rev2 && cmd.items.includes('RECENT')) throw bad('STATUS RECENT is not part of IMAP4rev2 (RFC 9051 Appendix E)');
    const st = await s.ctx.mail.status(s.user!, cmd.mailbox);
    if (cmd.items.includes('HIGHESTMODSEQ')) await enableCondstore(s);
    const out: Array<string | number> = [];
    for (const item of cmd.items) {
      switch (item) {
        case 'MESSAGES':
          out.push(item, st.messages);
          break;
        case 'RECENT':
          // RFC 9051 Appendix E: STATUS RECENT is gone from rev2 (checked below, before any output).
          out.push(item, st.recent);
          break;
        case 'UIDNEXT':
          out.push(item, st.uidNext);
          break;
        case 'UIDVALIDITY':
          out.push(item, st.uidValidity);
          break;
        case 'UNSEEN':
          out.push(item, st.unseen);
          break;
        case 'SIZE':
          out.push(item, st.size);
          break;
        case 'DELETED':
          out.push(item, st.deleted);
          break;
        case 'HIGHESTMODSEQ':
          // RFC 7162 §3.1.6 (and a CONDSTORE enabling command, §3.1).
          out.push(item, st.highestModseq);
          break;
        case 'APPENDLIMIT':
          // RFC 7889 §3.2: the same limit applies to every mailbox.
          out.push(item, s.ctx.limits.maxAppendSize);
          break;
        default:
          break;
      }
    }
    s.write(Buffer.concat([Buffer.from('* STATUS '), mailboxNameOut(s, cmd.mailbox), Buffer.from(` (${out.join(' ')})\r\n`)]));
    return 'STATUS completed';
  },
};

