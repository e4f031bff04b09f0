// parseStructure: offsets, part numbering (RFC 3501 §6.4.5), MIME fields (RFC 2045/2183/2231), malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStructure, walk, buildBodyStructure, formatBodyStructure, MAX_DEPTH, MAX_PARTS, type MimeNode } from '../../src/mime/index.js';
import { fixture, crlf } from './helpers.js';

const body = (raw: Buffer, n: MimeNode) => raw.subarray(n.bodyStart, n.bodyEnd).toString('utf8');
const parts = (n: MimeNode) => {
  const out: string[] = [];
  walk(n, (x) => out.push(`${x.part || '-'}:${x.contentType.type}/${x.contentType.subtype}`));
  return out;
};

test('plain message: one text/plain node, body offsets, lines', () => {
  const raw = fixture('plain');
  const t = parseStructure(raw);
  assert.equal(t.part, '');
  assert.deepEqual([t.contentType.type, t.contentType.subtype, t.contentType.defaulted], ['text', 'plain', true]);
  assert.equal(t.children.length, 0);
  assert.equal(body(raw, t), 'Hello Bob,\r\n\r\nThis is a plain text message\r\nwith four lines.\r\n');
  assert.equal(raw.subarray(t.headerEnd, t.bodyStart).toString(), '\r\n');
  assert.equal(t.size, 62);
  assert.equal(t.lines, 4);
  assert.equal(t.envelope?.subject, 'Plain text message');
});

test('multipart/alternative: children, params, encoding', () => {
  const raw = fixture('alternative');
  const t = parseStructure(raw);
  assert.deepEqual(parts(t), ['-:multipart/alternative', '1:text/plain', '2:text/html']);
  assert.equal(t.contentType.params['boundary'], '=_alt_boundary');
  const [p1, p2] = t.children as [MimeNode, MimeNode];
  assert.equal(p1.contentTransferEncoding, 'quoted-printable');
  assert.equal(p1.contentType.params['charset'], 'utf-8');
  assert.ok(body(raw, p1).startsWith('Caf=C3=A9'));
  assert.ok(body(raw, p1).endsWith('right here.'));
  assert.equal(body(raw, p2), '<html><body><p>Caf&eacute; au lait</p></body></html>\r\n');
  assert.equal(raw.subarray(p2.headerStart, p2.headerEnd).toString().split('\r\n')[0], 'Content-Type: text/html; charset="utf-8"');
});

test('attachment fields: id, description, md5, disposition, language, location', () => {
  const t = parseStructure(fixture('mixed-attachment'));
  const a = t.children[1]!;
  assert.equal(a.part, '2');
  assert.equal(a.contentId, '<report@example.test>');
  assert.equal(a.contentDescription, 'Quarterly report');
  assert.equal(a.md5, 'Q2hlY2sgSW50ZWdyaXR5IQ==');
  assert.equal(a.contentTransferEncoding, 'base64');
  assert.deepEqual(a.disposition?.type, 'attachment');
  assert.equal(a.disposition?.params['filename'], 'report.pdf');
  assert.deepEqual(a.language, ['en', 'de']);
  assert.equal(a.location, 'http://example.test/report.pdf');
  assert.equal(a.contentType.params['name'], 'report.pdf');
});

test('nested multipart numbering', () => {
  const t = parseStructure(fixture('nested'));
  assert.deepEqual(parts(t), [
    '-:multipart/mixed',
    '1:multipart/alternative',
    '1.1:text/plain',
    '1.2:text/html',
    '2:image/png',
  ]);
});

test('message/rfc822: encapsulated message with its own header, numbered under the part', () => {
  const raw = fixture('rfc822');
  const t = parseStructure(raw);
  assert.deepEqual(parts(t), [
    '-:multipart/mixed',
    '1:text/plain',
    '2:message/rfc822',
    '2:multipart/alternative',
    '2.1:text/plain',
    '2.2:text/html',
    '3:message/rfc822',
    '3:text/plain',
  ]);
  const m = t.children[1]!.message!;
  assert.equal(m.headerStart, t.children[1]!.bodyStart);
  assert.equal(m.envelope?.subject, 'Inner message');
  assert.equal(t.children[1]!.lines, 18);
  assert.equal(body(raw, t.children[2]!.message!), 'Just text.');
});

test('envelope: false leaves out only the root ENVELOPE; encapsulated messages keep theirs, the rest is the same', () => {
  const raw = fixture('rfc822');
  const full = parseStructure(raw);
  const lean = parseStructure(raw, { envelope: false });
  assert.equal(lean.envelope, null);
  assert.ok(full.envelope);
  assert.equal(lean.children[1]!.message!.envelope?.subject, 'Inner message');
  assert.deepEqual(lean, { ...full, envelope: null });
  assert.equal(formatBodyStructure(buildBodyStructure(lean, true), true), formatBodyStructure(buildBodyStructure(full, true), true));
});

test('RFC 2231: continuations joined, charsets decoded; raw form kept for BODYSTRUCTURE', () => {
  const t = parseStructure(fixture('rfc2231'));
  const [, p2, p3, p4, p5] = t.children as MimeNode[];
  assert.equal(p2!.contentType.params['name'], '€ rates.txt');
  assert.equal(p2!.disposition?.params['filename'], '€ rates.txt');
  assert.deepEqual(p2!.disposition?.rawParams, [['filename*', "utf-8''%E2%82%AC%20rates.txt"]]);
  assert.equal(p3!.disposition?.params['filename'], 'a very long file name that continues.txt');
  assert.equal(p4!.disposition?.params['filename'], 'Grüße und Küsse.txt');
  assert.deepEqual(p4!.disposition?.rawParams, [['filename*', "iso-8859-1'de'Gr%FC%DFe%20und%20K%FCsse.txt"]]);
  // Encoded words in parameters (not standard, but common) are decoded too.
  assert.equal(p5!.disposition?.params['filename'], 'äöü.txt');
});

test('LF-only malformed message: same shape and sizes (minus CRs) as its CRLF form', () => {
  const lf = fixture('malformed-lf');
  const t = parseStructure(lf);
  const t2 = parseStructure(crlf(lf));
  assert.deepEqual(parts(t), parts(t2));
  assert.deepEqual(parts(t), ['-:multipart/mixed', '1:text/plain', '2:text/plain', '3:text/html']);
  assert.equal(body(lf, t.children[0]!), 'first part');
  // Part 2 has a header but no blank line before the next delimiter: its body is empty.
  assert.equal(t.children[1]!.contentType.params['charset'], 'utf-8');
  assert.equal(t.children[1]!.size, 0);
  // No close delimiter: the last part runs to the end of the message.
  assert.equal(body(lf, t.children[2]!), '<p>no closing boundary</p>\n');
  assert.equal(t.children[2]!.bodyEnd, lf.length);
  assert.equal(t.children[2]!.lines, 1);
  // 8-bit header read as UTF-8.
  assert.equal(t.envelope?.subject, 'Broken Ünïcode message');
});

test('boundary lines are matched strictly (RFC 2046 §5.1.1), unlike Dovecot', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n--bX not a delimiter\r\n--b\r\n\r\none\r\n--bb\r\nstill one\r\n--b--  \r\nepilogue\r\n',
  );
  const t = parseStructure(raw);
  assert.equal(t.children.length, 1);
  assert.equal(body(raw, t.children[0]!), 'one\r\n--bb\r\nstill one');
});

test('header without blank line: all header, empty body', () => {
  const t = parseStructure(fixture('header-only'));
  assert.equal(t.size, 0);
  assert.equal(t.bodyStart, fixture('header-only').length);
  assert.equal(t.contentType.params['format'], 'flowed');
});

test('multipart without boundary or without parts gets one empty text/plain child', () => {
  for (const s of [
    'Content-Type: multipart/mixed\r\n\r\nno boundary\r\n',
    'Content-Type: multipart/mixed; boundary=q\r\n\r\nno parts at all\r\n',
  ]) {
    const t = parseStructure(Buffer.from(s));
    assert.equal(t.children.length, 1);
    assert.equal(t.children[0]!.part, '1');
    assert.equal(t.children[0]!.size, 0);
  }
});

test('multipart/digest children default to message/rfc822', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n--d--\r\n',
  );
  const t = parseStructure(raw);
  assert.equal(t.children[0]!.contentType.type, 'message');
  assert.equal(t.children[0]!.message?.envelope?.subject, 'one');
});

test('encoded message/rfc822 is not parsed as a message (RFC 2046 §5.2.1 allows only 7bit/8bit/binary)', () => {
  const raw = Buffer.from('Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n');
  assert.equal(parseStructure(raw).message, null);
});

test('nesting depth is bounded', () => {
  let s = '';
  for (let i = 0; i < 200; i++) s += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  s += 'Content-Type: text/plain\r\n\r\ndeep\r\n';
  const t = parseStructure(Buffer.from(s));
  let depth = 0;
  let n: MimeNode | undefined = t;
  while (n && n.children.length > 0) {
    n = n.children[0];
    depth++;
  }
  assert.ok(depth <= MAX_DEPTH + 1, `depth ${depth}`); // + the empty placeholder part
});

test('nested message/rfc822 depth is bounded', () => {
  const s = 'Content-Type: message/rfc822\r\n\r\n'.repeat(500) + 'x';
  const t = parseStructure(Buffer.from(s));
  let depth = 0;
  let n: MimeNode | null = t;
  while (n && n.message) {
    n = n.message;
    depth++;
  }
  assert.ok(depth <= MAX_DEPTH);
});

test('number of parts is bounded', () => {
  const s = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n' + '--b\r\n\r\nx\r\n'.repeat(MAX_PARTS * 3) + '--b--\r\n';
  let count = 0;
  walk(parseStructure(Buffer.from(s)), () => count++);
  assert.ok(count <= MAX_PARTS + 1, `count ${count}`);
});

test('never throws on random and truncated input', () => {
  const seeds = ['alternative', 'mixed-attachment', 'nested', 'rfc822', 'rfc2231', 'malformed-lf'].map(fixture);
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  const alphabet = Buffer.from('-\r\n:;="\\()<>@,. \tabBxContent-Type multipart/mixed boundary message/rfc822 \u00ff');
  for (let i = 0; i < 600; i++) {
    const base = seeds[i % seeds.length]!;
    const buf = Buffer.from(base.subarray(0, rnd(base.length + 1)));
    for (let k = 0; k < 20; k++) if (buf.length > 0) buf[rnd(buf.length)] = alphabet[rnd(alphabet.length)]!;
    const t = parseStructure(buf);
    walk(t, (n) => {
      assert.ok(n.headerStart <= n.headerEnd && n.headerEnd <= n.bodyStart && n.bodyStart <= n.bodyEnd);
      assert.ok(n.bodyEnd <= buf.length);
    });
    JSON.stringify(t);
  }
  for (const s of ['', '\r\n', '\n', 'x', ':', '\r\n\r\n', 'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n']) {
    parseStructure(Buffer.from(s));
  }
});
