/**
 * THREAD and UID THREAD (RFC 5256 §3) with ORDEREDSUBJECT and REFERENCES: the search criteria are run by
 * runSearch, the sent date, base subject and message IDs read from the index key columns (../sort-keys.ts, which
 * computes and stores them for rows that have none yet), the threads built by thread.ts. Answers `* THREAD`
 * followed by the thread-lists (nothing after it when no message matched). Loading and threading give the event
 * loop a turn every 10 ms.
 */
import type { ThreadCommand } from '../../../protocol/imap/index.js';
import { runSearch } from './search.js';
import { loadSortKeys } from '../sort-keys.js';
import { orderedSubjectText, threadReferences, formatThreads, type ThreadMessage } from '../thread.js';
import { SELECTED, type Handler } from './types.js';
import { TimeSlice } from '../prefetch.js';
import type { SortKeyField } from '../../../store/mail/index.js';

const ORDERED: SortKeyField[] = ['date', 'subject', 'refwd'];
const REFERENCES: SortKeyField[] = [...ORDERED, 'messageId', 'references'];

export const THREAD: Handler<ThreadCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    await sel.reportChanges(s, { expunges: cmd.uid });
    const found = await runSearch(sel, cmd.criteria, { pool: s.ctx.parsePool });
    const refs = cmd.algorithm === 'REFERENCES';
    const slice = new TimeSlice();
    const loaded = await loadSortKeys(sel, found, refs ? REFERENCES : ORDERED, slice);
    if (!refs) {
      // ORDEREDSUBJECT: from the keys to the text, without a message or node object per message.
      const text = await orderedSubjectText(
        loaded.map((m) => m.keys.date!),
        loaded.map((m) => m.keys.subject!),
        loaded.map((m) => (cmd.uid ? m.uid : m.seq)),
        slice,
      );
      s.write(`* THREAD${text ? ' ' + text : ''}\r\n`);
      return 'THREAD completed';
    }
    const msgs: ThreadMessage[] = new Array(loaded.length);
    for (let i = 0; i < loaded.length; i++) {
      const { seq, uid, keys: k } = loaded[i]!;
      msgs[i] = {
        seq,
        uid,
        date: k.date!,
        subject: null, // base below: the subject itself is not needed
        // Normalised IDs: References holds what step 1 links by (References, else the first In-Reply-To ID).
        messageId: k.messageId ?? null,
        references: k.references ?? null,
        inReplyTo: null,
        base: { base: k.subject!, replyOrForward: k.refwd! },
      };
    }
    const roots = await threadReferences(msgs, slice);
    const text = formatThreads(roots, (m) => (cmd.uid ? m.uid : m.seq));
    s.write(`* THREAD${text ? ' ' + text : ''}\r\n`);
    return 'THREAD completed';
  },
};
