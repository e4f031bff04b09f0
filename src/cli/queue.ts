/**
 * `mailwright queue ...`: postqueue/postsuper/postcat for Mailwright. Talks to the running server through its
 * control socket (changes take effect at once); when no server runs, acts on the queue files directly.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { controlRequest } from '../server/control.js';
import { queueCommand, type QueueCommand, type QueueSelector } from '../queue/admin.js';
import { QueueStore } from '../queue/store.js';
import type { QueueListItem } from '../queue/manager.js';
import type { CliIo } from './index.js';

async function run(config: Config, cmd: QueueCommand, args: QueueSelector & { id?: string }): Promise<unknown> {
  const live = await controlRequest(config.dataDir, `queue.${cmd}`, args as Record<string, unknown>);
  if (live !== null) return live;
  const store = new QueueStore(config.dataDir);
  await store.init();
  return queueCommand(store, cmd, args);
}

function formatList(items: QueueListItem[]): string[] {
  if (!items.length) return ['Mail queue is empty'];
  const out: string[] = [];
  for (const i of items) {
    out.push(`${i.id}${i.state === 'hold' ? '!' : i.state === 'active' ? '*' : ''}  ${String(i.size).padStart(8)}  ${i.arrival}  ${i.sender || '<>'}  [${i.state}, ${i.attempts} attempt(s)]`);
    for (const r of i.recipients.filter((x) => x.status === 'pending')) {
      out.push(`        ${r.address}${r.lastError ? `  (${r.lastError})` : ''}`);
    }
  }
  const n = items.length;
  out.push(`-- ${items.reduce((a, i) => a + i.size, 0)} bytes in ${n} request${n === 1 ? '' : 's'}.`);
  return out;
}

export function addQueueCommands(program: Command, cfg: () => Config, io: CliIo): void {
  const queue = program.command('queue').description('the outbound mail queue (like postqueue, postsuper, postcat)');
  queue
    .command('list')
    .description('list queued messages: id, size, arrival, sender, recipients, state, last error')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const items = (await run(cfg(), 'list', {})) as QueueListItem[];
      if (o.json) io.out(JSON.stringify(items));
      else for (const l of formatList(items)) io.out(l);
    });
  queue
    .command('show <id>')
    .description('show a queued message: envelope, state, headers and body')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = (await run(cfg(), 'show', { id })) as QueueListItem & { message: string };
      if (o.json) return io.out(JSON.stringify(r));
      io.out(`id: ${r.id}\nstate: ${r.state}\nsender: ${r.sender || '<>'}\narrival: ${r.arrival}\nattempts: ${r.attempts}\nnext attempt: ${r.nextAttempt ?? '-'}`);
      for (const x of r.recipients) io.out(`recipient: ${x.address} ${x.status}${x.lastError ? ` (${x.lastError})` : ''}`);
      io.out('');
      io.out(r.message);
    });
  queue
    .command('flush [ids...]')
    .description('retry now: the given messages, or every deferred one')
    .action(async (ids: string[]) => {
      const r = (await run(cfg(), 'flush', { ids })) as { count: number };
      io.out(`${r.count} message(s) scheduled for delivery now`);
    });
  const selecting = (name: QueueCommand, what: string) =>
    queue
      .command(`${name} [ids...]`)
      .description(`${what}: by queue id, --sender, --domain (a recipient domain), or --all`)
      .option('--sender <address>', 'messages from this envelope sender ("" for bounces)')
      .option('--domain <domain>', 'messages with a pending recipient in this domain')
      .option('--all', 'every message')
      .action(async (ids: string[], o: { sender?: string; domain?: string; all?: boolean }) => {
        const r = (await run(cfg(), name, { ids, sender: o.sender, domain: o.domain, all: o.all })) as { count: number };
        io.out(`${r.count} message(s) ${name === 'delete' ? 'deleted' : name === 'hold' ? 'put on hold' : name === 'release' ? 'released' : 'requeued'}`);
      });
  selecting('hold', 'keep messages in the queue without delivering them');
  selecting('release', 'release held messages');
  selecting('delete', 'delete messages from the queue (no bounce is sent)');
  selecting('requeue', 'requeue messages with the retry clock reset');
}
