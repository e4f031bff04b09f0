/**
 * Worker thread of the envelope pool (./envelope-pool.ts): reads the header block of each file it is given and
 * returns what a first FETCH ENVELOPE stores (./message-keys.ts envelopeEntry), so that reading and parsing
 * 100,000 headers runs beside the session's thread, which writes the responses and the index.
 * Input is a list of paths under the data directory chosen by the store, never by a client.
 */
import { parentPort } from 'node:worker_threads';
import { readHeaderBlockSync } from '../../store/maildir/header-block.js';
import { envelopeEntry, type EnvelopeEntry } from './message-keys.js';

export interface EnvelopeJob {
  id: number;
  paths: string[];
  sizes: number[];
  /** Header blocks longer than this are left to the session (read asynchronously). */
  max: number;
}

export interface EnvelopeReply {
  id: number;
  /** Per path: the entry (keys.date NaN when the Date header gives none), or null (file gone, too long, error). */
  entries: Array<EnvelopeEntry | null>;
}

/** One read buffer for every file: the header is parsed before the next file is read. */
const scratch = { buf: Buffer.allocUnsafe(64 * 1024) };

function entryOf(path: string, size: number, max: number): EnvelopeEntry | null {
  try {
    const header = readHeaderBlockSync(path, size, max, scratch);
    return header === undefined ? null : envelopeEntry(header, NaN);
  } catch {
    return null;
  }
}

parentPort?.on('message', (job: EnvelopeJob) => {
  const entries = job.paths.map((p, i) => entryOf(p, job.sizes[i]!, job.max));
  parentPort!.postMessage({ id: job.id, entries } satisfies EnvelopeReply);
});
