/**
 * feedMessage (src/mailauth/feed.ts): an in-memory message fed straight into mailauth's DkimSigner / DkimVerifier
 * gives exactly what mailauth's stream path gives (same DKIM-Signature bytes, same verification results), and the
 * messages it must not take (bare LF, no blank line after the header, a stream) go through mailauth's stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { dkimSign, dkimVerify } from 'mailauth';
import { feedStats, headerSplit } from '../../src/mailauth/feed.js';
import { signMessage } from '../../src/dkim/sign.js';
import { authenticateConcurrently } from '../../src/mailauth/authenticate.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const pem = (k: { privateKey: import('node:crypto').KeyObject }) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const zone: Record<string, string[][]> = {
  'rsa._domainkey.feed.test': [[`v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]],
  'ed._domainkey.feed.test': [[`v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`]],
  'feed.test': [['v=spf1 ip4:127.0.0.1 -all']],
  '_dmarc.feed.test': [['v=DMARC1; p=reject']],
};
const resolver = async (name: string, type: string) => {
  const v = type === 'TXT' ? zone[name.toLowerCase()] : undefined;
  if (!v) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
  return v;
};

const head = 'From: A <a@feed.test>\r\nTo: <u@example.test>\r\nSubject:  spaced\t subject \r\n\tfolded\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n';
const big = Array.from({ length: 3000 }, (_, i) => `line ${i}\t with  tabs and   spaces   \r\n`).join(''); // > 64 KiB: several stream chunks
const messages: [string, string, 'direct' | 'stream'][] = [
  ['plain CRLF', `${head}\r\nHello\r\n`, 'direct'],
  ['whitespace, trailing empty lines', `${head}\r\n  a  b\t\r\n\r\n\r\n`, 'direct'],
  ['empty body', `${head}\r\n`, 'direct'],
  ['body > 64 KiB', `${head}\r\n${big}`, 'direct'],
  ['no final CRLF', `${head}\r\nno newline at the end`, 'direct'],
  ['starts with a blank line', `\r\n${head}\r\nbody\r\n`, 'direct'],
  ['bare LF in the body', `${head}\r\nline one\nline two\r\n`, 'stream'],
  ['bare LF line breaks only', `${head.replace(/\r\n/g, '\n')}\nbody\n`, 'stream'],
  ['no blank line after the header', head, 'stream'],
];

test('headerSplit finds the header end where mailauth does, and refuses bare LFs', () => {
  assert.equal(headerSplit(Buffer.from('A: b\r\n\r\nbody')), 8);
  assert.equal(headerSplit(Buffer.from('\r\n\r\nA: b\r\n\r\n')), 4);
  assert.equal(headerSplit(Buffer.from('A: b\r\nC: d\r\n')), -1);
  assert.equal(headerSplit(Buffer.from('A: b\n\nbody')), -1);
  assert.equal(headerSplit(Buffer.from('A: b\r\n\r\nx\ny')), -1);
});

for (const [name, text, path] of messages) {
  test(`same as mailauth's stream path: ${name} (${path})`, async () => {
    const raw = Buffer.from(text, 'latin1');
    const signTime = new Date(Date.now() - 60_000);
    const keys = [
      { selector: 'rsa', algorithm: 'rsa-sha256' as const, privateKey: pem(rsa) },
      { selector: 'ed', algorithm: 'ed25519-sha256' as const, privateKey: pem(ed) },
    ];
    const before = { ...feedStats };
    let ours: string | Error;
    try {
      ours = await signMessage(raw, { domain: 'feed.test', keys, signTime });
    } catch (err) {
      ours = err as Error;
    }
    assert.equal(feedStats[path], before[path] + 1, `took the ${path} path`);
    // The same signer through a stream (always mailauth's own path).
    let streamed: string | Error;
    try {
      streamed = await signMessage(Readable.from([raw]), { domain: 'feed.test', keys, signTime });
    } catch (err) {
      streamed = err as Error;
    }
    if (ours instanceof Error || streamed instanceof Error) {
      assert.equal(String(ours), String(streamed));
      return;
    }
    // RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic: identical bytes.
    assert.equal(ours, streamed);
    // Over-signing aside, the same signatures as mailauth's dkimSign with the same header list.
    const plain = await dkimSign(raw, {
      signTime,
      canonicalization: 'relaxed/relaxed',
      signatureData: keys.map((k) => ({ signingDomain: 'feed.test', selector: k.selector, privateKey: k.privateKey, algorithm: k.algorithm, canonicalization: 'relaxed/relaxed' })),
    } as never);
    const bh = (s: string) => [...s.matchAll(/bh=([^;]+);/g)].map((m) => m[1]!.replace(/\s+/g, ''));
    assert.deepEqual(bh(ours), bh(plain.signatures));

    // Verification: our dkimVerify (inside authenticateConcurrently) against mailauth's dkimVerify on a stream.
    const signed = Buffer.concat([Buffer.from(ours), raw]);
    const r = await authenticateConcurrently(signed, { ip: '127.0.0.1', helo: 'client.test', sender: 'a@feed.test', mta: 'mx.example.test', resolver });
    const theirs = await dkimVerify(Readable.from([signed]), { resolver, sender: 'a@feed.test' } as never);
    const strip = (x: unknown) => JSON.parse(JSON.stringify(x));
    assert.deepEqual(strip(r.dkim), strip(theirs));
    // (A message that starts with a blank line has an empty header: the prepended signatures end up alone in it.)
    if (!text.startsWith('\r\n')) assert.deepEqual((r.dkim?.results ?? []).map((d) => d.status.result), ['pass', 'pass']);
  });
}
