/**
 * THREAD and UID THREAD (RFC 5256 §3) with ORDEREDSUBJECT and REFERENCES: the search criteria are run by
 * runSearch, the header fields read by loadMessages (sort.ts, yielding every 1000 messages), the threads built by
 * thread.ts. Answers `* THREAD` followed by the thread-lists (nothing after it when no message matched).
 */
import type { ThreadCommand } from '../../../protocol/imap/index.js';
import { scanHeader, lastField, unfold } from '../../../mime/headers.js';
import { runSearch } from './search.js';
import { loadMessages, sentDate } from './sort.js';
import { threadOrderedSubject, threadReferences, formatThreads, type ThreadMessage } from '../thread.js';
import { SELECTED, type Handler } from './types.js';
import { TimeSlice } from '../prefetch.js';
import { baseSubject } from '../base-subject.js';

export const THREAD: Handler<ThreadCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    await sel.reportChanges(s, { expunges: cmd.uid });
    const found = await runSearch(sel, cmd.criteria);
    const refs = cmd.algorithm === 'REFERENCES';
    const loaded = await loadMessages(sel, found, { withHeader: refs });
    const msgs: ThreadMessage[] = [];
    const slice = new TimeSlice();
    for (const m of loaded) {
      let references: string | null = null;
      if (refs && m.header) {
        try {
          const v = lastField(m.header, scanHeader(m.header, 0, m.header.length), 'references');
          references = v === null ? null : unfold(v);
        } catch {
          references = null;
        }
      }
      msgs.push({
        seq: m.seq,
        uid: m.uid,
        date: sentDate(m.env, m.rec.internalDate),
        subject: m.env.subject,
        messageId: m.env.messageId,
        inReplyTo: m.env.inReplyTo,
        references,
        // Computed here, in the loop that yields, rather than inside the thread algorithm.
        base: baseSubject(m.env.subject),
      });
      if (slice.due()) await slice.yield();
    }
    await slice.yield();
    const roots = refs ? await threadReferences(msgs, slice) : await threadOrderedSubject(msgs, slice);
    const text = formatThreads(roots, (m) => (cmd.uid ? m.uid : m.seq));
    s.write(`* THREAD${text ? ' ' + text : ''}\r\n`);
    return 'THREAD completed';
  },
};
