/**
 * THREAD algorithms of RFC 5256 §3 as pure functions over message summaries, and the `thread-list` wire form.
 *
 *   const roots = threadReferences(msgs);   // or threadOrderedSubject(msgs)
 *   formatThreads(roots, (m) => m.seq)      // "(3 6 (4 23)(44 7 96))"
 *
 * ORDEREDSUBJECT: group by base subject, order by sent date; the first message is the parent of all others.
 * REFERENCES: the steps 1-6 of RFC 5256 §3 (the jwz algorithm): link by References / In-Reply-To with dummy
 * containers for unknown IDs and without creating loops, gather the root set, prune dummies, sort the root set,
 * group roots by base subject, sort all siblings. Sent-date ties are broken by sequence number (§2.2).
 * Chains are walked iteratively, so long reply chains do not exhaust the stack.
 */
import { baseSubject } from './base-subject.js';
import { rankOrder } from './rank-sort.js';

/** Called between units of work so a large THREAD gives other sessions a turn (a TimeSlice's due/yield). */
export interface Yielder {
  due(): boolean;
  yield(): Promise<void>;
}

const NEVER: Yielder = { due: () => false, yield: async () => {} };

export interface ThreadMessage {
  seq: number;
  uid: number;
  /** Sent date (RFC 5256 §2.2), ms. */
  date: number;
  /** Raw Subject value (encoded words allowed), or null. */
  subject: string | null;
  /** Raw Message-ID, References and In-Reply-To values, or null. */
  messageId: string | null;
  references: string | null;
  inReplyTo: string | null;
  /** The base subject (baseSubject(subject)), when the caller computed it already. */
  base?: { base: string; replyOrForward: boolean };
}

export interface ThreadNode {
  /** null for a dummy (a message not in the result that holds the thread together). */
  msg: ThreadMessage | null;
  children: ThreadNode[];
}

interface Container {
  msg: ThreadMessage | null;
  parent: Container | null;
  children: Container[];
  base?: string;
  replyFwd?: boolean;
}

const MSGID = /<([^<>]*)>/g;

/** The msg-ids of a field value, in order: what is between "<" and ">", whitespace removed, non-empty. */
export function messageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const m of value.matchAll(MSGID)) {
    const id = m[1]!.replace(/\s+/g, '');
    if (id) out.push(id);
  }
  return out;
}

function compareByDate(a: { date: number; seq: number }, b: { date: number; seq: number }): number {
  return a.date - b.date || a.seq - b.seq;
}

function baseOf(m: ThreadMessage): { base: string; replyOrForward: boolean } {
  return (m.base ??= baseSubject(m.subject));
}

/**
 * RFC 5256 §3 ORDEREDSUBJECT: messages grouped by base subject, each group in sent-date order (ties by sequence
 * number), groups in the order of their first messages. Done as one sort of all messages by (date, seq) through
 * ranks (rank-sort.ts); a group is then formed in order, and groups come out in the order their first message
 * appears.
 */
export async function threadOrderedSubject(msgs: readonly ThreadMessage[], slice: Yielder = NEVER): Promise<ThreadNode[]> {
  const bySeq = msgs.every((m, i) => i === 0 || m.seq > msgs[i - 1]!.seq) ? msgs : [...msgs].sort((a, b) => a.seq - b.seq);
  const order = await rankOrder([bySeq.map((m) => m.date)], [false], bySeq.length, slice);
  const groups = new Map<string, ThreadMessage[]>();
  const threads: ThreadMessage[][] = [];
  for (let i = 0; i < order.length; i++) {
    const m = bySeq[order[i]!]!;
    const b = baseOf(m).base;
    let g = groups.get(b);
    if (!g) {
      groups.set(b, (g = []));
      threads.push(g);
    }
    g.push(m);
    if ((i & 1023) === 1023 && slice.due()) await slice.yield();
  }
  return threads.map((g) => ({ msg: g[0]!, children: g.slice(1).map((m) => ({ msg: m, children: [] })) }));
}

/**
 * ORDEREDSUBJECT straight to its thread-list text, for messages given in ascending sequence order by their sent
 * dates, base subjects and the numbers to show (UIDs or sequence numbers): the same text as
 * formatThreads(threadOrderedSubject(...)), without an object per message (a counting sort into groups).
 */
export async function orderedSubjectText(dates: readonly number[], bases: readonly string[], nums: readonly number[], slice: Yielder = NEVER): Promise<string> {
  const n = dates.length;
  const order = await rankOrder([dates], [false], n, slice);
  // Groups by base subject, numbered in the order of their earliest message.
  const groupIds = new Map<string, number>();
  const groupOf = new Int32Array(n);
  const counts: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    let g = groupIds.get(bases[i]!);
    if (g === undefined) {
      g = counts.length;
      groupIds.set(bases[i]!, g);
      counts.push(0);
    }
    groupOf[k] = g;
    counts[g]!++;
    if ((k & 4095) === 4095 && slice.due()) await slice.yield();
  }
  // Members of each group in date order, group after group.
  const start = new Int32Array(counts.length + 1);
  for (let g = 0; g < counts.length; g++) start[g + 1] = start[g]! + counts[g]!;
  const fill = start.slice(0, counts.length);
  const members = new Int32Array(n);
  for (let k = 0; k < n; k++) members[fill[groupOf[k]!]!++] = order[k]!;
  const out: string[] = [];
  for (let g = 0; g < counts.length; g++) {
    const a = start[g]!;
    const c = counts[g]!;
    // RFC 5256 §3: the first message is the parent of the others; a single child continues the thread's line.
    if (c === 1) out.push(`(${nums[members[a]!]!})`);
    else if (c === 2) out.push(`(${nums[members[a]!]!} ${nums[members[a + 1]!]!})`);
    else {
      let t = `(${nums[members[a]!]!} `;
      for (let j = a + 1; j < a + c; j++) t += `(${nums[members[j]!]!})`;
      out.push(t + ')');
    }
    if ((g & 4095) === 4095 && slice.due()) await slice.yield();
  }
  return out.join('');
}

/** True when `a` is `b` or an ancestor of `b`, i.e. making `b` the parent of `a` would make a loop. */
function isAncestorOrSelf(a: Container, b: Container): boolean {
  if (a === b) return true;
  if (!a.children.length) return false; // fast path: a leaf is nobody's ancestor (keeps long chains linear)
  for (let c: Container | null = b; c; c = c.parent) if (c === a) return true;
  return false;
}

function unlink(c: Container): void {
  if (!c.parent) return;
  const sibs = c.parent.children;
  const i = sibs.indexOf(c);
  if (i >= 0) sibs.splice(i, 1);
  c.parent = null;
}

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.push(child);
}

/** The date/seq a container sorts by: its message, or (dummy) its first child's (RFC 5256 §3 steps 4 and 6). */
function sortKey(c: Container): { date: number; seq: number } {
  let x = c;
  while (!x.msg && x.children.length) x = x.children[0]!;
  return x.msg ?? { date: 0, seq: 0 };
}

function sortSiblings(list: Container[]): void {
  list.sort((a, b) => compareByDate(sortKey(a), sortKey(b)));
}

function subjectOf(c: Container): { base: string; replyFwd: boolean } {
  const m = c.msg ?? c.children[0]?.msg ?? null;
  if (!m) return { base: '', replyFwd: false };
  const r = baseOf(m);
  return { base: r.base, replyFwd: r.replyOrForward };
}

/** RFC 5256 §3 REFERENCES. `msgs` in sequence order. `slice` lets a long run yield to the event loop. */
export async function threadReferences(msgs: readonly ThreadMessage[], slice: Yielder = NEVER): Promise<ThreadNode[]> {
  const table = new Map<string, Container>();
  const all: Container[] = [];
  const get = (id: string): Container => {
    let c = table.get(id);
    if (!c) {
      c = { msg: null, parent: null, children: [] };
      table.set(id, c);
      all.push(c);
    }
    return c;
  };
  let unique = 0;
  // Step 1
  for (const m of msgs) {
    if (slice.due()) await slice.yield();
    // A message without a valid Message-ID, or with a duplicate one, gets a unique ID (cannot collide: has "\0").
    const own = messageIds(m.messageId)[0];
    let c = own !== undefined ? get(own) : undefined;
    if (!c || c.msg) {
      c = get(`\0${unique++}`);
    }
    c.msg = m;
    let refs = messageIds(m.references);
    if (!refs.length) refs = messageIds(m.inReplyTo).slice(0, 1);
    // 1.A: link the references in order, keeping existing parents and never making a loop.
    let prev: Container | null = null;
    for (const id of refs) {
      const r = get(id);
      if (prev && prev !== r && !r.parent && !isAncestorOrSelf(r, prev)) link(prev, r);
      prev = r;
    }
    // 1.B: the last reference becomes the parent of this message (replacing any parent), unless that loops.
    if (prev && (prev === c || isAncestorOrSelf(c, prev))) prev = null;
    if (prev) {
      if (c.parent !== prev) {
        unlink(c);
        link(prev, c);
      }
    } else {
      unlink(c);
    }
  }
  // Step 2: the root set.
  let roots = all.filter((c) => !c.parent);
  // Step 3: prune dummies (iteratively, depth first).
  roots = prune(roots);
  // Step 4: sort the root set (a dummy by its first child after sorting the children).
  for (const r of roots) if (!r.msg) sortSiblings(r.children);
  sortSiblings(roots);
  // Step 5: group the root set by base subject.
  const subjects = new Map<string, Container>();
  for (const r of roots) {
    if (slice.due()) await slice.yield();
    const s = subjectOf(r);
    r.base = s.base;
    r.replyFwd = s.replyFwd;
    if (!s.base) continue;
    const old = subjects.get(s.base);
    if (!old || (!r.msg && old.msg) || (old.msg && r.msg && old.replyFwd && !s.replyFwd)) subjects.set(s.base, r);
  }
  const merged: Container[] = [];
  const removed = new Set<Container>();
  for (const r of roots) {
    if (!r.base) continue;
    const t = subjects.get(r.base)!;
    if (t === r) continue;
    if (!t.msg && !r.msg) {
      // Both dummies: the children of this one go to the table's.
      for (const ch of r.children) {
        ch.parent = t;
        t.children.push(ch);
      }
      r.children = [];
      removed.add(r);
    } else if (!t.msg || !r.msg) {
      // One dummy: the message becomes a child of the dummy.
      const [dummy, m] = !t.msg ? [t, r] : [r, t];
      link(dummy, m);
      removed.add(m);
      if (dummy === r) subjects.set(r.base, r);
    } else if (!t.replyFwd && r.replyFwd) {
      // The table's is the original, this a reply/forward: a child of it.
      link(t, r);
      removed.add(r);
    } else {
      // Otherwise a new dummy holds both, and takes the table entry.
      const d: Container = { msg: null, parent: null, children: [], base: r.base, replyFwd: false };
      link(d, t);
      link(d, r);
      removed.add(t);
      removed.add(r);
      subjects.set(r.base, d);
      merged.push(d);
    }
  }
  // New dummies take the place of the message they replaced (order fixed by the final sort anyway).
  let out = roots.filter((r) => !removed.has(r));
  for (const d of merged) if (!removed.has(d)) out.push(d);
  out = out.filter((r) => r.msg || r.children.length);
  // Step 6: sort every set of siblings by sent date.
  const stack: Container[] = [...out];
  while (stack.length) {
    if (slice.due()) await slice.yield();
    const c = stack.pop()!;
    if (c.children.length > 1) sortSiblings(c.children);
    stack.push(...c.children);
  }
  sortSiblings(out);
  return out;
}

/** Step 3: prune dummies level by level with an explicit stack (long chains must not exhaust the stack). */
function prune(roots: Container[]): Container[] {
  const out = pruneLevel(roots, true);
  for (const c of out) c.parent = null;
  const stack = [...out];
  while (stack.length) {
    const c = stack.pop()!;
    if (!c.children.length) continue;
    c.children = pruneLevel(c.children, false);
    for (const ch of c.children) {
      ch.parent = c;
      stack.push(ch);
    }
  }
  return out;
}

/** One sibling list: dummies without children go; dummies with children are replaced by them, except at the
 * root level when there is more than one. */
function pruneLevel(list: Container[], atRoot: boolean): Container[] {
  const out: Container[] = [];
  const queue = list.slice().reverse();
  while (queue.length) {
    const c = queue.pop()!;
    if (!c.msg) {
      if (!c.children.length) continue;
      if (!atRoot || c.children.length === 1) {
        for (let i = c.children.length - 1; i >= 0; i--) queue.push(c.children[i]!);
        c.children = [];
        continue;
      }
    }
    out.push(c);
  }
  return out;
}

/**
 * RFC 5256 §5 thread-list for each root, concatenated: "(1 2 (3)(4 5))(6)". A node with one child continues the
 * chain; with several, each child is a nested thread-list. Built with an explicit stack (no recursion limit).
 */
export function formatThreads(roots: readonly ThreadNode[], num: (m: ThreadMessage) => number): string {
  const out: string[] = [];
  // Work items: a node to open as a thread-list, or a literal string to emit.
  const stack: Array<ThreadNode | string> = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push(roots[i]!);
  while (stack.length) {
    const item = stack.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    out.push('(');
    let x: ThreadNode = item;
    let first = true;
    for (;;) {
      if (x.msg) {
        out.push(first ? String(num(x.msg)) : ' ' + num(x.msg));
        first = false;
      }
      if (x.children.length === 1) {
        x = x.children[0]!;
        continue;
      }
      break;
    }
    stack.push(')');
    if (x.children.length > 1) {
      for (let i = x.children.length - 1; i >= 0; i--) stack.push(x.children[i]!);
      if (!first) stack.push(' ');
    }
  }
  return out.join('');
}
