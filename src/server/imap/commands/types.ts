/**
 * The shape of a command handler: the states it is allowed in (RFC 3501 §6) and what it runs. It returns the text
 * of the tagged OK (optionally with a response code), or null when it wrote the tagged response itself.
 */
import type { ImapCommand } from '../../../protocol/imap/index.js';
import type { ImapSession, ImapState } from '../session.js';

export type HandlerResult = string | { text: string; code?: string } | null;

export interface Handler<C extends ImapCommand = ImapCommand> {
  states: readonly ImapState[];
  run(session: ImapSession, cmd: C): Promise<HandlerResult>;
}

export const ANY: readonly ImapState[] = ['notauth', 'auth', 'selected'];
export const NOT_AUTH: readonly ImapState[] = ['notauth'];
export const AUTHED: readonly ImapState[] = ['auth', 'selected'];
export const SELECTED: readonly ImapState[] = ['selected'];
