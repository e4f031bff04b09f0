/**
 * EXPUNGE (RFC 3501 §6.4.3, §7.4.1) and UID EXPUNGE (UIDPLUS, RFC 4315 §2.1): one EXPUNGE response per removed
 * message, numbered so that each is valid after the previous ones (we send them in descending order); UID EXPUNGE
 * removes only the given UIDs even when other messages are \Deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');

/** Replays EXPUNGE responses on a list of UIDs, as a client does. */
function apply(uids: number[], untagged: string[]): number[] {
  const out = [...uids];
  for (const l of untagged) {
    const m = /^\* (\d+) EXPUNGE$/.exec(l);
    if (m) out.splice(Number(m[1]) - 1, 1);
  }
  return out;
}

test('EXPUNGE: responses in a shift-safe order; the client view matches the server', async () => {
  await c.cmd('CREATE E1');
  const uids = await seed(c, 'E1', 6);
  await c.select('E1');
  await c.send('a1', 'STORE 2,3,5 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', 'EXPUNGE');
  assert.match(r.tagged, /^a2 OK /);
  assert.deepEqual(r.untagged, ['* 5 EXPUNGE', '* 3 EXPUNGE', '* 2 EXPUNGE']);
  const view = apply(uids, r.untagged);
  assert.deepEqual(view, [uids[0], uids[3], uids[5]]);
  const f = await c.send('a3', 'FETCH 1:* (UID)');
  assert.deepEqual(f.untagged, view.map((u, i) => `* ${i + 1} FETCH (UID ${u})`));
  // Nothing left to expunge.
  assert.deepEqual((await c.send('a4', 'EXPUNGE')).untagged, []);
});

test('UID EXPUNGE removes only the given UIDs', async () => {
  await c.cmd('CREATE E2');
  const uids = await seed(c, 'E2', 5);
  await c.select('E2');
  await c.send('a1', 'STORE 1:4 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', `UID EXPUNGE ${uids[1]}:${uids[2]},${uids[4]}`);
  assert.match(r.tagged, /^a2 OK /);
  // uids[4] is not \Deleted: it stays.
  assert.deepEqual(r.untagged, ['* 3 EXPUNGE', '* 2 EXPUNGE']);
  const f = await c.send('a3', 'FETCH 1:* (UID FLAGS)');
  assert.deepEqual(f.untagged, [
    `* 1 FETCH (UID ${uids[0]} FLAGS (\\Deleted))`,
    `* 2 FETCH (UID ${uids[3]} FLAGS (\\Deleted))`,
    `* 3 FETCH (UID ${uids[4]} FLAGS ())`,
  ]);
  // UIDs that do not exist: OK, nothing happens.
  assert.deepEqual((await c.send('a4', 'UID EXPUNGE 9999')).untagged, []);
});

test('EXPUNGE also reports what another session expunged, and the view stays consistent', async () => {
  await c.cmd('CREATE E3');
  const uids = await seed(c, 'E3', 5);
  await c.select('E3');
  const other = await srv.selected('alice', 'E3');
  await other.send('b1', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  await other.send('b2', 'EXPUNGE');
  await c.send('a1', 'STORE 4 +FLAGS.SILENT (\\Deleted)');
  const r = await c.send('a2', 'EXPUNGE');
  const view = apply(uids, r.untagged);
  const f = await c.send('a3', 'FETCH 1:* (UID)');
  assert.deepEqual(f.untagged, view.map((u, i) => `* ${i + 1} FETCH (UID ${u})`), r.untagged.join('\n'));
  assert.deepEqual(view, [uids[1], uids[2], uids[4]]);
  other.close();
});

test('wrong state: EXPUNGE and UID EXPUNGE without a selected mailbox -> BAD', async () => {
  await c.cmd('UNSELECT');
  assert.match((await c.send('a1', 'EXPUNGE')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'UID EXPUNGE 1')).tagged, /^a2 BAD /);
});

test('bad syntax: EXPUNGE with an argument, UID EXPUNGE without a set -> BAD', async () => {
  await c.select('INBOX');
  assert.match((await c.send('a1', 'EXPUNGE 1')).tagged, /^a1 BAD /);
  assert.match((await c.send('a2', 'UID EXPUNGE')).tagged, /^a2 BAD /);
  assert.match((await c.send('a3', 'UID EXPUNGE abc')).tagged, /^a3 BAD /);
});
