/**
 * DKIM signing keys per hosted domain (RFC 6376, RFC 8463), kept in the SQL table dkim_keys.
 *
 * Every domain has an active pair: one RSA-2048 key (a=rsa-sha256) and one Ed25519 key (a=ed25519-sha256), with
 * selectors that carry the UTC date they were made, e.g. mw20261127r and mw20261127e (a second pair made the same
 * day is mw20261127-2r / mw20261127-2e). States:
 *   active   -> signs outgoing mail; its TXT record must be published
 *   retiring -> no longer signs, but its record must stay published (messages in flight and in mailboxes still
 *               carry its signatures) until `dkim retire`
 *   retired  -> gone from every output; the private key is wiped from the row.
 *
 * Private keys are PEM (PKCS#8) in the database: they are protected by the database's file permissions (the
 * SQLite file lives in the 0700 data directory). They are never logged or printed.
 * public_key holds the value of the p= tag: base64 of the DER SubjectPublicKeyInfo for RSA, and base64 of the raw
 * 32-byte public key for Ed25519 (RFC 8463 §4.2 — not DER).
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely, Migration } from 'kysely';
import type { Db } from '../store/sql/db.js';
import { isUniqueViolation } from '../store/sql/db.js';
import { registerMigrations } from '../store/sql/migrations.js';
import { createTable, idColumn } from '../store/sql/dialects.js';
import { requireDomain } from '../common/address.js';
import { NotFoundError } from '../common/errors.js';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';
export type DkimKeyState = 'active' | 'retiring' | 'retired';

export interface DkimKey {
  id: number;
  /** Normalised domain name (lower-case A-labels): the d= of signatures. */
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM. Never log it. */
  privateKey: string;
  /** The p= value of the DNS record. */
  publicKey: string;
  createdAt: Date;
  state: DkimKeyState;
}

export interface DkimDnsRecord {
  /** `${selector}._domainkey.${domain}` (no trailing dot). */
  name: string;
  /** 'v=DKIM1; k=rsa; p=...' or 'v=DKIM1; k=ed25519; p=...' */
  value: string;
  selector: string;
  algorithm: DkimAlgorithm;
  state: Exclude<DkimKeyState, 'retired'>;
}

export const dkimMigrations: Record<string, Migration> = {
  '0003_dkim_keys': {
    async up(db: Kysely<any>) {
      await createTable(db, 'dkim_keys')
        .addColumn('id', ...idColumn(db))
        .addColumn('domain', 'varchar(255)', (c) => c.notNull())
        .addColumn('selector', 'varchar(63)', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(32)', (c) => c.notNull())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addUniqueConstraint('dkim_keys_domain_selector', ['domain', 'selector'])
        .execute();
      await db.schema.createIndex('dkim_keys_domain_state').on('dkim_keys').columns(['domain', 'state']).execute();
    },
  },
};
registerMigrations(dkimMigrations);

const ALGORITHMS: DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];
const SUFFIX: Record<DkimAlgorithm, string> = { 'rsa-sha256': 'r', 'ed25519-sha256': 'e' };

const generateKeyPairAsync = promisify(generateKeyPair);

/** The k= tag value for an algorithm. */
export function keyType(algorithm: DkimAlgorithm): 'rsa' | 'ed25519' {
  return algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519';
}

/** The p= value for a public key: base64 SPKI DER for RSA, base64 raw 32 bytes for Ed25519 (RFC 8463). */
export function publicKeyTagValue(key: KeyObject): string {
  const spki = key.export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType === 'ed25519') return spki.subarray(spki.length - 32).toString('base64');
  if (key.asymmetricKeyType === 'rsa') return spki.toString('base64');
  throw new Error(`unsupported DKIM key type ${key.asymmetricKeyType}`);
}

/** The p= value derived from a private key (PEM): what `dkim test` compares the published record with. */
export function publicKeyFromPrivate(privateKeyPem: string): string {
  return publicKeyTagValue(createPublicKey(createPrivateKey(privateKeyPem)));
}

/** The TXT record value to publish for a key. */
export function dnsRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${keyType(algorithm)}; p=${publicKey}`;
}

/** Makes a new key pair. RSA keys are 2048 bits (RFC 8301 asks for at least 1024, recommends 2048). */
export async function generateDkimKey(algorithm: DkimAlgorithm): Promise<{ privateKey: string; publicKey: string }> {
  const { privateKey, publicKey } =
    algorithm === 'rsa-sha256'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : await generateKeyPairAsync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKeyTagValue(publicKey),
  };
}

/** mw + UTC date, e.g. mw20261127. */
export function selectorBase(now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `mw${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
}

type Row = {
  id: number;
  domain: string;
  selector: string;
  algorithm: string;
  private_key: string;
  public_key: string;
  created_at: number | string;
  state: string;
};

const toKey = (r: Row): DkimKey => ({
  id: Number(r.id),
  domain: r.domain,
  selector: r.selector,
  algorithm: r.algorithm as DkimAlgorithm,
  privateKey: r.private_key,
  publicKey: r.public_key,
  createdAt: new Date(Number(r.created_at)),
  state: r.state as DkimKeyState,
});

export interface DkimKeyStoreOptions {
  /** Clock for selectors and created_at (tests). */
  now?: () => Date;
  /**
   * How long signingKeys() reuses a domain's active keys (ms, default 5,000; 0 = ask the database every time).
   * Changes made through this store are seen at once; changes made by another process (the `mailwright dkim`
   * CLI) within this time.
   */
  signingKeysTtlMs?: number;
  /** Clock for the signingKeys() cache (ms; tests). */
  clock?: () => number;
}

/** Domains whose signing keys are remembered at most (the oldest entry goes first). */
const SIGNING_CACHE_MAX = 1000;

export class DkimKeyStore {
  private readonly now: () => Date;
  private readonly signingTtl: number;
  private readonly clock: () => number;
  /** signingKeys(): active keys per domain, with the time they were read and the write generation they saw. */
  private readonly signing = new Map<string, { at: number; keys: readonly DkimKey[] }>();
  /** Bumped by every write through this store: a read that started before a write is not cached. */
  private generation = 0;
  constructor(
    private readonly db: Db,
    opts: DkimKeyStoreOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.signingTtl = opts.signingKeysTtlMs ?? 5_000;
    this.clock = opts.clock ?? Date.now;
  }

  /** Forget the cached signing keys (after a write through this store). */
  private changed(): void {
    this.generation++;
    this.signing.clear();
  }

  /** Normalises the name and checks that the domain is hosted here (NotFoundError otherwise). */
  async ensureHosted(domain: string): Promise<string> {
    const d = requireDomain(domain);
    const r = await this.db.selectFrom('domains').select('id').where('name', '=', d).executeTakeFirst();
    if (!r) throw new NotFoundError(`domain ${d} is not hosted here (add it first: mailwright domain add ${d})`);
    return d;
  }

  private async rows(domain: string, states: DkimKeyState[]): Promise<DkimKey[]> {
    const rows = await this.db
      .selectFrom('dkim_keys')
      .selectAll()
      .where('domain', '=', domain)
      .where('state', 'in', states)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return sortKeys(rows.map(toKey));
  }

  /** A selector base for today that no key of the domain uses yet (with either suffix). */
  private async freshBase(domain: string): Promise<string> {
    const base = selectorBase(this.now());
    const used = new Set(
      (await this.db.selectFrom('dkim_keys').select('selector').where('domain', '=', domain).where('selector', 'like', `${base}%`).execute()).map(
        (r) => r.selector,
      ),
    );
    for (let n = 1; ; n++) {
      const b = n === 1 ? base : `${base}-${n}`;
      if (!ALGORITHMS.some((a) => used.has(b + SUFFIX[a]))) return b;
    }
  }

  /**
   * Inserts new active keys for the given algorithms under one fresh selector base; with `retireOthers`, the
   * domain's current active keys become 'retiring' in the same transaction. Retries on a selector clash with a
   * concurrent writer.
   */
  private async create(domain: string, algorithms: DkimAlgorithm[], retireOthers: boolean): Promise<DkimKey[]> {
    const generated = await Promise.all(algorithms.map(async (a) => ({ algorithm: a, ...(await generateDkimKey(a)) })));
    for (let attempt = 0; ; attempt++) {
      const base = await this.freshBase(domain);
      const createdAt = this.now().getTime();
      try {
        const inserted = await this.db.transaction().execute(async (trx) => {
          let todo = generated;
          if (!retireOthers) {
            // A concurrent ensureKeys may have made them meanwhile: add only what is still missing.
            const have = await trx.selectFrom('dkim_keys').select('algorithm').where('domain', '=', domain).where('state', '=', 'active').execute();
            todo = generated.filter((g) => !have.some((h) => h.algorithm === g.algorithm));
          }
          if (retireOthers) {
            await trx.updateTable('dkim_keys').set({ state: 'retiring' }).where('domain', '=', domain).where('state', '=', 'active').execute();
          }
          for (const g of todo) {
            await trx
              .insertInto('dkim_keys')
              .values({
                domain,
                selector: base + SUFFIX[g.algorithm],
                algorithm: g.algorithm,
                private_key: g.privateKey,
                public_key: g.publicKey,
                created_at: createdAt,
                state: 'active',
              })
              .execute();
          }
          return todo;
        });
        this.changed();
        const selectors = new Set(inserted.map((g) => base + SUFFIX[g.algorithm]));
        return (await this.rows(domain, ['active'])).filter((k) => selectors.has(k.selector));
      } catch (err) {
        this.changed(); // the transaction may have committed before the error surfaced
        if (isUniqueViolation(err) && attempt < 5) continue;
        throw err;
      }
    }
  }

  /**
   * Makes sure the domain has an active RSA and an active Ed25519 key; creates what is missing. Returns the
   * active keys (RSA first). Called when a domain is added, and by `dkim show` for domains added before DKIM.
   */
  async ensureKeys(domain: string): Promise<DkimKey[]> {
    const d = await this.ensureHosted(domain);
    const active = await this.rows(d, ['active']);
    const missing = ALGORITHMS.filter((a) => !active.some((k) => k.algorithm === a));
    if (missing.length) await this.create(d, missing, false);
    return this.activeKeys(d);
  }

  /** The keys that sign: the newest active key of each algorithm, RSA first. Empty when none exist. */
  async activeKeys(domain: string): Promise<DkimKey[]> {
    const d = requireDomain(domain);
    const active = await this.rows(d, ['active']);
    const out: DkimKey[] = [];
    for (const a of ALGORITHMS) {
      const k = active.find((x) => x.algorithm === a);
      if (k) out.push(k);
    }
    return out;
  }

  /**
   * The keys that sign, as activeKeys(), for the per-message paths (DKIM signing on submission, ARC sealing): read
   * from the database at most once per signingKeysTtlMs per domain instead of once per message (a query per
   * message was ~0.1-0.2 ms of CPU, about a tenth of the whole SMTP path; bench/README.md). Writes through this
   * store (rotate, retire, ensureKeys, as the web admin does) are seen at once; writes by another process (the CLI)
   * within the TTL, which is harmless: after `dkim rotate` the old pair stays published while it is 'retiring', and
   * `dkim retire` only retires keys that stopped signing at the rotation. An empty answer is not kept.
   */
  async signingKeys(domain: string): Promise<DkimKey[]> {
    const d = requireDomain(domain);
    if (this.signingTtl <= 0) return this.activeKeys(d);
    const now = this.clock();
    const hit = this.signing.get(d);
    if (hit && now - hit.at >= 0 && now - hit.at < this.signingTtl) return [...hit.keys];
    const gen = this.generation;
    const keys = await this.activeKeys(d);
    if (gen === this.generation && keys.length) {
      this.signing.delete(d);
      if (this.signing.size >= SIGNING_CACHE_MAX) this.signing.delete(this.signing.keys().next().value!);
      this.signing.set(d, { at: now, keys: Object.freeze([...keys]) });
    }
    return keys;
  }

  /** Active and retiring keys (what must be published), newest first. */
  async publishedKeys(domain: string): Promise<DkimKey[]> {
    return this.rows(requireDomain(domain), ['active', 'retiring']);
  }

  /**
   * Makes a new active pair at once; the previous active keys become 'retiring' (they stop signing, their records
   * must stay published until retire()). Returns the new keys and the ones now retiring.
   */
  async rotate(domain: string): Promise<{ active: DkimKey[]; retiring: DkimKey[] }> {
    const d = await this.ensureHosted(domain);
    const active = await this.create(d, ALGORITHMS, true);
    return { active, retiring: await this.rows(d, ['retiring']) };
  }

  /** Retiring keys become retired (gone from dnsRecords; private key wiped). Returns the keys retired. */
  async retire(domain: string): Promise<DkimKey[]> {
    const d = await this.ensureHosted(domain);
    const retiring = await this.rows(d, ['retiring']);
    if (retiring.length) {
      await this.db
        .updateTable('dkim_keys')
        .set({ state: 'retired', private_key: '' })
        .where('domain', '=', d)
        .where('state', '=', 'retiring')
        .execute();
      this.changed();
    }
    return retiring.map((k) => ({ ...k, state: 'retired', privateKey: '' }));
  }

  /** The TXT records to publish: active keys (RSA first), then retiring ones. */
  async dnsRecords(domain: string): Promise<DkimDnsRecord[]> {
    const d = requireDomain(domain);
    const active = await this.activeKeys(d);
    const retiring = await this.rows(d, ['retiring']);
    const ids = new Set(active.map((k) => k.id));
    // Active keys superseded by a newer active key of the same algorithm (only after manual edits) stay published.
    const extra = (await this.rows(d, ['active'])).filter((k) => !ids.has(k.id));
    return [...active, ...extra, ...retiring].map((k) => toRecord(k));
  }
}

const STATE_RANK: Record<DkimKeyState, number> = { active: 0, retiring: 1, retired: 2 };

/** Active before retiring, newest pair first (pairs share a selector base), RSA before Ed25519 within a pair. */
export function sortKeys(keys: DkimKey[]): DkimKey[] {
  const base = (k: DkimKey) => k.selector.slice(0, -1);
  const newest = new Map<string, number>();
  for (const k of keys) newest.set(base(k), Math.max(newest.get(base(k)) ?? 0, k.id));
  return [...keys].sort(
    (a, b) =>
      STATE_RANK[a.state] - STATE_RANK[b.state] ||
      newest.get(base(b))! - newest.get(base(a))! ||
      ALGORITHMS.indexOf(a.algorithm) - ALGORITHMS.indexOf(b.algorithm) ||
      b.id - a.id,
  );
}

export function toRecord(k: DkimKey): DkimDnsRecord {
  return {
    name: `${k.selector}._domainkey.${k.domain}`,
    value: dnsRecordValue(k.algorithm, k.publicKey),
    selector: k.selector,
    algorithm: k.algorithm,
    state: k.state === 'retiring' ? 'retiring' : 'active',
  };
}
