/**
 * Typed IMAP commands as produced by `parseCommand` (parser.ts). One interface per command, told
 * apart by `name` (upper case). Names, fields and units follow RFC 3501 §6 and the extension RFCs.
 *
 * Conventions:
 *  - mailbox names are Unicode strings, already decoded from modified UTF-7 (RFC 3501 §5.1.3) and
 *    with "INBOX" in any case normalized to "INBOX" (RFC 3501 §5.1);
 *  - flags: system flags normalized to their RFC spelling ("\seen" -> "\Seen"), keywords kept as sent;
 *  - mod-sequences (RFC 7162) are bigint; sizes, UIDs and sequence numbers are number;
 *  - SEARCH dates are Date at 00:00 UTC of the given day; APPEND date-time is an instant.
 * No behaviour here: the session decides what each command does and in which state it is allowed.
 */
import type { StreamedLiteral, ImapValue } from './lexer.js';
import type { SequenceSet } from './sequence.js';
import type { NotifyCommand } from './notify-parser.js';

interface Base {
  readonly tag: string;
}

/** Commands without arguments (RFC 3501 §6.1.1-3, §6.2.1, §6.4.1-2, RFC 2177 IDLE, RFC 2342, RFC 3691). */
export interface SimpleCommand extends Base {
  readonly name: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'IDLE' | 'NAMESPACE' | 'UNSELECT';
}

/** RFC 3501 §6.2.2; RFC 4959 SASL-IR initial response (base64 text, "=" for an empty one). */
export interface AuthenticateCommand extends Base {
  readonly name: 'AUTHENTICATE';
  readonly mechanism: string;
  readonly initialResponse?: string;
}

/** RFC 3501 §6.2.3 */
export interface LoginCommand extends Base {
  readonly name: 'LOGIN';
  readonly username: string;
  readonly password: string;
}

/** RFC 7162 §3.2.5 QRESYNC select parameter. */
export interface QresyncParameter {
  readonly uidValidity: number;
  readonly modSeq: bigint;
  readonly knownUids?: SequenceSet;
  readonly knownSequenceSet?: SequenceSet;
  readonly knownUidSet?: SequenceSet;
}

/** RFC 3501 §6.3.1-2, RFC 4466 select-params (CONDSTORE, QRESYNC of RFC 7162). */
export interface SelectCommand extends Base {
  readonly name: 'SELECT' | 'EXAMINE';
  readonly mailbox: string;
  readonly condStore: boolean;
  readonly qresync?: QresyncParameter;
  /** Other parameters, checked only syntactically. */
  readonly parameters: readonly ImapValue[];
}

/** RFC 3501 §6.3.3; RFC 6154 §3 CREATE-SPECIAL-USE `(USE (\Drafts))`. */
export interface CreateCommand extends Base {
  readonly name: 'CREATE';
  readonly mailbox: string;
  readonly specialUse: readonly string[];
}

/** RFC 3501 §6.3.4, §6.3.6-7 */
export interface MailboxCommand extends Base {
  readonly name: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE';
  readonly mailbox: string;
}

/** RFC 3501 §6.3.5 */
export interface RenameCommand extends Base {
  readonly name: 'RENAME';
  readonly mailbox: string;
  readonly newMailbox: string;
}

/** RFC 3501 §6.3.8-9 LIST/LSUB; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS; RFC 6154 SPECIAL-USE. */
export interface ListCommand extends Base {
  readonly name: 'LIST' | 'LSUB';
  /** Reference name, decoded (may be ""). */
  readonly reference: string;
  /** One or more patterns (with "%" and "*" wildcards), decoded. LSUB always has exactly one. */
  readonly patterns: readonly string[];
  /** RFC 5258 selection options, upper case: SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE. */
  readonly selectionOptions: readonly string[];
  /** RFC 5258 return options, upper case: SUBSCRIBED CHILDREN SPECIAL-USE STATUS MYRIGHTS. */
  readonly returnOptions: readonly string[];
  /** The items of `RETURN (STATUS (...))` (RFC 5819), when present. */
  readonly returnStatus?: readonly StatusAttribute[];
  /** True when the LIST-EXTENDED syntax (selection or return options, several patterns) was used. */
  readonly extended: boolean;
}

/** RFC 3501 §6.3.10 status-att; RFC 8438 SIZE; RFC 7162 HIGHESTMODSEQ; RFC 9051 DELETED. */
export type StatusAttribute =
  | 'MESSAGES' | 'RECENT' | 'UIDNEXT' | 'UIDVALIDITY' | 'UNSEEN' | 'SIZE' | 'HIGHESTMODSEQ' | 'DELETED' | 'APPENDLIMIT';

/** RFC 3501 §6.3.10 */
export interface StatusCommand extends Base {
  readonly name: 'STATUS';
  readonly mailbox: string;
  readonly items: readonly StatusAttribute[];
}

/** One part of a CATENATE list (RFC 4469 §5 cat-part): literal text or an IMAP URL (RFC 5092) to copy from. */
export type CatenatePart =
  | { readonly type: 'URL'; readonly url: string }
  | { readonly type: 'TEXT'; readonly literal: Buffer | StreamedLiteral; readonly binary: boolean };

/** One message of APPEND (RFC 3501 §6.3.11; RFC 3502 MULTIAPPEND gives several; RFC 4469 CATENATE). */
export interface AppendMessage {
  readonly flags: readonly string[];
  readonly internalDate?: Date;
  /** The message bytes when buffered, or the placeholder of a literal the reader streamed; null with CATENATE. */
  readonly literal: Buffer | StreamedLiteral | null;
  /** Sent as literal8 `~{N}` (RFC 3516 §4.4). */
  readonly binary: boolean;
  /** RFC 4469 CATENATE: the parts the message is made of (then `literal` is null). */
  readonly catenate?: readonly CatenatePart[];
}

export interface AppendCommand extends Base {
  readonly name: 'APPEND';
  readonly mailbox: string;
  readonly messages: readonly AppendMessage[];
}

/** RFC 3501 §6.4.3 EXPUNGE; RFC 4315 §2.1 UID EXPUNGE sequence-set. */
export interface ExpungeCommand extends Base {
  readonly name: 'EXPUNGE';
  readonly uid: boolean;
  /** Only for UID EXPUNGE. */
  readonly sequenceSet?: SequenceSet;
}

/** RFC 3501 §6.4.4 SEARCH; RFC 4731 ESEARCH `RETURN (...)`; RFC 5182 SAVE. */
export interface SearchCommand extends Base {
  readonly name: 'SEARCH';
  readonly uid: boolean;
  /** Upper-case charset when given; only UTF-8 and US-ASCII get this far. */
  readonly charset?: string;
  /** Upper-case return options (MIN MAX ALL COUNT SAVE; RFC 5267 UPDATE CONTEXT PARTIAL); undefined if no RETURN. */
  readonly returnOptions?: readonly string[];
  /** RFC 5267 §4.4 PARTIAL low:high. */
  readonly partial?: { readonly low: number; readonly high: number };
  /** The criteria: always an AND node (RFC 3501 §6.4.4: keys are ANDed). */
  readonly criteria: SearchKey;
}

/** RFC 5267 §4.3 CANCELUPDATE "tag" ...: stop the UPDATE notifications of those searches. */
export interface CancelUpdateCommand extends Base {
  readonly name: 'CANCELUPDATE';
  readonly tags: readonly string[];
}

/** The typed SEARCH tree (RFC 3501 §6.4.4; RFC 7162 §3.1.5 MODSEQ; RFC 5032 OLDER/YOUNGER). */
export type SearchKey =
  | { readonly type: 'ALL' }
  | { readonly type: 'AND'; readonly keys: readonly SearchKey[] }
  | { readonly type: 'OR'; readonly left: SearchKey; readonly right: SearchKey }
  | { readonly type: 'NOT'; readonly key: SearchKey }
  /** ANSWERED DELETED DRAFT FLAGGED RECENT SEEN KEYWORD (present) and their UN- forms; OLD = \Recent absent. */
  | { readonly type: 'FLAG'; readonly flag: string; readonly present: boolean }
  /** FROM TO CC BCC SUBJECT (field upper case) and HEADER field-name string (field as sent). */
  | { readonly type: 'HEADER'; readonly field: string; readonly value: string }
  | { readonly type: 'BODY' | 'TEXT'; readonly value: string }
  /** BEFORE ON SINCE use the internal date; SENTBEFORE SENTON SENTSINCE the Date: header. */
  | { readonly type: 'DATE'; readonly field: 'internal' | 'sent'; readonly comparison: 'before' | 'on' | 'since'; readonly date: Date }
  | { readonly type: 'SIZE'; readonly comparison: 'larger' | 'smaller'; readonly size: number }
  | { readonly type: 'AGE'; readonly comparison: 'older' | 'younger'; readonly seconds: number }
  | { readonly type: 'SEQUENCE'; readonly set: SequenceSet }
  | { readonly type: 'UID'; readonly set: SequenceSet }
  | { readonly type: 'MODSEQ'; readonly modSeq: bigint; readonly entryName?: string; readonly entryType?: string };

/** RFC 3501 §6.4.5 section: part path plus an optional specifier. */
export interface BodySection {
  /** Part numbers, e.g. [1, 2] for "1.2"; [] for the whole message. */
  readonly part: readonly number[];
  readonly specifier?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** For HEADER.FIELDS[.NOT]: field names as sent. */
  readonly fields?: readonly string[];
}

/** `<start.length>` of RFC 3501 §6.4.5 */
export interface Partial {
  readonly start: number;
  readonly length: number;
}

/** RFC 3501 §6.4.5 fetch-att; RFC 7162 MODSEQ; RFC 3516 BINARY. */
export type FetchAttribute =
  | {
      readonly type:
        | 'FLAGS' | 'INTERNALDATE' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.SIZE' | 'RFC822.TEXT'
        | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'UID' | 'MODSEQ';
    }
  /** BODY[section]<partial> and BODY.PEEK[...] (peek: do not set \Seen). */
  | { readonly type: 'BODY[]'; readonly peek: boolean; readonly section: BodySection; readonly partial?: Partial }
  /** RFC 3516 BINARY[part]<partial> and BINARY.PEEK[...] */
  | { readonly type: 'BINARY[]'; readonly peek: boolean; readonly part: readonly number[]; readonly partial?: Partial }
  /** RFC 3516 BINARY.SIZE[part] */
  | { readonly type: 'BINARY.SIZE'; readonly part: readonly number[] };

/** RFC 3501 §6.4.5 FETCH; RFC 7162 §3.1.4 CHANGEDSINCE and §3.2.6 VANISHED modifiers. */
export interface FetchCommand extends Base {
  readonly name: 'FETCH';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  /** Items in request order, macros expanded. UID FETCH does not add UID here; the session must. */
  readonly items: readonly FetchAttribute[];
  /** ALL / FAST / FULL when one was used. */
  readonly macro?: 'ALL' | 'FAST' | 'FULL';
  readonly changedSince?: bigint;
  readonly vanished: boolean;
}

/** RFC 3501 §6.4.6 STORE; RFC 7162 §3.1.3 UNCHANGEDSINCE. */
export interface StoreCommand extends Base {
  readonly name: 'STORE';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  /** FLAGS (replace), +FLAGS (add), -FLAGS (remove). */
  readonly action: 'set' | 'add' | 'remove';
  /** .SILENT: no untagged FETCH for the changed flags. */
  readonly silent: boolean;
  readonly flags: readonly string[];
  readonly unchangedSince?: bigint;
}

/** RFC 3501 §6.4.7 COPY; RFC 6851 MOVE. */
export interface CopyCommand extends Base {
  readonly name: 'COPY' | 'MOVE';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  readonly mailbox: string;
}

/** RFC 2971 ID: null for "ID NIL", else field/value pairs in order (value null for NIL). */
export interface IdCommand extends Base {
  readonly name: 'ID';
  readonly parameters: ReadonlyArray<readonly [string, string | null]> | null;
}

/** RFC 5161 ENABLE: capability names, upper case. */
export interface EnableCommand extends Base {
  readonly name: 'ENABLE';
  readonly capabilities: readonly string[];
}

/** RFC 5256 §3 sort-key with RFC 5957 DISPLAYFROM/DISPLAYTO. */
export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

/** RFC 5256 §3 SORT / UID SORT: sort criteria (REVERSE applies to the key after it), charset, search criteria. */
export interface SortCommand extends Base {
  readonly name: 'SORT';
  readonly uid: boolean;
  readonly sortCriteria: ReadonlyArray<{ readonly key: SortKey; readonly reverse: boolean }>;
  readonly charset: string;
  readonly criteria: SearchKey;
  /** RFC 5267 §3 ESORT: `SORT RETURN (...)`; undefined for a plain SORT. */
  readonly returnOptions?: readonly string[];
  readonly partial?: { readonly low: number; readonly high: number };
}

/** RFC 5256 §3 THREAD / UID THREAD. */
export interface ThreadCommand extends Base {
  readonly name: 'THREAD';
  readonly uid: boolean;
  readonly algorithm: 'ORDEREDSUBJECT' | 'REFERENCES';
  readonly charset: string;
  readonly criteria: SearchKey;
}

/** RFC 9208 §4.2-4.3 GETQUOTA quota-root / GETQUOTAROOT mailbox; §4.4 SETQUOTA (resources parsed, refused). */
export interface QuotaCommand extends Base {
  readonly name: 'GETQUOTA' | 'GETQUOTAROOT' | 'SETQUOTA';
  /** Quota root for GETQUOTA/SETQUOTA, mailbox name for GETQUOTAROOT. */
  readonly root: string;
  readonly limits?: ReadonlyArray<readonly [string, number]>;
}

/** RFC 4978 §3 COMPRESS: the algorithm, upper case (only DEFLATE is defined). */
export interface CompressCommand extends Base {
  readonly name: 'COMPRESS';
  readonly algorithm: string;
}

export type ImapCommand =
  | SimpleCommand | AuthenticateCommand | LoginCommand | SelectCommand | CreateCommand | MailboxCommand
  | RenameCommand | ListCommand | StatusCommand | AppendCommand | ExpungeCommand | SearchCommand
  | FetchCommand | StoreCommand | CopyCommand | IdCommand | EnableCommand
  | SortCommand | ThreadCommand | QuotaCommand | CompressCommand | CancelUpdateCommand | NotifyCommand;

export type ImapCommandName = ImapCommand['name'];

/** What the reader learns of an APPEND message before its literal arrives (see reader.ts). */
export interface AppendHead {
  readonly tag: string;
  readonly mailbox: string;
  readonly flags: readonly string[];
  readonly internalDate?: Date;
  /** 0 for the first message; MULTIAPPEND (RFC 3502) counts up. */
  readonly messageIndex: number;
  readonly binary: boolean;
  /** The complete messages before this one (MULTIAPPEND). */
  readonly previous?: readonly AppendMessage[];
  /** RFC 4469: the pending literal is the TEXT part `index` of a CATENATE list; `before` are the parts before it. */
  readonly catenate?: { readonly index: number; readonly before: readonly CatenatePart[] };
}
