/**
 * Store interfaces and domain types. Callers (CLI, SMTP, IMAP, web) reach accounts through AccountStore only,
 * so a SQL backend (SQLite, MySQL/MariaDB, PostgreSQL) can be swapped without touching them.
 * Nothing in store/ imports server/ or protocol/.
 */

export interface Domain {
  id: number;
  name: string;
  createdAt: Date;
}

export interface User {
  id: number;
  domainId: number;
  /** Full address as stored: local part as given (case kept), domain normalised. */
  address: string;
  /** Password hash in Dovecot scheme syntax ({ARGON2ID}$argon2id$..., {SHA512-CRYPT}$6$...) or bare crypt form. */
  passwordHash: string;
  /** Quota in bytes; 0 means unlimited. */
  quotaBytes: number;
  enabled: boolean;
  createdAt: Date;
}

export interface Alias {
  id: number;
  domainId: number;
  /** "local@domain", or "@domain" for a catch-all. */
  source: string;
  destination: string;
  createdAt: Date;
}

export interface AccountStore {
  addDomain(name: string): Promise<Domain>;
  getDomain(name: string): Promise<Domain | undefined>;
  listDomains(): Promise<Domain[]>;
  /** Removes a domain; refuses while it still has users or aliases unless `force` (which removes them too). */
  removeDomain(name: string, opts?: { force?: boolean }): Promise<void>;

  addUser(address: string, passwordHash: string, opts?: { quotaBytes?: number }): Promise<User>;
  /** Looks a user up by address, case-insensitively on the local part. */
  getUser(address: string): Promise<User | undefined>;
  listUsers(domain?: string): Promise<User[]>;
  setPasswordHash(address: string, passwordHash: string): Promise<void>;
  setQuota(address: string, quotaBytes: number): Promise<void>;
  setEnabled(address: string, enabled: boolean): Promise<void>;
  removeUser(address: string): Promise<void>;

  addAlias(source: string, destination: string): Promise<Alias>;
  /** Removes one destination, or every destination of the source when destination is omitted. Returns the count. */
  removeAlias(source: string, destination?: string): Promise<number>;
  listAliases(domain?: string): Promise<Alias[]>;
  /** The destinations of a source ("local@domain" or "@domain"), lower-case lookup. */
  aliasDestinations(source: string): Promise<string[]>;

  close(): Promise<void>;
}
