/**
 * The parse-cache columns of mail_messages (envelope, bodystructure JSON; envelope_imap, migration 0013): each is
 * stored on its own by setParsedMany (an entry with some columns leaves the others as they are), read back by
 * getParsed exactly; a wire form a backend cannot hold stays NULL; COPY and MOVE carry the wire form; the
 * migration adds the column to an existing index whose rows then have none. Also run against MariaDB and
 * PostgreSQL (test/backends/store-*.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { makeEnv, msg, USER, withOldIndex } from './helpers.js';

const WIRE = '("Tue, 2 Jan 2024" {6}\r\nCafé! (("É" NIL "e" "x.org")) NIL NIL NIL NIL NIL NIL "<a@x>")';

test('setParsedMany stores only the columns an entry has; getParsed reads each column back', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 4; i++) await inbox.append(msg(`m${i}`));
    await inbox.setParsedMany([
      [1, { envelope: '{"e":1}', envelopeImap: WIRE }], // FETCH ENVELOPE: no BODYSTRUCTURE
      [2, { bodystructure: '["b"]' }],
      [3, { envelope: '{"e":3}', bodystructure: '["b3"]', envelopeImap: '(NIL)' }],
    ]);
    // Later entries fill other columns without clearing the earlier ones.
    await inbox.setParsedMany([
      [1, { bodystructure: '["b1"]' }],
      [2, { envelopeImap: '(x)' }],
    ]);
    const got = await inbox.getParsed([1, 2, 3, 4, 99]);
    assert.deepEqual([...got.keys()], [1, 2, 3, 4]);
    assert.deepEqual(got.get(1), { envelope: '{"e":1}', bodystructure: '["b1"]', envelopeImap: WIRE });
    assert.deepEqual(got.get(2), { envelope: null, bodystructure: '["b"]', envelopeImap: '(x)' });
    assert.deepEqual(got.get(3), { envelope: '{"e":3}', bodystructure: '["b3"]', envelopeImap: '(NIL)' });
    assert.deepEqual(got.get(4), { envelope: null, bodystructure: null, envelopeImap: null });
    // Only the columns asked for.
    assert.deepEqual((await inbox.getParsed([1], ['envelope_imap'])).get(1), { envelope: null, bodystructure: null, envelopeImap: WIRE });
  } finally {
    await env.close();
  }
});

test('a wire form no backend can hold (NUL, lone surrogate, very long) is stored as NULL, the JSON still is', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 3; i++) await inbox.append(msg(`m${i}`));
    await inbox.setParsedMany([
      [1, { envelope: '{"a":1}', envelopeImap: '("a\u0000b")' }],
      [2, { envelope: '{"a":2}', envelopeImap: '("\ud800")' }],
      [3, { envelope: '{"a":3}', envelopeImap: `("${'x'.repeat(30_000)}")` }],
    ]);
    const got = await inbox.getParsed([1, 2, 3]);
    for (const uid of [1, 2, 3]) assert.deepEqual(got.get(uid), { envelope: `{"a":${uid}}`, bodystructure: null, envelopeImap: null });
  } finally {
    await env.close();
  }
});

test('COPY and MOVE carry the wire form', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    await env.store.createMailbox(USER, 'Other');
    for (let i = 0; i < 2; i++) await inbox.append(msg(`m${i}`));
    await inbox.setParsedMany([
      [1, { envelope: '{}', envelopeImap: WIRE }],
      [2, { envelope: '{}', envelopeImap: '(NIL)' }],
    ]);
    const other = await env.store.openMailbox(USER, 'Other');
    const copied = await inbox.copyTo(other, [1]);
    const moved = await inbox.moveTo(other, [2]);
    const theirs = await other.getParsed([copied.mapping[0]![1], moved.mapping[0]![1]], ['envelope_imap']);
    assert.deepEqual([...theirs.values()].map((p) => p.envelopeImap), [WIRE, '(NIL)']);
  } finally {
    await env.close();
  }
});

test('migration 0013 on an existing index: the column appears, old rows have no wire form, then take it', async () => {
  await withOldIndex(
    async (db) => {
      await db.schema.alterTable('mail_messages').dropColumn('envelope_imap').execute();
      await sql`delete from kysely_migration where name = ${'0013_mail_envelope_imap'}`.execute(db);
    },
    async (store) => {
      const inbox = await store.openMailbox(USER, 'INBOX');
      assert.deepEqual((await inbox.getParsed([1])).get(1), { envelope: '{"subject":"x"}', bodystructure: null, envelopeImap: null });
      await inbox.setParsedMany([[1, { envelopeImap: WIRE }]]);
      assert.deepEqual((await inbox.getParsed([1])).get(1), { envelope: '{"subject":"x"}', bodystructure: null, envelopeImap: WIRE });
    },
  );
});
