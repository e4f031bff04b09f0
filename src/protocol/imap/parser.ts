/**
 * IMAP command parser: one complete RawCommand (from reader.ts) -> a typed ImapCommand (types.ts).
 *
 *   const cmd = parseCommand(raw, { utf8Mailboxes: false });   // throws ImapParseError
 *   switch (cmd.name) { case 'FETCH': cmd.sequenceSet; cmd.items; ... }
 *
 * Also: `parseAppendHead` (used by the reader to describe an APPEND message before its literal
 * arrives), `isIdleDone` (the "DONE" line ending IDLE, RFC 2177 §3) and `continuationLine` (a
 * client's answer to an AUTHENTICATE challenge, RFC 3501 §6.2.2).
 *
 * Standards: RFC 3501 §6 (commands) and §9 (formal syntax: `command`, `command-any`,
 * `command-auth`, `command-nonauth`, `command-select`, `uid`); RFC 4959 (SASL-IR), RFC 5258
 * (LIST-EXTENDED), RFC 5819 (LIST-STATUS), RFC 6154 (SPECIAL-USE), RFC 3502 (MULTIAPPEND),
 * RFC 4315 (UID EXPUNGE), RFC 6851 (MOVE), RFC 2177 (IDLE), RFC 5161 (ENABLE), RFC 2971 (ID),
 * RFC 2342 (NAMESPACE), RFC 3691 (UNSELECT), RFC 7162 (CONDSTORE/QRESYNC parameters).
 * Untrusted input: all of it. Every failure is an ImapParseError; `err.tag` is set once the tag
 * was read, so the session answers `tag BAD msg` (or `* BAD msg`). A few are status NO with a
 * response code (SEARCH BADCHARSET). Nothing else is thrown for any input.
 */
import { Lexer, type ImapValue, type RawCommand, type StreamedLiteral } from './lexer.js';
import {
  decodeMailbox, readDateTime, readFlag, readFlagList, readMailbox, readSequenceSet, type ParseOptions,
} from './args.js';
import { readFetchItems, readFetchModifiers } from './fetch.js';
import { readSearchProgram } from './search.js';
import type {
  AppendHead, AppendMessage, CatenatePart, ImapCommand, QresyncParameter, StatusAttribute,
} from './types.js';
import { ImapParseError } from './errors.js';
import { parseExtension, EXT_UID_COMMANDS } from './ext-parser.js';

export type { ParseOptions } from './args.js';

const SIMPLE = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'IDLE', 'NAMESPACE', 'UNSELECT']);
const UID_COMMANDS = new Set(['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'EXPUNGE']);
const STATUS_ATTS = new Set<StatusAttribute>([
  'MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'SIZE', 'HIGHESTMODSEQ', 'DELETED', 'APPENDLIMIT',
]);
const LIST_SELECT_OPTS = new Set(['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE']);
const LIST_RETURN_OPTS = new Set(['SUBSCRIBED', 'CHILDREN', 'SPECIAL-USE', 'STATUS', 'MYRIGHTS']);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Bounds on untrusted input: messages in one MULTIAPPEND (RFC 3502), parts of one CATENATE (RFC 4469). */
export const MAX_APPEND_MESSAGES = 1000;
export const MAX_CATENATE_PARTS = 256;

/** Parse one complete command. Throws ImapParseError for anything malformed. */
export function parseCommand(raw: RawCommand, options: ParseOptions = {}): ImapCommand {
  const lx = new Lexer(raw, options);
  const tag = lx.readTag();
  lx.sp('command');
  let name = lx.atom('command name').toUpperCase();
  let uid = false;
  if (name === 'UID') {
    uid = true;
    lx.sp('command after UID');
    name = lx.atom('command name').toUpperCase();
    if (!UID_COMMANDS.has(name) && !EXT_UID_COMMANDS.has(name)) lx.fail(`UID ${name.slice(0, 20)} is not a valid command`);
  }
  const cmd = parseArguments(lx, tag, name, uid, options);
  lx.end();
  return cmd;
}

function parseArguments(lx: Lexer, tag: string, name: string, uid: boolean, options: ParseOptions): ImapCommand {
  if (SIMPLE.has(name)) return { tag, name: name as 'NOOP' };
  switch (name) {
    case 'AUTHENTICATE': {
      // RFC 3501 §9 authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] (RFC 4959)
      lx.sp('authentication mechanism');
      const mechanism = lx.atom('authentication mechanism').toUpperCase();
      if (lx.peek() !== 0x20) return { tag, name, mechanism };
      lx.sp('initial response');
      const initialResponse = lx.atom('initial response');
      if (initialResponse !== '=' && !BASE64.test(initialResponse)) lx.fail('Invalid base64 initial response');
      return { tag, name, mechanism, initialResponse };
    }
    case 'LOGIN': {
      // RFC 3501 §9 login = "LOGIN" SP userid SP password
      lx.sp('user name');
      const username = lx.astringText('user name');
      lx.sp('password');
      return { tag, name, username, password: lx.astringText('password') };
    }
    case 'SELECT':
    case 'EXAMINE':
      return parseSelect(lx, tag, name, options);
    case 'CREATE': {
      // RFC 3501 §9 create = "CREATE" SP mailbox; RFC 6154 §6 [SP "(" "USE" SP "(" use-attr ... ")" ")"]
      lx.sp('mailbox name');
      const mailbox = readMailbox(lx, options);
      const specialUse: string[] = [];
      if (lx.peek() === 0x20) {
        lx.sp('create parameters');
        lx.list(
          () => {
            const p = lx.atom('create parameter').toUpperCase();
            if (p !== 'USE') lx.fail(`Unknown CREATE parameter "${p.slice(0, 30)}"`);
            lx.sp('special-use attributes');
            specialUse.push(...lx.list(() => readFlag(lx), true, 'special-use attributes'));
          },
          false,
          'create parameters',
        );
      }
      return { tag, name, mailbox, specialUse };
    }
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE':
      // RFC 3501 §9 delete / subscribe / unsubscribe = name SP mailbox
      lx.sp('mailbox name');
      return { tag, name, mailbox: readMailbox(lx, options) };
    case 'RENAME': {
      // RFC 3501 §9 rename = "RENAME" SP mailbox SP mailbox
      lx.sp('mailbox name');
      const mailbox = readMailbox(lx, options);
      lx.sp('new mailbox name');
      return { tag, name, mailbox, newMailbox: readMailbox(lx, options) };
    }
    case 'LIST':
    case 'LSUB':
      return parseList(lx, tag, name, options);
    case 'STATUS': {
      // RFC 3501 §9 status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
      lx.sp('mailbox name');
      const mailbox = readMailbox(lx, options);
      lx.sp('status items');
      return { tag, name, mailbox, items: readStatusAtts(lx) };
    }
    case 'APPEND':
      return parseAppend(lx, tag, options, false) as ImapCommand;
    case 'EXPUNGE':
      // RFC 3501 §9 expunge = "EXPUNGE"; RFC 4315 uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
      if (!uid) return { tag, name, uid };
      lx.sp('sequence set');
      return { tag, name, uid, sequenceSet: readSequenceSet(lx) };
    case 'SEARCH':
      return { tag, name, uid, ...readSearchProgram(lx) };
    case 'FETCH': {
      // RFC 3501 §9 fetch = "FETCH" SP sequence-set SP (macro / fetch-att / "(" fetch-att ... ")")
      // RFC 4466 §2.4 [fetch-modifiers]
      lx.sp('sequence set');
      const sequenceSet = readSequenceSet(lx);
      lx.sp('fetch items');
      const { items, macro } = readFetchItems(lx);
      const mods = lx.peek() !== 0x20 ? { vanished: false } : (lx.sp('fetch modifiers'), readFetchModifiers(lx));
      if (mods.vanished && (!uid || mods.changedSince === undefined)) {
        lx.fail('VANISHED requires UID FETCH with CHANGEDSINCE'); // RFC 7162 §3.2.6
      }
      return { tag, name, uid, sequenceSet, items, ...(macro ? { macro } : {}), ...mods };
    }
    case 'STORE':
      return parseStore(lx, tag, uid);
    case 'COPY':
    case 'MOVE': {
      // RFC 3501 §9 copy = "COPY" SP sequence-set SP mailbox; RFC 6851 §4 move likewise
      lx.sp('sequence set');
      const sequenceSet = readSequenceSet(lx);
      lx.sp('mailbox name');
      return { tag, name, uid, sequenceSet, mailbox: readMailbox(lx, options) };
    }
    case 'ID': {
      // RFC 2971 §4 id = "ID" SP id_params_list; id_params_list = "(" *(string SP nstring) ")" / nil
      lx.sp('ID parameters');
      if (lx.peek() !== 0x28) {
        if (lx.atom('ID parameters').toUpperCase() !== 'NIL') lx.fail('Expected ID parameter list or NIL');
        return { tag, name, parameters: null };
      }
      const parameters: Array<[string, string | null]> = [];
      lx.list(
        () => {
          const key = lx.string('ID field name').toString('utf8');
          lx.sp('ID field value');
          const value = lx.nstring('ID field value');
          parameters.push([key, value === null ? null : value.toString('utf8')]);
        },
        true,
        'ID parameter list',
      );
      if (parameters.length > 30) lx.fail('Too many ID parameters'); // RFC 2971 §3.3
      return { tag, name, parameters };
    }
    case 'ENABLE': {
      // RFC 5161 §4 command-any =/ "ENABLE" 1*(SP capability)
      const capabilities: string[] = [];
      do {
        lx.sp('capability');
        capabilities.push(lx.atom('capability').toUpperCase());
      } while (lx.peek() === 0x20);
      return { tag, name, capabilities };
    }
    default:
      return parseExtension(lx, tag, name, uid, options) ?? lx.fail(`Unknown command "${name.slice(0, 30)}"`);
  }
}

/** RFC 3501 §9 select = "SELECT" SP mailbox; RFC 4466 §2.1 [select-params]; RFC 7162 §7 CONDSTORE/QRESYNC */
function parseSelect(lx: Lexer, tag: string, name: 'SELECT' | 'EXAMINE', options: ParseOptions): ImapCommand {
  lx.sp('mailbox name');
  const mailbox = readMailbox(lx, options);
  let condStore = false;
  let qresync: QresyncParameter | undefined;
  const parameters: ImapValue[] = [];
  if (lx.peek() === 0x20) {
    lx.sp('select parameters');
    lx.list(
      () => {
        const p = lx.atom('select parameter').toUpperCase();
        if (p === 'CONDSTORE') condStore = true;
        else if (p === 'QRESYNC') {
          lx.sp('QRESYNC parameters');
          qresync = readQresync(lx);
        } else {
          parameters.push({ type: 'atom', value: p });
          if (lx.peek() === 0x20) {
            lx.sp('select parameter value');
            parameters.push(lx.value());
          }
        }
      },
      false,
      'select parameters',
    );
  }
  return { tag, name, mailbox, condStore, ...(qresync ? { qresync } : {}), parameters };
}

/** RFC 7162 §7 "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")" */
function readQresync(lx: Lexer): QresyncParameter {
  lx.expect(0x28, '"(" for QRESYNC parameters');
  lx.enter();
  const uidValidity = lx.nzNumber('UIDVALIDITY');
  lx.sp('mod-sequence');
  const out: { -readonly [K in keyof QresyncParameter]: QresyncParameter[K] } = { uidValidity, modSeq: lx.number64() };
  if (lx.take(0x20) && lx.peek() !== 0x28) {
    out.knownUids = readSequenceSet(lx);
    lx.take(0x20);
  }
  if (lx.peek() === 0x28) {
    lx.take(0x28);
    lx.enter();
    out.knownSequenceSet = readSequenceSet(lx);
    lx.sp('known UID set');
    out.knownUidSet = readSequenceSet(lx);
    lx.expect(0x29, '")"');
    lx.leave();
  }
  lx.expect(0x29, '")" after QRESYNC parameters');
  lx.leave();
  return out;
}

function readStatusAtts(lx: Lexer): StatusAttribute[] {
  return lx.list(
    () => {
      const a = lx.atom('status item').toUpperCase() as StatusAttribute;
      if (!STATUS_ATTS.has(a)) lx.fail(`Unknown status item "${a.slice(0, 30)}"`);
      return a;
    },
    false,
    'status items',
  );
}

/**
 * RFC 3501 §9 list = "LIST" SP mailbox SP list-mailbox; lsub likewise.
 * RFC 5258 §6: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
 */
function parseList(lx: Lexer, tag: string, name: 'LIST' | 'LSUB', options: ParseOptions): ImapCommand {
  lx.sp('reference name');
  let extended = false;
  const selectionOptions: string[] = [];
  if (name === 'LIST' && lx.peek() === 0x28) {
    extended = true;
    selectionOptions.push(...lx.list(() => {
      const o = lx.atom('selection option').toUpperCase();
      if (!LIST_SELECT_OPTS.has(o)) lx.fail(`Unknown LIST selection option "${o.slice(0, 30)}"`);
      return o;
    }, true, 'selection options'));
    lx.sp('reference name');
  }
  const reference = decodeMailbox(lx.astring('reference name'), options, lx.tag, true);
  lx.sp('mailbox pattern');
  const patterns: string[] = [];
  const pattern = (): string => decodeMailbox(lx.listMailbox(), options, lx.tag, true);
  if (name === 'LIST' && lx.peek() === 0x28) {
    extended = true;
    patterns.push(...lx.list(pattern, false, 'mailbox patterns'));
  } else {
    patterns.push(pattern());
  }
  const returnOptions: string[] = [];
  let returnStatus: StatusAttribute[] | undefined;
  if (name === 'LIST' && lx.peek() === 0x20) {
    extended = true;
    lx.sp('RETURN');
    if (lx.atom('RETURN').toUpperCase() !== 'RETURN') lx.fail('Expected RETURN');
    lx.sp('return options');
    lx.list(() => {
      const o = lx.atom('return option').toUpperCase();
      if (!LIST_RETURN_OPTS.has(o)) lx.fail(`Unknown LIST return option "${o.slice(0, 30)}"`);
      returnOptions.push(o);
      if (o === 'STATUS') {
        lx.sp('status items');
        returnStatus = readStatusAtts(lx);
      }
    }, true, 'return options');
  }
  return {
    tag, name, reference, patterns, selectionOptions, returnOptions, ...(returnStatus ? { returnStatus } : {}), extended,
  };
}

/** RFC 3501 §9 store = "STORE" SP sequence-set [store-modifiers (RFC 7162)] SP store-att-flags */
function parseStore(lx: Lexer, tag: string, uid: boolean): ImapCommand {
  lx.sp('sequence set');
  const sequenceSet = readSequenceSet(lx);
  lx.sp('store item');
  let unchangedSince: bigint | undefined;
  if (lx.peek() === 0x28) {
    lx.list(() => {
      const m = lx.atom('store modifier').toUpperCase();
      if (m !== 'UNCHANGEDSINCE') lx.fail(`Unknown store modifier "${m.slice(0, 30)}"`);
      lx.sp('mod-sequence');
      unchangedSince = lx.number64();
    }, false, 'store modifiers');
    lx.sp('store item');
  }
  // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
  const action = lx.take(0x2b) ? 'add' : lx.take(0x2d) ? 'remove' : 'set';
  const item = lx.atom('store item').toUpperCase();
  if (item !== 'FLAGS' && item !== 'FLAGS.SILENT') lx.fail(`Unknown store item "${item.slice(0, 30)}"`);
  lx.sp('flags');
  let flags: string[];
  if (lx.peek() === 0x28) flags = readFlagList(lx);
  else {
    flags = [readFlag(lx)];
    while (lx.peek() === 0x20) {
      lx.sp('flag');
      flags.push(readFlag(lx));
    }
  }
  return {
    tag, name: 'STORE', uid, sequenceSet, action, silent: item === 'FLAGS.SILENT', flags,
    ...(unchangedSince !== undefined ? { unchangedSince } : {}),
  };
}

/**
 * RFC 3501 §9 append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal;
 * RFC 3502 MULTIAPPEND repeats the message part; RFC 3516 allows literal8; RFC 4469 CATENATE (parts).
 * With `head` true the command ends with a pending literal: returns its AppendHead, or null when
 * the pending literal is the mailbox name itself.
 */
function parseAppend(lx: Lexer, tag: string, options: ParseOptions, head: boolean): ImapCommand | AppendHead | null {
  lx.sp('mailbox name');
  if (head && lx.atPendingLiteral()) return null;
  const mailbox = readMailbox(lx, options);
  const messages: AppendMessage[] = [];
  do {
    if (messages.length >= MAX_APPEND_MESSAGES) lx.fail(`Too many messages in one APPEND (at most ${MAX_APPEND_MESSAGES})`);
    lx.sp('message literal');
    let flags: string[] = [];
    let internalDate: Date | undefined;
    if (lx.peek() === 0x28) {
      flags = readFlagList(lx);
      lx.sp('message literal');
    }
    if (lx.peek() === 0x22) {
      internalDate = readDateTime(lx);
      lx.sp('message literal');
    }
    const date = internalDate ? { internalDate } : {};
    if (!lx.atLiteral() && nextWordIs(lx, 'CATENATE')) {
      // RFC 4469 §5 append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"
      // cat-part = text-literal / url; text-literal = "TEXT" SP literal; url = "URL" SP astring
      lx.atom('CATENATE');
      lx.sp('CATENATE parts');
      lx.expect(0x28, '"(" for CATENATE parts');
      lx.enter();
      const parts: CatenatePart[] = [];
      for (;;) {
        if (parts.length >= MAX_CATENATE_PARTS) lx.fail(`Too many CATENATE parts (at most ${MAX_CATENATE_PARTS})`);
        const kind = lx.atom('CATENATE part').toUpperCase();
        lx.sp(kind === 'URL' ? 'URL' : 'literal');
        if (kind === 'URL') {
          if (head && lx.atPendingLiteral()) return null; // a URL sent as a literal: buffered like any other
          parts.push({ type: 'URL', url: lx.astringText('URL') });
        } else if (kind === 'TEXT') {
          if (!lx.atLiteral()) lx.fail('Expected a literal after TEXT');
          const t = lx.literalToken();
          if (t.value === 'pending') {
            return {
              tag, mailbox, flags, ...date, messageIndex: messages.length, binary: t.binary, previous: messages,
              catenate: { index: parts.length, before: parts },
            };
          }
          parts.push({ type: 'TEXT', literal: t.value, binary: t.binary });
        } else {
          lx.fail(`Unknown CATENATE part "${kind.slice(0, 30)}"`);
        }
        if (lx.take(0x29)) break;
        lx.sp('CATENATE part');
      }
      lx.leave();
      messages.push({ flags, ...date, literal: null, binary: false, catenate: parts });
      continue;
    }
    if (!lx.atLiteral()) lx.fail('Expected message literal');
    const t = lx.literalToken();
    if (t.value === 'pending') {
      return { tag, mailbox, flags, ...date, messageIndex: messages.length, binary: t.binary, previous: messages };
    }
    messages.push({ flags, ...date, literal: t.value, binary: t.binary });
  } while (!lx.eof());
  if (head) lx.fail('APPEND head has no pending literal');
  return { tag, name: 'APPEND', mailbox, messages };
}

/** Is the next word (followed by SP) `word`, in any case? Does not consume. */
function nextWordIs(lx: Lexer, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = lx.peek(i);
    if (c < 0 || String.fromCharCode(c).toUpperCase() !== word[i]) return false;
  }
  return lx.peek(word.length) === 0x20;
}

/**
 * Describe the APPEND message whose literal is announced at the end of `partial` (the command so
 * far, its last segment ending with the literal spec). Returns null if that literal is the mailbox
 * name rather than a message. Throws ImapParseError for malformed input. Used by the reader.
 */
export function parseAppendHead(partial: RawCommand, options: ParseOptions = {}): AppendHead | null {
  const lx = new Lexer(partial, { ...options, allowPending: true });
  const tag = lx.readTag();
  lx.sp('command');
  if (lx.atom('command name').toUpperCase() !== 'APPEND') lx.fail('Not an APPEND command');
  return parseAppend(lx, tag, options, true) as AppendHead | null;
}

/** The whole command as one line of text (literals not included); for IDLE/AUTHENTICATE replies. */
export function continuationLine(raw: RawCommand): string {
  return raw.segments.length === 1 ? raw.segments[0]!.toString('latin1') : '';
}

/** RFC 2177 §3: while idling, the client ends IDLE with "DONE" (case-insensitive). */
export function isIdleDone(raw: RawCommand): boolean {
  return continuationLine(raw).toUpperCase() === 'DONE';
}

/** True if the streamed literal placeholder came from the reader (for AppendMessage.literal). */
export function isStreamedLiteral(v: Buffer | StreamedLiteral): v is StreamedLiteral {
  return !Buffer.isBuffer(v);
}

/** Best-effort tag of a raw command, for `tag BAD` when parsing failed before the tag was stored. */
export function rawTag(raw: RawCommand): string | undefined {
  try {
    return new Lexer(raw).readTag();
  } catch (err) {
    if (err instanceof ImapParseError) return undefined;
    throw err;
  }
}
