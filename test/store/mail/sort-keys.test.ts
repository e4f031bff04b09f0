/**
 * The SORT/THREAD/SEARCH key columns of mail_messages (src/store/mail/sort-keys.ts, migration 0012): values come
 * back exactly as stored (Unicode, empty strings, NULLs, trailing blanks, large dates) through setParsed,
 * setParsedMany and setSortKeys; keys a backend cannot hold stay NULL; APPEND with a parser stores them, COPY and
 * MOVE carry them; the migration adds them to an existing index whose rows then have none. Also run against
 * MariaDB and PostgreSQL (test/backends/store-*.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { makeEnv, msg, USER, withOldIndex } from './helpers.js';
import type { SortKeys } from '../../../src/store/mail/store.js';
import { SORT_KEY_COLUMNS } from '../../../src/store/mail/sort-keys.js';

const ALL: Array<keyof SortKeys> = ['date', 'subject', 'refwd', 'from', 'to', 'cc', 'displayFrom', 'displayTo', 'messageId', 'references', 'searchSubject'];

function keys(i: number, o: Partial<SortKeys> = {}): SortKeys {
  return {
    date: 1_700_000_000_000 + i,
    subject: `SUBJECT ${i}`,
    refwd: i % 2 === 1,
    from: `FROM${i}@X`,
    to: '',
    cc: 'CC',
    displayFrom: 'E\u0301MILE',
    displayTo: 'Z\u00dcRICH \u{1F600}',
    messageId: `<m${i}@x>`,
    references: i ? `<m0@x> <m${i - 1}@x>` : null,
    searchSubject: `Subject ${i}  `,
    ...o,
  };
}

test('keys round-trip through setParsed, setParsedMany and setSortKeys; rows without keys read as null', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 5; i++) await inbox.append(msg(`m${i}`));
    // Appended without a parser: no keys yet.
    assert.deepEqual((await inbox.readSortKeys([1, 2, 3, 4, 5], ['date'])).map((r) => r.keys), [null, null, null, null, null]);
    await inbox.setParsed(1, { keys: keys(0, { searchSubject: null, messageId: null, subject: '', refwd: false }) });
    await inbox.setParsedMany([
      [2, { envelope: '{}', bodystructure: '[]', keys: keys(1) }],
      [3, { envelope: '{}', bodystructure: '[]' }], // no keys: stays without
    ]);
    await inbox.setSortKeys([[4, keys(3, { date: -86_400_000 })]]);
    const got = await inbox.getSortKeys([1, 2, 3, 4, 5, 99], ALL);
    assert.deepEqual([...got.keys()], [1, 2, 4]);
    assert.deepEqual(got.get(1), keys(0, { searchSubject: null, messageId: null, subject: '', refwd: false }));
    assert.deepEqual(got.get(2), keys(1));
    assert.deepEqual(got.get(4), keys(3, { date: -86_400_000 }));
    // Only the fields asked for; INTERNALDATE and size come with every row.
    const rows = await inbox.readSortKeys([2, 3], ['subject']);
    assert.deepEqual(rows.map((r) => [r.uid, r.keys]), [[2, { subject: 'SUBJECT 1' }], [3, null]]);
    const rec = (await inbox.getMessage(2))!;
    assert.deepEqual([rows[0]!.arrival, rows[0]!.size], [rec.internalDate, rec.size]);
    // null clears them (a message whose keys must be recomputed).
    await inbox.setParsed(2, { keys: null });
    assert.equal((await inbox.readSortKeys([2], ['date']))[0]!.keys, null);
  } finally {
    await env.close();
  }
});

test('keys no backend can hold (NUL, lone surrogate, very long) are not stored', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 4; i++) await inbox.append(msg(`m${i}`));
    await inbox.setSortKeys([
      [1, keys(1, { searchSubject: 'a\u0000b' })],
      [2, keys(2, { subject: 'x\ud800y' })],
      [3, keys(3, { references: '<a@b> '.repeat(5000) })],
      [4, keys(4)],
    ]);
    assert.deepEqual([...(await inbox.getSortKeys([1, 2, 3, 4], ['date'])).keys()], [4]);
  } finally {
    await env.close();
  }
});

test('APPEND and MULTIAPPEND store the keys a parser returns; COPY and MOVE carry them', async () => {
  let n = 0;
  const env = await makeEnv({ parse: async () => ({ envelope: '{"subject":null}', keys: keys(n++) }) });
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    await inbox.append(msg('one'));
    const f = await inbox.stageFile();
    await f.write(Buffer.from(msg('two')));
    await inbox.appendStaged([{ file: f }]);
    const mine = await inbox.getSortKeys([1, 2], ALL);
    assert.deepEqual(mine.get(1), keys(0));
    assert.deepEqual(mine.get(2), keys(1));
    await env.store.createMailbox(USER, 'Other');
    const other = await env.store.openMailbox(USER, 'Other');
    const copied = await inbox.copyTo(other, [1]);
    const moved = await inbox.moveTo(other, [2]);
    const theirs = await other.getSortKeys([copied.mapping[0]![1], moved.mapping[0]![1]], ALL);
    assert.deepEqual([...theirs.values()], [keys(0), keys(1)]);
  } finally {
    await env.close();
  }
});

test('migration 0012 on an existing index: the columns appear, old rows have no keys, then take them', async () => {
  await withOldIndex(
    async (db) => {
      for (const col of SORT_KEY_COLUMNS) await db.schema.alterTable('mail_messages').dropColumn(col).execute();
      await sql`delete from kysely_migration where name = ${'0012_mail_sort_keys'}`.execute(db);
    },
    async (store) => {
      const inbox = await store.openMailbox(USER, 'INBOX');
      const rows = await inbox.readSortKeys([1], ALL);
      assert.deepEqual(rows.map((x) => [x.uid, x.arrival, x.size, x.keys]), [[1, 1000, 10, null]]);
      await inbox.setSortKeys([[1, keys(7)]]);
      assert.deepEqual((await inbox.getSortKeys([1], ALL)).get(1), keys(7));
    },
  );
});
