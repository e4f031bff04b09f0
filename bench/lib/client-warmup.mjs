/**
 * Warms up the benchmark's IMAP client (bench/lib/imap-client.mjs) before any server is timed: a throwaway IMAP
 * responder on 127.0.0.1 sends the client the kinds of responses the suite reads (100,000 FETCH FLAGS lines,
 * ENVELOPEs with literals, long SEARCH/SORT/THREAD lines) a few times. Without it, the server measured first paid
 * for the client's JIT compilation of its parser: the first UID FETCH 1:* (FLAGS) cost the client ~190 ms of CPU
 * against ~45 ms warm, which made the first server's FETCH FLAGS look twice as slow as it is.
 */
import net from 'node:net';
import { ImapClient } from './imap-client.mjs';

function responder(count) {
  const flags = [];
  const envs = [];
  for (let i = 1; i <= count; i++) {
    flags.push(`* ${i} FETCH (UID ${i} FLAGS (\\Seen${i % 7 ? '' : ' \\Flagged'}))\r\n`);
    const subject = i % 25 ? `"Re: warm up subject ${i}"` : `{14}\r\ncaf\u00e9 subject ${i % 10}`;
    envs.push(
      `* ${i} FETCH (ENVELOPE ("Mon, 1 Jan 2024 00:00:00 +0000" ${subject} (("Warm Up" NIL "warm" "example.test")) (("Warm Up" NIL "warm" "example.test")) (("Warm Up" NIL "warm" "example.test")) ((NIL NIL "bench" "example.test")) NIL NIL NIL "<${i}@example.test>"))\r\n`,
    );
  }
  const numbers = Array.from({ length: count }, (_, i) => i + 1).join(' ');
  const flagsText = flags.join('');
  const envText = envs.join('');
  return net.createServer((sock) => {
    sock.write('* OK warm-up responder ready\r\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [tag, cmd = ''] = line.split(' ');
        const verb = cmd.toUpperCase();
        let body = '';
        if (verb === 'FLAGS') body = flagsText;
        else if (verb === 'ENVELOPE') body = envText;
        else if (verb === 'SEARCH') body = `* SEARCH ${numbers}\r\n`;
        else if (verb === 'SORT') body = `* SORT ${numbers}\r\n`;
        else if (verb === 'THREAD') body = `* THREAD ${numbers.split(' ').map((n) => `(${n})`).join('')}\r\n`;
        else if (verb === 'LOGOUT') body = '* BYE\r\n';
        sock.write(`${body}${tag} OK done\r\n`);
        if (verb === 'LOGOUT') sock.end();
      }
    });
    sock.on('error', () => {});
  });
}

/** Runs the client against the responder `rounds` times (the server is closed afterwards). */
export async function warmClient({ count = 100000, rounds = 3 } = {}) {
  const server = responder(count);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  try {
    for (let r = 0; r < rounds; r++) {
      const c = await ImapClient.connect({ port });
      for (const cmd of ['FLAGS', 'ENVELOPE', 'SEARCH', 'SORT', 'THREAD']) await c.command(cmd, { keep: true });
      await c.command('LOGOUT').catch(() => {});
    }
  } finally {
    server.close();
  }
}
