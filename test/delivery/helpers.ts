/** Shared fixtures for the delivery tests: message files, a captured logger, RemoteDelivery with test timeouts. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { RemoteDelivery, type OutboundMessage, type RemoteDeliveryOptions } from '../../src/delivery/remote.js';
import type { TestDnsServer } from '../helpers/dns-server.js';

export const OUR_HOSTNAME = 'mail.example.test';

export class LogLines extends Writable {
  readonly lines: Record<string, any>[] = [];
  override _write(chunk: Buffer, _e: string, cb: () => void) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    cb();
  }
  attempts(queueId?: string) {
    return this.lines.filter((l) => l.msg === 'remote delivery attempt' && (!queueId || l.queueId === queueId));
  }
}

export class Fixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'mw-deliv-'));
  readonly logs = new LogLines();
  readonly log = pino({ level: 'info' }, this.logs);
  private n = 0;
  private open: RemoteDelivery[] = [];
  constructor(
    readonly dns: TestDnsServer,
    readonly port: number,
  ) {}

  /** A message file with CRLF lines; `body` is appended after a standard header. */
  message(recipients: string[], o: { body?: string | Buffer; raw?: Buffer; sender?: string; body8bit?: boolean; smtputf8?: boolean } = {}): OutboundMessage {
    const id = `Q${++this.n}${Date.now().toString(36)}`;
    const raw =
      o.raw ??
      Buffer.concat([
        Buffer.from(
          `From: <${o.sender ?? 'alice@example.org'}>\r\nTo: ${recipients.join(', ')}\r\nSubject: test ${id}\r\n` +
            `Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${id}@example.org>\r\n\r\n`,
        ),
        Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body ?? `Hello ${id}.\r\n.leading dot\r\n..two dots\r\nend\r\n`),
      ]);
    const bodyPath = join(this.dir, id);
    writeFileSync(bodyPath, raw);
    return {
      id,
      sender: o.sender ?? 'alice@example.org',
      recipients,
      body8bit: o.body8bit ?? false,
      smtputf8: o.smtputf8 ?? false,
      size: raw.length,
      bodyPath,
    };
  }

  delivery(extra: Partial<RemoteDeliveryOptions> = {}): RemoteDelivery {
    const d = new RemoteDelivery({
      hostname: OUR_HOSTNAME,
      resolver: this.dns.resolver({ timeoutMs: 400, tries: 1 }),
      port: this.port,
      timeouts: { connect: 1000, greeting: 3000, mail: 3000, rcpt: 3000, dataInit: 3000, dataBlock: 3000, dataEnd: 3000 },
      log: this.log,
      ...extra,
    });
    this.open.push(d);
    return d;
  }

  async cleanup() {
    for (const d of this.open) await d.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
