/**
 * CONDSTORE and QRESYNC (RFC 7162) pieces shared by the command handlers:
 *  - enabling CONDSTORE (§3.1: ENABLE CONDSTORE, SELECT/EXAMINE (CONDSTORE), STATUS (HIGHESTMODSEQ), FETCH MODSEQ or
 *    CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE are "CONDSTORE enabling commands"); when a mailbox is
 *    selected at that moment the client learns its HIGHESTMODSEQ at once (§3.1.2.1, as Dovecot does);
 *  - the untagged FETCH for a flag change (§3.1.4.1/§3.2.4: once CONDSTORE is on it carries MODSEQ, and UID when
 *    QRESYNC is on or the command was a UID command; Dovecot's order "UID n MODSEQ (m) FLAGS (...)");
 *  - reporting expunges as EXPUNGE or, with QRESYNC, as one VANISHED (§3.2.10);
 *  - the QRESYNC select parameter (§3.2.5): VANISHED (EARLIER) and FETCH of what changed since the client's modseq.
 * The store keeps every expunged UID with its modseq (mail_expunged) until the mailbox is deleted or gets a new
 * UIDVALIDITY, so VANISHED (EARLIER) is always exact and the seq-match-data hint (§3.2.5.2) is never needed.
 */
import { compressSequenceSet, sequenceSetHas, resolveSequenceSet, type QresyncParameter, type SequenceSet } from '../../protocol/imap/index.js';
import type { SelectedMailbox } from './selected.js';
import type { ImapSession } from './session.js';
import { bad } from './errors.js';

export const condstoreOn = (s: ImapSession): boolean => s.enabled.has('CONDSTORE');
export const qresyncOn = (s: ImapSession): boolean => s.enabled.has('QRESYNC');

/** RFC 7162 §3.1: turn CONDSTORE on; with a mailbox selected, tell its HIGHESTMODSEQ (untagged OK, §3.1.2.1). */
export async function enableCondstore(s: ImapSession, o: { announce?: boolean } = {}): Promise<boolean> {
  if (s.enabled.has('CONDSTORE')) return false;
  s.enabled.add('CONDSTORE');
  if (s.selected && o.announce !== false) {
    const c = await s.selected.mailbox.counters();
    s.write(`* OK [HIGHESTMODSEQ ${c.highestModseq}] Highest\r\n`);
  }
  return true;
}

/** `* n FETCH (...)` for a message whose flags changed (or were stored), with UID/MODSEQ as RFC 7162 wants. */
export function flagsFetch(
  s: ImapSession,
  seq: number,
  m: { uid: number; flags: readonly string[]; modseq: number },
  o: { uid?: boolean; silent?: boolean } = {},
): string {
  const cs = condstoreOn(s);
  let out = `* ${seq} FETCH (`;
  const items: string[] = [];
  if (o.uid || qresyncOn(s)) items.push(`UID ${m.uid}`);
  if (cs) items.push(`MODSEQ (${m.modseq})`);
  if (!o.silent) items.push(`FLAGS (${m.flags.join(' ')})`);
  out += items.join(' ');
  return out + ')\r\n';
}

/**
 * Forget expunged UIDs from the session's view and tell the client: `* n EXPUNGE` per message (descending, each
 * shifts only those above it; RFC 3501 §7.4.1) or, with QRESYNC, one `* VANISHED uid-set` (RFC 7162 §3.2.10).
 */
export function reportExpunged(s: ImapSession, sel: SelectedMailbox, uids: readonly number[]): boolean {
  const known = uids.filter((u) => sel.seqOf(u) > 0);
  if (!known.length) return false;
  if (qresyncOn(s)) {
    for (const u of known) sel.removeSeq(sel.seqOf(u));
    s.write(`* VANISHED ${compressSequenceSet(known)}\r\n`);
    return true;
  }
  const seqs = known.map((u) => sel.seqOf(u)).sort((a, b) => b - a);
  for (const n of seqs) {
    sel.removeSeq(n);
    s.write(`* ${n} EXPUNGE\r\n`);
  }
  return true;
}

/** Tagged OK text for EXPUNGE/UID EXPUNGE/MOVE: HIGHESTMODSEQ response code (RFC 7162 §3.2.7 EXPUNGE, §3.2.9 UID EXPUNGE) once CONDSTORE is on, as Dovecot. */
export async function highestModseqCode(s: ImapSession, sel: SelectedMailbox): Promise<string | undefined> {
  if (!condstoreOn(s)) return undefined;
  return `HIGHESTMODSEQ ${(await sel.mailbox.counters()).highestModseq}`;
}

/**
 * RFC 7162 §3.2.6 VANISHED (EARLIER): the UIDs in `set` (UIDs, "*" = highest UID ever given out) expunged after
 * `modseq`, as one response; nothing when there are none.
 */
export async function sendVanishedEarlier(s: ImapSession, sel: SelectedMailbox, set: SequenceSet | undefined, modseq: bigint): Promise<void> {
  const since = Number(modseq > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : modseq);
  let gone = await sel.mailbox.expungedSince(since);
  if (set && set.kind === 'set') {
    const max = Math.max(sel.uidNext - 1, 1);
    gone = gone.filter((u) => sequenceSetHas(set, u, max));
  }
  if (gone.length) s.write(`* VANISHED (EARLIER) ${compressSequenceSet(gone)}\r\n`);
}

/**
 * RFC 7162 §3.2.5.2: the seq-match-data pairs must have as many sequence numbers as UIDs (Dovecot: BAD "Invalid
 * QRESYNC sets"). Called before the current mailbox is left.
 */
export function checkQresyncParameter(q: QresyncParameter): void {
  if (q.knownSequenceSet && q.knownUidSet) {
    const count = (x: SequenceSet) => {
      if (x.kind === 'saved') return -1;
      if (x.ranges.some((r) => r.start === '*' || r.end === '*')) return -1;
      return resolveSequenceSet(x, 4294967295).reduce((n, [a, b]) => n + b - a + 1, 0);
    };
    const a = count(q.knownSequenceSet);
    if (a < 0 || a !== count(q.knownUidSet)) throw bad('Invalid QRESYNC sets');
  }
  if (q.knownUids?.kind === 'saved') throw bad('Invalid QRESYNC known-uids');
}

/**
 * After SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids ...])) printed its usual responses (RFC 7162
 * §3.2.5): when the UIDVALIDITY matches, VANISHED (EARLIER) for known UIDs expunged since `modseq`, then
 * `* n FETCH (UID u FLAGS (...) MODSEQ (m))` for known messages changed since. A different UIDVALIDITY means the
 * client must resynchronize fully: nothing more is sent.
 */
export async function qresyncSelect(s: ImapSession, sel: SelectedMailbox, q: QresyncParameter, uidValidity: number): Promise<void> {
  if (q.uidValidity !== uidValidity) return;
  await sendVanishedEarlier(s, sel, q.knownUids, q.modSeq);
  const since = Number(q.modSeq > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : q.modSeq);
  const maxUid = Math.max(sel.uidNext - 1, 1);
  const PAGE = 2000;
  let after = 0;
  for (;;) {
    const page = await sel.mailbox.listMessages({ changedSince: since, afterUid: after, limit: PAGE });
    let out = '';
    for (const r of page) {
      if (q.knownUids && q.knownUids.kind === 'set' && !sequenceSetHas(q.knownUids, r.uid, maxUid)) continue;
      const n = sel.seqOf(r.uid);
      if (n) out += `* ${n} FETCH (UID ${r.uid} FLAGS (${r.flags.join(' ')}) MODSEQ (${r.modseq}))\r\n`;
    }
    if (out) s.write(out);
    await s.flush();
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.uid;
  }
}

/** The saved SEARCH result (RFC 5182 "$") as a UID sequence set (for VANISHED (EARLIER) of UID FETCH $). */
export function savedAsSet(sel: SelectedMailbox): SequenceSet {
  const uids = [...sel.saved].sort((a, b) => a - b);
  if (!uids.length) return { kind: 'set', ranges: [] };
  return { kind: 'set', ranges: uids.map((u) => ({ start: u, end: u })) };
}
