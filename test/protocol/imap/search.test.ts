// SEARCH: every RFC 3501 §6.4.4 key, trees for the RFC examples, CHARSET, RETURN, MODSEQ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import type { SearchCommand, SearchKey } from '../../../src/protocol/imap/types.js';
import { parseErrorResponse } from '../../../src/protocol/imap/response.js';
import { cmd } from './helpers.js';

function search(line: string): SearchCommand {
  const c = cmd(line);
  assert.equal(c.name, 'SEARCH');
  return c as SearchCommand;
}
const keys = (line: string): readonly SearchKey[] => (search(line).criteria as { keys: SearchKey[] }).keys;
const day = (iso: string): Date => new Date(`${iso}T00:00:00Z`);

test('RFC 3501 example: FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', () => {
  const c = search('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"');
  assert.equal(c.uid, false);
  assert.deepEqual(c.criteria, {
    type: 'AND',
    keys: [
      { type: 'FLAG', flag: '\\Flagged', present: true },
      { type: 'DATE', field: 'internal', comparison: 'since', date: day('1994-02-01') },
      { type: 'NOT', key: { type: 'HEADER', field: 'FROM', value: 'Smith' } },
    ],
  });
});

test('RFC 3501 example: TEXT "string not in mailbox"; OR nesting and groups', () => {
  assert.deepEqual(keys('A283 SEARCH TEXT "string not in mailbox"'), [{ type: 'TEXT', value: 'string not in mailbox' }]);
  assert.deepEqual(keys('a SEARCH OR OR FROM a TO b (SEEN OR 1:5 UID 7)'), [
    {
      type: 'OR',
      left: { type: 'OR', left: { type: 'HEADER', field: 'FROM', value: 'a' }, right: { type: 'HEADER', field: 'TO', value: 'b' } },
      right: {
        type: 'AND',
        keys: [
          { type: 'FLAG', flag: '\\Seen', present: true },
          {
            type: 'OR',
            left: { type: 'SEQUENCE', set: { kind: 'set', ranges: [{ start: 1, end: 5 }] } },
            right: { type: 'UID', set: { kind: 'set', ranges: [{ start: 7, end: 7 }] } },
          },
        ],
      },
    },
  ]);
});

test('every RFC 3501 §6.4.4 search key', () => {
  const cases: Array<[string, SearchKey]> = [
    ['ALL', { type: 'ALL' }],
    ['ANSWERED', { type: 'FLAG', flag: '\\Answered', present: true }],
    ['BCC x', { type: 'HEADER', field: 'BCC', value: 'x' }],
    ['BEFORE "2-Mar-2020"', { type: 'DATE', field: 'internal', comparison: 'before', date: day('2020-03-02') }],
    ['BODY {5+}\r\nhe lo', { type: 'BODY', value: 'he lo' }],
    ['CC x', { type: 'HEADER', field: 'CC', value: 'x' }],
    ['DELETED', { type: 'FLAG', flag: '\\Deleted', present: true }],
    ['DRAFT', { type: 'FLAG', flag: '\\Draft', present: true }],
    ['FLAGGED', { type: 'FLAG', flag: '\\Flagged', present: true }],
    ['FROM "Jürgen"', { type: 'HEADER', field: 'FROM', value: 'Jürgen' }],
    ['HEADER List-Id "<x.y>"', { type: 'HEADER', field: 'List-Id', value: '<x.y>' }],
    ['KEYWORD $Work', { type: 'FLAG', flag: '$Work', present: true }],
    ['LARGER 1000', { type: 'SIZE', comparison: 'larger', size: 1000 }],
    ['NEW', { type: 'AND', keys: [{ type: 'FLAG', flag: '\\Recent', present: true }, { type: 'FLAG', flag: '\\Seen', present: false }] }],
    ['NOT SEEN', { type: 'NOT', key: { type: 'FLAG', flag: '\\Seen', present: true } }],
    ['OLD', { type: 'FLAG', flag: '\\Recent', present: false }],
    ['ON 29-Feb-2024', { type: 'DATE', field: 'internal', comparison: 'on', date: day('2024-02-29') }],
    ['OR SEEN DRAFT', { type: 'OR', left: { type: 'FLAG', flag: '\\Seen', present: true }, right: { type: 'FLAG', flag: '\\Draft', present: true } }],
    ['RECENT', { type: 'FLAG', flag: '\\Recent', present: true }],
    ['SEEN', { type: 'FLAG', flag: '\\Seen', present: true }],
    ['SENTBEFORE 1-Jan-2000', { type: 'DATE', field: 'sent', comparison: 'before', date: day('2000-01-01') }],
    ['SENTON 01-jan-2000', { type: 'DATE', field: 'sent', comparison: 'on', date: day('2000-01-01') }],
    ['SENTSINCE 1-JAN-2000', { type: 'DATE', field: 'sent', comparison: 'since', date: day('2000-01-01') }],
    ['SINCE 1-Feb-1994', { type: 'DATE', field: 'internal', comparison: 'since', date: day('1994-02-01') }],
    ['SMALLER 10', { type: 'SIZE', comparison: 'smaller', size: 10 }],
    ['SUBJECT hi', { type: 'HEADER', field: 'SUBJECT', value: 'hi' }],
    ['TEXT hi', { type: 'TEXT', value: 'hi' }],
    ['TO hi', { type: 'HEADER', field: 'TO', value: 'hi' }],
    ['UID 1:*', { type: 'UID', set: { kind: 'set', ranges: [{ start: 1, end: '*' }] } }],
    ['UNANSWERED', { type: 'FLAG', flag: '\\Answered', present: false }],
    ['UNDELETED', { type: 'FLAG', flag: '\\Deleted', present: false }],
    ['UNDRAFT', { type: 'FLAG', flag: '\\Draft', present: false }],
    ['UNFLAGGED', { type: 'FLAG', flag: '\\Flagged', present: false }],
    ['UNKEYWORD $Work', { type: 'FLAG', flag: '$Work', present: false }],
    ['UNSEEN', { type: 'FLAG', flag: '\\Seen', present: false }],
    ['2,4:7,9', { type: 'SEQUENCE', set: { kind: 'set', ranges: [{ start: 2, end: 2 }, { start: 4, end: 7 }, { start: 9, end: 9 }] } }],
    ['$', { type: 'SEQUENCE', set: { kind: 'saved' } }],
    ['MODSEQ 620162338', { type: 'MODSEQ', modSeq: 620162338n }],
    ['MODSEQ "/flags/\\\\draft" all 620162338', { type: 'MODSEQ', modSeq: 620162338n, entryName: '/flags/\\draft', entryType: 'all' }],
    ['OLDER 3600', { type: 'AGE', comparison: 'older', seconds: 3600 }],
    ['younger 60', { type: 'AGE', comparison: 'younger', seconds: 60 }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(keys(`t SEARCH ${text}`), [expected], text);
});

test('UID SEARCH, CHARSET and RETURN', () => {
  const c = search('t UID SEARCH RETURN (MIN COUNT) CHARSET utf-8 SUBJECT x');
  assert.equal(c.uid, true);
  assert.equal(c.charset, 'UTF-8');
  assert.deepEqual(c.returnOptions, ['MIN', 'COUNT']);
  assert.deepEqual(search('t SEARCH RETURN () ALL').returnOptions, []);
  assert.equal(search('t SEARCH CHARSET US-ASCII ALL').charset, 'US-ASCII');
  assert.equal(search('t SEARCH ALL').returnOptions, undefined);
});

test('unsupported charset: NO [BADCHARSET (UTF-8 US-ASCII)]', () => {
  assert.throws(
    () => cmd('t SEARCH CHARSET ISO-8859-1 FROM x'),
    (err: unknown) => {
      assert.ok(err instanceof ImapParseError);
      assert.equal(err.status, 'NO');
      assert.equal(err.code, 'BADCHARSET (UTF-8 US-ASCII)');
      assert.equal(parseErrorResponse(err).toString(), 't NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset ISO-8859-1\r\n');
      return true;
    },
  );
});

test('bad SEARCH syntax', () => {
  const bads: Array<[string, RegExp]> = [
    ['t SEARCH', /Missing search criteria/],
    ['t SEARCH FROM', /Missing FROM value/],
    ['t SEARCH SINCE 31-Feb-2020', /Invalid date/],
    ['t SEARCH SINCE 1-Foo-2020', /Invalid date/],
    ['t SEARCH LARGER x', /Invalid size/],
    ['t SEARCH OR SEEN', /Missing search key/],
    ['t SEARCH NOT', /Missing search key/],
    ['t SEARCH FOO', /Unknown search key/],
    ['t SEARCH ()', /Empty search group/],
    ['t SEARCH RETURN (FOO) ALL', /Unknown search return option/],
    ['t SEARCH UID 0', /Invalid sequence number/],
    ['t SEARCH HEADER Subject', /Missing header value/],
    ['t SEARCH CHARSET', /Missing charset/],
  ];
  for (const [line, re] of bads) {
    assert.throws(() => cmd(line), (err: unknown) => err instanceof ImapParseError && re.test(err.message) && err.tag === 't', line);
  }
});
