// FETCH: macros, every fetch-att, sections, partials, BINARY, modifiers, and echo names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapParseError } from '../../../src/protocol/imap/errors.js';
import type { FetchCommand } from '../../../src/protocol/imap/types.js';
import { fetchItemName } from '../../../src/protocol/imap/response.js';
import { cmd } from './helpers.js';

function fetch(line: string): FetchCommand {
  const c = cmd(line);
  assert.equal(c.name, 'FETCH');
  return c as FetchCommand;
}

test('macros ALL FAST FULL', () => {
  const all = fetch('a FETCH 1:* ALL');
  assert.equal(all.macro, 'ALL');
  assert.deepEqual(all.items.map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE']);
  assert.deepEqual(fetch('a FETCH 1 fast').items.map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
  assert.deepEqual(fetch('a FETCH 1 FULL').items.map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY']);
  assert.throws(() => cmd('a FETCH 1 (ALL)'), ImapParseError); // macros are not fetch-att
});

test('simple attributes', () => {
  const f = fetch('a UID FETCH 1,3 (FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT ENVELOPE BODY BODYSTRUCTURE UID MODSEQ)');
  assert.equal(f.uid, true);
  assert.deepEqual(f.items.map((i) => i.type), [
    'FLAGS', 'INTERNALDATE', 'RFC822', 'RFC822.HEADER', 'RFC822.SIZE', 'RFC822.TEXT', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'UID', 'MODSEQ',
  ]);
  assert.equal(f.vanished, false);
  assert.equal(f.changedSince, undefined);
});

test('BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100> and BODY[1.2.MIME]', () => {
  const f = fetch('a FETCH 2 (BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100> BODY[1.2.MIME])');
  assert.deepEqual(f.items, [
    { type: 'BODY[]', peek: true, section: { part: [], specifier: 'HEADER.FIELDS', fields: ['DATE', 'FROM'] }, partial: { start: 0, length: 100 } },
    { type: 'BODY[]', peek: false, section: { part: [1, 2], specifier: 'MIME' } },
  ]);
  assert.equal(fetchItemName(f.items[0]!), 'BODY[HEADER.FIELDS (DATE FROM)]<0>');
  assert.equal(fetchItemName(f.items[1]!), 'BODY[1.2.MIME]');
});

test('all section forms', () => {
  const cases: Array<[string, unknown, string]> = [
    ['BODY[]', { part: [] }, 'BODY[]'],
    ['BODY[HEADER]', { part: [], specifier: 'HEADER' }, 'BODY[HEADER]'],
    ['body[text]', { part: [], specifier: 'TEXT' }, 'BODY[TEXT]'],
    ['BODY[3]', { part: [3] }, 'BODY[3]'],
    ['BODY[1.2.3]', { part: [1, 2, 3] }, 'BODY[1.2.3]'],
    ['BODY[4.2.HEADER]', { part: [4, 2], specifier: 'HEADER' }, 'BODY[4.2.HEADER]'],
    ['BODY[4.2.TEXT]', { part: [4, 2], specifier: 'TEXT' }, 'BODY[4.2.TEXT]'],
    ['BODY[1.HEADER.FIELDS.NOT (Received "X-Spam")]', { part: [1], specifier: 'HEADER.FIELDS.NOT', fields: ['Received', 'X-Spam'] }, 'BODY[1.HEADER.FIELDS.NOT (Received X-Spam)]'],
  ];
  for (const [text, section, echo] of cases) {
    const item = fetch(`a FETCH 1 ${text}`).items[0]!;
    assert.ok(item.type === 'BODY[]');
    assert.deepEqual(item.section, section, text);
    assert.equal(fetchItemName(item), echo);
  }
});

test('BINARY, BINARY.PEEK, BINARY.SIZE (RFC 3516)', () => {
  const f = fetch('a FETCH 1 (BINARY[1.2]<10.20> BINARY.PEEK[] BINARY.SIZE[3])');
  assert.deepEqual(f.items, [
    { type: 'BINARY[]', peek: false, part: [1, 2], partial: { start: 10, length: 20 } },
    { type: 'BINARY[]', peek: true, part: [] },
    { type: 'BINARY.SIZE', part: [3] },
  ]);
  assert.deepEqual(f.items.map(fetchItemName), ['BINARY[1.2]<10>', 'BINARY[]', 'BINARY.SIZE[3]']);
});

test('fetch modifiers CHANGEDSINCE and VANISHED (RFC 7162)', () => {
  const f = fetch('a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)');
  assert.equal(f.changedSince, 12345n);
  assert.equal(f.vanished, true);
  assert.equal(fetch('a FETCH 1:* FLAGS (CHANGEDSINCE 9223372036854775807)').changedSince, 9223372036854775807n);
  assert.throws(() => cmd('a FETCH 1 FLAGS (CHANGEDSINCE 12 VANISHED)'), /VANISHED/);
  assert.throws(() => cmd('a FETCH 1 FLAGS (FOO 1)'), /Unknown fetch modifier/);
  assert.throws(() => cmd('a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)'), /mod-sequence/);
});

test('bad FETCH syntax', () => {
  const bads: Array<[string, RegExp]> = [
    ['a FETCH', /Missing sequence set/],
    ['a FETCH 1', /Missing fetch items/],
    ['a FETCH 1 ()', /Empty/],
    ['a FETCH 1 FOO', /Unknown fetch attribute/],
    ['a FETCH 1 BODY[MIME]', /MIME requires a part/],
    ['a FETCH 1 BODY[0]', /section part/],
    ['a FETCH 1 BODY[HEADER.FIELDS]', /Missing header list/],
    ['a FETCH 1 BODY[HEADER.FIELDS ()]', /Empty header list/],
    ['a FETCH 1 BODY[HEADER', /"\]"/],
    ['a FETCH 1 BODY[1.FOO]', /Invalid section/],
    ['a FETCH 1 BODY[]<5>', /"\." in partial/],
    ['a FETCH 1 BODY[]<5.0>', /partial length/],
    ['a FETCH 1 BODY.PEEK', /Unknown fetch attribute/],
    ['a FETCH 1 BINARY[TEXT]', /"\]"/],
    ['a FETCH 0 FLAGS', /sequence number/],
    ['a FETCH 1: FLAGS', /sequence number/],
  ];
  for (const [line, re] of bads) {
    assert.throws(() => cmd(line), (err: unknown) => err instanceof ImapParseError && re.test(err.message) && err.tag === 'a', line);
  }
});
