/**
 * NOTIFY (RFC 5465 §3.1): NOTIFY NONE turns notifications off; NOTIFY SET [STATUS] replaces the whole set of
 * wanted events. The work is in ../notify.ts; the syntax in src/protocol/imap/notify-parser.ts.
 */
import type { NotifyCommand } from '../../../protocol/imap/index.js';
import { AUTHED, type Handler } from './types.js';
import { NotifyState } from '../notify.js';

export const NOTIFY: Handler<NotifyCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    // §3.1: SET replaces the current list of events; NONE drops it.
    s.notify?.close();
    s.notify = null;
    if (!cmd.set) return 'NOTIFY completed';
    // May throw NO [NOTIFICATIONOVERFLOW] (§3.1: too expensive); the session then has no NOTIFY state.
    const st = await NotifyState.create(s, cmd.set);
    s.notify = st;
    // §3.1: a successful NOTIFY SET implies NOOP: accumulated changes of the selected mailbox now.
    if (s.selected) await s.selected.reportChanges(s, { expunges: true });
    // §3.1 STATUS indicator: a STATUS for each watched mailbox other than the selected one, before the OK.
    if (cmd.set.status) await st.sendInitialStatus();
    return 'NOTIFY completed';
  },
};
