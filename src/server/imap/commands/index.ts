/** The command table: every IMAP command name the parser produces, to its handler. */
import type { ImapCommandName } from '../../../protocol/imap/index.js';
import type { Handler } from './types.js';
import { CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE } from './any-state.js';
import { STARTTLS, LOGIN, AUTHENTICATE } from './auth.js';
import { SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS } from './mailboxes.js';
import { LIST, LSUB } from './list.js';
import { APPEND } from './append.js';
import { CHECK, CLOSE, UNSELECT, EXPUNGE, STORE, COPY, MOVE, IDLE } from './selected-state.js';
import { FETCH } from './fetch.js';
import { SEARCH } from './search.js';
import { SORT } from './sort.js';
import { CANCELUPDATE } from './context.js';
import { THREAD } from './thread.js';
import { GETQUOTA, GETQUOTAROOT, SETQUOTA } from './quota.js';
import { COMPRESS } from './compress.js';
import { NOTIFY } from './notify.js';

export const handlers: Partial<Record<ImapCommandName, Handler<any>>> = {
  CAPABILITY,
  NOOP,
  LOGOUT,
  ID,
  ENABLE,
  NAMESPACE,
  STARTTLS,
  LOGIN,
  AUTHENTICATE,
  SELECT,
  EXAMINE,
  CREATE,
  DELETE,
  RENAME,
  SUBSCRIBE,
  UNSUBSCRIBE,
  LIST,
  LSUB,
  STATUS,
  APPEND,
  CHECK,
  CLOSE,
  UNSELECT,
  EXPUNGE,
  STORE,
  COPY,
  MOVE,
  IDLE,
  FETCH,
  SEARCH,
  SORT,
  CANCELUPDATE,
  THREAD,
  GETQUOTA,
  GETQUOTAROOT,
  SETQUOTA,
  COMPRESS,
  NOTIFY,
};
