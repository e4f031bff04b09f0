/**
 * Python's imaplib (Debian's /usr/bin/python3) as a QRESYNC client: test/fixtures/e2e/imaplib_qresync.py enables
 * QRESYNC, remembers UIDVALIDITY/HIGHESTMODSEQ, lets another connection flag and expunge, and resyncs with
 * SELECT INBOX (QRESYNC (...)); then an ESEARCH with SAVE and UID FETCH $. The collected responses are checked here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startImapServer, deliver, makeMessage, run, killChildren, RawImap, ROOT, type ImapTestServer } from '../helpers/e2e.js';

const USER = 'py@example.test';
let srv: ImapTestServer;

before(async () => {
  srv = await startImapServer({ users: [USER] });
  for (let i = 1; i <= 3; i++) await deliver(srv.smtpPort, USER, makeMessage({ id: `py${i}@x.test`, to: USER }));
});

after(async () => {
  killChildren();
  RawImap.closeAll();
  await srv?.stop();
});

test('imaplib: ENABLE QRESYNC, SELECT (QRESYNC) gets VANISHED (EARLIER) and the changed flags; ESEARCH + $', async () => {
  const r = await run('/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'e2e', 'imaplib_qresync.py'), String(srv.imapPort), USER, 'secret']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(out.enable, ['QRESYNC']);
  assert.ok((out.uidvalidity as number) > 0 && (out.highestmodseq as number) > 0, JSON.stringify(out));
  assert.equal(out.select, 'OK');
  assert.deepEqual(out.vanished, ['(EARLIER) 2']);
  assert.equal((out.fetch as string[]).length, 1);
  assert.match((out.fetch as string[])[0]!, /^1 \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/);
  assert.deepEqual(out.esearch, ['(TAG "' + ((out.esearch as string[])[0]!.match(/TAG "([^"]+)"/)?.[1] ?? '') + '") UID MIN 1 MAX 3 COUNT 2']);
  assert.equal((out.saved_fetch as string[]).length, 2);
});
