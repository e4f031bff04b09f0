/**
 * NOTIFY (RFC 5465) state of one session: which events the client asked for, the store subscriptions that
 * deliver them, and the bounded queue of notifications not yet written.
 *
 * What is sent (RFC 5465 §5):
 *  - selected mailbox (SELECTED / SELECTED-DELAYED, §6.1): EXISTS, FETCH with the MessageNew fetch-att (§5.2),
 *    EXPUNGE (§5.3), FETCH FLAGS (§5.1) — pushed between commands as changes happen (SelectedMailbox.reportChanges).
 *    SELECTED-DELAYED keeps RFC 3501 §7.4.1: an EXPUNGE is never sent between commands, only at the end of a command
 *    that may report it (§6.1.2); while one waits, only new mail is pushed (flag changes come with the next command). With SELECTED + MessageExpunge, EXPUNGE is sent at once and at the end of every
 *    command, FETCH/STORE/SEARCH with sequence numbers included: the client has agreed not to use MSNs (§5.3) and
 *    '*' (§5.2); the server still interprets them against the view it has reported, as RFC 3501 requires.
 *  - other mailboxes matched by INBOXES / PERSONAL / SUBSCRIBED / SUBTREE / MAILBOXES (§6.2-§6.6):
 *    "* STATUS name (MESSAGES n UIDNEXT n UNSEEN n)", plus HIGHESTMODSEQ when CONDSTORE/QRESYNC is enabled (§5.2).
 *  - MailboxName (§5.4): "* LIST" for a created mailbox, "* LIST (\NonExistent)" for a deleted one, and for a
 *    rename the new name with ("OLDNAME" ("old")) (RFC 5258 extended LIST data).
 *  - SubscriptionChange (§5.5): "* LIST" with \Subscribed iff the mailbox is subscribed afterwards.
 * Changes this session made itself are not echoed (§5 "SHOULD omit notifying the client if the event is caused by
 * this client"): store events whose origin is this session or its selected mailbox, and mailbox-list events that
 * happen while this session's own CREATE/DELETE/RENAME/(UN)SUBSCRIBE runs and concern the names it named.
 * NOTIFY survives SELECT/UNSELECT/CLOSE (§6.1: SELECTED means "whatever mailbox is selected").
 *
 * Bounded memory: at most NOTIFY_LIMITS.maxMailboxes watched mailboxes (more: NOTIFY SET is refused with
 * NO [NOTIFICATIONOVERFLOW], §3.1); pending STATUS are one entry per mailbox; pending LIST responses at most
 * NOTIFY_LIMITS.maxPending; and when the client does not read (socket backlog over maxBacklogBytes) or the queue is
 * full, the session gets "* OK [NOTIFICATIONOVERFLOW]" and behaves as after NOTIFY NONE (§5.8).
 */
import type { FetchAttribute, ImapCommand, NotifyCommand, NotifyEventName, NotifyFilterKind } from '../../protocol/imap/index.js';
import type { MailboxEvent, MailboxListEntry, UserEvent } from '../../store/mail/index.js';
import type { ImapSession } from './session.js';
import type { SelectedMailbox } from './selected.js';
import { mailboxNameOut } from './commands/mailboxes.js';
import { FETCH } from './commands/fetch.js';
import { no } from './errors.js';

/** Tunable for tests; the defaults keep a session's NOTIFY state small. */
export const NOTIFY_LIMITS = {
  /** Mailboxes one session may watch for message events (STATUS notifications). */
  maxMailboxes: 1000,
  /** LIST notifications queued while a command runs. */
  maxPending: 1000,
  /** Bytes the socket may hold unread before the session is considered too far behind. */
  maxBacklogBytes: 4 * 1024 * 1024,
};

const MESSAGE_EVENTS: readonly NotifyEventName[] = ['MessageNew', 'MessageExpunge', 'FlagChange'];

interface OtherGroup {
  filter: Exclude<NotifyFilterKind, 'SELECTED' | 'SELECTED-DELAYED'>;
  names: readonly string[];
  events: ReadonlySet<NotifyEventName>;
}

interface PendingList {
  name: string;
  kind: 'created' | 'deleted' | 'renamed' | 'subscription';
  oldName?: string;
}

/** Names related by hierarchy (equal, ancestor or descendant). */
function related(a: string, b: string): boolean {
  return a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
}

export class NotifyState {
  /** SELECTED / SELECTED-DELAYED, or null (= SELECTED NONE, §3.1). */
  readonly selMode: 'SELECTED' | 'SELECTED-DELAYED' | null;
  private readonly selEvents: ReadonlySet<NotifyEventName>;
  /** MessageNew fetch-att for the selected mailbox (§5.2), as PEEK so a notification never sets \Seen. */
  private readonly fetchAtt: FetchAttribute[] | null;
  private readonly groups: OtherGroup[];
  private readonly watches = new Map<number, { name: string; unwatch: () => void }>();
  private subscribedNames = new Set<string>();
  private unwatchUser: (() => void) | null = null;
  private sel: { sel: SelectedMailbox; unwatch: () => void; uidNext: number; own: Array<[number, number]> } | null = null;
  private readonly pendingStatus = new Map<number, { uidValidity: boolean }>();
  private readonly pendingLists: PendingList[] = [];
  private selectedPush = false;
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private reevaluating = false;
  private closed = false;
  /** Names touched by this session's running mailbox-list command (own changes, not echoed). */
  private ownNames: string[] | null = null;

  private constructor(
    private readonly s: ImapSession,
    set: NonNullable<NotifyCommand['set']>,
  ) {
    const selGroup = set.groups.find((g) => g.filter === 'SELECTED' || g.filter === 'SELECTED-DELAYED');
    this.selMode = selGroup && selGroup.events.length ? (selGroup.filter as 'SELECTED' | 'SELECTED-DELAYED') : null;
    this.selEvents = new Set(selGroup?.events ?? []);
    this.fetchAtt = selGroup?.fetchAtt?.length
      ? selGroup.fetchAtt.map((a) => (a.type === 'BODY[]' || a.type === 'BINARY[]' ? { ...a, peek: true } : a) as FetchAttribute)
      : null;
    this.groups = set.groups
      .filter((g) => g.filter !== 'SELECTED' && g.filter !== 'SELECTED-DELAYED' && g.events.length)
      .map((g) => ({ filter: g.filter as OtherGroup['filter'], names: g.mailboxes ?? [], events: new Set(g.events) }));
  }

  /** NOTIFY SET: build the state and its subscriptions. NO [NOTIFICATIONOVERFLOW] when it would watch too much. */
  static async create(s: ImapSession, set: NonNullable<NotifyCommand['set']>): Promise<NotifyState> {
    const st = new NotifyState(s, set);
    try {
      await st.reevaluate(true);
    } catch (err) {
      st.close();
      throw err;
    }
    // Mailbox-list events: for MailboxName / SubscriptionChange, and to re-evaluate which mailboxes match.
    if (st.groups.length) {
      st.unwatchUser = s.ctx.mail.watchUser(s.user!, (e) => st.onUserEvent(e));
    }
    st.attachSelected();
    return st;
  }

  /** With SELECTED MessageExpunge, EXPUNGE may be sent at the end of any command (RFC 5465 §5.3). */
  get immediateExpunge(): boolean {
    return this.selMode === 'SELECTED' && this.selEvents.has('MessageExpunge');
  }

  /** The events that apply to a non-selected mailbox (union of the matching groups, §6). */
  private eventsFor(name: string, subscribed: boolean): Set<NotifyEventName> {
    const out = new Set<NotifyEventName>();
    for (const g of this.groups) {
      let match = false;
      switch (g.filter) {
        case 'PERSONAL': // §6.2: every mailbox of the user (one personal namespace, no shared ones)
          match = true;
          break;
        case 'INBOXES': // §6.3: the mailboxes SMTP delivers into: INBOX, and Junk for mail classified as junk
          match = name === 'INBOX' || name === 'Junk';
          break;
        case 'SUBSCRIBED': // §6.4
          match = subscribed;
          break;
        case 'SUBTREE': // §6.5: the named mailboxes and all their inferiors
          match = g.names.some((n) => name === n || name.startsWith(n + '/'));
          break;
        case 'MAILBOXES': // §6.6: exactly these names, no wildcard expansion
          match = g.names.includes(name);
          break;
      }
      if (match) for (const e of g.events) out.add(e);
    }
    return out;
  }

  /** (Re)compute the watched mailboxes from the mailbox list (at SET, and after every mailbox-list change). */
  private async reevaluate(initial = false): Promise<void> {
    const entries = await this.s.ctx.mail.listMailboxes(this.s.user!);
    if (this.closed) return;
    this.subscribedNames = new Set(entries.filter((e) => e.subscribed).map((e) => e.name));
    const want = new Map<number, string>();
    for (const e of entries) {
      if (e.noselect) continue;
      const ev = this.eventsFor(e.name, e.subscribed);
      if (MESSAGE_EVENTS.some((m) => ev.has(m))) want.set(e.id, e.name);
    }
    if (want.size > NOTIFY_LIMITS.maxMailboxes) {
      if (initial) throw no(`NOTIFY would watch ${want.size} mailboxes; the limit is ${NOTIFY_LIMITS.maxMailboxes}`, 'NOTIFICATIONOVERFLOW');
      this.overflow();
      return;
    }
    for (const [id, w] of this.watches) {
      if (!want.has(id)) {
        w.unwatch();
        this.watches.delete(id);
        this.pendingStatus.delete(id);
      }
    }
    for (const [id, name] of want) {
      const w = this.watches.get(id);
      if (w) w.name = name;
      else this.watches.set(id, { name, unwatch: this.s.ctx.mail.watch(id, (e) => this.onMailboxEvent(e)) });
    }
  }

  private isOwn(origin: unknown): boolean {
    return origin !== undefined && (origin === this.s || origin === this.s.selected || origin === this.sel?.sel);
  }

  private onMailboxEvent(e: MailboxEvent): void {
    if (this.closed) return;
    // The selected mailbox is reported through SELECTED / SELECTED-DELAYED only (§3.1).
    if (this.s.selected && e.mailboxId === this.s.selected.mailbox.id) return;
    if (this.isOwn(e.origin)) return;
    const w = this.watches.get(e.mailboxId);
    if (!w) return;
    const ev = this.eventsFor(w.name, this.subscribedNames.has(w.name));
    let relevant: boolean;
    switch (e.kind) {
      case 'append':
        relevant = ev.has('MessageNew');
        break;
      case 'expunge':
        relevant = ev.has('MessageExpunge');
        break;
      case 'flags':
        relevant = ev.has('FlagChange');
        break;
      case 'sync':
      case 'uidvalidity': // §5.1: UIDVALIDITY changes are always reported
        relevant = true;
        break;
      default:
        relevant = false; // deleted / renamed arrive as mailbox-list events
    }
    if (!relevant) return;
    const p = this.pendingStatus.get(e.mailboxId);
    this.pendingStatus.set(e.mailboxId, { uidValidity: (p?.uidValidity ?? false) || e.kind === 'uidvalidity' });
    this.schedule();
  }

  private onUserEvent(e: UserEvent): void {
    if (this.closed) return;
    const own = this.ownNames !== null && this.ownNames.some((n) => related(n, e.name) || (e.oldName !== undefined && related(n, e.oldName)));
    if (!own) {
      const wasSub = (n: string) => this.subscribedNames.has(n);
      switch (e.kind) {
        case 'created':
          if (this.eventsFor(e.name, false).has('MailboxName')) this.queueList({ name: e.name, kind: 'created' });
          break;
        case 'deleted':
          if (this.eventsFor(e.name, wasSub(e.name)).has('MailboxName')) this.queueList({ name: e.name, kind: 'deleted' });
          break;
        case 'renamed':
          if (this.eventsFor(e.name, wasSub(e.oldName ?? '')).has('MailboxName') || this.eventsFor(e.oldName ?? '', wasSub(e.oldName ?? '')).has('MailboxName')) {
            this.queueList({ name: e.name, kind: 'renamed', oldName: e.oldName });
          }
          break;
        case 'subscribed':
        case 'unsubscribed':
          // Matched before or after the change (SUBSCRIBED), so both directions are told.
          if (this.eventsFor(e.name, true).has('SubscriptionChange') || this.eventsFor(e.name, false).has('SubscriptionChange')) {
            this.queueList({ name: e.name, kind: 'subscription' });
          }
          break;
      }
    }
    // The set of matched mailboxes may have changed (§6.4: the subscription list is re-evaluated).
    if (!this.reevaluating) {
      this.reevaluating = true;
      this.chain = this.chain
        .then(async () => {
          this.reevaluating = false;
          await this.reevaluate();
        })
        .catch((err) => this.s.log.warn({ err, conn: this.s.id }, 'imap NOTIFY: re-evaluation failed'));
    }
    this.schedule();
  }

  private queueList(p: PendingList): void {
    if (this.pendingLists.length >= NOTIFY_LIMITS.maxPending) {
      this.overflow();
      return;
    }
    this.pendingLists.push(p);
  }

  /** Follow the selected mailbox (SELECT / EXAMINE / UNSELECT / CLOSE happen in commands; called after each). */
  attachSelected(): void {
    const cur = this.s.selected;
    if (this.sel?.sel === cur) return;
    if (this.sel) {
      this.sel.unwatch();
      if (this.sel.sel.onAdded === this.onAdded) this.sel.sel.onAdded = null;
      this.sel = null;
    }
    if (!cur || this.closed || !this.selMode) return;
    const rec: NonNullable<NotifyState['sel']> = {
      sel: cur,
      uidNext: cur.uidNext,
      own: [],
      unwatch: this.s.ctx.mail.watch(cur.mailbox.id, (e) => {
        if (this.closed) return;
        if (this.isOwn(e.origin)) {
          // §5.2: no FETCH for messages this session appended or copied itself.
          if (e.kind === 'append' && e.uidNext > rec.uidNext && rec.own.length < 64) rec.own.push([rec.uidNext, e.uidNext - 1]);
        } else if (this.wantsSelected(e.kind)) {
          this.selectedPush = true;
          this.schedule();
        }
        rec.uidNext = Math.max(rec.uidNext, e.uidNext);
      }),
    };
    this.sel = rec;
    if (this.fetchAtt && this.selEvents.has('MessageNew')) cur.onAdded = this.onAdded;
    if (cur.dirty) {
      this.selectedPush = true;
      this.schedule();
    }
  }

  private wantsSelected(kind: MailboxEvent['kind']): boolean {
    switch (kind) {
      case 'append':
        return this.selEvents.has('MessageNew');
      case 'expunge':
        return this.selEvents.has('MessageExpunge');
      case 'flags':
        return this.selEvents.has('FlagChange');
      case 'sync':
        return this.selEvents.size > 0;
      default:
        return true; // deleted / uidvalidity: the session must hear of it (BYE)
    }
  }

  /** SelectedMailbox hook after "* n EXISTS": the MessageNew fetch-att for the new messages (§5.2). */
  private readonly onAdded = async (s: ImapSession, uids: readonly number[]): Promise<void> => {
    const sel = s.selected;
    if (!sel || !this.fetchAtt || this.closed) return;
    const own = this.sel?.sel === sel ? this.sel.own : [];
    const seqs = uids
      .filter((u) => !own.some(([lo, hi]) => u >= lo && u <= hi))
      .map((u) => sel.seqOf(u))
      .filter((n) => n > 0)
      .sort((a, b) => a - b);
    if (this.sel) this.sel.own = own.filter(([, hi]) => hi >= (uids[uids.length - 1] ?? 0));
    if (!seqs.length) return;
    const ranges = seqs.map((n) => ({ start: n, end: n }));
    await FETCH.run(s, { tag: '*', name: 'FETCH', uid: false, sequenceSet: { kind: 'set', ranges }, items: this.fetchAtt, vanished: false });
  };

  /** NOTIFY SET STATUS (§3.1): a STATUS for every watched mailbox other than the selected one, before the OK. */
  async sendInitialStatus(): Promise<void> {
    for (const [id, w] of this.watches) {
      if (this.s.selected && this.s.selected.mailbox.id === id) continue;
      await this.writeStatus(w.name, true);
    }
  }

  private async writeStatus(name: string, uidValidity: boolean): Promise<void> {
    let st;
    try {
      const m = await this.s.ctx.mail.openMailbox(this.s.user!, name);
      st = await m.status();
    } catch {
      return; // deleted meanwhile: the MailboxName event tells
    }
    // Dovecot's order; UIDVALIDITY in the STATUS of NOTIFY SET STATUS (§3.1 MUST) and after a UIDVALIDITY change.
    const items = [`MESSAGES ${st.messages}`, `UIDNEXT ${st.uidNext}`, ...(uidValidity ? [`UIDVALIDITY ${st.uidValidity}`] : []), `UNSEEN ${st.unseen}`].join(' ');
    // §5.2: HIGHESTMODSEQ when CONDSTORE / QRESYNC is enabled (ENABLE, or a CONDSTORE-enabling command).
    const modseq = this.s.enabled.has('CONDSTORE') || this.s.enabled.has('QRESYNC') ? ` HIGHESTMODSEQ ${st.highestModseq}` : '';
    this.s.write(Buffer.concat([Buffer.from('* STATUS '), mailboxNameOut(this.s, name), Buffer.from(` (${items}${modseq})\r\n`)]));
  }

  /** Session hook: a command starts. Remembers the names of this session's own mailbox-list changes. */
  beginCommand(cmd: ImapCommand): void {
    switch (cmd.name) {
      case 'CREATE':
      case 'DELETE':
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        this.ownNames = [cmd.mailbox.replace(/\/+$/, '')];
        break;
      case 'RENAME':
        this.ownNames = [cmd.mailbox, cmd.newMailbox];
        break;
      default:
        this.ownNames = null;
    }
  }

  /** Session hook: before a command's tagged response. Writes what is queued (the selected mailbox was reported). */
  async beforeTagged(): Promise<void> {
    this.ownNames = null;
    this.attachSelected();
    this.selectedPush = false;
    await this.run(() => this.flush(true));
  }

  /** Session hook: no command is running any more; push what arrived meanwhile. */
  kick(): void {
    this.ownNames = null;
    if (this.pendingLists.length || this.pendingStatus.size || this.selectedPush) this.schedule();
  }

  /** Resolves when no notification is being written (the session waits for it before the next command). */
  settle(): Promise<void> {
    return this.chain;
  }

  private schedule(): void {
    if (this.closed || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run(() => this.flush(false));
    });
  }

  private run(f: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(f).catch((err) => this.s.log.warn({ err, conn: this.s.id }, 'imap NOTIFY: sending notifications failed'));
    return this.chain;
  }

  private async flush(inCommand: boolean): Promise<void> {
    if (this.closed) return;
    const s = this.s;
    // Between commands only; in IDLE too (IDLE reports the selected mailbox itself).
    if (!inCommand && s.busy && !s.idling) return;
    if (s.socket.writableLength > NOTIFY_LIMITS.maxBacklogBytes) {
      this.overflow();
      return;
    }
    if (!inCommand && this.selectedPush && !s.idling) {
      this.selectedPush = false;
      const sel = s.selected;
      // SELECTED-DELAYED: an expunge waits for a command (RFC 3501 §7.4.1, RFC 5465 §6.1.2). While one waits, a report
      // repeats the flag changes since it (SelectedMailbox keeps its modseq), so push only when new mail arrived.
      let push = Boolean(sel);
      if (sel && this.selMode === 'SELECTED-DELAYED' && sel.expungePending) push = (await sel.mailbox.counters()).uidNext > sel.uidNext;
      if (sel && push && s.selected === sel) await sel.reportChanges(s, { expunges: this.immediateExpunge });
    }
    if (this.pendingStatus.size) {
      const todo = [...this.pendingStatus];
      this.pendingStatus.clear();
      for (const [id, p] of todo) {
        const w = this.watches.get(id);
        if (!w || (s.selected && s.selected.mailbox.id === id)) continue;
        await this.writeStatus(w.name, p.uidValidity);
      }
    }
    if (this.pendingLists.length) {
      const todo = this.pendingLists.splice(0);
      let entries: Map<string, MailboxListEntry>;
      try {
        entries = new Map((await s.ctx.mail.listMailboxes(s.user!)).map((e) => [e.name, e]));
      } catch {
        entries = new Map();
      }
      for (const p of todo) {
        const e = entries.get(p.name);
        // The name's state now: gone (\NonExistent, RFC 5258), or e.g. \Noselect for a deleted parent of children.
        const attrs = !e ? ['\\NonExistent'] : [...e.attributes];
        if (e?.subscribed && !attrs.includes('\\Subscribed')) attrs.push('\\Subscribed');
        const parts = [Buffer.from(`* LIST (${attrs.join(' ')}) "/" `), mailboxNameOut(s, p.name)];
        // RFC 5465 §5.4, RFC 5258 §9 mbox-list-extended: ("OLDNAME" ("old name")).
        if (p.kind === 'renamed' && p.oldName !== undefined) parts.push(Buffer.from(' ("OLDNAME" ('), mailboxNameOut(s, p.oldName), Buffer.from('))'));
        parts.push(Buffer.from('\r\n'));
        s.write(Buffer.concat(parts));
      }
    }
  }

  /** §5.8: too far behind: tell the client and behave as after NOTIFY NONE. */
  private overflow(): void {
    if (this.closed) return;
    this.s.write('* OK [NOTIFICATIONOVERFLOW] Too many notifications pending; notifications are now off (NOTIFY NONE)\r\n');
    this.close();
    if (this.s.notify === this) this.s.notify = null;
  }

  /** NOTIFY NONE, a new NOTIFY SET, logout. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatchUser?.();
    this.unwatchUser = null;
    for (const w of this.watches.values()) w.unwatch();
    this.watches.clear();
    this.pendingStatus.clear();
    this.pendingLists.length = 0;
    if (this.sel) {
      this.sel.unwatch();
      if (this.sel.sel.onAdded === this.onAdded) this.sel.sel.onAdded = null;
      this.sel = null;
    }
  }
}
