/**
 * Recipient resolution for the MX: turns an RCPT TO address into the local mailboxes (and, for aliases that
 * forward outside, the remote addresses) it stands for. Order, as Postfix's virtual(5) + virtual_alias_maps:
 *   1. an exact user (local part case-insensitive);  2. an exact alias;
 *   3. with plus-addressing (user+tag@), the same two for the base address;  4. the domain's catch-all "@domain".
 * Aliases expand recursively (depth-limited, loops and duplicates removed).
 */
import type { AccountStore, User } from '../store/types.js';
import { addressKey, parseAddress, splitDetail } from '../common/address.js';

export type Resolution =
  | { kind: 'relay-denied'; domain: string }
  | { kind: 'unknown' }
  | { kind: 'disabled'; address: string }
  | { kind: 'ok'; local: LocalTarget[]; remote: string[] };

export interface LocalTarget {
  user: User;
  /** The "+tag" of the address that reached this user, if any. */
  detail: string | null;
}

const MAX_DEPTH = 10;
const MAX_TARGETS = 1000;

export class RecipientResolver {
  constructor(
    private readonly store: AccountStore,
    private readonly delimiter = '+',
  ) {}

  /** Hosted-domain answers are cached for a few seconds: two to three lookups per RCPT otherwise. */
  private readonly domainCache = new Map<string, { hosted: boolean; at: number }>();

  async isHostedDomain(domain: string): Promise<boolean> {
    const now = Date.now();
    const c = this.domainCache.get(domain);
    if (c && now - c.at < 5000) return c.hosted;
    const hosted = (await this.store.getDomain(domain)) !== undefined;
    if (this.domainCache.size > 10_000) this.domainCache.clear();
    this.domainCache.set(domain, { hosted, at: now });
    return hosted;
  }

  async resolve(address: string): Promise<Resolution> {
    const p = parseAddress(address);
    if (!p) return { kind: 'unknown' };
    if (!(await this.isHostedDomain(p.domain))) return { kind: 'relay-denied', domain: p.domain };
    const local = new Map<number, LocalTarget>();
    const remote = new Set<string>();
    const found = await this.expand(p.address, 0, new Set(), local, remote, true);
    if (found === 'disabled') return { kind: 'disabled', address: p.address };
    if (!found) return { kind: 'unknown' };
    if (local.size === 0 && remote.size === 0) return { kind: 'unknown' };
    return { kind: 'ok', local: [...local.values()], remote: [...remote] };
  }

  /** Returns true when the address named something (a user or an alias), 'disabled' for a disabled user. */
  private async expand(
    address: string,
    depth: number,
    seen: Set<string>,
    local: Map<number, LocalTarget>,
    remote: Set<string>,
    top: boolean,
  ): Promise<boolean | 'disabled'> {
    const p = parseAddress(address);
    if (!p) return false;
    const key = addressKey(p);
    if (seen.has(key) || depth > MAX_DEPTH || local.size + remote.size >= MAX_TARGETS) return true;
    seen.add(key);
    if (!(await this.isHostedDomain(p.domain))) {
      remote.add(p.address);
      return true;
    }
    const { base, detail } = this.delimiter ? splitDetail(p.localPart, this.delimiter) : { base: p.localPart, detail: null };
    const candidates = detail !== null ? [key, `${base.toLowerCase()}@${p.domain}`] : [key];
    for (const k of candidates) {
      const user = await this.store.getUser(k);
      if (user) {
        if (!user.enabled) return top ? 'disabled' : true;
        local.set(user.id, { user, detail: k === key ? null : detail });
        return true;
      }
      const dests = await this.store.aliasDestinations(k);
      if (dests.length) {
        for (const d of dests) await this.expand(d, depth + 1, seen, local, remote, false);
        return true;
      }
    }
    const catchAll = await this.store.aliasDestinations(`@${p.domain}`);
    if (catchAll.length) {
      for (const d of catchAll) {
        // A catch-all that names a hosted address delivers there; it does not recurse into the catch-all again.
        await this.expand(d, depth + 1, seen, local, remote, false);
      }
      return true;
    }
    return false;
  }
}
