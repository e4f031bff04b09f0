/**
 * Blocking reads of message files for bulk loops: the header block (the header fields and the empty line after
 * them, RFC 5322 §2.1) from the first bytes of the file only, or the whole file into a reusable buffer. Pure file
 * access (no index), so that worker threads can use it too.
 */
import { openSync, readSync, closeSync } from 'node:fs';

/** A read-only descriptor of `path`, undefined when there is no such file; other errors are thrown. */
function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** First read of a header block; most headers fit. */
export const HEAD_READ = 8192;

/**
 * Index of the first byte after the header's blank line ("\n\n" or "\n\r\n", or an empty first line), looking at
 * buf[from..len) only; -1 when there is none yet.
 */
export function headerEnd(buf: Buffer, from: number, len: number): number {
  if (from === 0) {
    if (len > 0 && buf[0] === 0x0a) return 1;
    if (len > 1 && buf[0] === 0x0d && buf[1] === 0x0a) return 2;
  }
  const view = buf.subarray(0, len);
  let i = from;
  for (;;) {
    i = view.indexOf(0x0a, i);
    if (i < 0 || i + 1 >= len) return -1;
    if (view[i + 1] === 0x0a) return i + 2;
    if (view[i + 1] === 0x0d && i + 2 < len && view[i + 2] === 0x0a) return i + 3;
    i++;
  }
}

/**
 * The header block of the file at `path` (the whole file when it has no blank line), with short blocking reads;
 * `size` is the recorded size (the first read's length). undefined: no such file, or the header block is longer
 * than `max` (the caller reads it asynchronously). Other errors are thrown.
 * With `scratch`, the bytes are read into scratch.buf (replaced by a larger buffer when needed) and the result is a
 * view of it, valid until the next call with the same scratch: no allocation per file for callers that parse at once.
 */
export function readHeaderBlockSync(path: string, size: number, max: number, scratch?: { buf: Buffer }): Buffer | undefined {
  const fd = openIfExists(path);
  if (fd === undefined) return undefined;
  try {
    const first = Math.min(HEAD_READ, Math.max(size, 0) + 1) || 1;
    let buf = scratch ? scratch.buf : Buffer.allocUnsafe(first);
    let len = 0;
    for (;;) {
      // A scratch buffer is larger than the file's recorded size may need: read no more than a private one would.
      const want = len === 0 && scratch ? Math.min(first, buf.length) : buf.length - len;
      const got = readSync(fd, buf, len, want, len);
      if (got === 0) return buf.subarray(0, len);
      const from = Math.max(0, len - 2);
      len += got;
      const end = headerEnd(buf, from, len);
      if (end >= 0) return buf.subarray(0, end);
      if (len === buf.length) {
        if (len >= max) return undefined;
        const bigger = Buffer.allocUnsafe(buf.length * 4);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
        if (scratch) scratch.buf = bigger;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The whole file at `path` read into scratch.buf (replaced by a larger buffer when needed), as a view valid until the
 * next call with the same scratch; `size` is the recorded size. undefined: no such file. Other errors are thrown.
 */
export function readWholeSync(path: string, size: number, scratch: { buf: Buffer }): Buffer | undefined {
  const fd = openIfExists(path);
  if (fd === undefined) return undefined;
  try {
    if (scratch.buf.length < size + 1) scratch.buf = Buffer.allocUnsafe(Math.max(size + 1, scratch.buf.length * 2));
    let len = 0;
    for (;;) {
      const buf = scratch.buf;
      const want = buf.length - len;
      const got = readSync(fd, buf, len, want, len);
      len += got;
      // A short read of a regular file is its end (no second read() just to see 0 bytes).
      if (got < want) return buf.subarray(0, len);
      // Larger than recorded: grow and go on.
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      scratch.buf = bigger;
    }
  } finally {
    closeSync(fd);
  }
}
