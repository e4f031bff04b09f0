/** The index record of one message (store.ts), shared by the SQL path and the in-memory copy (record-cache.ts). */
import { flagsToList } from './flags.js';

/** One indexed message. Small on purpose (lists of 100,000 are made): flags and path are computed on demand. */
export class MessageRecord {
  constructor(
    readonly uid: number,
    readonly modseq: number,
    /** Bit mask (flags.ts). */
    readonly sysflags: number,
    readonly keywords: readonly string[],
    /** INTERNALDATE, ms since the epoch. */
    readonly internalDate: number,
    /** RFC822.SIZE. */
    readonly size: number,
    /** Maildir unique name (POP3 UIDL). */
    readonly base: string,
    readonly mdflags: string,
    private readonly where: { curDir: string },
  ) {}
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

