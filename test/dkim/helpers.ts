/**
 * DKIM interop helpers: OpenDKIM (Debian opendkim, test mode without DNS: TestPublicKeys), dkimpy (python3-dkim,
 * a dnsfunc that serves the keys) and mailauth's verifier with a resolver that serves keys from a map.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
export const PYTHON = '/usr/bin/python3';
export const DKIMPY = join(HERE, 'dkimpy.py');

/** A sample message with the fields a mail client sends, CRLF line ends, a folded Subject and trailing blank lines. */
export function sampleMessage(extraHeaders = ''): Buffer {
  return Buffer.from(
    [
      'Received: from client.example.test (client.example.test [127.0.0.9]) by mail.example.test',
      'From: Alice Example <alice@example.test>',
      'To: Bob <bob@example.org>, carol@example.net',
      'Cc: dave@example.org',
      'Subject: DKIM interop test with a long subject that is folded',
      '  onto a second line',
      'Date: Fri, 27 Nov 2026 10:00:00 +0000',
      'Message-ID: <interop.1@example.test>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      'List-Unsubscribe: <mailto:unsub@example.test>',
      ...(extraHeaders ? [extraHeaders] : []),
      '',
      'Hello Bob,',
      '',
      'this line has trailing spaces   ',
      'and\ttabs\t\there. Grüße.',
      '',
      '',
    ].join('\r\n'),
  );
}

export function tmp(prefix = 'mw-dkim-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type KeyMap = Record<string, string>; // "sel._domainkey.domain" -> "v=DKIM1; k=...; p=..."

export interface InteropResult {
  s: string;
  a: string;
  pass: boolean;
}

/**
 * OpenDKIM verification in test mode. With -vv OpenDKIM prints the Authentication-Results field it would add,
 * with one dkim= result per signature (RSA and Ed25519); the plain summary line covers only the first signature.
 */
export async function opendkimVerify(message: Buffer, keys: KeyMap): Promise<{ results: InteropResult[]; output: string }> {
  const t = tmp('mw-opendkim-');
  try {
    writeFileSync(join(t.dir, 'keys'), Object.entries(keys).map(([n, v]) => `${n} ${v}\n`).join(''));
    writeFileSync(join(t.dir, 'conf'), `Mode v\nTestPublicKeys ${join(t.dir, 'keys')}\nSyslog no\nRequireSafeKeys false\n`);
    writeFileSync(join(t.dir, 'msg.eml'), message);
    const r = await run('opendkim', ['-x', join(t.dir, 'conf'), '-vv', '-t', join(t.dir, 'msg.eml')]);
    const output = r.stdout + r.stderr;
    const results: InteropResult[] = [];
    for (const m of output.matchAll(/dkim=(\w+)[^;]*?header\.a=([\w-]+) header\.s=([\w.-]+)/g)) {
      results.push({ pass: m[1] === 'pass', a: m[2]!, s: m[3]! });
    }
    return { results, output };
  } finally {
    t.cleanup();
  }
}

/** OpenDKIM as a signer (test mode, Mode s): returns the DKIM-Signature field with CRLF line ends. */
export async function opendkimSign(message: Buffer, o: { domain: string; selector: string; privateKeyPem: string; algorithm: 'rsa-sha256' | 'ed25519-sha256' }): Promise<string> {
  const t = tmp('mw-opendkim-');
  try {
    writeFileSync(join(t.dir, 'key.pem'), o.privateKeyPem, { mode: 0o600 });
    writeFileSync(
      join(t.dir, 'conf'),
      [
        'Mode s',
        `Domain ${o.domain}`,
        `Selector ${o.selector}`,
        `KeyFile ${join(t.dir, 'key.pem')}`,
        'Canonicalization relaxed/relaxed',
        `SignatureAlgorithm ${o.algorithm}`,
        'Syslog no',
        'RequireSafeKeys false',
        '',
      ].join('\n'),
    );
    writeFileSync(join(t.dir, 'msg.eml'), message);
    const r = await run('opendkim', ['-x', join(t.dir, 'conf'), '-t', join(t.dir, 'msg.eml')]);
    const i = r.stdout.indexOf('DKIM-Signature:');
    if (i < 0) throw new Error(`opendkim did not sign:\n${r.stdout}\n${r.stderr}`);
    return r.stdout.slice(i).replace(/\s+$/, '').replace(/\r?\n/g, '\r\n') + '\r\n';
  } finally {
    t.cleanup();
  }
}

/** dkimpy's verdict for every DKIM-Signature of the message, top to bottom. */
export async function dkimpyVerify(message: Buffer, keys: KeyMap): Promise<(InteropResult & { h: string })[]> {
  const t = tmp('mw-dkimpy-');
  try {
    writeFileSync(join(t.dir, 'msg.eml'), message);
    writeFileSync(join(t.dir, 'keys.json'), JSON.stringify(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k.toLowerCase(), v]))));
    const r = await run(PYTHON, [DKIMPY, 'verify', join(t.dir, 'msg.eml'), join(t.dir, 'keys.json')]);
    return JSON.parse(r.stdout);
  } finally {
    t.cleanup();
  }
}

/** dkimpy as a signer (relaxed/relaxed). The private key is our PEM, converted to dkimpy's format. */
export async function dkimpySign(message: Buffer, o: { domain: string; selector: string; privateKeyPem: string; algorithm: 'rsa-sha256' | 'ed25519-sha256' }): Promise<string> {
  const t = tmp('mw-dkimpy-');
  try {
    const key = createPrivateKey(o.privateKeyPem);
    const keyFile =
      o.algorithm === 'rsa-sha256'
        ? key.export({ type: 'pkcs1', format: 'pem' }).toString()
        : key.export({ type: 'pkcs8', format: 'der' }).subarray(-32).toString('base64'); // the 32-byte seed
    writeFileSync(join(t.dir, 'key'), keyFile, { mode: 0o600 });
    writeFileSync(join(t.dir, 'msg.eml'), message);
    const r = await run(PYTHON, [DKIMPY, 'sign', join(t.dir, 'msg.eml'), o.selector, o.domain, join(t.dir, 'key'), o.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519']);
    return r.stdout.replace(/\r?\n/g, '\r\n');
  } finally {
    t.cleanup();
  }
}

/** A mailauth resolver serving TXT records from a map; "no record" is ENOTFOUND, as mailauth expects. */
export function mapResolver(keys: KeyMap) {
  return async (name: string, rr: string): Promise<string[][]> => {
    const v = rr === 'TXT' ? keys[name.toLowerCase().replace(/\.$/, '')] : undefined;
    if (v === undefined) {
      const err = new Error(`queryTxt ENOTFOUND ${name}`) as NodeJS.ErrnoException;
      err.code = 'ENOTFOUND';
      throw err;
    }
    return [[v]];
  };
}

/** mailauth's dkimVerify: one result per signature. */
export async function mailauthVerify(message: Buffer, keys: KeyMap): Promise<(InteropResult & { result: string })[]> {
  const r = await dkimVerify(message, { resolver: mapResolver(keys) as never });
  return r.results.map((x: any) => ({ s: x.selector, a: x.algo, pass: x.status?.result === 'pass', result: x.status?.result }));
}
