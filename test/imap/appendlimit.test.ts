/**
 * APPENDLIMIT (RFC 7889): the limit is advertised in CAPABILITY after login (the same for every mailbox), STATUS
 * APPENDLIMIT reports it, and an APPEND over it is refused with [TOOBIG] without the literal being sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer } from '../helpers/imap.js';

const LIMIT = 64 * 1024;
const srv = await startImapServer({ users: ['alice'], imap: { maxAppendSize: LIMIT } });
const c = await srv.authed('alice');

test('CAPABILITY advertises APPENDLIMIT=<imap.maxAppendSize> once logged in', async () => {
  const caps = (await c.cmd('CAPABILITY')).untagged.find((l) => l.startsWith('* CAPABILITY'))!.split(' ');
  assert.ok(caps.includes(`APPENDLIMIT=${LIMIT}`), caps.join(' '));
});

test('STATUS APPENDLIMIT reports the limit', async () => {
  const r = await c.cmd('STATUS INBOX (MESSAGES APPENDLIMIT)');
  assert.match(r.tagged, /^t\d+ OK /);
  assert.deepEqual(r.untagged, [`* STATUS INBOX (MESSAGES 0 APPENDLIMIT ${LIMIT})`]);
});

test('an APPEND over the limit is refused with [TOOBIG] and no continuation', async () => {
  const r = await c.cmd(`APPEND INBOX {${LIMIT + 1}}`);
  assert.match(r.tagged, /^t\d+ (NO|BAD) \[TOOBIG\]/);
  assert.ok(!r.lines.some((l) => l.startsWith('+')), 'no "+" continuation for a refused literal');
  const after = await c.cmd('NOOP');
  assert.match(after.tagged, /^t\d+ OK /, 'the connection stays usable');
});
