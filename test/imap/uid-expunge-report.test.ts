/**
 * UID FETCH/UID STORE/UID SEARCH may report expunges done by another session (RFC 3501 §7.4.1) before their own
 * responses; the FETCH responses that follow must use the sequence numbers after those EXPUNGEs (RFC 3501 §7.4.1:
 * "the EXPUNGE response ... decrements the sequence numbers of all following messages").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, seed } from '../helpers/imap.js';

const srv = await startImapServer({ users: ['alice'] });

for (const items of ['(FLAGS)', '(FLAGS RFC822.SIZE)', '(ENVELOPE)', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])']) {
  test(`UID FETCH 1:* ${items} after another session expunged: EXPUNGEs first, then FETCHes with the new sequence numbers`, async () => {
    const a = await srv.authed('alice');
    const b = await srv.authed('alice');
    const box = `R${items.length}${items.charCodeAt(1)}`;
    await a.cmd(`CREATE ${box}`);
    await seed(a, box, 5);
    await a.select(box);
    await b.select(box);
    await a.cmd('STORE 1,3 +FLAGS.SILENT (\\Deleted)');
    await a.cmd('EXPUNGE');
    const r = await b.send('f1', `UID FETCH 1:* ${items}`);
    const expunges = r.untagged.filter((l) => / EXPUNGE$/.test(l));
    assert.deepEqual(expunges, ['* 3 EXPUNGE', '* 1 EXPUNGE']);
    const fetches = r.untagged.filter((l) => / FETCH /.test(l)).map((l) => /^\* (\d+) FETCH .*UID (\d+)/.exec(l)!.slice(1).map(Number));
    // UIDs 2, 4, 5 remain as sequence numbers 1, 2, 3.
    assert.deepEqual(fetches, [
      [1, 2],
      [2, 4],
      [3, 5],
    ]);
    assert.match(r.tagged, /^f1 OK/);
  });
}

test('UID STORE after another session expunged: EXPUNGEs first, then FETCH FLAGS with the new sequence numbers', async () => {
  const a = await srv.authed('alice');
  const b = await srv.authed('alice');
  await a.cmd('CREATE Stored');
  await seed(a, 'Stored', 4);
  await a.select('Stored');
  await b.select('Stored');
  await a.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)');
  await a.cmd('EXPUNGE');
  const r = await b.send('s1', 'UID STORE 3:4 +FLAGS (\\Flagged)');
  assert.deepEqual(r.untagged, ['* 2 EXPUNGE', '* 2 FETCH (FLAGS (\\Flagged) UID 3)', '* 3 FETCH (FLAGS (\\Flagged) UID 4)']);
});
