/**
 * LIST and LSUB (RFC 3501 §6.3.8-9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and the SPECIAL-USE
 * selection and return options (RFC 6154 §5.1-5.2). Behaviour follows Dovecot 2.3 (checked side by side, see
 * test/imap/list-extended.test.ts):
 *
 * - Plain LIST (RFC 3501 syntax) always shows \HasChildren / \HasNoChildren (RFC 3348) and special-use attributes.
 * - Extended LIST (selection options, several patterns or RETURN) shows child information only with
 *   RETURN (CHILDREN) (RFC 5258 §4), special-use attributes only with RETURN (SPECIAL-USE) or the SPECIAL-USE
 *   selection option, and \Subscribed with SUBSCRIBED (selection or return, RFC 5258 §3.1-3.2).
 * - Several patterns (RFC 5258 §3): every mailbox matching any pattern, listed once.
 * - RECURSIVEMATCH (RFC 5258 §3.1) needs another selection option besides REMOTE (else BAD); with SUBSCRIBED a
 *   mailbox with a subscribed descendant gets `(CHILDINFO ("SUBSCRIBED"))`, and a parent that is not subscribed
 *   itself is listed when it matches the pattern.
 * - REMOTE: there are no remote mailboxes, so it selects nothing more.
 * - RETURN (STATUS (...)) (RFC 5819 §2): a `* STATUS` right after the `* LIST` of each selectable mailbox.
 * - An empty pattern in the extended syntax matches nothing (Dovecot); plain `LIST "" ""` gives the delimiter.
 * Unknown options are rejected by the parser (BAD); MYRIGHTS (RFC 4314) is BAD here as there is no ACL support.
 * \NonExistent (RFC 5258 §3.4) is not produced: subscriptions live on existing mailboxes and parents always exist
 * (a deleted parent with children stays as \Noselect).
 */
import type { ListCommand } from '../../../protocol/imap/index.js';
import type { MailboxListEntry } from '../../../store/mail/index.js';
import { AUTHED, type Handler } from './types.js';
import type { ImapSession } from '../session.js';
import { bad } from '../errors.js';
import { mailboxNameOut, patternToRegExp, STATUS } from './mailboxes.js';

function listLine(s: ImapSession, word: string, attrs: string[], name: string, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`* ${word} (${attrs.join(' ')}) "/" `), mailboxNameOut(s, name), Buffer.from(`${extra}\r\n`)]);
}

/** RFC 3501 §6.3.9 LSUB (and plain LIST, which RFC 5258 leaves as it was). */
async function plainList(s: ImapSession, cmd: ListCommand, entries: MailboxListEntry[]): Promise<void> {
  const word = cmd.name;
  const pattern = cmd.patterns[0]!;
  if (pattern === '' && word === 'LIST') {
    // RFC 3501 §6.3.8: the hierarchy delimiter and root name.
    s.write('* LIST (\\Noselect) "/" ""\r\n');
    return;
  }
  const re = patternToRegExp(cmd.reference, pattern);
  const seen = new Set<string>();
  for (const e of entries) {
    if (!re.test(e.name)) continue;
    if (word === 'LSUB' && !e.subscribed) continue;
    seen.add(e.name);
    s.write(listLine(s, word, e.attributes, e.name));
  }
  // RFC 3501 §6.3.9: with "%", a subscribed child implies its parent is listed as \Noselect in LSUB.
  if (word === 'LSUB' && pattern.includes('%')) {
    for (const e of entries) {
      if (!e.subscribed) continue;
      const parts = e.name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        if (!seen.has(parent) && re.test(parent)) {
          seen.add(parent);
          s.write(listLine(s, 'LSUB', ['\\Noselect'], parent));
        }
      }
    }
  }
}

/** RFC 5258 §3 / RFC 5819 / RFC 6154: LIST with selection options, several patterns or RETURN options. */
async function extendedList(s: ImapSession, cmd: ListCommand, entries: MailboxListEntry[]): Promise<void> {
  const sel = new Set(cmd.selectionOptions);
  const ret = new Set(cmd.returnOptions);
  // RFC 5258 §3.1: RECURSIVEMATCH alone (or with only REMOTE) is an error.
  if (sel.has('RECURSIVEMATCH') && !sel.has('SUBSCRIBED') && !sel.has('SPECIAL-USE')) {
    throw bad('RECURSIVEMATCH must not be the only selection option');
  }
  if (ret.has('MYRIGHTS')) throw bad('Unknown return option MYRIGHTS (no ACL support)');
  if (ret.has('STATUS') && (!cmd.returnStatus || cmd.returnStatus.length === 0)) throw bad('Empty status list');
  // RFC 9051 Appendix E: no RECENT status item in rev2 (else every STATUS would fail and be skipped silently).
  if (s.rev2 && cmd.returnStatus?.includes('RECENT')) throw bad('STATUS RECENT is not part of IMAP4rev2 (RFC 9051 Appendix E)');
  const onlySubscribed = sel.has('SUBSCRIBED');
  const onlySpecial = sel.has('SPECIAL-USE');
  const recursive = sel.has('RECURSIVEMATCH');
  const showSubscribed = onlySubscribed || ret.has('SUBSCRIBED');
  const showChildren = ret.has('CHILDREN');
  const showSpecial = onlySpecial || ret.has('SPECIAL-USE');
  const res = cmd.patterns.filter((p) => p !== '').map((p) => patternToRegExp(cmd.reference, p));
  if (!res.length) return;
  // Names with a subscribed descendant (for CHILDINFO), and those with one the patterns do not match.
  const subscribedBelow = new Set<string>();
  const unmatchedBelow = new Set<string>();
  if (onlySubscribed && recursive) {
    for (const e of entries) {
      if (!e.subscribed) continue;
      const matched = res.some((re) => re.test(e.name));
      const parts = e.name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        subscribedBelow.add(parent);
        if (!matched) unmatchedBelow.add(parent);
      }
    }
  }
  for (const e of entries) {
    if (!res.some((re) => re.test(e.name))) continue;
    const childInfo = subscribedBelow.has(e.name);
    // RFC 5258 §3.1 RECURSIVEMATCH: a parent that is not itself selected is listed for descendants the pattern
    // does not reach (a "*" pattern lists those descendants themselves, as Dovecot does).
    if (onlySubscribed && !e.subscribed && !unmatchedBelow.has(e.name)) continue;
    if (onlySpecial && !e.specialUse) continue;
    const attrs: string[] = [];
    if (e.noselect) attrs.push('\\Noselect');
    if (showSubscribed && e.subscribed) attrs.push('\\Subscribed');
    if (showChildren) attrs.push(e.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (showSpecial && e.specialUse) attrs.push(e.specialUse);
    // RFC 5258 §3.5 mbox-list-extended: CHILDINFO ("SUBSCRIBED"), Dovecot's spelling.
    s.write(listLine(s, 'LIST', attrs, e.name, childInfo ? ' (CHILDINFO ("SUBSCRIBED"))' : ''));
    if (cmd.returnStatus && !e.noselect) {
      // RFC 5819 §2: the STATUS response follows the LIST response; a mailbox that cannot be opened is skipped.
      await STATUS.run(s, { tag: cmd.tag, name: 'STATUS', mailbox: e.name, items: cmd.returnStatus }).catch(() => null);
    }
  }
}

export const LIST: Handler<ListCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    const entries = await s.ctx.mail.listMailboxes(s.user!);
    if (cmd.name === 'LIST' && cmd.extended) await extendedList(s, cmd, entries);
    else await plainList(s, cmd, entries);
    return `${cmd.name} completed`;
  },
};

export const LSUB = LIST;
