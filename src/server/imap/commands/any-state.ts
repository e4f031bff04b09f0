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
const ENABLEABLE = new Set<string>(['CONDSTORE', 'QRESYNC']);
export const ENABLE: Handler<EnableCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    const now: string[] = [];
    for (const c of cmd.capabilities) {
      const u = c.toUpperCase();
      if (ENABLEABLE.has(u) && !s.enabled.has(u)) {
        if (u === 'CONDSTORE' || u === 'QRESYNC') await enableCondstore(s);
        s.enabled.add(u);
        now.push(u);
      }
    }
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
