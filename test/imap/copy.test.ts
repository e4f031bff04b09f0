/**
 * COPY (RFC 3501 §6.4.7) with COPYUID (UIDPLUS, RFC 4315 §3): the copies keep flags and INTERNALDATE; a missing
 * destination is NO [TRYCREATE]; copying into the selected mailbox reports EXISTS; UID COPY of UIDs that do not exist
 * is OK without COPYUID.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
const uids = await seed(c, 'INBOX', 3);
await c.select('INBOX');
await c.send('s1', 'STORE 2 +FLAGS.SILENT (\\Flagged $Work)');

test('COPY: COPYUID <uidvalidity> <source uids> <destination uids>; flags and date kept', async () => {
  const st = await c.send('a0', 'STATUS Archive (UIDVALIDITY UIDNEXT)');
  const [, uv, next] = /UIDVALIDITY (\d+) UIDNEXT (\d+)/.exec(st.untagged[0]!)!;
  const r = await c.send('a1', 'COPY 2:3 Archive');
  assert.match(r.tagged, new RegExp(`^a1 OK \\[COPYUID ${uv} ${uids[1]}:${uids[2]} ${next}:${Number(next) + 1}\\] `));
  assert.deepEqual(r.untagged, []);
  const src = await c.send('a2', 'FETCH 2 (INTERNALDATE RFC822.SIZE)');
  const d = await srv.authed('alice');
  await d.send('b1', 'EXAMINE Archive');
  const f = await d.send('b2', 'FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)');
  assert.equal(f.untagged[0]!.replace(/^\* 1 FETCH \(FLAGS \([^)]*\) /, ''), src.untagged[0]!.replace(/^\* 2 FETCH \(/, ''));
  assert.match(f.untagged[0]!, /FLAGS \(\\Flagged \$Work\)/);
  // The source is untouched.
  assert.deepEqual((await c.send('a3', 'FETCH 1:* (UID)')).untagged.length, 3);
  d.close();
});

test('COPY to a missing mailbox -> NO [TRYCREATE], nothing copied', async () => {
  const r = await c.send('a1', 'COPY 1 Nowhere');
  assert.match(r.tagged, /^a1 NO \[TRYCREATE\] /);
});

test('COPY into the selected mailbox: EXISTS for the new messages', async () => {
  const r = await c.send('a1', 'COPY 1 INBOX');
  assert.match(r.tagged, /^a1 OK \[COPYUID \d+ \d+ \d+\]/);
  assert.ok(r.untagged.includes('* 4 EXISTS'), r.untagged.join('\n'));
});

test('UID COPY: only existing UIDs; none -> OK without COPYUID', async () => {
  const r = await c.send('a1', `UID COPY ${uids[0]},9999 Trash`);
  assert.match(r.tagged, new RegExp(`^a1 OK \\[COPYUID \\d+ ${uids[0]} \\d+\\]`));
  const n = await c.send('a2', 'UID COPY 9998:9999 Trash');
  assert.match(n.tagged, /^a2 OK /);
  assert.doesNotMatch(n.tagged, /COPYUID/);
});

test('wrong state: COPY without a selected mailbox -> BAD', async () => {
  const d = await srv.authed('alice');
  assert.match((await d.send('a1', 'COPY 1 Trash')).tagged, /^a1 BAD /);
  d.close();
});

test('bad syntax and bad sequence numbers -> BAD', async () => {
  assert.match((await c.send('a1', 'COPY 1')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'COPY Trash')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'COPY 99 Trash')).tagged, /^a3 BAD /);
  assert.match((await c.send('a4', 'COPY 1:x Trash')).tagged, /^a4 BAD /);
});
