/**
 * Dovecot Maildir metadata: dovecot-uidlist (streamed), dovecot-keywords, and file names.
 *
 * dovecot-uidlist (Dovecot 2.x, version 3): a header "3 V<uidvalidity> N<nextuid> G<guid> ..." then one line per
 * message: "<uid> [<ext> ...] :<filename>" where ext fields are a letter and a value (W<vsize>, S<size>, ...).
 * Version 1 and 2 files: header "1 <uidvalidity> <nextuid>", lines "<uid> <filename>" / "<uid> <flags> <filename>".
 * Files are matched by their base name (before ":2,"), as Dovecot does: the name in the list may carry old flags.
 * dovecot-keywords: "<index> <keyword>" lines; keyword letter 'a' + index in file names (26 at most).
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export interface UidlistHeader {
  version: number;
  uidValidity: number;
  nextUid: number;
}

export interface UidlistEntry {
  uid: number;
  /** Base name (before ":2,"). */
  base: string;
}

/** Base name of a Maildir file name (everything before ":2," or the first ":"). */
export function maildirBase(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

function parseHeader(line: string): UidlistHeader | null {
  const t = line.trim().split(/\s+/);
  const version = Number(t[0]);
  if (version === 3) {
    let uidValidity = 0;
    let nextUid = 1;
    for (const f of t.slice(1)) {
      if (f[0] === 'V') uidValidity = Number(f.slice(1));
      else if (f[0] === 'N') nextUid = Number(f.slice(1));
    }
    return { version, uidValidity: uidValidity >>> 0, nextUid: nextUid || 1 };
  }
  if (version === 1 || version === 2) return { version, uidValidity: Number(t[1]) >>> 0, nextUid: Number(t[2]) || 1 };
  return null;
}

function parseEntry(line: string, version: number): UidlistEntry | null {
  const sp = line.indexOf(' ');
  if (sp <= 0) return null;
  const uid = Number(line.slice(0, sp));
  if (!Number.isInteger(uid) || uid <= 0 || uid > 0xffffffff) return null;
  let name: string;
  if (version === 3) {
    const c = line.indexOf(' :', sp - 1);
    name = c >= 0 ? line.slice(c + 2) : line.slice(line.lastIndexOf(' ') + 1);
  } else {
    name = line.slice(line.lastIndexOf(' ') + 1);
  }
  name = name.trim();
  if (!name || name.includes('/')) return null;
  return { uid, base: maildirBase(name) };
}

/** The header of a dovecot-uidlist, or null when the folder has none (or it is unreadable). */
export async function readUidlistHeader(dir: string): Promise<UidlistHeader | null> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(join(dir, 'dovecot-uidlist'), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    return parseHeader(nl < 0 ? text : text.slice(0, nl));
  } finally {
    await fh.close();
  }
}

/** Streams the entries of a dovecot-uidlist (never the whole file in memory). */
export async function* readUidlist(dir: string): AsyncGenerator<UidlistEntry> {
  const header = await readUidlistHeader(dir);
  if (!header) return;
  const rl = createInterface({ input: createReadStream(join(dir, 'dovecot-uidlist'), { encoding: 'utf8' }), crlfDelay: Infinity });
  let first = true;
  for await (const line of rl) {
    if (first) {
      first = false;
      continue;
    }
    const e = parseEntry(line, header.version);
    if (e) yield e;
  }
}

/** Keyword names by letter index (0 = 'a'). */
export async function readKeywords(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let text: string;
  try {
    text = await fsp.readFile(join(dir, 'dovecot-keywords'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line.trim());
    if (m && Number(m[1]) < 26) out.set(Number(m[1]), m[2]!);
  }
  return out;
}

/** Flag letters of a file name split into system letters (upper case) and keyword names. */
export function namesFlags(name: string, keywords: Map<number, string>): { letters: string; keywords: string[] } {
  const i = name.indexOf(':2,');
  if (i < 0) return { letters: '', keywords: [] };
  let letters = '';
  const kws: string[] = [];
  for (const ch of name.slice(i + 3)) {
    const c = ch.charCodeAt(0);
    if (c >= 0x61 && c <= 0x7a) {
      const k = keywords.get(c - 0x61);
      if (k) kws.push(k);
    } else if (c >= 0x41 && c <= 0x5a) letters += ch;
  }
  return { letters, keywords: kws };
}

/** The timestamp a Maildir name starts with (seconds), or null. */
export function nameTimestamp(name: string): number | null {
  const m = /^(\d{9,11})\./.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * A compact UID index of a uidlist: 53-bit hashes of base names with their UIDs in two typed arrays (12 bytes per
 * message, not a Map of strings), sorted for binary search. Hash collisions between different names fall back to
 * a small exact map.
 */
export class UidIndex {
  private hashes = new Float64Array(1024);
  private uids = new Uint32Array(1024);
  private n = 0;
  private sorted = true;
  private readonly exact = new Map<string, number>();
  private readonly collided = new Set<number>();
  maxUid = 0;

  static hash(s: string): number {
    // cyrb53 (public domain): 53 bits, well distributed.
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }

  get size(): number {
    return this.n;
  }

  add(base: string, uid: number): void {
    if (this.n === this.hashes.length) {
      const h = new Float64Array(this.n * 2);
      h.set(this.hashes);
      this.hashes = h;
      const u = new Uint32Array(this.n * 2);
      u.set(this.uids);
      this.uids = u;
    }
    this.hashes[this.n] = UidIndex.hash(base);
    this.uids[this.n] = uid;
    this.n++;
    this.sorted = false;
    if (uid > this.maxUid) this.maxUid = uid;
  }

  /** Sort; hashes that occur twice are resolved with exact names from `names` (a second pass over the list). */
  async finish(names: () => AsyncIterable<UidlistEntry>): Promise<void> {
    const idx = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => this.hashes[a]! - this.hashes[b]!);
    const h = new Float64Array(this.n);
    const u = new Uint32Array(this.n);
    idx.forEach((from, to) => {
      h[to] = this.hashes[from]!;
      u[to] = this.uids[from]!;
    });
    this.hashes = h;
    this.uids = u;
    this.sorted = true;
    for (let i = 1; i < this.n; i++) if (h[i] === h[i - 1]) this.collided.add(h[i]!);
    if (this.collided.size) for await (const e of names()) if (this.collided.has(UidIndex.hash(e.base))) this.exact.set(e.base, e.uid);
  }

  get(base: string): number | undefined {
    if (!this.sorted) throw new Error('UidIndex: finish() first');
    const h = UidIndex.hash(base);
    if (this.collided.has(h)) return this.exact.get(base);
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.hashes[mid]!;
      if (v === h) return this.uids[mid];
      if (v < h) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}
