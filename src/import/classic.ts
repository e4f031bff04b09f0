/**
 * `mailwright import classic`: domains, users (with their password hashes as they are) and aliases of the classic
 * Postfix + Dovecot + MySQL setup (the seed tutorial's schema), from any mix of
 *   - the MySQL database: virtual_domains(id, name), virtual_users(id, domain_id, password, email),
 *     virtual_aliases(id, domain_id, source, destination) (table and column names configurable);
 *   - Postfix text maps: virtual_mailbox_domains ("domain [anything]"), virtual_mailbox_maps ("user@domain path"),
 *     virtual_alias_maps ("source dest[, dest...]", "@domain" catch-alls), /etc/aliases ("name: dest, dest" for
 *     --aliases-domain);
 *   - Dovecot passwd-files: "user:{SCHEME}hash:uid:gid:gecos:home:shell:extra" (user = address, or a local part with
 *     --passwd-domain).
 * Hashes are stored verbatim ({SHA512-CRYPT}$6$..., bare $6$... from MySQL's ENCRYPT(), {SSHA512}, {BLF-CRYPT},
 * ...): verifyPassword checks them and the first successful login rehashes to Argon2id. Idempotent: what exists is
 * skipped (an existing user's password is never overwritten). --dry-run only reads. Users named by Postfix maps
 * without a known hash are reported, not created.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { AccountService } from '../accounts/service.js';
import { describeScheme } from '../auth/password.js';
import { ConflictError, UserError } from '../common/errors.js';
import { openMysql, redactUrl } from '../store/sql/dialects.js';
import { parseAliasSource } from '../store/sql/accounts.js';
import { addressKey, requireAddress, requireDomain } from '../common/address.js';

export interface ClassicSchema {
  domainsTable: string;
  usersTable: string;
  aliasesTable: string;
  domainId: string;
  domainName: string;
  userEmail: string;
  userPassword: string;
  userDomainId: string;
  aliasSource: string;
  aliasDestination: string;
}

export const DEFAULT_SCHEMA: ClassicSchema = {
  domainsTable: 'virtual_domains',
  usersTable: 'virtual_users',
  aliasesTable: 'virtual_aliases',
  domainId: 'id',
  domainName: 'name',
  userEmail: 'email',
  userPassword: 'password',
  userDomainId: 'domain_id',
  aliasSource: 'source',
  aliasDestination: 'destination',
};

export interface ClassicSources {
  mysql?: string;
  schema?: Partial<ClassicSchema>;
  virtualMailboxDomains?: string;
  virtualMailboxMaps?: string;
  virtualAliasMaps?: string;
  aliasesFile?: string;
  aliasesDomain?: string;
  passwdFiles?: string[];
  passwdDomain?: string;
}

export interface ClassicPlan {
  domains: string[];
  users: Array<{ address: string; hash: string; from: string }>;
  aliases: Array<{ source: string; destination: string; from: string }>;
  /** Mailboxes named by Postfix maps without a password hash. */
  noPassword: string[];
  warnings: string[];
}

export interface ClassicResult {
  plan: ClassicPlan;
  added: { domains: number; users: number; aliases: number };
  existing: { domains: number; users: number; aliases: number };
  skipped: { users: number; aliases: number };
}

/** Files of a Postfix directory (e.g. /etc/postfix) that exist. */
export async function postfixDirSources(dir: string): Promise<Partial<ClassicSources>> {
  const has = async (f: string) => fsp.access(join(dir, f)).then(() => join(dir, f), () => undefined);
  return {
    virtualMailboxDomains: await has('virtual_mailbox_domains'),
    virtualMailboxMaps: await has('virtual_mailbox_maps'),
    virtualAliasMaps: (await has('virtual_alias_maps')) ?? (await has('virtual')),
  };
}

/** Lines of a Postfix text map: [key, rest] with comments, blank lines and continuation lines handled. */
export function parsePostfixMap(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const logical: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(raw)) continue;
    if (/^\s/.test(raw) && logical.length) logical[logical.length - 1] += ' ' + raw.trim();
    else logical.push(raw.trim());
  }
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (m) out.push([m[1]!, m[2]!.trim()]);
  }
  return out;
}

/** /etc/aliases: "name: dest, dest" (continuation lines start with white space). */
export function parseAliasesFile(text: string): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  const logical: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(raw)) continue;
    if (/^\s/.test(raw) && logical.length) logical[logical.length - 1] += ' ' + raw.trim();
    else logical.push(raw.trim());
  }
  for (const l of logical) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    out.push([l.slice(0, i).trim().replace(/^"|"$/g, ''), splitDestinations(l.slice(i + 1))]);
  }
  return out;
}

function splitDestinations(s: string): string[] {
  return s
    .split(/[,\s]+/)
    .map((d) => d.trim())
    .filter(Boolean);
}

/** Dovecot passwd-file lines: [user, password] (the password field is everything up to the next ':' after it). */
export function parsePasswdFile(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(raw)) continue;
    const i = raw.indexOf(':');
    if (i <= 0) continue;
    const user = raw.slice(0, i);
    const rest = raw.slice(i + 1);
    // {SCHEME}value may not contain ':' in a passwd-file (it is the separator); take the second field.
    const j = rest.indexOf(':');
    out.push([user, j < 0 ? rest : rest.slice(0, j)]);
  }
  return out;
}

const ident = (s: string) => {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(s)) throw new UserError(`invalid table or column name '${s}' (letters, digits, _ and $ only)`, 2);
  return sql.id(s);
};

/** Read the classic MySQL schema (read-only queries). */
export async function readClassicMysql(url: string, schemaOpts: Partial<ClassicSchema> = {}): Promise<{
  domains: string[];
  users: Array<{ email: string; password: string }>;
  aliases: Array<{ source: string; destination: string }>;
}> {
  const s = { ...DEFAULT_SCHEMA, ...schemaOpts };
  const conn = await openMysql(url, { poolSize: 1 });
  try {
    const q = async <T>(text: ReturnType<typeof sql>) => (await text.execute(conn.db)).rows as T[];
    const domains = await q<{ id: number; name: string }>(
      sql`select ${ident(s.domainId)} as id, ${ident(s.domainName)} as name from ${ident(s.domainsTable)}`,
    );
    const byId = new Map(domains.map((d) => [String(d.id), d.name]));
    const users = await q<{ email: string; password: string; domain_id: number | null }>(
      sql`select ${ident(s.userEmail)} as email, ${ident(s.userPassword)} as password, ${ident(s.userDomainId)} as domain_id from ${ident(s.usersTable)}`,
    );
    const aliases = await q<{ source: string; destination: string; domain_id: number | null }>(
      sql`select ${ident(s.aliasSource)} as source, ${ident(s.aliasDestination)} as destination from ${ident(s.aliasesTable)}`,
    );
    return {
      domains: domains.map((d) => d.name),
      users: users.map((u) => ({
        // Some setups store only the local part and rely on domain_id.
        email: String(u.email).includes('@') || u.domain_id == null ? String(u.email) : `${u.email}@${byId.get(String(u.domain_id)) ?? ''}`,
        password: Buffer.isBuffer(u.password) ? u.password.toString('utf8') : String(u.password),
      })),
      aliases: aliases.map((a) => ({ source: String(a.source), destination: String(a.destination) })),
    };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`reading the classic schema from ${redactUrl(url)} failed: ${(err as Error).message}`);
  } finally {
    await conn.close();
  }
}

/** Collect everything from the sources into one plan (nothing written). */
export async function planClassic(src: ClassicSources): Promise<ClassicPlan> {
  const plan: ClassicPlan = { domains: [], users: [], aliases: [], noPassword: [], warnings: [] };
  const domains = new Set<string>();
  const users = new Map<string, { address: string; hash: string; from: string }>();
  const aliases = new Map<string, { source: string; destination: string; from: string }>();
  const mailboxes = new Map<string, string>();
  const addDomain = (d: string, from: string) => {
    try {
      domains.add(requireDomain(d.trim()));
    } catch {
      plan.warnings.push(`${from}: invalid domain '${d}' skipped`);
    }
  };
  const addUser = (address: string, hash: string, from: string) => {
    let p;
    try {
      p = requireAddress(address.trim(), 'user');
    } catch {
      plan.warnings.push(`${from}: invalid address '${address}' skipped`);
      return;
    }
    const key = addressKey(p);
    if (users.has(key)) return;
    if (describeScheme(hash) === 'UNKNOWN') plan.warnings.push(`${from}: ${p.address}: password hash scheme not recognised (kept; the user must get a new password)`);
    users.set(key, { address: p.address, hash, from });
    domains.add(p.domain);
  };
  const addAlias = (source: string, dests: string[], from: string) => {
    let key;
    try {
      key = parseAliasSource(source.trim());
    } catch {
      plan.warnings.push(`${from}: invalid alias source '${source}' skipped`);
      return;
    }
    for (const d0 of dests) {
      const d = d0.trim();
      if (!d) continue;
      if (/^[|/:"]/.test(d) || !d.includes('@')) {
        plan.warnings.push(`${from}: ${source} -> ${d}: only address destinations are imported (skipped)`);
        continue;
      }
      const k = `${key.key}\u0000${d.toLowerCase()}`;
      if (!aliases.has(k)) aliases.set(k, { source: key.key, destination: d, from });
    }
    domains.add(key.domain);
  };

  if (src.mysql) {
    const m = await readClassicMysql(src.mysql, src.schema);
    for (const d of m.domains) addDomain(d, 'mysql');
    for (const u of m.users) addUser(u.email, u.password, 'mysql');
    for (const a of m.aliases) addAlias(a.source, splitDestinations(a.destination.replace(/,/g, ' ')), 'mysql');
  }
  const read = async (f: string) => {
    try {
      return await fsp.readFile(f, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read ${f}: ${(err as Error).message}`);
    }
  };
  if (src.virtualMailboxDomains) for (const [d] of parsePostfixMap(await read(src.virtualMailboxDomains))) addDomain(d, src.virtualMailboxDomains);
  for (const f of src.passwdFiles ?? []) {
    for (const [user, hash] of parsePasswdFile(await read(f))) {
      const address = user.includes('@') ? user : src.passwdDomain ? `${user}@${src.passwdDomain}` : null;
      if (!address) {
        plan.warnings.push(`${f}: user '${user}' has no domain (give --passwd-domain) — skipped`);
        continue;
      }
      addUser(address, hash, f);
    }
  }
  if (src.virtualMailboxMaps) {
    for (const [addr] of parsePostfixMap(await read(src.virtualMailboxMaps))) {
      if (addr.startsWith('@')) continue;
      try {
        const p = requireAddress(addr, 'mailbox');
        mailboxes.set(addressKey(p), p.address);
        domains.add(p.domain);
      } catch {
        plan.warnings.push(`${src.virtualMailboxMaps}: invalid address '${addr}' skipped`);
      }
    }
  }
  if (src.virtualAliasMaps) {
    for (const [source, rest] of parsePostfixMap(await read(src.virtualAliasMaps))) {
      if (!source.includes('@')) {
        // A bare domain in virtual_alias_maps declares a virtual alias domain.
        addDomain(source, src.virtualAliasMaps);
        continue;
      }
      addAlias(source, splitDestinations(rest.replace(/,/g, ' ')), src.virtualAliasMaps);
    }
  }
  if (src.aliasesFile) {
    if (!src.aliasesDomain) plan.warnings.push(`${src.aliasesFile}: give --aliases-domain to import local aliases (skipped)`);
    else for (const [name, dests] of parseAliasesFile(await read(src.aliasesFile))) addAlias(`${name}@${src.aliasesDomain}`, dests.map((d) => (d.includes('@') || /^[|/:"]/.test(d) ? d : `${d}@${src.aliasesDomain}`)), src.aliasesFile);
  }
  for (const [k, addr] of mailboxes) if (!users.has(k)) plan.noPassword.push(addr);
  plan.domains = [...domains].sort();
  plan.users = [...users.values()].sort((a, b) => (a.address < b.address ? -1 : 1));
  // A source that is also a user is not an alias here (Postfix lets user@x -> user@x keep delivering locally).
  plan.aliases = [...aliases.values()].filter((a) => a.source.toLowerCase() !== a.destination.toLowerCase());
  return plan;
}

/** Apply a plan (or, with dryRun, count what would change). */
export async function applyClassic(svc: AccountService, plan: ClassicPlan, opts: { dryRun?: boolean } = {}): Promise<ClassicResult> {
  const r: ClassicResult = {
    plan,
    added: { domains: 0, users: 0, aliases: 0 },
    existing: { domains: 0, users: 0, aliases: 0 },
    skipped: { users: plan.noPassword.length, aliases: 0 },
  };
  const store = svc.store;
  for (const d of plan.domains) {
    if (await store.getDomain(d)) r.existing.domains++;
    else {
      if (!opts.dryRun) await svc.addDomain(d);
      r.added.domains++;
    }
  }
  for (const u of plan.users) {
    if (await store.getUser(u.address)) {
      r.existing.users++;
      continue;
    }
    if (!opts.dryRun) {
      try {
        await store.addUser(u.address, u.hash);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        plan.warnings.push(`${u.address}: ${(err as Error).message} (skipped)`);
        r.skipped.users++;
        continue;
      }
    }
    r.added.users++;
  }
  const existingAliases = new Set<string>();
  for (const a of await store.listAliases()) existingAliases.add(`${a.source}\u0000${a.destination.toLowerCase()}`);
  for (const a of plan.aliases) {
    if (existingAliases.has(`${a.source}\u0000${a.destination.toLowerCase()}`)) {
      r.existing.aliases++;
      continue;
    }
    if (!a.source.startsWith('@') && (await store.getUser(a.source))) {
      plan.warnings.push(`alias ${a.source} -> ${a.destination}: ${a.source} is a user (skipped)`);
      r.skipped.aliases++;
      continue;
    }
    if (!opts.dryRun) {
      try {
        await store.addAlias(a.source, a.destination);
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        plan.warnings.push(`alias ${a.source} -> ${a.destination}: ${(err as Error).message} (skipped)`);
        r.skipped.aliases++;
        continue;
      }
    }
    r.added.aliases++;
  }
  return r;
}

export function formatClassic(r: ClassicResult, dryRun: boolean): string[] {
  const w = dryRun ? 'would add' : 'added';
  const lines = [
    `${dryRun ? 'dry run (nothing written): ' : ''}domains: ${r.added.domains} ${w}, ${r.existing.domains} already there`,
    `users: ${r.added.users} ${w}, ${r.existing.users} already there, ${r.skipped.users} skipped`,
    `aliases: ${r.added.aliases} ${w}, ${r.existing.aliases} already there, ${r.skipped.aliases} skipped`,
  ];
  const schemes = new Map<string, number>();
  for (const u of r.plan.users) schemes.set(describeScheme(u.hash), (schemes.get(describeScheme(u.hash)) ?? 0) + 1);
  if (schemes.size) lines.push(`password schemes: ${[...schemes].map(([s, n]) => `${s} ${n}`).join(', ')} (kept; rehashed to Argon2id at the first login)`);
  for (const a of r.plan.noPassword) lines.push(`no password known for ${a} (not created: give --passwd-file or --mysql)`);
  for (const x of r.plan.warnings) lines.push(`warning: ${x}`);
  return lines;
}
