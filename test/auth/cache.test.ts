/**
 * The verified-credential cache (src/auth/cache.ts) through AccountService.authenticate, on a real SQLite store:
 * a repeated login skips the hash check, wrong passwords are never cached, and a password change (through the
 * service, or by another process writing the database), a disabled account or an expired entry all take effect at
 * the next login.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenedDb } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { AccountService } from '../../src/accounts/service.js';
import { VerifiedCredentialCache } from '../../src/auth/cache.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-authcache-'));
let opened: OpenedDb;
let now = 1_000_000;
let ttl = 60_000;
const cache = new VerifiedCredentialCache({ ttlMs: () => ttl, now: () => now });
let svc: AccountService;
/** Another process (the CLI) on the same database: no cache, no invalidation hook. */
let cli: AccountService;

before(async () => {
  opened = await openDatabase(`sqlite:${join(dir, 'mw.db')}`);
  const store = new SqlAccountStore(opened.db);
  svc = new AccountService(store, { authCache: cache });
  cli = new AccountService(new SqlAccountStore(opened.db));
  await svc.addDomain('example.test');
  await svc.addUser('alice@example.test', 'correct horse');
  await svc.addUser('bob@example.test', 'battery staple');
});
after(async () => {
  await opened.close();
  rmSync(dir, { recursive: true, force: true });
});

const login = async (u: string, p: string) => (await svc.authenticate(u, p))?.address ?? null;

test('a second login with the same password is a cache hit; a wrong password is never cached', async () => {
  cache.clear();
  const h = cache.stats.hits;
  assert.equal(await login('alice@example.test', 'correct horse'), 'alice@example.test');
  assert.equal(cache.stats.hits - h, 0);
  assert.equal(await login('Alice@Example.test', 'correct horse'), 'alice@example.test'); // same user, other spelling
  assert.equal(cache.stats.hits - h, 1);
  assert.equal(cache.size, 1);
  for (let i = 0; i < 2; i++) assert.equal(await login('alice@example.test', 'wrong'), null);
  assert.equal(await login('bob@example.test', 'correct horse'), null, "alice's password is not bob's");
  assert.equal(cache.stats.hits - h, 1);
  assert.equal(cache.size, 1, 'failures add nothing');
});

test('a password change through the service invalidates at once', async () => {
  assert.equal(await login('alice@example.test', 'correct horse'), 'alice@example.test');
  await svc.setPassword('alice@example.test', 'new one');
  assert.equal(cache.size, 0);
  assert.equal(await login('alice@example.test', 'correct horse'), null);
  assert.equal(await login('alice@example.test', 'new one'), 'alice@example.test');
});

test('a password change by another process (the CLI) invalidates at the next login (stored hash compared)', async () => {
  assert.equal(await login('alice@example.test', 'new one'), 'alice@example.test');
  assert.equal(cache.size, 1);
  await cli.setPassword('alice@example.test', 'from the cli');
  const h = cache.stats.hits;
  assert.equal(await login('alice@example.test', 'new one'), null);
  assert.equal(cache.stats.hits - h, 0);
  assert.equal(await login('alice@example.test', 'from the cli'), 'alice@example.test');
});

test('a disabled account is refused even with a cached login', async () => {
  assert.equal(await login('bob@example.test', 'battery staple'), 'bob@example.test');
  await svc.store.setEnabled('bob@example.test', false);
  assert.equal(await login('bob@example.test', 'battery staple'), null);
  await svc.store.setEnabled('bob@example.test', true);
  assert.equal(await login('bob@example.test', 'battery staple'), 'bob@example.test');
});

test('entries expire after the TTL; a TTL of 0 (or lowered on reload) turns the cache off', async () => {
  cache.clear();
  assert.equal(await login('bob@example.test', 'battery staple'), 'bob@example.test');
  let h = cache.stats.hits;
  now += 59_000;
  await login('bob@example.test', 'battery staple');
  assert.equal(cache.stats.hits - h, 1);
  now += 2_000; // 61 s after it was remembered
  h = cache.stats.hits;
  await login('bob@example.test', 'battery staple');
  assert.equal(cache.stats.hits - h, 0, 'expired');
  ttl = 0;
  h = cache.stats.hits;
  assert.equal(await login('bob@example.test', 'battery staple'), 'bob@example.test');
  assert.equal(await login('bob@example.test', 'battery staple'), 'bob@example.test');
  assert.equal(cache.stats.hits - h, 0, 'off');
  ttl = 60_000;
});
