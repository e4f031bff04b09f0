/** The mail store: see store.ts for the API and its invariants. */
export * from './store.js';
export { MailStoreError, type MailStoreErrorCode } from './errors.js';
export { UNKNOWN_DATE } from './record.js';
export {
  HIERARCHY_SEPARATOR,
  MAX_DEPTH,
  MAX_NAME_CHARS,
  MailboxNameError,
  normalizeMailboxName,
  encodeDir,
  decodeDir,
  isInbox,
} from './names.js';
export { storable } from './sort-keys.js';
export { parseFlags, flagsToList, SEEN, ANSWERED, FLAGGED, DELETED, DRAFT, PASSED } from './flags.js';
