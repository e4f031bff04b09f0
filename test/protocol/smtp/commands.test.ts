import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, parsePathArg, formatReply } from '../../../src/protocol/smtp/commands.js';

test('command line verb and args', () => {
  assert.deepEqual(parseCommandLine('mail FROM:<a@b>'), { verb: 'MAIL', args: 'FROM:<a@b>' });
  assert.deepEqual(parseCommandLine('QUIT'), { verb: 'QUIT', args: '' });
  assert.equal(parseCommandLine('123 bad').verb, '');
});

test('MAIL FROM paths and parameters', () => {
  const r = parsePathArg('FROM:<a@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8', 'FROM');
  assert.ok(r.ok);
  assert.equal(r.value.address, 'a@example.org');
  assert.equal(r.value.params.get('SIZE'), '100');
  assert.equal(r.value.params.get('BODY'), '8BITMIME');
  assert.equal(r.value.params.get('SMTPUTF8'), true);
  const nul = parsePathArg('FROM:<>', 'FROM');
  assert.ok(nul.ok && nul.value.address === '');
  const lax = parsePathArg('FROM: a@example.org', 'FROM');
  assert.ok(lax.ok && lax.value.address === 'a@example.org');
  const route = parsePathArg('TO:<@relay.example:u@example.test>', 'TO');
  assert.ok(route.ok && route.value.address === 'u@example.test');
  const quoted = parsePathArg('TO:<"john doe"@example.test>', 'TO');
  assert.ok(quoted.ok && quoted.value.address === '"john doe"@example.test');
  const pm = parsePathArg('TO:<Postmaster>', 'TO');
  assert.ok(pm.ok);
});

test('bad paths give 501 with an enhanced code', () => {
  for (const [arg, kw] of [
    ['FROM a@b', 'FROM'],
    ['FROM:<a@b', 'FROM'],
    ['TO:<>', 'TO'],
    ['TO:<nodomain>', 'TO'],
    ['TO:<a@b> BAD=PARAM=x!', 'TO'],
    ['TO:<a b@c>', 'TO'],
  ] as const) {
    const r = parsePathArg(arg, kw);
    assert.equal(r.ok, false, arg);
    if (!r.ok) {
      assert.equal(r.code, 501);
      assert.match(r.enhanced, /^5\.\d\.\d+$/);
    }
  }
});

test('replies: multi-line with enhanced codes, control characters removed', () => {
  assert.equal(formatReply(250, null, ['host', 'PIPELINING']), '250-host\r\n250 PIPELINING\r\n');
  assert.equal(formatReply(550, '5.1.1', 'no\r\nsuch'), '550 5.1.1 no  such\r\n');
});
