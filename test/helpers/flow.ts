/**
 * imapflow (a Thunderbird-like Node client) against the test server: plain connection with STARTTLS (self-signed
 * certificate accepted) and a logger that keeps every entry, so tests can check which commands were sent.
 */
import { ImapFlow, type ImapFlowOptions } from 'imapflow';

export interface FlowClient {
  client: ImapFlow;
  /** Every log entry (imapflow logs commands it sends as `{ src: 'c', msg: ... }`), as JSON text. */
  log: string[];
}

export function flowClient(port: number, user: string, o: Partial<ImapFlowOptions> = {}): FlowClient {
  const log: string[] = [];
  const keep = (entry: unknown) => log.push(JSON.stringify(entry));
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass: 'secret' },
    logger: { trace: keep, debug: keep, info: keep, warn: keep, error: keep },
    logRaw: true,
    ...o,
  });
  client.on('error', () => {});
  return { client, log };
}

/** The client->server bytes imapflow logged (raw log entries, base64 in `data`), as latin1 text. */
export function sentText(log: string[]): string {
  return log
    .map((l) => JSON.parse(l) as { src?: string; data?: string })
    .filter((e) => e.src === 'c' && typeof e.data === 'string')
    .map((e) => Buffer.from(e.data!, 'base64').toString('latin1'))
    .join('');
}
