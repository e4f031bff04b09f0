/**
 * MOVE (RFC 6851): an untagged OK [COPYUID ...] first, then one EXPUNGE per moved message (descending), then the
 * tagged OK; UID MOVE; missing destination -> NO [TRYCREATE]; read-only source -> NO; other sessions see EXPUNGE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE Src');
const uids = await seed(c, 'Src', 5);
await c.select('Src');

test('MOVE: OK [COPYUID] untagged, then EXPUNGEs, then OK', async () => {
  const st = await c.send('a0', 'STATUS Trash (UIDVALIDITY UIDNEXT)');
  const [, uv, next] = /UIDVALIDITY (\d+) UIDNEXT (\d+)/.exec(st.untagged[0]!)!;
  const r = await c.send('a1', 'MOVE 2,4 Trash');
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual(r.untagged, [`* OK [COPYUID ${uv} ${uids[1]},${uids[3]} ${next}:${Number(next) + 1}] Moved`, '* 4 EXPUNGE', '* 2 EXPUNGE']);
  assert.deepEqual((await c.send('a2', 'FETCH 1:* (UID)')).untagged, [`* 1 FETCH (UID ${uids[0]})`, `* 2 FETCH (UID ${uids[2]})`, `* 3 FETCH (UID ${uids[4]})`]);
  assert.deepEqual((await c.send('a3', 'STATUS Trash (MESSAGES)')).untagged, ['* STATUS Trash (MESSAGES 2)']);
});

test('UID MOVE, seen by another session as EXPUNGE', async () => {
  const other = await srv.selected('alice', 'Src');
  const r = await c.send('a1', `UID MOVE ${uids[4]} Archive`);
  assert.match(r.tagged, /^a1 OK /);
  assert.match(r.untagged[0]!, new RegExp(`^\\* OK \\[COPYUID \\d+ ${uids[4]} \\d+\\]`));
  assert.equal(r.untagged[1], '* 3 EXPUNGE');
  const n = await other.send('b1', 'NOOP');
  assert.deepEqual(n.untagged, ['* 3 EXPUNGE']);
  other.close();
});

test('MOVE to a missing mailbox -> NO [TRYCREATE], nothing moved', async () => {
  assert.match((await c.send('a1', 'MOVE 1 Nowhere')).tagged, /^a1 NO \[TRYCREATE\] /);
  assert.equal((await c.send('a2', 'FETCH 1:* (UID)')).untagged.length, 2);
});

test('UID MOVE of UIDs that do not exist: OK, no responses', async () => {
  const r = await c.send('a1', 'UID MOVE 9999 Trash');
  assert.match(r.tagged, /^a1 OK /);
  assert.deepEqual(r.untagged, []);
});

test('MOVE from a read-only mailbox -> NO; without a selected mailbox -> BAD', async () => {
  const d = await srv.authed('alice');
  assert.match((await d.send('a1', 'MOVE 1 Trash')).tagged, /^a1 BAD /);
  await d.send('a2', 'EXAMINE Src');
  assert.match((await d.send('a3', 'MOVE 1 Trash')).tagged, /^a3 NO /);
  d.close();
});

test('bad syntax -> BAD', async () => {
  assert.match((await c.send('a1', 'MOVE 1')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'MOVE')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'MOVE 9 Trash')).tagged, /^a3 BAD /);
});
