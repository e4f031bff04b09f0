/**
 * Several processes (the server and CLI runs) share one SQLite file. A transaction that reads and then writes must
 * wait for the other writers (busy_timeout), never fail with "database is locked" (SQLITE_BUSY on a WAL snapshot
 * upgrade). Each child below runs read-then-write transactions on the same file at the same time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../../src/store/sql/db.js';
import { SqlAccountStore } from '../../../src/store/sql/accounts.js';

const dbModule = fileURLToPath(new URL('../../../src/store/sql/db.ts', import.meta.url));

function run(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

test('concurrent read-then-write transactions from several processes all commit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-sqlite-conc-'));
  try {
    const url = `sqlite:${join(dir, 'db.sqlite')}`;
    const opened = await openDatabase(url);
    await new SqlAccountStore(opened.db).addDomain('example.test');
    await opened.close();
    const script = join(dir, 'child.mts');
    writeFileSync(
      script,
      `import { openDatabase } from ${JSON.stringify(dbModule)};
const { db, close } = await openDatabase(${JSON.stringify(url)});
for (let i = 0; i < 40; i++) {
  await db.transaction().execute(async (trx) => {
    const d = await trx.selectFrom('domains').select('id').where('name', '=', 'example.test').executeTakeFirstOrThrow();
    await new Promise((r) => setTimeout(r, 1));
    await trx.insertInto('aliases').values({ domain_id: d.id, source: 'a' + process.pid + '-' + i + '@example.test', destination: 'x@elsewhere.example', created_at: new Date().toISOString() } as never).execute();
  });
}
await close();
`,
    );
    const results = await Promise.all([1, 2, 3, 4].map(() => run(script)));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const check = await openDatabase(url);
    const n = await check.db.selectFrom('aliases').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    await check.close();
    assert.equal(Number(n.n), 160);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
