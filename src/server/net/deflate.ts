/**
 * A raw-DEFLATE layer over a connected socket (IMAP COMPRESS=DEFLATE, RFC 4978 §4): everything written is deflated
 * (RFC 1951, no zlib/gzip header: zlib's windowBits -15) and everything read is inflated. The session swaps its
 * socket for this Duplex after the tagged OK of COMPRESS; TLS, when active, stays underneath (compress, then
 * encrypt, as RFC 4978 §8 requires).
 *
 * Output is flushed with Z_SYNC_FLUSH once per batch of writes (on the next turn of the event loop), so a client
 * never waits for a response stuck in the compressor, while many small writes of one response share one flush.
 *
 * Memory per connection is bounded (docs/imap.md, "COMPRESS"): deflate state with windowBits 15 / memLevel 8
 * (~256 KiB), inflate state (~44 KiB), and buffers of at most HIGH_WATER each way. Untrusted input: the compressed
 * client bytes. A "deflate bomb" cannot blow up memory: input is fed to the inflater INFLATE_PIECE bytes at a time
 * and only while the reading side (the IMAP command reader, with its own limits) keeps up; the raw socket is
 * paused meanwhile. Corrupt input destroys the stream (the session then closes the connection).
 */
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

const HIGH_WATER = 64 * 1024;
/** Compressed bytes handed to the inflater at once: at most ~1 MiB of output (DEFLATE's ratio is below 1032:1). */
const INFLATE_PIECE = 1024;

/** What this layer needs of the socket below (a net.Socket or tls.TLSSocket). */
export type RawStream = Duplex;

export class DeflateStream extends Duplex {
  private readonly inflate = zlib.createInflateRaw({ chunkSize: 16 * 1024 });
  private readonly deflate = zlib.createDeflateRaw({ windowBits: 15, memLevel: 8, level: 6, chunkSize: 16 * 1024 });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private feeding = false;
  private wantRead = true;
  private flushScheduled = false;
  private rawEnded = false;

  /** `leftover`: bytes already read from `raw` after the COMPRESS command (compressed data). */
  constructor(
    private readonly raw: RawStream,
    leftover: Buffer[] = [],
  ) {
    super({ highWaterMark: HIGH_WATER, allowHalfOpen: false });
    this.deflate.on('data', (d: Buffer) => {
      if (!this.raw.write(d)) {
        this.deflate.pause();
        this.raw.once('drain', () => this.deflate.resume());
      }
    });
    this.inflate.on('data', (d: Buffer) => {
      if (!this.push(d)) this.wantRead = false;
    });
    this.inflate.on('error', (err) => this.destroy(err));
    this.deflate.on('error', (err) => this.destroy(err));
    this.inflate.on('end', () => this.push(null));
    for (const b of leftover) if (b.length) this.queueInput(b);
    raw.on('data', (d: Buffer) => this.queueInput(d));
    raw.on('end', () => {
      this.rawEnded = true;
      this.feed();
    });
    raw.on('close', () => this.destroy());
    raw.resume();
    this.feed();
  }

  private queueInput(d: Buffer) {
    this.pending.push(d);
    this.pendingBytes += d.length;
    if (this.pendingBytes > HIGH_WATER) this.raw.pause();
    this.feed();
  }

  /** Hand the inflater one small piece at a time, only while our reader wants data. */
  private feed() {
    if (this.feeding || this.destroyed) return;
    if (!this.wantRead) return;
    if (this.pendingBytes <= HIGH_WATER && !this.rawEnded && this.raw.isPaused()) this.raw.resume();
    const head = this.pending[0];
    if (!head) {
      if (this.rawEnded && !this.inflate.writableEnded) this.inflate.end();
      return;
    }
    const piece = head.subarray(0, INFLATE_PIECE);
    if (piece.length === head.length) this.pending.shift();
    else this.pending[0] = head.subarray(piece.length);
    this.pendingBytes -= piece.length;
    this.feeding = true;
    this.inflate.write(piece, () => {
      this.feeding = false;
      this.feed();
    });
  }

  override _read(): void {
    this.wantRead = true;
    this.feed();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.scheduleFlush();
    if (this.deflate.write(chunk)) cb();
    else this.deflate.once('drain', () => cb());
  }

  /** Z_SYNC_FLUSH once the current batch of writes is done (RFC 4978 §4: the client must not wait). */
  private scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.destroyed && !this.deflate.destroyed) this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.deflate.once('end', () => {
      this.raw.end();
      cb();
    });
    this.deflate.end();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inflate.destroy();
    this.deflate.destroy();
    this.raw.destroy();
    cb(err);
  }
}
