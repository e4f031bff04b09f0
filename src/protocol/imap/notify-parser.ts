/**
 * NOTIFY (RFC 5465) command syntax, §8:
 *   notify           = "NOTIFY" SP (notify-set / notify-none)
 *   notify-none      = "NONE"
 *   notify-set       = "SET" [SP "STATUS"] SP event-groups
 *   event-groups     = event-group *(SP event-group)
 *   event-group      = "(" filter-mailboxes SP events ")"
 *   filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" / "subscribed" /
 *                      ("subtree" SP one-or-more-mailbox) / ("mailboxes" SP one-or-more-mailbox)
 *   one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
 *   events           = ("(" event *(SP event) ")") / "NONE"
 *   message-event    = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) / "MessageExpunge" /
 *                      "FlagChange" / "AnnotationChange"
 * Keywords are case-insensitive (§8). Semantic rules enforced here, all tagged BAD:
 *  - §5: MessageNew and MessageExpunge only together; FlagChange / AnnotationChange need both of them;
 *  - §6.1: at most one of SELECTED / SELECTED-DELAYED; only message events with them;
 *  - §5.2 / §8: fetch-att after MessageNew only in a SELECTED / SELECTED-DELAYED group.
 * Events this server does not offer (AnnotationChange, the METADATA events, unknown names) are a tagged
 * NO [BADEVENT (supported events)] (§3.1: NO, not BAD), checked after the syntax.
 */
import type { Lexer } from './lexer.js';
import { readMailbox, type ParseOptions } from './args.js';
import { readFetchAttribute } from './fetch.js';
import type { FetchAttribute } from './types.js';

export type NotifyFilterKind = 'SELECTED' | 'SELECTED-DELAYED' | 'INBOXES' | 'PERSONAL' | 'SUBSCRIBED' | 'SUBTREE' | 'MAILBOXES';

export type NotifyEventName =
  | 'MessageNew'
  | 'MessageExpunge'
  | 'FlagChange'
  | 'AnnotationChange'
  | 'MailboxName'
  | 'SubscriptionChange'
  | 'MailboxMetadataChange'
  | 'ServerMetadataChange';

/** The events this server can report (the BADEVENT list, RFC 5465 §3.1). METADATA is not offered. */
export const SUPPORTED_NOTIFY_EVENTS: readonly NotifyEventName[] = ['MessageNew', 'MessageExpunge', 'FlagChange', 'MailboxName', 'SubscriptionChange'];

const EVENT_NAMES = new Map<string, NotifyEventName>(
  (['MessageNew', 'MessageExpunge', 'FlagChange', 'AnnotationChange', 'MailboxName', 'SubscriptionChange', 'MailboxMetadataChange', 'ServerMetadataChange'] as const).map(
    (n) => [n.toUpperCase(), n],
  ),
);
const MESSAGE_EVENTS = new Set<NotifyEventName>(['MessageNew', 'MessageExpunge', 'FlagChange', 'AnnotationChange']);
const FILTERS = new Set<string>(['SELECTED', 'SELECTED-DELAYED', 'INBOXES', 'PERSONAL', 'SUBSCRIBED', 'SUBTREE', 'MAILBOXES']);

/** Bounds on what one command may ask for (the line length bounds it anyway; these keep the work small). */
const MAX_GROUPS = 64;
const MAX_MAILBOXES = 1000;

export interface NotifyEventGroup {
  readonly filter: NotifyFilterKind;
  /** SUBTREE / MAILBOXES: the names (decoded, INBOX normalised). */
  readonly mailboxes?: readonly string[];
  /** Empty for "NONE". */
  readonly events: readonly NotifyEventName[];
  /** MessageNew's fetch-att list (SELECTED / SELECTED-DELAYED only). */
  readonly fetchAtt?: readonly FetchAttribute[];
}

export interface NotifyCommand {
  readonly tag: string;
  readonly name: 'NOTIFY';
  /** null for NOTIFY NONE. */
  readonly set: null | { readonly status: boolean; readonly groups: readonly NotifyEventGroup[] };
}

export function parseNotify(lx: Lexer, tag: string, options: ParseOptions): NotifyCommand {
  lx.sp('NONE or SET');
  const word = lx.atom('NONE or SET').toUpperCase();
  if (word === 'NONE') {
    lx.end();
    return { tag, name: 'NOTIFY', set: null };
  }
  if (word !== 'SET') lx.fail('Expected NOTIFY NONE or NOTIFY SET');
  lx.sp('event groups');
  let status = false;
  if (lx.peek() !== 0x28) {
    const w = lx.atom('STATUS or event group').toUpperCase();
    if (w !== 'STATUS') lx.fail(`Expected STATUS or "(" after NOTIFY SET, got "${w.slice(0, 30)}"`);
    status = true;
    lx.sp('event groups');
  }
  const groups: NotifyEventGroup[] = [];
  let mailboxCount = 0;
  const unsupported: string[] = [];
  for (;;) {
    if (groups.length >= MAX_GROUPS) lx.fail('Too many event groups');
    lx.expect(0x28, '"(" starting an event group');
    lx.enter();
    const f = lx.atom('mailbox filter').toUpperCase();
    if (!FILTERS.has(f)) lx.fail(`Unknown mailbox filter "${f.slice(0, 30)}"`);
    const filter = f as NotifyFilterKind;
    let mailboxes: string[] | undefined;
    if (filter === 'SUBTREE' || filter === 'MAILBOXES') {
      lx.sp('mailbox names');
      mailboxes = lx.peek() === 0x28 ? lx.list(() => readMailbox(lx, options), false, 'mailbox list') : [readMailbox(lx, options)];
      mailboxCount += mailboxes.length;
      if (mailboxCount > MAX_MAILBOXES) lx.fail('Too many mailbox names');
    }
    lx.sp('events');
    const events: NotifyEventName[] = [];
    let fetchAtt: FetchAttribute[] | undefined;
    if (lx.peek() === 0x28) {
      lx.list(
        () => {
          const raw = lx.atom('event name');
          const ev = EVENT_NAMES.get(raw.toUpperCase());
          if (!ev) {
            // event-ext = atom: syntactically fine, but not an event we know (§3.1: NO [BADEVENT]).
            unsupported.push(raw);
            return;
          }
          if (events.includes(ev)) lx.fail(`Event ${ev} given twice`);
          events.push(ev);
          if (ev === 'MessageNew' && lx.peek() === 0x20 && lx.peek(1) === 0x28) {
            lx.sp('fetch attributes');
            fetchAtt = lx.list(() => readFetchAttribute(lx), false, 'fetch attribute list');
          }
        },
        false,
        'event list',
      );
    } else {
      const w = lx.atom('events').toUpperCase();
      if (w !== 'NONE') lx.fail('Expected an event list or NONE');
    }
    lx.expect(0x29, '")" ending the event group');
    lx.leave();
    const selected = filter === 'SELECTED' || filter === 'SELECTED-DELAYED';
    // RFC 5465 §6.1: one selected-mailbox filter per command; only message events with it.
    if (selected && groups.some((g) => g.filter === 'SELECTED' || g.filter === 'SELECTED-DELAYED')) {
      lx.fail('Only one of SELECTED and SELECTED-DELAYED may be given');
    }
    if (selected && events.some((e) => !MESSAGE_EVENTS.has(e))) lx.fail(`Only message events are allowed with ${filter}`);
    // RFC 5465 §5: MessageNew and MessageExpunge together; FlagChange/AnnotationChange need both.
    const hasNew = events.includes('MessageNew');
    const hasExp = events.includes('MessageExpunge');
    if (hasNew !== hasExp) lx.fail('MessageNew and MessageExpunge must be specified together');
    if ((events.includes('FlagChange') || events.includes('AnnotationChange')) && !(hasNew && hasExp)) {
      lx.fail('FlagChange and AnnotationChange require MessageNew and MessageExpunge');
    }
    // §8: the fetch-att list is for the selected mailbox only.
    if (fetchAtt && !selected) lx.fail('MessageNew fetch attributes are only allowed with SELECTED or SELECTED-DELAYED');
    groups.push({ filter, ...(mailboxes ? { mailboxes } : {}), events, ...(fetchAtt ? { fetchAtt } : {}) });
    if (lx.eof()) break;
    lx.sp('event group');
  }
  for (const g of groups) for (const e of g.events) if (!SUPPORTED_NOTIFY_EVENTS.includes(e)) unsupported.push(e);
  if (unsupported.length) {
    lx.fail(`Unsupported event ${unsupported[0]!.slice(0, 40)}`, 'NO', `BADEVENT (${SUPPORTED_NOTIFY_EVENTS.join(' ')})`);
  }
  return { tag, name: 'NOTIFY', set: { status, groups } };
}
