/**
 * WITHIN (RFC 5032): OLDER and YOUNGER search keys on INTERNALDATE, in SEARCH, UID SEARCH and SORT, combined
 * with other keys; the interval must be a non-zero number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startImapServer, lit, searchResult, message } from '../helpers/imap.js';
import { formatImapDateTime } from '../../src/protocol/imap/index.js';

const srv = await startImapServer({ users: ['alice'] });
const c = await srv.authed('alice');
await c.cmd('CREATE W');
const now = Date.now();
// 1: two days old, 2: two hours old, 3: one minute old; 4: a year old
const ages = [2 * 86400, 2 * 3600, 60, 365 * 86400];
for (const [i, age] of ages.entries()) {
  const date = formatImapDateTime(new Date(now - age * 1000));
  const r = await c.sendParts(c.tag(), [`APPEND W () "${date}" `, lit(message({ subject: `m${i + 1}` }))], { literalPlus: true });
  assert.match(r.tagged, /OK \[APPENDUID/);
}
await c.select('W');
const search = async (criteria: string) => {
  const r = await c.cmd(criteria);
  assert.match(r.tagged, /^t\d+ OK /, `${criteria}: ${r.tagged}`);
  return searchResult(r);
};

test('CAPABILITY advertises WITHIN', async () => {
  const caps = (await c.cmd('CAPABILITY')).untagged.find((l) => l.startsWith('* CAPABILITY'))!.split(' ');
  assert.ok(caps.includes('WITHIN'));
});

test('YOUNGER and OLDER on INTERNALDATE', async () => {
  assert.deepEqual(await search('SEARCH YOUNGER 3600'), [3]);
  assert.deepEqual(await search('SEARCH YOUNGER 86400'), [2, 3]);
  assert.deepEqual(await search('SEARCH OLDER 86400'), [1, 4]);
  assert.deepEqual(await search('SEARCH OLDER 3600'), [1, 2, 4]);
  assert.deepEqual(await search('SEARCH OLDER 3600 YOUNGER 604800'), [1, 2]);
  assert.deepEqual(await search('SEARCH NOT YOUNGER 31622400'), []);
  assert.deepEqual(await search('SEARCH NOT YOUNGER 31536000'), [4]);
  assert.deepEqual(await search('SEARCH OR YOUNGER 120 OLDER 604800'), [3, 4]);
  assert.deepEqual(await search('UID SEARCH YOUNGER 86400'), [2, 3]);
});

test('with SORT', async () => {
  const r = await c.cmd('SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 604800');
  assert.ok(r.untagged.includes('* SORT 3 2 1'), r.untagged.join('\n'));
});

test('the interval must be a non-zero number', async () => {
  for (const bad of ['SEARCH YOUNGER 0', 'SEARCH OLDER', 'SEARCH OLDER -5', 'SEARCH YOUNGER abc']) {
    assert.match((await c.cmd(bad)).tagged, /^t\d+ BAD /, bad);
  }
});
