/**
 * Queue administration (what postqueue, postsuper and postcat do): list, show, flush, hold, release, delete,
 * requeue. One implementation serves the running server (through the control socket, acting on the queue manager
 * so that changes take effect at once) and the CLI when no server runs (acting on the queue files directly).
 */
import { promises as fsp } from 'node:fs';
import { QueueManager, toListItem, type QueueListItem } from './manager.js';
import { QueueStore } from './store.js';
import { UserError } from '../common/errors.js';

export interface QueueSelector {
  ids?: string[];
  sender?: string;
  /** Recipient domain: messages with a pending recipient in it. */
  domain?: string;
  all?: boolean;
}

export type QueueCommand = 'list' | 'show' | 'flush' | 'hold' | 'release' | 'delete' | 'requeue';

export function selectIds(items: QueueListItem[], sel: QueueSelector): string[] {
  if (!sel.all && !sel.ids?.length && !sel.sender && !sel.domain) {
    throw new UserError('name the messages: queue ids, --sender ADDRESS, --domain DOMAIN, or --all');
  }
  return items
    .filter((i) => {
      if (sel.all) return true;
      if (sel.ids?.length && !sel.ids.includes(i.id)) return false;
      if (sel.sender !== undefined && i.sender.toLowerCase() !== sel.sender.toLowerCase()) return false;
      if (sel.domain && !i.recipients.some((r) => r.status === 'pending' && r.address.toLowerCase().endsWith('@' + sel.domain!.toLowerCase()))) return false;
      return true;
    })
    .map((i) => i.id);
}

async function offlineList(store: QueueStore): Promise<QueueListItem[]> {
  return (await store.list()).map(({ state, entry }) => toListItem(state, entry));
}

/** Runs one queue command against a live manager or, with only a store, on the files. */
export async function queueCommand(target: QueueManager | QueueStore, cmd: QueueCommand, args: QueueSelector & { id?: string } = {}): Promise<unknown> {
  const live = target instanceof QueueManager ? target : null;
  const store = live ? live.store : (target as QueueStore);
  const list = () => (live ? live.list() : offlineList(store));
  switch (cmd) {
    case 'list':
      return list();
    case 'show': {
      const id = args.id ?? args.ids?.[0];
      if (!id) throw new UserError('queue show needs a queue id');
      const found = await store.locate(id);
      if (!found) throw new UserError(`no message ${id} in the queue`);
      const body = await fsp.readFile(store.bodyPath(id)).catch(() => Buffer.alloc(0));
      return { ...toListItem(found.state, found.entry), entry: found.entry, message: body.toString('utf8') };
    }
    case 'flush': {
      const ids = args.ids?.length ? args.ids : undefined;
      if (live) {
        if (!ids) return { count: await live.flush() };
        let n = 0;
        for (const id of ids) n += await live.flush(id);
        return { count: n };
      }
      let n = 0;
      for (const { state, entry } of await store.list()) {
        if (state === 'hold' || (ids && !ids.includes(entry.id))) continue;
        entry.nextAttempt = 0;
        await store.writeRecord(state, entry);
        n++;
      }
      return { count: n };
    }
    case 'hold':
    case 'release':
    case 'delete':
    case 'requeue': {
      const ids = selectIds(await list(), args);
      if (live) {
        const n = cmd === 'hold' ? await live.hold(ids) : cmd === 'release' ? await live.release(ids) : cmd === 'delete' ? await live.remove(ids) : await live.requeue(ids);
        return { count: n };
      }
      let n = 0;
      for (const id of ids) {
        const f = await store.locate(id);
        if (!f) continue;
        if (cmd === 'delete') await store.remove(id, f.state);
        else if (cmd === 'hold') {
          if (f.state === 'hold') continue;
          await store.move(id, f.state, 'hold');
        } else if (cmd === 'release') {
          if (f.state !== 'hold') continue;
          f.entry.nextAttempt = 0;
          await store.writeRecord('hold', f.entry);
          await store.move(id, 'hold', 'deferred');
        } else {
          f.entry.nextAttempt = 0;
          f.entry.attempts = 0;
          await store.writeRecord(f.state, f.entry);
          await store.move(id, f.state, 'incoming');
        }
        n++;
      }
      return { count: n };
    }
  }
}
