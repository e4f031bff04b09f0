import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDir, encodeDir, normalizeMailboxName, MailboxNameError, MAX_DEPTH } from '../../../src/store/mail/names.js';

test('plain names map to Dovecot Maildir++ folders', () => {
  assert.equal(encodeDir('INBOX'), '');
  assert.equal(encodeDir('Archive/2024'), '.Archive.2024');
  assert.equal(encodeDir('Sent'), '.Sent');
  assert.equal(encodeDir('INBOX/sub'), '.INBOX.sub');
  assert.equal(encodeDir('Entwürfe'), '.Entw&APw-rfe');
  assert.equal(encodeDir('A&B'), '.A&-B');
  assert.equal(decodeDir('.Archive.2024'), 'Archive/2024');
  assert.equal(decodeDir('.Entw&APw-rfe'), 'Entwürfe');
  assert.equal(decodeDir(''), 'INBOX');
});

test('INBOX is case-insensitive', () => {
  assert.equal(normalizeMailboxName('inbox'), 'INBOX');
  assert.equal(normalizeMailboxName('InBoX/Foo'), 'INBOX/Foo');
  assert.equal(normalizeMailboxName('Inboxes'), 'Inboxes');
});

test('traversal attempts stay one safe path component and round-trip', () => {
  for (const name of ['../x', 'a/../../b', '.hidden', '%2e%2e', '..', 'a/./b', 'x\\y', 'a.b', '~root', 'a:b*?', '.', 'x..y']) {
    let n: string;
    try {
      n = normalizeMailboxName(name);
    } catch (err) {
      assert.ok(err instanceof MailboxNameError, name);
      continue;
    }
    const dir = encodeDir(n);
    assert.ok(dir.startsWith('.'), name);
    assert.ok(!dir.includes('/'), `${name} -> ${dir}`);
    assert.ok(!dir.slice(1).split('.').some((l) => l === '' || l.startsWith('.')), `${name} -> ${dir}`);
    assert.notEqual(dir, '..');
    assert.equal(decodeDir(dir), n, `round trip of ${name} (${dir})`);
  }
  assert.equal(encodeDir(normalizeMailboxName('.hidden')), '.%2Ehidden');
  assert.equal(encodeDir(normalizeMailboxName('%2e%2e')), '.%252e%252e');
  assert.equal(encodeDir(normalizeMailboxName('a.b')), '.a%2Eb');
});

test('names ".." and "." levels are rejected as empty or encoded', () => {
  // "a/../../b" has levels "..": encoded, never interpreted
  assert.equal(encodeDir(normalizeMailboxName('a/../../b')), '.a.%2E%2E.%2E%2E.b');
});

test('invalid names are rejected', () => {
  const bad = ['', '/', 'a//b', 'a/', '/a', 'a\u0000b', 'a\nb', 'x\u007f', 'a'.repeat(201), Array(MAX_DEPTH + 1).fill('a').join('/'), '\ud800x', '日本語'.repeat(30)];
  for (const b of bad) assert.throws(() => normalizeMailboxName(b), MailboxNameError, JSON.stringify(b.slice(0, 20)));
});

test('decodeDir ignores folders that are not canonical', () => {
  for (const d of ['.', '..', '..x', '.a..b', '.a.', '.%2e', '.%zz', '.&AGE-', '.INBOX', '.inbox.x', 'cur', '.a%', '.&Jjo', '..deleted-1']) {
    assert.equal(decodeDir(d), null, d);
  }
  assert.equal(decodeDir('.INBOX.x'), 'INBOX/x');
});
