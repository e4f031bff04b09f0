/**
 * Commands valid in any state: CAPABILITY, NOOP, LOGOUT (RFC 3501 §6.1), ID (RFC 2971), ENABLE (RFC 5161,
 * authenticated state only), NAMESPACE (RFC 2342).
 */
import type { EnableCommand, IdCommand, SimpleCommand } from '../../../protocol/imap/index.js';
import { untagged, atom, untaggedStatus, taggedResponse } from '../../../protocol/imap/index.js';
import { ANY, AUTHED, type Handler } from './types.js';
import { enableCondstore } from '../qresync.js';

export const CAPABILITY: Handler<SimpleCommand> = {
  states: ANY,
  async run(s) {
    s.write(untagged(atom('CAPABILITY'), ...s.capabilities().map(atom)));
    return 'CAPABILITY completed';
  },
};

/**
 * RFC 3501 §6.1.2: NOOP is the polling point for mailbox updates. Sync first, so files other programs dropped into
 * new/ (or removed from cur/) show up here, not only at the next SELECT or IDLE (cheap when nothing changed).
 */
export const NOOP: Handler<SimpleCommand> = {
  states: ANY,
  async run(s) {
    if (s.selected) {
      if (!s.selected.invalid) await s.selected.mailbox.sync();
      await s.selected.reportChanges(s, { expunges: true });
    }
    return 'NOOP completed';
  },
};

export const LOGOUT: Handler<SimpleCommand> = {
  states: ANY,
  async run(s, cmd) {
    s.write(untaggedStatus('BYE', 'Logging out'));
    s.write(taggedResponse(cmd.tag, 'OK', 'LOGOUT completed'));
    s.close();
    return null;
  },
};

/** RFC 2971: we tell our name; what the client says is logged (bounded). */
export const ID: Handler<IdCommand> = {
  states: ANY,
  async run(s, cmd) {
    if (cmd.parameters) {
      const fields = Object.fromEntries(cmd.parameters.slice(0, 30).map(([k, v]) => [k.slice(0, 30), (v ?? '').slice(0, 100)]));
      s.log.debug({ conn: s.id, clientId: fields }, 'client ID');
    }
    s.write(Buffer.from('* ID ("name" "Mailwright" "vendor" "Mailwright")\r\n'));
    return 'ID completed';
  },
};

/**
 * RFC 5161: only extensions we implement are enabled; others are ignored silently. RFC 7162 §3.1/§3.2.3:
 * CONDSTORE and QRESYNC (which implies CONDSTORE); with a mailbox selected, turning CONDSTORE on first sends
 * `* OK [HIGHESTMODSEQ n]` (as Dovecot does).
 */
/**
 * IMAP4rev2 (RFC 9051 §6.3.1, §7.2.2): offered beside IMAP4rev1; `ENABLE IMAP4rev2` switches the session.
 * RFC 9051 Appendix E ("Changes from RFC 3501 / IMAP4rev1") and what each item means here:
 *  1. Extensions folded into the base (NAMESPACE, UNSELECT, UIDPLUS incl. UID EXPUNGE, ESEARCH, SEARCHRES,
 *     ENABLE, IDLE, SASL-IR, LIST-EXTENDED, LIST-STATUS, MOVE, LITERAL- (LITERAL+ is a superset), BINARY,
 *     SPECIAL-USE, STATUS=SIZE, RFC 5530 response codes): all were implemented already; STATUS=SIZE is now
 *     also advertised. They work the same in rev1 and rev2 sessions.
 *  2. STATUS DELETED and SIZE (§6.3.11): implemented (DELETED counts \Deleted messages).
 *  3. \Recent, the RECENT response, STATUS RECENT and the RECENT/NEW/OLD search keys are gone (§2.3.2): once
 *     enabled, SELECT/EXAMINE send no `* n RECENT` and STATUS RECENT and those search keys are BAD. (\Recent is
 *     never set here anyway, and STORE \Recent was already BAD.)
 *  4. SEARCH answers with ESEARCH (§6.4.4, §7.3.4): a SEARCH without RETURN gets `* ESEARCH (TAG "t") [UID]
 *     ALL set`, never `* SEARCH` (SORT and THREAD are not rev2 and keep their responses).
 *  5. Mailbox names are UTF-8 both ways (§5.1): no modified UTF-7 in or out (LIST, LSUB, STATUS, SELECT's
 *     LIST, NOTIFY, GETQUOTAROOT), as with UTF8=ACCEPT.
 *  6. SELECT/EXAMINE (§6.3.2): no [UNSEEN n]; an untagged LIST response with the mailbox name as the server
 *     spells it (`* LIST () "/" INBOX` also for `SELECT inbox`; no OLDNAME, names are not normalized); [CLOSED]
 *     when a mailbox was selected (already sent in rev1).
 *  7. LSUB and CHECK are deprecated (LIST (SUBSCRIBED), NOOP): still accepted, as RFC 9051 lets servers keep them.
 *  8. FETCH RFC822, RFC822.HEADER, RFC822.TEXT, RFC822.SIZE are deprecated: still answered.
 *  9. LIST (§6.3.9): CHILDREN return option is base (implemented), \NonExistent and \Subscribed as in
 *     LIST-EXTENDED; `LIST "" ""` unchanged.
 * 10. Response codes ALREADYEXISTS, NONEXISTENT, TRYCREATE, CLOSED, ... (§7.1): the store already answers CREATE of
 *     an existing name with [ALREADYEXISTS], a missing mailbox with [NONEXISTENT] and COPY/MOVE/APPEND to a
 *     missing one with [TRYCREATE], in both versions.
 */
const ENABLEABLE = new Set<string>(['CONDSTORE', 'QRESYNC', 'IMAP4REV2']);
/** How ENABLED spells an extension (RFC 9051 §6.3.1 example: `* ENABLED IMAP4rev2`). */
const SPELLING: Record<string, string> = { IMAP4REV2: 'IMAP4rev2' };
export const ENABLE: Handler<EnableCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    const now: string[] = [];
    for (const c of cmd.capabilities) {
      const u = c.toUpperCase();
      if (ENABLEABLE.has(u) && !s.enabled.has(u)) {
        if (u === 'CONDSTORE' || u === 'QRESYNC') await enableCondstore(s);
        s.enabled.add(u);
        now.push(SPELLING[u] ?? u);
      }
    }
    if (now.includes('IMAP4rev2')) s.refreshParseOptions(); // APPEND mailbox names in UTF-8 (RFC 9051 §5.1)
    s.write(Buffer.from(`* ENABLED${now.map((c) => ' ' + c).join('')}\r\n`));
    return 'ENABLE completed';
  },
};

/** RFC 2342: one personal namespace, "" with separator "/"; no shared or other users' namespaces. */
export const NAMESPACE: Handler<SimpleCommand> = {
  states: AUTHED,
  async run(s) {
    s.write(Buffer.from('* NAMESPACE (("" "/")) NIL NIL\r\n'));
    return 'NAMESPACE completed';
  },
};
