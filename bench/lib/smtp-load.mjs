/**
 * A small SMTP load generator for benchmarks (smtp-source cannot AUTH): C connections in parallel, each doing
 * EHLO, optionally AUTH PLAIN, then transactions in a loop with the envelope pipelined (RFC 2920: MAIL, RCPT and
 * DATA in one write, then the message and its end-of-data), up to `perConnection` messages before QUIT and a new
 * connection. One recipient per message, chosen by the caller from the global message number.
 *
 *   const r = await runLoad({ host: '127.0.0.1', port, connections: 20, messages: 20000, bodyBytes: 4096,
 *     auth: (conn) => ({ user: 'u1@example.test', pass: 'x' }),      // or null: no AUTH (a client in mynetworks)
 *     sender: (conn) => 'u1@example.test', recipient: (n) => `r${n}@d${(n % 50) + 1}.test`, deadline });
 *   // r = { seconds, accepted, rejected, errors: [...first few], connectionsOpened }
 *
 * A transaction counts as accepted only on a 2xx reply to the end of data. Any other reply is counted as rejected
 * and the connection continues (RSET); a connection-level error (reset, timeout, 421) ends that connection, its
 * unfinished message is counted as failed and a new connection is opened, until `messages` have been attempted.
 */
import net from 'node:net';

const CRLF = '\r\n';

/** A body of about `bytes` bytes: 76-character lines of text, no line starting with a dot. */
export function makeBody(bytes) {
  const line = 'The quick brown fox jumps over the lazy dog; Mailwright queue relay benchmark.'.slice(0, 76) + CRLF;
  let s = '';
  while (s.length + line.length <= bytes) s += line;
  if (s.length < bytes) s += 'x'.repeat(Math.max(0, bytes - s.length - 2)) + CRLF;
  return Buffer.from(s, 'ascii');
}

class ReplyReader {
  constructor(socket, timeoutMs) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.buf = '';
    this.lines = [];
    this.replies = [];
    this.waiters = [];
    this.error = null;
    socket.setEncoding('latin1');
    socket.on('data', (d) => this.onData(d));
    const fail = (err) => {
      if (this.error) return;
      this.error = err;
      for (const w of this.waiters.splice(0)) w.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    socket.setTimeout(timeoutMs, () => {
      fail(new Error(`no reply within ${timeoutMs} ms`));
      socket.destroy();
    });
  }

  onData(d) {
    this.buf += d;
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        const reply = { code: Number(line.slice(0, 3)) || 0, text: this.lines.join('\n') };
        this.lines = [];
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.replies.push(reply);
      }
    }
  }

  next() {
    if (this.replies.length) return Promise.resolve(this.replies.shift());
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

function connect(host, port, localAddress, timeoutMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    s.setNoDelay(true);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/**
 * Runs the load; resolves when every message was attempted (or the deadline passed).
 * Options: host, port, connections, messages, bodyBytes, perConnection (default 100), auth(conn) -> {user, pass} |
 * null, sender(conn) -> address, recipient(n) -> address, ehlo (default 'loadgen.bench.test'), localAddress,
 * timeoutMs (per reply, default 120000), deadline (epoch ms), onAccepted(n) (optional, for progress).
 */
export async function runLoad(o) {
  const perConnection = o.perConnection ?? 100;
  const timeoutMs = o.timeoutMs ?? 120000;
  const body = makeBody(o.bodyBytes ?? 4096);
  const ehlo = o.ehlo ?? 'loadgen.bench.test';
  let next = 0;
  let accepted = 0;
  let rejected = 0;
  let failed = 0;
  let connectionsOpened = 0;
  const errors = [];
  const note = (e) => {
    if (errors.length < 20) errors.push(e);
  };
  const t0 = process.hrtime.bigint();

  const session = async (conn) => {
    // One connection: returns when it has done perConnection messages, or throws on a connection-level error.
    const socket = await connect(o.host, o.port, o.localAddress, timeoutMs);
    connectionsOpened++;
    const r = new ReplyReader(socket, timeoutMs);
    let inFlight = -1;
    try {
      const greet = await r.next();
      if (greet.code !== 220) throw new Error(`greeting: ${greet.text}`);
      socket.write(`EHLO ${ehlo}${CRLF}`);
      const e = await r.next();
      if (e.code !== 250) throw new Error(`EHLO: ${e.text}`);
      const pipelining = /^250[ -]PIPELINING$/im.test(e.text);
      const auth = o.auth ? o.auth(conn) : null;
      if (auth) {
        const tok = Buffer.from(`\0${auth.user}\0${auth.pass}`, 'utf8').toString('base64');
        socket.write(`AUTH PLAIN ${tok}${CRLF}`);
        const a = await r.next();
        if (a.code !== 235) throw new Error(`AUTH: ${a.text}`);
      }
      const from = o.sender(conn);
      for (let k = 0; k < perConnection; k++) {
        if (next >= o.messages || Date.now() > o.deadline) break;
        const n = next++;
        inFlight = n;
        const to = o.recipient(n);
        const env = [`MAIL FROM:<${from}>${CRLF}`, `RCPT TO:<${to}>${CRLF}`, `DATA${CRLF}`];
        let replies;
        if (pipelining) {
          socket.write(env.join(''));
          replies = [await r.next(), await r.next(), await r.next()];
        } else {
          replies = [];
          for (const c of env) {
            socket.write(c);
            const x = await r.next();
            replies.push(x);
            if (x.code >= 400) break;
          }
        }
        const [mail, rcpt, data] = replies;
        if (data?.code === 354 && mail.code === 250 && rcpt.code === 250) {
          const head =
            `From: <${from}>${CRLF}To: <${to}>${CRLF}Subject: queue relay benchmark ${n}${CRLF}` +
            `Date: ${new Date().toUTCString().replace('GMT', '+0000')}${CRLF}` +
            `Message-ID: <bench.${n}.${process.pid}@loadgen.bench.test>${CRLF}${CRLF}`;
          socket.write(Buffer.concat([Buffer.from(head, 'ascii'), body, Buffer.from(`.${CRLF}`)]));
          const end = await r.next();
          if (end.code >= 200 && end.code < 300) {
            accepted++;
            o.onAccepted?.(accepted);
          } else {
            rejected++;
            note(`message ${n}: end of data: ${end.text}`);
            if (end.code === 421) throw new Error(end.text);
          }
        } else {
          if (data?.code === 354) {
            // Should not happen (no valid recipient but DATA accepted): end the empty message.
            socket.write(`.${CRLF}`);
            await r.next();
          }
          rejected++;
          note(`message ${n}: ${replies.map((x) => x.text.split('\n').pop()).join(' | ')}`);
          if (replies.some((x) => x.code === 421)) throw new Error('421');
          socket.write(`RSET${CRLF}`);
          await r.next();
        }
        inFlight = -1;
      }
      socket.write(`QUIT${CRLF}`);
      await r.next().catch(() => {});
    } catch (err) {
      if (inFlight >= 0) failed++;
      throw err;
    } finally {
      socket.destroy();
    }
  };

  const worker = async (conn) => {
    let consecutiveErrors = 0;
    while (next < o.messages && Date.now() <= o.deadline) {
      try {
        await session(conn);
        consecutiveErrors = 0;
      } catch (err) {
        note(`connection ${conn}: ${err.message}`);
        if (++consecutiveErrors >= 10) return; // the server is not taking connections: give up this worker
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  };

  await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(i)));
  return {
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    attempted: Math.min(next, o.messages),
    accepted,
    rejected,
    failed,
    connectionsOpened,
    errors,
  };
}
