// Mailwright's BODYSTRUCTURE, BODY, ENVELOPE, RFC822.* and BODY[section]<partial> answers compared byte for byte
// with Dovecot 2.3's answers for the same messages. Dovecot's answers were recorded once by
// test/mime/record-dovecot.py (Dovecot's imap binary in PREAUTH mode over a private Maildir) into
// test/fixtures/mime/*.dovecot.json; this test does not need Dovecot installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildBodyStructure,
  buildEnvelope,
  extractSection,
  formatBodyStructure,
  formatEnvelope,
  parseSection,
  parseStructure,
  partial,
  rfc822Header,
  rfc822Text,
} from '../../src/mime/index.js';
import { answerBytes, crlf, dovecotAnswers, dovecotFixtures, fixture } from './helpers.js';

for (const name of dovecotFixtures()) {
  const d = dovecotAnswers(name);
  // Dovecot reads bare LF as CRLF; compare on the CRLF form (LF-only parsing is covered in structure.test.ts).
  const raw = crlf(fixture(name));
  const tree = parseStructure(raw);
  const cached = JSON.parse(JSON.stringify(tree)) as typeof tree;

  test(`${name}: BODYSTRUCTURE and BODY equal Dovecot's`, () => {
    assert.equal(formatBodyStructure(buildBodyStructure(tree, true)), d['BODYSTRUCTURE']);
    assert.equal(formatBodyStructure(buildBodyStructure(tree, false)), d['BODY']);
    // One cached extended structure also answers BODY.
    assert.equal(formatBodyStructure(buildBodyStructure(tree, true), false), d['BODY']);
    // The tree survives a JSON round trip (the store caches it).
    assert.equal(formatBodyStructure(buildBodyStructure(cached, true)), d['BODYSTRUCTURE']);
    const bs = JSON.parse(JSON.stringify(buildBodyStructure(tree, true)));
    assert.equal(formatBodyStructure(bs), d['BODYSTRUCTURE']);
  });

  test(`${name}: ENVELOPE equals Dovecot's`, () => {
    assert.equal(formatEnvelope(buildEnvelope(raw)), d['ENVELOPE']);
    assert.equal(formatEnvelope(tree.envelope!), d['ENVELOPE']);
    // From the header alone.
    assert.equal(formatEnvelope(buildEnvelope(rfc822Header(raw, tree))), d['ENVELOPE']);
    assert.equal(formatEnvelope(JSON.parse(JSON.stringify(buildEnvelope(raw)))), d['ENVELOPE']);
  });

  test(`${name}: RFC822.SIZE, RFC822.HEADER, RFC822.TEXT equal Dovecot's`, () => {
    assert.equal(raw.length, d['RFC822.SIZE']);
    assert.deepEqual(rfc822Header(raw, tree), answerBytes(d['RFC822.HEADER']!));
    assert.deepEqual(rfc822Text(raw, tree), answerBytes(d['RFC822.TEXT']!));
  });

  test(`${name}: every BODY[section]<partial> equals Dovecot's`, () => {
    let checked = 0;
    for (const [key, want] of Object.entries(d)) {
      const m = /^BODY\.PEEK\[(.*)\](?:<(\d+)\.(\d+)>)?$/s.exec(key);
      if (!m) continue;
      const spec = parseSection(m[1]!);
      assert.ok(spec, `section ${m[1]} parses`);
      let got = extractSection(raw, tree, spec);
      if (m[2] !== undefined) got = partial(got, Number(m[2]), Number(m[3]));
      assert.equal(got.toString('latin1'), answerBytes(want!).toString('latin1'), `${name} ${key}`);
      // The cached (JSON) tree gives the same bytes.
      let got2 = extractSection(raw, cached, m[1]!);
      if (m[2] !== undefined) got2 = partial(got2, Number(m[2]), Number(m[3]));
      assert.deepEqual(got2, got);
      checked++;
    }
    assert.ok(checked >= 15, `checked ${checked} sections`);
  });
}
