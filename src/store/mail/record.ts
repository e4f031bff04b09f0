/** The index record of one message (store.ts), shared by the SQL path and the in-memory copy (record-cache.ts). */
import { statSync } from 'node:fs';
import { flagsToList } from './flags.js';

/**
 * INTERNALDATE not read yet: a large first scan indexes files by their names alone (time and ",S=" size, as
 * Dovecot does) and takes the file's mtime the first time the date is asked for (store.ts syncLocked).
 */
export const UNKNOWN_DATE = -1;

/** Where a mailbox's files are, and who is told when an unknown INTERNALDATE was read from a file. */
export interface RecordLocation {
  curDir: string;
  onDate?: (uid: number, date: number) => void;
}

/** The INTERNALDATE of a file indexed without one: its mtime (the delivery time, as for every scanned file). */
export function dateOfFile(loc: RecordLocation, uid: number, path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  // A file that vanished meanwhile: the next sync expunges it; until then "now" is as good as any date.
  const date = st ? Math.floor(st.mtimeMs) : Date.now();
  loc.onDate?.(uid, date);
  return date;
}

/** One indexed message. Small on purpose (lists of 100,000 are made): flags and path are computed on demand. */
export class MessageRecord {
  constructor(
    readonly uid: number,
    readonly modseq: number,
    /** Bit mask (flags.ts). */
    readonly sysflags: number,
    readonly keywords: readonly string[],
    /** INTERNALDATE, ms since the epoch, or UNKNOWN_DATE. */
    private date: number,
    /** RFC822.SIZE. */
    readonly size: number,
    /** Maildir unique name (POP3 UIDL). */
    readonly base: string,
    readonly mdflags: string,
    private readonly where: RecordLocation,
  ) {}
  /** INTERNALDATE, ms since the epoch (read from the file's mtime the first time when the index has none yet). */
  get internalDate(): number {
    if (this.date === UNKNOWN_DATE) this.date = dateOfFile(this.where, this.uid, this.path);
    return this.date;
  }
  get flags(): string[] {
    return flagsToList(this.sysflags, this.keywords);
  }
  get fileName(): string {
    return `${this.base}:2,${this.mdflags}`;
  }
  /** Absolute path of the file (valid until the next change of this message's flags). */
  get path(): string {
    // Plain concatenation (curDir is normalised; a base name never contains "/"): join() was a visible part of
    // the CPU per POP3 RETR.
    return `${this.where.curDir}/${this.base}:2,${this.mdflags}`;
  }
}
