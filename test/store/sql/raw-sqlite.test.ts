/**
 * rawSqliteIn (src/store/sql/dialects.ts): the SQLite connection under a Kysely transaction, used by updateRows
 * for 100,000 one-row UPDATEs. It must be offered only inside a transaction, and what runs on it must belong to that
 * transaction: rolled back with it, never interleaved into another session's transaction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../../src/store/sql/db.js';
import { rawSqliteIn } from '../../../src/store/sql/dialects.js';

test('rawSqliteIn: null outside a transaction; inside, its statements commit and roll back with the transaction', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-raw-sqlite-'));
  const { db, close } = await openDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
  try {
    await sql`create table t (k integer primary key, v text)`.execute(db);
    assert.equal(rawSqliteIn(db), null, 'not offered outside a transaction');

    await db.transaction().execute(async (trx) => {
      const raw = rawSqliteIn(trx);
      assert.ok(raw, 'offered inside a transaction');
      const stmt = raw.prepare('insert into t (k, v) values (?, ?)');
      for (let k = 1; k <= 3; k++) stmt.run([k, `v${k}`]);
    });
    const count = async () => Number((await sql<{ n: number }>`select count(*) as n from t`.execute(db)).rows[0]!.n);
    assert.equal(await count(), 3, 'committed with the transaction');

    await assert.rejects(
      db.transaction().execute(async (trx) => {
        rawSqliteIn(trx)!.prepare('insert into t (k, v) values (?, ?)').run([4, 'v4']);
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal(await count(), 3, 'rolled back with the transaction');

    // Another session's query waits for the transaction (Kysely's connection mutex) instead of running inside it.
    let outsideSaw = -1;
    await db.transaction().execute(async (trx) => {
      rawSqliteIn(trx)!.prepare('insert into t (k, v) values (?, ?)').run([5, 'v5']);
      const outside = count().then((n) => (outsideSaw = n));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(outsideSaw, -1, 'the other query has not run yet');
      rawSqliteIn(trx)!.prepare('delete from t where k = ?').run([5]);
      void outside;
    });
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(outsideSaw, 3, 'the other query saw the committed state only');
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});
