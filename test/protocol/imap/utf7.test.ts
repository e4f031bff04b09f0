// Modified UTF-7 mailbox names (RFC 3501 §5.1.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMailboxName, decodeMailboxName } from '../../../src/protocol/imap/utf7.js';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';

test('round trips', () => {
  const pairs: Array<[string, string]> = [
    ['Entwürfe', 'Entw&APw-rfe'],
    ['&', '&-'],
    ['a&b', 'a&-b'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['INBOX', 'INBOX'],
    ['', ''],
    ['Отправленные', '&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-'],
    ['😀', '&2D3eAA-'],
    ['ä&ö', '&AOQ-&-&APY-'],
    ['tab\there', 'tab&AAk-here'],
  ];
  for (const [unicode, encoded] of pairs) {
    assert.equal(encodeMailboxName(unicode), encoded, unicode);
    assert.equal(decodeMailboxName(encoded), unicode, encoded);
  }
});

test('random round trips', () => {
  for (let n = 0; n < 500; n++) {
    let s = '';
    const len = (n * 7) % 13;
    for (let i = 0; i < len; i++) {
      const r = (n * 31 + i * 17) % 5;
      s += r === 0 ? '&' : r === 1 ? 'a' : r === 2 ? String.fromCharCode(0xa0 + ((n + i) % 400)) : r === 3 ? '/' : '💌';
    }
    assert.equal(decodeMailboxName(encodeMailboxName(s)), s);
  }
});

test('invalid modified UTF-7 is rejected', () => {
  for (const bad of ['Entwürfe', '&U,BTFw', '&U/BTFw-', '&AGE-', '&AOQ', '&2D0-', '&3gA-', '&A-', 'a\tb', '&AOQ=-', '&AOR-']) {
    assert.throws(() => decodeMailboxName(bad), ImapParseError, bad);
  }
});
