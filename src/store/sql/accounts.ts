/**
 * AccountStore on SQL (Kysely): domains, users and aliases.
 * Invariants: domain names are stored normalised (lower-case A-labels); users are unique on address_key
 * (lower-case local part); alias sources are lower-case "local@domain" or "@domain".
 */
import type { AccountStore, Alias, Domain, User } from '../types.js';
import type { Db } from './db.js';
import { isUniqueViolation } from './db.js';
import { ConflictError, NotFoundError, UserError } from '../../common/errors.js';
import { addressKey, requireAddress, requireDomain } from '../../common/address.js';

type DomainRow = { id: number; name: string; created_at: number | string };
type UserRow = {
  id: number;
  domain_id: number;
  address: string;
  password_hash: string;
  quota_bytes: number | string;
  enabled: number;
  created_at: number | string;
};
type AliasRow = { id: number; domain_id: number; source: string; destination: string; created_at: number | string };

const toDomain = (r: DomainRow): Domain => ({ id: Number(r.id), name: r.name, createdAt: new Date(Number(r.created_at)) });
const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  domainId: Number(r.domain_id),
  address: r.address,
  passwordHash: r.password_hash,
  quotaBytes: Number(r.quota_bytes),
  enabled: Boolean(Number(r.enabled)),
  createdAt: new Date(Number(r.created_at)),
});
const toAlias = (r: AliasRow): Alias => ({
  id: Number(r.id),
  domainId: Number(r.domain_id),
  source: r.source,
  destination: r.destination,
  createdAt: new Date(Number(r.created_at)),
});

/** Parse an alias source: "local@domain" or "@domain" (catch-all). Returns the lookup key and the domain. */
export function parseAliasSource(source: string): { key: string; domain: string } {
  if (source.startsWith('@')) {
    const domain = requireDomain(source.slice(1));
    return { key: `@${domain}`, domain };
  }
  const p = requireAddress(source, 'alias source');
  return { key: addressKey(p), domain: p.domain };
}

export class SqlAccountStore implements AccountStore {
  constructor(
    private readonly db: Db,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  async addDomain(name: string): Promise<Domain> {
    const d = requireDomain(name);
    try {
      const now = Date.now();
      await this.db.insertInto('domains').values({ name: d, created_at: now }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`domain ${d} already exists`);
      throw err;
    }
    return (await this.getDomain(d))!;
  }

  async getDomain(name: string): Promise<Domain | undefined> {
    const d = requireDomain(name);
    const r = await this.db.selectFrom('domains').selectAll().where('name', '=', d).executeTakeFirst();
    return r ? toDomain(r) : undefined;
  }

  private async requireDomainRow(name: string): Promise<Domain> {
    const dom = await this.getDomain(name);
    if (!dom) throw new NotFoundError(`domain ${name} is not hosted here (add it first: mailwright domain add ${name})`);
    return dom;
  }

  async listDomains(): Promise<Domain[]> {
    const rows = await this.db.selectFrom('domains').selectAll().orderBy('name').execute();
    return rows.map(toDomain);
  }

  async removeDomain(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const dom = await this.requireDomainRow(name);
    await this.db.transaction().execute(async (trx) => {
      const users = await trx.selectFrom('users').select(({ fn }) => fn.countAll<number>().as('n')).where('domain_id', '=', dom.id).executeTakeFirstOrThrow();
      const aliases = await trx.selectFrom('aliases').select(({ fn }) => fn.countAll<number>().as('n')).where('domain_id', '=', dom.id).executeTakeFirstOrThrow();
      const nu = Number(users.n);
      const na = Number(aliases.n);
      if ((nu > 0 || na > 0) && !opts.force) {
        throw new UserError(`domain ${dom.name} still has ${nu} user(s) and ${na} alias(es): remove them first, or use --force`);
      }
      await trx.deleteFrom('aliases').where('domain_id', '=', dom.id).execute();
      await trx.deleteFrom('users').where('domain_id', '=', dom.id).execute();
      await trx.deleteFrom('domains').where('id', '=', dom.id).execute();
    });
  }

  async addUser(address: string, passwordHash: string, opts: { quotaBytes?: number } = {}): Promise<User> {
    const p = requireAddress(address, 'user address');
    const dom = await this.requireDomainRow(p.domain);
    const key = addressKey(p);
    const alias = await this.db.selectFrom('aliases').select('id').where('source', '=', key).executeTakeFirst();
    if (alias) throw new ConflictError(`${p.address} is already an alias; remove the alias first`);
    try {
      await this.db
        .insertInto('users')
        .values({
          domain_id: dom.id,
          address: p.address,
          address_key: key,
          password_hash: passwordHash,
          quota_bytes: opts.quotaBytes ?? 0,
          enabled: 1,
          created_at: Date.now(),
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`user ${p.address} already exists`);
      throw err;
    }
    return (await this.getUser(p.address))!;
  }

  async getUser(address: string): Promise<User | undefined> {
    const p = requireAddress(address, 'user address');
    const r = await this.db.selectFrom('users').selectAll().where('address_key', '=', addressKey(p)).executeTakeFirst();
    return r ? toUser(r) : undefined;
  }

  private async requireUser(address: string): Promise<User> {
    const u = await this.getUser(address);
    if (!u) throw new NotFoundError(`no such user: ${address}`);
    return u;
  }

  async listUsers(domain?: string): Promise<User[]> {
    let q = this.db.selectFrom('users').selectAll().orderBy('address_key');
    if (domain !== undefined) {
      const dom = await this.requireDomainRow(domain);
      q = q.where('domain_id', '=', dom.id);
    }
    return (await q.execute()).map(toUser);
  }

  async setPasswordHash(address: string, passwordHash: string): Promise<void> {
    const u = await this.requireUser(address);
    await this.db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', u.id).execute();
  }

  async setQuota(address: string, quotaBytes: number): Promise<void> {
    if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) throw new UserError(`invalid quota ${quotaBytes}: bytes, 0 for unlimited`);
    const u = await this.requireUser(address);
    await this.db.updateTable('users').set({ quota_bytes: quotaBytes }).where('id', '=', u.id).execute();
  }

  async setEnabled(address: string, enabled: boolean): Promise<void> {
    const u = await this.requireUser(address);
    await this.db.updateTable('users').set({ enabled: enabled ? 1 : 0 }).where('id', '=', u.id).execute();
  }

  async removeUser(address: string): Promise<void> {
    const u = await this.requireUser(address);
    await this.db.deleteFrom('users').where('id', '=', u.id).execute();
  }

  async addAlias(source: string, destination: string): Promise<Alias> {
    const src = parseAliasSource(source);
    const dest = requireAddress(destination, 'alias destination');
    const dom = await this.requireDomainRow(src.domain);
    if (!src.key.startsWith('@')) {
      const user = await this.db.selectFrom('users').select('id').where('address_key', '=', src.key).executeTakeFirst();
      if (user) throw new ConflictError(`${source} is a user; an alias cannot have the same address`);
    }
    const destKey = `${dest.localPart}@${dest.domain}`;
    if (destKey.toLowerCase() === src.key) throw new UserError(`alias ${source} cannot point to itself`);
    try {
      await this.db
        .insertInto('aliases')
        .values({ domain_id: dom.id, source: src.key, destination: destKey, created_at: Date.now() })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`alias ${src.key} -> ${destKey} already exists`);
      throw err;
    }
    const r = await this.db
      .selectFrom('aliases')
      .selectAll()
      .where('source', '=', src.key)
      .where('destination', '=', destKey)
      .executeTakeFirstOrThrow();
    return toAlias(r);
  }

  async removeAlias(source: string, destination?: string): Promise<number> {
    const src = parseAliasSource(source);
    let q = this.db.deleteFrom('aliases').where('source', '=', src.key);
    if (destination !== undefined) {
      const dest = requireAddress(destination, 'alias destination');
      q = q.where('destination', '=', `${dest.localPart}@${dest.domain}`);
    }
    const res = await q.executeTakeFirst();
    const n = Number(res.numDeletedRows);
    if (n === 0) throw new NotFoundError(`no such alias: ${src.key}${destination ? ` -> ${destination}` : ''}`);
    return n;
  }

  async listAliases(domain?: string): Promise<Alias[]> {
    let q = this.db.selectFrom('aliases').selectAll().orderBy('source').orderBy('destination');
    if (domain !== undefined) {
      const dom = await this.requireDomainRow(domain);
      q = q.where('domain_id', '=', dom.id);
    }
    return (await q.execute()).map(toAlias);
  }

  async aliasDestinations(source: string): Promise<string[]> {
    const rows = await this.db.selectFrom('aliases').select('destination').where('source', '=', source.toLowerCase()).execute();
    return rows.map((r) => r.destination);
  }

  async close(): Promise<void> {
    await this.onClose();
  }
}
