// BODYSTRUCTURE / BODY shapes beyond the Dovecot fixtures (which dovecot.test.ts checks byte for byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBodyStructure, formatBodyStructure, parseStructure } from '../../src/mime/index.js';

const bs = (s: string, ext = true) => formatBodyStructure(buildBodyStructure(parseStructure(Buffer.from(s)), ext));

test('text without charset gets ("charset" "us-ascii") appended after other params', () => {
  assert.equal(
    bs('Content-Type: text/plain; format=flowed\r\n\r\nx\r\n'),
    '("text" "plain" ("format" "flowed" "charset" "us-ascii") NIL NIL "7bit" 3 1 NIL NIL NIL NIL)',
  );
});

test('non-text without params is NIL; encoding lower-cased; disposition without params', () => {
  assert.equal(
    bs('Content-Type: Application/Octet-Stream\r\nContent-Transfer-Encoding: BASE64\r\nContent-Disposition: inline\r\n\r\nAAAA'),
    '("application" "octet-stream" NIL NIL NIL "base64" 4 NIL ("inline" NIL) NIL NIL)',
  );
});

test('top-level message/rfc822 has envelope, body and lines; BODY drops extension data everywhere', () => {
  const s = 'Content-Type: message/rfc822\r\n\r\nSubject: top rfc822\r\n\r\nbody\r\n';
  assert.equal(
    bs(s),
    '("message" "rfc822" NIL NIL NIL "7bit" 29 (NIL "top rfc822" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)',
  );
  assert.equal(
    bs(s, false),
    '("message" "rfc822" NIL NIL NIL "7bit" 29 (NIL "top rfc822" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 3)',
  );
});

test('multipart without boundary: one empty text/plain, params NIL', () => {
  assert.equal(
    bs('Content-Type: multipart/alternative\r\n\r\nx'),
    '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "alternative" NIL NIL NIL NIL)',
  );
});

test('8-bit parameter values are sent as literals', () => {
  assert.equal(
    bs('Content-Type: application/x; name="Grüße"\r\n\r\n'),
    '("application" "x" ("name" {7}\r\nGrüße) NIL NIL "7bit" 0 NIL NIL NIL NIL)',
  );
});
