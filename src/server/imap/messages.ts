/**
 * Turning a command's sequence set into messages of the selected mailbox (RFC 3501 §6.4.8 UID, §9 seq-number).
 * Sequence numbers beyond the mailbox are a client error (BAD); UIDs that do not exist simply match nothing.
 */
import { resolveSequenceSet, sequenceSetExceeds, type SequenceSet } from '../../protocol/imap/index.js';
import type { SelectedMailbox } from './selected.js';
import { bad } from './errors.js';

export interface Target {
  seq: number;
  uid: number;
}

export function resolveTargets(sel: SelectedMailbox, set: SequenceSet, uid: boolean): Target[] {
  const out: Target[] = [];
  if (set.kind === 'saved') {
    // RFC 5182 §2.1: "$" is the saved result, the same messages in FETCH and UID FETCH alike; messages expunged
    // since drop out; nothing saved is the empty set (OK, no responses).
    for (const u of [...sel.saved].sort((a, b) => a - b)) {
      const seq = sel.seqOf(u);
      if (seq) out.push({ seq, uid: u });
    }
    return out;
  }
  if (uid) {
    const max = sel.uids.length ? sel.uids[sel.uids.length - 1]! : 0;
    if (!max) return out;
    const spans = resolveSequenceSet(set, max);
    // Walk the sorted UID list and the sorted spans together.
    let i = 0;
    for (const [lo, hi] of spans) {
      while (i < sel.uids.length && sel.uids[i]! < lo) i++;
      while (i < sel.uids.length && sel.uids[i]! <= hi) {
        out.push({ seq: i + 1, uid: sel.uids[i]! });
        i++;
      }
    }
    return out;
  }
  if (sequenceSetExceeds(set, sel.exists)) throw bad('Invalid message sequence number: the mailbox has ' + sel.exists + ' messages');
  for (const [lo, hi] of resolveSequenceSet(set, sel.exists)) {
    for (let n = lo; n <= hi; n++) out.push({ seq: n, uid: sel.uids[n - 1]! });
  }
  return out;
}
