/**
 * Worker thread of the parse pool (./parse-pool.ts). Two kinds of job, each a list of message files chosen by the
 * store (never paths from a client):
 * - "envelope": read each header block and return what a first FETCH ENVELOPE stores (./message-keys.ts);
 * - "search": read each whole file and answer the SEARCH BODY/TEXT keys (./content-match.ts).
 * So reading and parsing 100,000 files runs beside the session's thread, which writes responses and the index.
 */
import { parentPort } from 'node:worker_threads';
import { readHeaderBlockSync, readWholeSync } from '../../store/maildir/file-read.js';
import { envelopeEntry, type EnvelopeEntry } from './message-keys.js';
import { contentMatches, type ContentKey } from './content-match.js';

export type ParseJob =
  | {
      id: number;
      kind: 'envelope';
      paths: string[];
      sizes: number[];
      /** Header blocks longer than this are left to the session (read asynchronously). */
      max: number;
    }
  | {
      id: number;
      kind: 'search';
      paths: string[];
      sizes: number[];
      keys: ContentKey[];
    };

export type ParseReply =
  | {
      id: number;
      /** Per path: the entry (keys.date NaN when the Date header gives none), or null (file gone, too long, error). */
      entries: Array<EnvelopeEntry | null>;
    }
  | {
      id: number;
      /** Per path and key (paths.length * keys.length): 1 match, 0 no match, UNREAD the file could not be read. */
      hits: Uint8Array;
    };

export const UNREAD = 2;
/** Files larger than this are searched by the session (streamed), not read whole here. */
const SEARCH_MAX = 64 * 1024 * 1024;
/** A whole-file buffer grown past this (one large message) is not kept for the next files. */
const KEEP_MAX = 4 * 1024 * 1024;

/** One read buffer for every header, one for whole files: each is parsed before the next file is read. */
const scratch = { buf: Buffer.allocUnsafe(64 * 1024) };
const whole = { buf: Buffer.allocUnsafe(256 * 1024) };

function entryOf(path: string, size: number, max: number): EnvelopeEntry | null {
  try {
    const header = readHeaderBlockSync(path, size, max, scratch);
    return header === undefined ? null : envelopeEntry(header, NaN);
  } catch {
    return null;
  }
}

function search(job: Extract<ParseJob, { kind: 'search' }>): Uint8Array {
  const n = job.keys.length;
  const hits = new Uint8Array(job.paths.length * n);
  job.paths.forEach((p, i) => {
    let answers: boolean[];
    try {
      if (job.sizes[i]! > SEARCH_MAX) throw new Error('large');
      const raw = readWholeSync(p, job.sizes[i]!, whole);
      if (!raw) throw new Error('gone');
      answers = contentMatches(raw, job.keys);
    } catch {
      hits.fill(UNREAD, i * n, i * n + n);
      return;
    }
    for (let k = 0; k < n; k++) hits[i * n + k] = answers[k] ? 1 : 0;
  });
  if (whole.buf.length > KEEP_MAX) whole.buf = Buffer.allocUnsafe(256 * 1024);
  return hits;
}

parentPort?.on('message', (job: ParseJob) => {
  if (job.kind === 'envelope') {
    const entries = job.paths.map((p, i) => entryOf(p, job.sizes[i]!, job.max));
    parentPort!.postMessage({ id: job.id, entries } satisfies ParseReply);
  } else {
    const hits = search(job);
    parentPort!.postMessage({ id: job.id, hits } satisfies ParseReply, [hits.buffer as ArrayBuffer]);
  }
});
