/**
 * Accounts and DKIM key store contract: the same assertions on SQLite, MariaDB and PostgreSQL (scratch databases,
 * see scratch.ts). Covers case rules (address keys, case-sensitive selectors and mailbox names on MySQL's
 * utf8mb4_bin), unique violations mapped to ConflictError, bigint columns read back as numbers, transactions.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenedDb } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { AccountService } from '../../src/accounts/service.js';
import { DkimKeyStore } from '../../src/dkim/keys.js';
import { MailStore } from '../../src/store/mail/store.js';
import { ConflictError, NotFoundError } from '../../src/common/errors.js';
import { BACKENDS, createScratch, type Scratch } from './scratch.js';
import { AdminStore } from '../../src/web/admins.js';

for (const backend of BACKENDS) {
  describe(`accounts + dkim contract on ${backend}`, () => {
    let dir: string;
    let scratch: Scratch | null = null;
    let opened: OpenedDb;
    let svc: AccountService;
    let keys: DkimKeyStore;
    const clock = new Date('2026-11-27T10:00:00Z');

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mw-contract-'));
      let url = `sqlite:${join(dir, 'mw.db')}`;
      if (backend !== 'sqlite') {
        scratch = await createScratch(backend);
        url = scratch.url;
      }
      opened = await openDatabase(url);
      assert.equal(opened.dialect, backend);
      keys = new DkimKeyStore(opened.db, { now: () => clock });
      svc = new AccountService(new SqlAccountStore(opened.db), { dkim: keys });
    });
    after(async () => {
      await opened?.close();
      await scratch?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('migrations are idempotent (a second open runs none)', async () => {
      const again = await openDatabase(backend === 'sqlite' ? `sqlite:${join(dir, 'mw.db')}` : scratch!.url);
      await again.close();
    });

    test('domains: add, duplicate, list, normalised names', async () => {
      const d = await svc.addDomain('Example.COM');
      assert.equal(d.name, 'example.com');
      assert.equal(typeof d.id, 'number');
      assert.ok(d.createdAt.getTime() > 1e12);
      await assert.rejects(svc.store.addDomain('example.com'), ConflictError);
      await svc.addDomain('example.org');
      assert.deepEqual((await svc.store.listDomains()).map((x) => x.name), ['example.com', 'example.org']);
    });

    test('users: case-insensitive local part, hashes kept verbatim, quota as a big number, enable/disable', async () => {
      const hash = '{SHA512-CRYPT}$6$saltsalt$' + 'a'.repeat(86);
      const u = await svc.store.addUser('Alice@Example.com', hash);
      assert.equal(u.address, 'Alice@example.com');
      assert.equal(u.passwordHash, hash);
      await assert.rejects(svc.store.addUser('alice@example.com', 'x'), ConflictError);
      assert.equal((await svc.store.getUser('ALICE@example.com'))?.id, u.id);
      await svc.store.setQuota('alice@example.com', 5 * 1024 ** 4);
      assert.equal((await svc.store.getUser('alice@example.com'))!.quotaBytes, 5 * 1024 ** 4);
      await svc.store.setEnabled('alice@example.com', false);
      assert.equal((await svc.store.getUser('alice@example.com'))!.enabled, false);
      await svc.store.setEnabled('alice@example.com', true);
      const r = await svc.addUser('bob@example.org', 'secret-pw');
      assert.ok((await svc.authenticate('bob@example.org', 'secret-pw')) !== null);
      assert.equal(await svc.authenticate('bob@example.org', 'wrong'), null);
      assert.deepEqual((await svc.store.listUsers()).map((x) => x.address), ['Alice@example.com', r.user.address]);
      assert.deepEqual((await svc.store.listUsers('example.org')).map((x) => x.address), ['bob@example.org']);
      assert.equal(await svc.store.getUser('nobody@example.com'), undefined);
    });

    test('aliases: user/alias clash, catch-all, destinations, removal', async () => {
      await assert.rejects(svc.store.addAlias('alice@example.com', 'bob@example.org'), ConflictError);
      await svc.store.addAlias('Postmaster@example.com', 'alice@example.com');
      await svc.store.addAlias('postmaster@example.com', 'bob@example.org');
      await assert.rejects(svc.store.addAlias('postmaster@example.com', 'bob@example.org'), ConflictError);
      await svc.store.addAlias('@example.org', 'bob@example.org');
      assert.deepEqual((await svc.store.aliasDestinations('POSTMASTER@example.com')).sort(), ['alice@example.com', 'bob@example.org']);
      assert.deepEqual(await svc.store.aliasDestinations('@example.org'), ['bob@example.org']);
      assert.equal(await svc.store.removeAlias('postmaster@example.com', 'bob@example.org'), 1);
      await assert.rejects(svc.store.removeAlias('nope@example.com'), NotFoundError);
      assert.equal((await svc.store.listAliases('example.com')).length, 1);
    });

    test('dkim keys: made on domain add, case-sensitive selectors, rotate and retire in transactions', async () => {
      const active = await keys.activeKeys('example.com');
      assert.deepEqual(active.map((k) => k.selector), ['mw20261127r', 'mw20261127e']);
      assert.equal(typeof active[0]!.id, 'number');
      assert.equal(active[0]!.createdAt.getTime(), clock.getTime());
      const rot = await keys.rotate('example.com');
      assert.deepEqual(rot.active.map((k) => k.selector), ['mw20261127-2r', 'mw20261127-2e']);
      assert.deepEqual(rot.retiring.map((k) => k.selector).sort(), ['mw20261127e', 'mw20261127r']);
      assert.equal((await keys.dnsRecords('example.com')).length, 4);
      await keys.retire('example.com');
      assert.equal((await keys.dnsRecords('example.com')).length, 2);
      // Selectors differing by case only are distinct rows (utf8mb4_bin on MySQL).
      await opened.db
        .insertInto('dkim_keys')
        .values({ domain: 'example.org', selector: 'Sel', algorithm: 'rsa-sha256', private_key: 'x', public_key: 'y', created_at: 1, state: 'retired' })
        .execute();
      await opened.db
        .insertInto('dkim_keys')
        .values({ domain: 'example.org', selector: 'sel', algorithm: 'rsa-sha256', private_key: 'x', public_key: 'y', created_at: 1, state: 'retired' })
        .execute();
    });

    test('mail index: mailbox names that differ by case only, large UIDVALIDITY/UIDs round-trip', async () => {
      const mail = await MailStore.open({ db: opened.db, dataDir: join(dir, 'data') });
      await mail.createMailbox('alice@example.com', 'Work');
      await mail.createMailbox('alice@example.com', 'work');
      const names = (await mail.listMailboxes('alice@example.com')).map((m) => m.name);
      assert.ok(names.includes('Work') && names.includes('work'));
      const box = await mail.openMailbox('alice@example.com', 'Work');
      const a = await box.append('Subject: x\r\n\r\nbody\r\n', { flags: ['\\Seen', 'Custom'] });
      assert.equal(a.uid, 1);
      const m = (await box.listMessages())[0]!;
      assert.deepEqual(m.flags, ['\\Seen', 'Custom']);
      assert.equal(typeof m.internalDate, 'number');
      const st = await box.status();
      assert.deepEqual([st.messages, st.unseen, st.uidNext], [1, 0, 2]);
      assert.ok(st.uidValidity > 1_700_000_000);
      // removeDomain --force removes users and aliases
      await svc.store.removeDomain('example.org', { force: true });
      assert.equal(await svc.store.getDomain('example.org'), undefined);
    });

    test('web admins: add, list, the last admin is never removed, even by two removals at once', async () => {
      const admins = new AdminStore(opened.db);
      await admins.add('root', 'pw-root');
      await admins.add('ops', 'pw-ops');
      await assert.rejects(admins.add('ops', 'x'), ConflictError);
      assert.deepEqual((await admins.list()).map((a) => a.name), ['ops', 'root']);
      assert.equal(await admins.authenticate('ops', 'pw-ops'), 'ops');
      // Two admins remove each other at the same moment: one removal wins, the other is refused; one admin stays.
      const results = await Promise.allSettled([admins.remove('root'), admins.remove('ops')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
      assert.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof ConflictError));
      assert.equal((await admins.list()).length, 1);
      const last = (await admins.list())[0]!.name;
      await assert.rejects(admins.remove(last), /last admin/);
      await assert.rejects(admins.remove('nobody'), NotFoundError);
    });
  });
}
