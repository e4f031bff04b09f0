/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2): FLAGS, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER,
 * RFC822.TEXT, ENVELOPE, BODY, BODYSTRUCTURE, UID, BODY[section]<partial> and BODY.PEEK.
 * Messages are handled in pages so a FETCH 1:* over 100,000 messages keeps memory flat; responses are written with
 * backpressure. Metadata-only items never touch the message file. ENVELOPE and BODYSTRUCTURE are computed once
 * per message and cached in the index. A non-PEEK body fetch sets \Seen (RFC 3501 §6.4.5) and reports the new FLAGS.
 */
import type { FetchAttribute, FetchCommand } from '../../../protocol/imap/index.js';
import { fetchItemName, formatImapDateTime } from '../../../protocol/imap/index.js';
import type { MessageRecord } from '../../../store/mail/index.js';
import {
  parseStructure,
  buildEnvelope,
  formatEnvelope,
  buildBodyStructure,
  formatBodyStructure,
  extractSection,
  rfc822Header,
  rfc822Text,
  type MimeNode,
  type Envelope,
  type BodyStructure,
} from '../../../mime/index.js';
import { SELECTED, type Handler } from './types.js';
import { resolveTargets, type Target } from '../messages.js';
import type { ImapSession } from '../session.js';

const PAGE = 500;

const needsFile = (a: FetchAttribute) =>
  a.type === 'BODY[]' || a.type === 'RFC822' || a.type === 'RFC822.HEADER' || a.type === 'RFC822.TEXT' || a.type === 'BINARY[]' || a.type === 'BINARY.SIZE';
const needsParse = (a: FetchAttribute) => a.type === 'ENVELOPE' || a.type === 'BODY' || a.type === 'BODYSTRUCTURE';
const setsSeen = (a: FetchAttribute) =>
  (a.type === 'BODY[]' && !a.peek) || (a.type === 'BINARY[]' && !a.peek) || a.type === 'RFC822' || a.type === 'RFC822.TEXT';

function literalOf(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`{${data.length}}\r\n`), data]);
}

function flagsText(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

interface Parsed {
  envelope: Envelope;
  bodystructure: BodyStructure;
}

export const FETCH: Handler<FetchCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    const targets = resolveTargets(sel, cmd.sequenceSet, cmd.uid);
    // RFC 3501 §7.4.1: no EXPUNGE while answering FETCH (UID FETCH may).
    await sel.reportChanges(s, { expunges: cmd.uid });
    const items = [...cmd.items];
    if (cmd.uid && !items.some((i) => i.type === 'UID')) items.unshift({ type: 'UID' });
    const wantsFile = items.some(needsFile);
    const wantsParse = items.some(needsParse);
    const markSeen = !sel.readOnly && items.some(setsSeen);
    const hasFlags = items.some((i) => i.type === 'FLAGS');
    let missing = 0;
    for (let i = 0; i < targets.length; i += PAGE) {
      const page = targets.slice(i, i + PAGE);
      const recs = await sel.mailbox.listMessages({ uids: page.map((t) => t.uid) });
      const byUid = new Map<number, MessageRecord>(recs.map((r) => [r.uid, r]));
      let newlySeen = new Map<number, string[]>();
      if (markSeen) {
        const unseen = recs.filter((r) => !r.flags.includes('\\Seen')).map((r) => r.uid);
        if (unseen.length) {
          const before = sel.lastModseq;
          const res = await sel.mailbox.setFlags(unseen, 'add', ['\\Seen'], { origin: sel });
          newlySeen = new Map(res.updated.map((u) => [u.uid, u.flags]));
          if (res.updated.length) sel.ownChange(before, res.highestModseq);
        }
      }
      const parsed = wantsParse ? await sel.mailbox.getParsed(page.map((t) => t.uid)) : null;
      for (const t of page) {
        const rec = byUid.get(t.uid);
        if (!rec) {
          missing++;
          continue;
        }
        const out = await fetchOne(s, t, rec, items, {
          wantsFile,
          cached: parsed?.get(t.uid) ?? null,
          newFlags: newlySeen.get(t.uid),
          addFlags: newlySeen.has(t.uid) && !hasFlags,
        });
        if (out) s.write(out);
        await s.flush();
      }
    }
    if (missing) return { text: 'Some messages were expunged before they could be fetched', code: 'EXPUNGEISSUED' };
    return 'FETCH completed';
  },
};

async function fetchOne(
  s: ImapSession,
  t: Target,
  rec: MessageRecord,
  items: FetchAttribute[],
  o: { wantsFile: boolean; cached: { envelope: string | null; bodystructure: string | null } | null; newFlags?: string[]; addFlags: boolean },
): Promise<Buffer | null> {
  const mbx = s.selected!.mailbox;
  let raw: Buffer | null = null;
  let tree: MimeNode | null = null;
  if (o.wantsFile) {
    raw = (await mbx.readMessage(rec.uid)) ?? null;
    if (!raw) return null; // vanished under us
  }
  const getTree = async (): Promise<MimeNode> => {
    if (!raw) raw = (await mbx.readMessage(rec.uid)) ?? Buffer.alloc(0);
    if (!tree) tree = parseStructure(raw);
    return tree;
  };
  let parsed: Parsed | null = null;
  const getParsed = async (): Promise<Parsed> => {
    if (parsed) return parsed;
    if (o.cached?.envelope && o.cached.bodystructure) {
      try {
        parsed = { envelope: JSON.parse(o.cached.envelope), bodystructure: JSON.parse(o.cached.bodystructure) };
        return parsed;
      } catch {
        /* recompute */
      }
    }
    const tr = await getTree();
    parsed = { envelope: tr.envelope ?? buildEnvelope(raw!), bodystructure: buildBodyStructure(tr, true) };
    await mbx.setParsed(rec.uid, { envelope: JSON.stringify(parsed.envelope), bodystructure: JSON.stringify(parsed.bodystructure) }).catch(() => {});
    return parsed;
  };
  const flags = o.newFlags ?? rec.flags;
  const parts: Buffer[] = [];
  const add = (name: string, value: Buffer | string) => {
    parts.push(Buffer.from(parts.length ? ` ${name} ` : `${name} `), typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
  };
  for (const a of items) {
    switch (a.type) {
      case 'UID':
        add('UID', String(rec.uid));
        break;
      case 'FLAGS':
        add('FLAGS', flagsText(flags));
        break;
      case 'INTERNALDATE':
        add('INTERNALDATE', `"${formatImapDateTime(new Date(rec.internalDate))}"`);
        break;
      case 'RFC822.SIZE':
        add('RFC822.SIZE', String(rec.size));
        break;
      case 'MODSEQ':
        add('MODSEQ', `(${rec.modseq})`);
        break;
      case 'ENVELOPE':
        add('ENVELOPE', formatEnvelope((await getParsed()).envelope));
        break;
      case 'BODYSTRUCTURE':
        add('BODYSTRUCTURE', formatBodyStructure((await getParsed()).bodystructure, true));
        break;
      case 'BODY':
        add('BODY', formatBodyStructure((await getParsed()).bodystructure, false));
        break;
      case 'RFC822':
        add('RFC822', literalOf(raw!));
        break;
      case 'RFC822.HEADER':
        add('RFC822.HEADER', literalOf(rfc822Header(raw!, await getTree())));
        break;
      case 'RFC822.TEXT':
        add('RFC822.TEXT', literalOf(rfc822Text(raw!, await getTree())));
        break;
      case 'BODY[]': {
        const sec = a.section;
        let data: Buffer;
        if (sec.part.length === 0 && !sec.specifier) data = raw!;
        else {
          data = extractSection(raw!, await getTree(), {
            part: [...sec.part],
            text: sec.specifier ?? null,
            fields: sec.fields ? [...sec.fields] : undefined,
          });
        }
        if (a.partial) {
          const start = Math.min(a.partial.start, data.length);
          data = data.subarray(start, Math.min(data.length, start + a.partial.length));
        }
        add(fetchItemName(a), literalOf(data));
        break;
      }
      case 'BINARY[]':
      case 'BINARY.SIZE':
        // BINARY (RFC 3516) comes with part 2; answer as the undecoded section for now.
        {
          const data = extractSection(raw!, await getTree(), { part: [...a.part], text: null });
          if (a.type === 'BINARY.SIZE') add(fetchItemName(a), String(data.length));
          else add(fetchItemName(a), literalOf(data));
        }
        break;
    }
  }
  if (o.addFlags) add('FLAGS', flagsText(flags));
  return Buffer.concat([Buffer.from(`* ${t.seq} FETCH (`), ...parts, Buffer.from(')\r\n')]);
}
