/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2): FLAGS, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER,
 * RFC822.TEXT, ENVELOPE, BODY, BODYSTRUCTURE, UID, BODY[section]<partial> and BODY.PEEK; BINARY[section]<partial>,
 * BINARY.PEEK and BINARY.SIZE (RFC 3516, ./binary-fetch.ts).
 * Messages are handled in pages so a FETCH 1:* over 100,000 messages keeps memory flat; responses are written with
 * backpressure, in chunks of ~64 KB (not one socket write per message). Metadata-only items never touch the message
 * file; files are read from the record's path (no index query per message) with short blocking reads, giving the
 * event loop a turn every 10 ms (prefetch.ts).
 * ENVELOPE and BODYSTRUCTURE are computed once per message and cached in the index (one transaction per 5,000
 * messages), each when first asked for, as Dovecot caches what was fetched: a first FETCH ENVELOPE reads only the
 * header block and stores the ENVELOPE's JSON, its wire form (sent as it is by later fetches) and the message's
 * SORT/THREAD/SEARCH keys (../sort-keys.ts); BODYSTRUCTURE is computed from the whole file when first asked.
 * A non-PEEK body fetch sets \Seen (RFC 3501 §6.4.5) and reports the new FLAGS.
 */
import type { FetchAttribute, FetchCommand } from '../../../protocol/imap/index.js';
import { fetchItemName, formatImapDateTime } from '../../../protocol/imap/index.js';
import { storable, type MessageRecord, type ParsedEntry, type ParsedField, type ParsedRow } from '../../../store/mail/index.js';
import { sortKeysOf, envelopeOfHeader, type EnvelopeEntry } from '../sort-keys.js';
import {
  parseStructure,
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
import { ResponseBatch, TimeSlice, pagesAhead } from '../prefetch.js';
import { binaryItem } from './binary-fetch.js';
import { META_ITEMS, fetchMeta, metaResponse } from './fetch-meta.js';
import { bad } from '../errors.js';
import { condstoreOn, enableCondstore, qresyncOn, sendVanishedEarlier, savedAsSet } from '../qresync.js';

const PAGE = 500;
/** FETCH ENVELOPE uses the envelope workers from this many messages on, for pages with this many to compute. */
const WORKER_MIN_TARGETS = 2000;
const WORKER_MIN_PAGE = 100;
/** Header blocks up to this size are read by a worker; longer ones here, asynchronously (as readHeaderSync). */
const SYNC_HEADER_MAX = 256 * 1024;
const EXPUNGEISSUED = { text: 'Some messages were expunged before they could be fetched', code: 'EXPUNGEISSUED' } as const;
/** Parse results written to the index per transaction. */
const CACHE_BATCH = 5000;

const needsFile = (a: FetchAttribute) =>
  a.type === 'BODY[]' || a.type === 'RFC822' || a.type === 'RFC822.HEADER' || a.type === 'RFC822.TEXT' || a.type === 'BINARY[]' || a.type === 'BINARY.SIZE';
const needsParse = (a: FetchAttribute) => a.type === 'ENVELOPE' || a.type === 'BODY' || a.type === 'BODYSTRUCTURE';
const setsSeen = (a: FetchAttribute) =>
  (a.type === 'BODY[]' && !a.peek) || (a.type === 'BINARY[]' && !a.peek) || a.type === 'RFC822' || a.type === 'RFC822.TEXT';


function flagsText(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

type CacheEntry = ParsedEntry;

interface LoadedPage {
  page: Target[];
  recs: MessageRecord[];
  parsed: Map<number, ParsedRow> | null;
  /** Entries the envelope workers computed for the page (by UID), when it was given to them. */
  computed: Promise<Map<number, EnvelopeEntry>> | null;
}

export const FETCH: Handler<FetchCommand> = {
  states: SELECTED,
  async run(s, cmd) {
    const sel = s.selected!;
    // RFC 7162 §3.2.6: VANISHED only once QRESYNC is enabled (Dovecot: BAD "QRESYNC not enabled").
    if (cmd.vanished && !qresyncOn(s)) throw bad('QRESYNC not enabled');
    // RFC 7162 §3.1: FETCH MODSEQ and FETCH (CHANGEDSINCE) are CONDSTORE enabling commands.
    if (cmd.changedSince !== undefined || cmd.items.some((i) => i.type === 'MODSEQ')) await enableCondstore(s);
    // A sequence number beyond the mailbox is BAD before anything is reported.
    let targets = cmd.uid ? [] : resolveTargets(sel, cmd.sequenceSet, false);
    // RFC 3501 §7.4.1: no EXPUNGE while answering FETCH (UID FETCH may).
    await sel.reportChanges(s, { expunges: cmd.uid, uid: cmd.uid });
    // UID FETCH: resolved after the EXPUNGEs just sent, so its responses carry the sequence numbers the client now has.
    if (cmd.uid) targets = resolveTargets(sel, cmd.sequenceSet, true);
    const items = [...cmd.items];
    if (cmd.uid && !items.some((i) => i.type === 'UID')) items.unshift({ type: 'UID' });
    const changedSince = cmd.changedSince === undefined ? undefined : Number(cmd.changedSince > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : cmd.changedSince);
    // RFC 7162 §3.1.4.1: CHANGEDSINCE adds MODSEQ to the items (at the end, as Dovecot).
    if (changedSince !== undefined && !items.some((i) => i.type === 'MODSEQ')) items.push({ type: 'MODSEQ' });
    // RFC 7162 §3.2.6: UID FETCH (CHANGEDSINCE n VANISHED): first the UIDs of the set expunged since n.
    if (cmd.vanished && changedSince !== undefined) {
      await sendVanishedEarlier(s, sel, cmd.sequenceSet.kind === 'saved' ? savedAsSet(sel) : cmd.sequenceSet, BigInt(changedSince));
    }
    const markSeen = !sel.readOnly && items.some(setsSeen);
    // UID FETCH 1:* (FLAGS) and the like: straight from the in-memory copy of the index rows.
    const metaOnly = !markSeen && items.every((i) => META_ITEMS.has(i.type));
    if (metaOnly) {
      const r = await fetchMeta(s, sel.mailbox, targets, items, changedSince);
      if (r) return r.missing ? EXPUNGEISSUED : 'FETCH completed';
    }
    // CHANGEDSINCE: find the changed messages with the modseq index first (usually few), then keep the targets
    // among them, instead of reading every target's row.
    let changedRecs: Map<number, MessageRecord> | null = null;
    if (changedSince !== undefined) {
      changedRecs = new Map();
      for (let after = 0; ; ) {
        const page = await sel.mailbox.listMessages({ changedSince, afterUid: after, limit: 5000 });
        for (const r of page) changedRecs.set(r.uid, r);
        if (page.length < 5000) break;
        after = page[page.length - 1]!.uid;
      }
      targets = targets.filter((t) => changedRecs!.has(t.uid));
    }
    const condstore = condstoreOn(s);
    const hasModseq = items.some((i) => i.type === 'MODSEQ');
    const wantsFile = items.some(needsFile);
    const wantsParse = items.some(needsParse);
    const hasFlags = items.some((i) => i.type === 'FLAGS');
    const wantsEnvelope = items.some((i) => i.type === 'ENVELOPE');
    const wantsStructure = items.some((i) => i.type === 'BODY' || i.type === 'BODYSTRUCTURE');
    // The ENVELOPE's wire form is read first; its JSON only for rows without one (cached before 0013).
    const parseFields: ParsedField[] = [];
    if (wantsEnvelope) parseFields.push('envelope_imap');
    if (wantsStructure) parseFields.push('bodystructure');
    const toCache: Array<[number, CacheEntry]> = [];
    const mbx = sel.mailbox;
    let missing = 0;
    const batch = new ResponseBatch(s);
    const slice = new TimeSlice();
    // A first FETCH ENVELOPE of many messages: their headers are read and parsed by worker threads, pages ahead of
    // the responses (../parse-pool.ts); anything a worker could not do is done here as usual.
    const pool = s.ctx.parsePool;
    const viaWorkers =
      pool !== undefined && pool.enabled && wantsEnvelope && !wantsFile && !wantsStructure && !markSeen && targets.length >= WORKER_MIN_TARGETS;
    const loadPage = async (i: number): Promise<LoadedPage> => {
      const page = targets.slice(i, i + PAGE);
      const recs = changedRecs
        ? page.map((t) => changedRecs!.get(t.uid)!)
        : await mbx.listMessages({ uids: page.map((t) => t.uid) });
      const parsed = wantsParse ? await mbx.getParsed(page.map((t) => t.uid), parseFields) : null;
      if (parsed && wantsEnvelope) {
        const noWire = [...parsed].filter(([, c]) => c.envelopeImap === null).map(([uid]) => uid);
        if (noWire.length) for (const [uid, json] of await mbx.getEnvelopes(noWire)) parsed.get(uid)!.envelope = json;
      }
      let computed: Promise<Map<number, EnvelopeEntry>> | null = null;
      // The first page is parsed here: its responses go out at once while the workers start (loading their code
      // took ~200 ms before the first response when every page went to them).
      if (viaWorkers && i > 0) {
        const todo = recs.filter((r) => {
          const c = parsed?.get(r.uid);
          return !c || (c.envelopeImap === null && c.envelope === null);
        });
        if (todo.length >= WORKER_MIN_PAGE) {
          computed = pool!
            .envelopes(todo.map((r) => r.path), todo.map((r) => r.size), SYNC_HEADER_MAX)
            .then((entries) => {
              const m = new Map<number, EnvelopeEntry>();
              entries.forEach((e, k) => {
                if (e) m.set(todo[k]!.uid, e);
              });
              return m;
            })
            .catch(() => new Map<number, EnvelopeEntry>());
        }
      }
      return { page, recs, parsed, computed };
    };
    // Pages loaded (and given to the workers) ahead of the one being answered.
    for await (const loaded of pagesAhead(targets.length, PAGE, viaWorkers ? pool!.size + 1 : 0, loadPage)) {
      const { page, recs, parsed } = loaded;
      const byUid = new Map<number, MessageRecord>(recs.map((r) => [r.uid, r]));
      let newlySeen = new Map<number, string[]>();
      const seenModseq = new Map<number, number>();
      if (markSeen) {
        const unseen = recs.filter((r) => !r.flags.includes('\\Seen')).map((r) => r.uid);
        if (unseen.length) {
          const before = sel.lastModseq;
          const res = await mbx.setFlags(unseen, 'add', ['\\Seen'], { origin: sel });
          newlySeen = new Map(res.updated.map((u) => [u.uid, u.flags]));
          // The record's MODSEQ is now that of the \Seen change (RFC 7162 §3.1: reported with CONDSTORE).
          for (const u of res.updated) seenModseq.set(u.uid, u.modseq);
          if (res.updated.length) sel.ownChange(before, res.highestModseq);
        }
      }
      if (loaded.computed) {
        // The workers' entries become this page's cached ENVELOPEs, and go to the index like ones computed here.
        for (const [uid, e] of await loaded.computed) {
          const rec = byUid.get(uid);
          if (!rec) continue;
          // RFC 5256 §2.2: INTERNALDATE when the Date header gives no sent date (the worker cannot ask the record).
          if (Number.isNaN(e.keys.date)) e.keys.date = rec.internalDate;
          const row = parsed!.get(uid);
          if (row) row.envelopeImap = e.envelopeImap;
          else parsed!.set(uid, { envelope: null, bodystructure: null, envelopeImap: e.envelopeImap });
          toCache.push([uid, { envelope: e.envelope, envelopeImap: e.envelopeImap, keys: e.keys }]);
        }
      }
      const cachedOf = (uid: number) => parsed?.get(uid) ?? null;
      const hasEnvelope = (c: ParsedRow | null) => c !== null && (c.envelopeImap !== null || c.envelope !== null);
      const hasStructure = (c: ParsedRow | null) => c !== null && c.bodystructure !== null;
      for (const t of page) {
        const rec = byUid.get(t.uid);
        if (!rec) {
          if (changedSince === undefined) missing++; // else: simply not changed since
          continue;
        }
        let raw: Buffer | undefined;
        const cached = cachedOf(rec.uid);
        if (wantsFile || (wantsStructure && !hasStructure(cached))) {
          raw = mbx.readRecordSync(rec) ?? (await mbx.readRecord(rec));
          if (wantsFile && !raw) continue; // vanished under us
        } else if (wantsEnvelope && !hasEnvelope(cached)) {
          // ENVELOPE alone needs only the header block (the first few KB of the file).
          raw = mbx.readHeaderSync(rec) ?? (await mbx.readHeader(rec));
        }
        let out: string | Buffer;
        try {
          out = metaOnly
          ? metaResponse(t.seq, rec, items)
          : fetchOne(t, rec, items, {
              raw: raw ?? null,
              cached,
              newFlags: newlySeen.get(t.uid),
              addFlags: newlySeen.has(t.uid) && !hasFlags,
              addModseq: newlySeen.has(t.uid) && condstore && !hasModseq,
              modseq: seenModseq.get(t.uid) ?? rec.modseq,
              toCache,
            });
        } catch (err) {
          // A message that fails the command (NO [UNKNOWN-CTE]): the responses built for the messages before it are
          // still sent (their \Seen is already set), then the tagged NO.
          await batch.flush();
          throw err;
        }
        if (batch.add(out)) await batch.flush();
        if (slice.due()) {
          await batch.flush();
          await slice.yield();
        }
      }
      await batch.flush();
      // Parse results go to the index in few transactions (each commit is an fsync).
      if (toCache.length >= CACHE_BATCH) await mbx.setParsedMany(toCache.splice(0)).catch(() => {});
    }
    if (toCache.length) await mbx.setParsedMany(toCache.splice(0)).catch(() => {});
    if (missing) return EXPUNGEISSUED;
    return 'FETCH completed';
  },
};

/** Builds one FETCH response (synchronously: the file, if needed, was read by the caller). */
function fetchOne(
  t: Target,
  rec: MessageRecord,
  items: FetchAttribute[],
  o: {
    /** The file, or only its header block when ENVELOPE is the only item to compute (nothing else reads it). */
    raw: Buffer | null;
    cached: ParsedRow | null;
    newFlags?: string[];
    addFlags: boolean;
    addModseq: boolean;
    modseq: number;
    toCache: Array<[number, CacheEntry]>;
  },
): Buffer | string {
  let raw = o.raw;
  let tree: MimeNode | null = null;
  const file = (): Buffer => (raw ??= Buffer.alloc(0));
  const getTree = (): MimeNode => (tree ??= parseStructure(file(), { envelope: false }));
  // Each item is computed when asked for and not cached; what was computed goes to the index in one entry.
  let entry: CacheEntry | null = null;
  const cacheEntry = (): CacheEntry => {
    if (!entry) o.toCache.push([rec.uid, (entry = {})]);
    return entry;
  };
  let envelopeWire: string | null = null;
  let structure: BodyStructure | null = null;
  /** The ENVELOPE's wire form: cached, formatted from the cached JSON, or computed from the header. */
  const getEnvelope = (): string => {
    if (envelopeWire !== null) return envelopeWire;
    if (o.cached?.envelopeImap) return (envelopeWire = o.cached.envelopeImap);
    let env: Envelope | null = null;
    if (o.cached?.envelope) {
      try {
        env = JSON.parse(o.cached.envelope) as Envelope;
      } catch {
        /* recompute */
      }
      if (env) {
        envelopeWire = formatEnvelope(env);
        // Cached before the wire form was (0013): store it now (unless no backend can hold it: then every time).
        if (storable(envelopeWire)) cacheEntry().envelopeImap = envelopeWire;
      }
    }
    if (!env) {
      // ENVELOPE and References from one scan of the header (the whole file's header when it was read whole).
      const { envelope, references } = envelopeOfHeader(file());
      const e = cacheEntry();
      e.envelope = JSON.stringify(envelope);
      e.envelopeImap = envelopeWire = formatEnvelope(envelope);
      // The SORT/THREAD/SEARCH keys go to the index with it (../sort-keys.ts): the header is at hand now.
      // INTERNALDATE only when the Date header fails (after a lazy first scan it costs a stat).
      e.keys = sortKeysOf(envelope, references, () => rec.internalDate);
    }
    return envelopeWire!;
  };
  const getStructure = (): BodyStructure => {
    if (structure) return structure;
    if (o.cached?.bodystructure) {
      try {
        return (structure = JSON.parse(o.cached.bodystructure) as BodyStructure);
      } catch {
        /* recompute */
      }
    }
    structure = buildBodyStructure(getTree(), true);
    cacheEntry().bodystructure = JSON.stringify(structure);
    return structure;
  };
  const flags = o.newFlags ?? rec.flags;
  // Text pieces are joined as a string; a literal turns the response into a Buffer.
  const parts: Array<string | Buffer> = [`* ${t.seq} FETCH (`];
  let binary = false;
  let first = true;
  const add = (name: string, value: string) => {
    parts.push(first ? `${name} ${value}` : ` ${name} ${value}`);
    first = false;
  };
  const addLiteral = (name: string, data: Buffer, literal8 = false) => {
    parts.push(`${first ? '' : ' '}${name} ${literal8 ? '~' : ''}{${data.length}}\r\n`, data);
    first = false;
    binary = true;
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
        add('MODSEQ', `(${o.modseq})`);
        break;
      case 'ENVELOPE':
        add('ENVELOPE', getEnvelope());
        break;
      case 'BODYSTRUCTURE':
        add('BODYSTRUCTURE', formatBodyStructure(getStructure(), true));
        break;
      case 'BODY':
        add('BODY', formatBodyStructure(getStructure(), false));
        break;
      case 'RFC822':
        addLiteral('RFC822', file());
        break;
      case 'RFC822.HEADER':
        addLiteral('RFC822.HEADER', rfc822Header(file(), getTree()));
        break;
      case 'RFC822.TEXT':
        addLiteral('RFC822.TEXT', rfc822Text(file(), getTree()));
        break;
      case 'BODY[]': {
        const sec = a.section;
        let data: Buffer;
        if (sec.part.length === 0 && !sec.specifier) data = file();
        else {
          data = extractSection(file(), getTree(), {
            part: [...sec.part],
            text: sec.specifier ?? null,
            fields: sec.fields ? [...sec.fields] : undefined,
          });
        }
        if (a.partial) {
          const start = Math.min(a.partial.start, data.length);
          data = data.subarray(start, Math.min(data.length, start + a.partial.length));
        }
        addLiteral(fetchItemName(a), data);
        break;
      }
      case 'BINARY[]':
      case 'BINARY.SIZE': {
        // RFC 3516 §4.2-4.3: decoded content (./binary-fetch.ts); literal8 when decoded or holding NUL.
        const b = binaryItem(file(), getTree(), a);
        if (b.literal) addLiteral(b.name, b.literal, b.literal8);
        else add(b.name, b.value);
        break;
      }
    }
  }
  if (o.addFlags) add('FLAGS', flagsText(flags));
  if (o.addModseq) add('MODSEQ', `(${o.modseq})`);
  parts.push(')\r\n');
  if (!binary) return (parts as string[]).join('');
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}
