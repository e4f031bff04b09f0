/**
 * UID (RFC 3501 §6.4.8): UID FETCH / STORE / COPY / SEARCH / MOVE / EXPUNGE address messages by UID; responses
 * still carry sequence numbers and always include UID for FETCH/STORE; a UID range with no existing UIDs is not an
 * error; "*" is the highest UID in use; an unknown UID command is BAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed, searchResult } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE U');
await seed(c, 'U', 5);
await c.select('U');
// Make UIDs differ from sequence numbers: expunge UID 2 -> seq 1..4 are UIDs 1,3,4,5.
await c.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)');
await c.cmd('EXPUNGE');

test('UID FETCH: sequence numbers in the response, UID included', async () => {
  const r = await c.send('a1', 'UID FETCH 3:4 FLAGS');
  assert.deepEqual(r.untagged, ['* 2 FETCH (UID 3 FLAGS ())', '* 3 FETCH (UID 4 FLAGS ())']);
  assert.deepEqual((await c.send('a2', 'UID FETCH 2 FLAGS')).untagged, []); // expunged UID
  assert.deepEqual((await c.send('a3', 'UID FETCH * (UID)')).untagged, ['* 4 FETCH (UID 5)']);
  assert.deepEqual((await c.send('a4', 'UID FETCH 1:* (UID)')).untagged.length, 4);
  assert.deepEqual((await c.send('a5', 'uid fetch 2,4 (UID)')).untagged, ['* 3 FETCH (UID 4)']);
});

test('UID STORE, UID SEARCH, UID COPY, UID MOVE, UID EXPUNGE', async () => {
  assert.deepEqual((await c.send('a1', 'UID STORE 4 +FLAGS (\\Seen)')).untagged, ['* 3 FETCH (FLAGS (\\Seen) UID 4)']);
  assert.deepEqual(searchResult(await c.send('a2', 'UID SEARCH SEEN')), [4]);
  assert.deepEqual(searchResult(await c.send('a3', 'SEARCH SEEN')), [3]);
  assert.match((await c.send('a4', 'UID COPY 4 Trash')).tagged, /^a4 OK \[COPYUID \d+ 4 \d+\]/);
  const mv = await c.send('a5', 'UID MOVE 5 Trash');
  assert.deepEqual(mv.untagged.slice(1), ['* 4 EXPUNGE']);
  await c.send('a6', 'UID STORE 1 +FLAGS.SILENT (\\Deleted)');
  assert.deepEqual((await c.send('a7', 'UID EXPUNGE 1')).untagged, ['* 1 EXPUNGE']);
  assert.deepEqual((await c.send('a8', 'UID FETCH 1:* (UID)')).untagged, ['* 1 FETCH (UID 3)', '* 2 FETCH (UID 4)']);
});

test('UID with a command that has no UID form -> BAD', async () => {
  for (const line of ['UID NOOP', 'UID SELECT INBOX', 'UID', 'UID FETCH', 'UID FETCH x FLAGS', 'UID STORE 1', 'UID COPY 1']) {
    assert.match((await c.cmd(line)).tagged, /^t\d+ BAD /, line);
  }
});

test('wrong state: UID commands without a selected mailbox -> BAD', async () => {
  const d = await srv.authed('alice');
  for (const line of ['UID FETCH 1 FLAGS', 'UID STORE 1 +FLAGS (\\Seen)', 'UID SEARCH ALL', 'UID COPY 1 Trash', 'UID MOVE 1 Trash', 'UID EXPUNGE 1']) {
    assert.match((await d.cmd(line)).tagged, /^t\d+ BAD /, line);
  }
  d.close();
});
