/** CANCELUPDATE (RFC 5267 §4.3): end the UPDATE notifications of the searches with these tags. */
import type { CancelUpdateCommand } from '../../../protocol/imap/index.js';
import { SELECTED, type Handler } from './types.js';
import { no } from '../errors.js';

export const CANCELUPDATE: Handler<CancelUpdateCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    // As Dovecot: a tag that names no active context is NO (and nothing is cancelled).
    if (cmd.tags.some((t) => !sel.contexts.has(t))) throw no('Unknown tag');
    for (const t of cmd.tags) sel.contexts.delete(t);
    return 'Updates cancelled';
  },
};
