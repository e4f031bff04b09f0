/**
 * Tests for src/auth/password.ts against hashes made at test time by real tools on this machine:
 * openssl passwd, mkpasswd (whois), htpasswd (apache2-utils) and doveadm pw (dovecot-core).
 * A missing tool skips its test with a message instead of failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describeScheme, hashPassword, verifyPassword } from '../../src/auth/password.js';

const PW = 'correct horse ✓ battery staple';
const WRONG = 'correct horse ✓ battery stapler';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1" >/dev/null', 'sh', cmd]).status === 0;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

const BARE_SCHEMES = new Set(['SHA512-CRYPT', 'SHA256-CRYPT', 'MD5-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I']);

function stripPrefix(hash: string): string {
  return hash.replace(/^\{[A-Za-z0-9-]+\}/, '');
}

/**
 * The hash (of PW) verifies for PW and not for WRONG: as given, with an upper- and a lower-case `{SCHEME}` prefix,
 * and bare (for crypt forms; the SSHA and PLAIN families are only recognisable with their prefix).
 */
async function assertVerifies(hash: string, scheme: string, password = PW): Promise<void> {
  const body = stripPrefix(hash);
  const forms = [hash, `{${scheme}}${body}`, `{${scheme.toLowerCase()}}${body}`];
  if (BARE_SCHEMES.has(scheme)) forms.push(body);
  for (const form of forms) {
    assert.equal(describeScheme(form), scheme, form);
    assert.deepEqual(await verifyPassword(form, password), { ok: true, needsRehash: true }, `right password: ${form}`);
    assert.deepEqual(await verifyPassword(form, WRONG), { ok: false, needsRehash: false }, `wrong password: ${form}`);
  }
  if (!BARE_SCHEMES.has(scheme)) {
    assert.equal(describeScheme(body), 'UNKNOWN');
    assert.equal((await verifyPassword(body, password)).ok, false);
  }
}

test('openssl passwd: SHA512-CRYPT ($6$), SHA256-CRYPT ($5$), MD5-CRYPT ($1$)', async (t) => {
  if (!have('openssl')) return t.skip('openssl not installed');
  await assertVerifies(run('openssl', ['passwd', '-6', '-salt', 'Zx8.abc/QRst1234', PW]), 'SHA512-CRYPT');
  await assertVerifies(run('openssl', ['passwd', '-6', PW]), 'SHA512-CRYPT');
  await assertVerifies(run('openssl', ['passwd', '-5', '-salt', 'salty', PW]), 'SHA256-CRYPT');
  await assertVerifies(run('openssl', ['passwd', '-5', PW]), 'SHA256-CRYPT');
  await assertVerifies(run('openssl', ['passwd', '-1', '-salt', 'ab.d/7Yz', PW]), 'MD5-CRYPT');
  await assertVerifies(run('openssl', ['passwd', '-1', PW]), 'MD5-CRYPT');
  // {CRYPT} takes any crypt form.
  const h6 = run('openssl', ['passwd', '-6', PW]);
  assert.equal((await verifyPassword(`{CRYPT}${h6}`, PW)).ok, true);
  assert.equal(describeScheme(`{crypt}${h6}`), 'SHA512-CRYPT');
  // A declared scheme must match the value.
  assert.equal((await verifyPassword(`{MD5-CRYPT}${h6}`, PW)).ok, false);
  assert.equal(describeScheme(`{SHA256-CRYPT}${h6}`), 'UNKNOWN');
});

test('openssl passwd: password lengths around the digest and block sizes (unixcrypt gets 32/64-byte ones wrong)', async (t) => {
  if (!have('openssl')) return t.skip('openssl not installed');
  const lengths = [1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 127, 128, 129, 255];
  for (const n of lengths) {
    for (const pw of ['x'.repeat(n), 'ü'.repeat(Math.ceil(n / 2)).slice(0, Math.max(1, Math.floor(n / 2)))]) {
      for (const id of ['1', '5', '6']) {
        const h = run('openssl', ['passwd', `-${id}`, '-salt', 'saltsalt', pw]);
        assert.equal((await verifyPassword(h, pw)).ok, true, `-${id} length ${Buffer.byteLength(pw)}: ${h}`);
        assert.equal((await verifyPassword(h, `${pw}x`)).ok, false);
      }
    }
  }
});

test('mkpasswd: sha-512 with default and explicit rounds, sha-256, md5crypt, bcrypt', async (t) => {
  if (!have('mkpasswd')) return t.skip('mkpasswd not installed (apt-get install whois)');
  await assertVerifies(run('mkpasswd', ['-m', 'sha-512', PW]), 'SHA512-CRYPT');
  const rounds = run('mkpasswd', ['-m', 'sha-512', '-R', '10000', PW]);
  assert.match(rounds, /^\$6\$rounds=10000\$/);
  await assertVerifies(rounds, 'SHA512-CRYPT');
  const rounds5 = run('mkpasswd', ['-m', 'sha256crypt', '-R', '1000', PW]);
  assert.match(rounds5, /^\$5\$rounds=1000\$/);
  await assertVerifies(rounds5, 'SHA256-CRYPT');
  await assertVerifies(run('mkpasswd', ['-m', 'md5crypt', PW]), 'MD5-CRYPT');
  const b = run('mkpasswd', ['-m', 'bcrypt', PW]);
  assert.match(b, /^\$2b\$/);
  await assertVerifies(b, 'BLF-CRYPT');
  const ba = run('mkpasswd', ['-m', 'bcrypt-a', PW]);
  assert.match(ba, /^\$2a\$/);
  await assertVerifies(ba, 'BLF-CRYPT');
});

test('htpasswd -nbB: bcrypt $2y$', async (t) => {
  if (!have('htpasswd')) return t.skip('htpasswd not installed (apt-get install apache2-utils)');
  for (const args of [['-nbB'], ['-nbB', '-C', '6']]) {
    const line = run('htpasswd', [...args, 'user', PW]);
    const hash = line.slice(line.indexOf(':') + 1);
    assert.match(hash, /^\$2y\$/);
    await assertVerifies(hash, 'BLF-CRYPT');
  }
});

test('doveadm pw: every supported Dovecot scheme', async (t) => {
  if (!have('doveadm')) return t.skip('doveadm not installed (apt-get install dovecot-core)');
  const cases: Array<[string, string[]]> = [
    ['SSHA512', []],
    ['SSHA256', []],
    ['SSHA', []],
    ['SHA512-CRYPT', []],
    ['SHA512-CRYPT', ['-r', '10000']],
    ['SHA256-CRYPT', []],
    ['MD5-CRYPT', []],
    ['BLF-CRYPT', []],
    ['ARGON2ID', []],
    ['ARGON2I', []],
    ['PLAIN', []],
    ['CLEAR', []],
  ];
  for (const [scheme, extra] of cases) {
    await t.test(`${scheme} ${extra.join(' ')}`.trim(), async () => {
      const hash = run('doveadm', ['pw', '-s', scheme, ...extra, '-p', PW]);
      assert.ok(hash.toUpperCase().startsWith(`{${scheme}}`), hash);
      if (scheme === 'CLEAR') {
        // An alias of PLAIN.
        assert.equal(describeScheme(hash), 'PLAIN');
        assert.deepEqual(await verifyPassword(hash, PW), { ok: true, needsRehash: true });
        assert.equal((await verifyPassword(hash, WRONG)).ok, false);
        await assertVerifies(`{PLAIN}${stripPrefix(hash)}`, 'PLAIN');
      } else {
        await assertVerifies(hash, scheme);
      }
    });
  }
  await t.test('doveadm accepts our hashPassword output', async () => {
    const ours = await hashPassword(PW);
    assert.match(run('doveadm', ['pw', '-t', ours, '-p', PW]), /\(verified\)$/);
    assert.notEqual(spawnSync('doveadm', ['pw', '-t', ours, '-p', WRONG]).status, 0);
  });
});

test('hashPassword: Dovecot ARGON2ID syntax with our parameters, salted, round trip', async () => {
  const h1 = await hashPassword(PW);
  const h2 = await hashPassword(PW);
  assert.match(h1, /^\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(h1, h2, 'two hashes of the same password differ (random salt)');
  assert.equal(describeScheme(h1), 'ARGON2ID');
  assert.deepEqual(await verifyPassword(h1, PW), { ok: true, needsRehash: false });
  assert.deepEqual(await verifyPassword(h2, PW), { ok: true, needsRehash: false });
  assert.deepEqual(await verifyPassword(stripPrefix(h1), PW), { ok: true, needsRehash: false });
  assert.deepEqual(await verifyPassword(h1, WRONG), { ok: false, needsRehash: false });
  assert.deepEqual(await verifyPassword(h1, PW.toUpperCase()), { ok: false, needsRehash: false });
  // A different password, and a 1024-byte one (the upper bound).
  const long = 'é'.repeat(512);
  assert.equal((await verifyPassword(await hashPassword(long), long)).ok, true);
  await assert.rejects(hashPassword(''));
  await assert.rejects(hashPassword(`${long}x`));
});

test('needsRehash: false only for argon2id with the current parameters', async (t) => {
  assert.equal((await verifyPassword(await hashPassword(PW), PW)).needsRehash, false);
  assert.equal((await verifyPassword(`{PLAIN}${PW}`, PW)).needsRehash, true);
  assert.equal((await verifyPassword(`{PLAIN}${PW}`, WRONG)).needsRehash, false);
  if (have('openssl')) {
    const h6 = run('openssl', ['passwd', '-6', PW]);
    assert.deepEqual(await verifyPassword(h6, PW), { ok: true, needsRehash: true });
    assert.deepEqual(await verifyPassword(`{SHA512-CRYPT}${h6}`, PW), { ok: true, needsRehash: true });
  } else {
    t.diagnostic('openssl missing: $6$ case not checked');
  }
  if (have('doveadm')) {
    // Dovecot's own argon2id defaults (m=65536,t=3) are not ours.
    const d = run('doveadm', ['pw', '-s', 'ARGON2ID', '-p', PW]);
    assert.deepEqual(await verifyPassword(d, PW), { ok: true, needsRehash: true });
  } else {
    t.diagnostic('doveadm missing: foreign argon2id case not checked');
  }
});

test('describeScheme', () => {
  const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');
  assert.equal(describeScheme(`{ssha512}${b64(70)}`), 'SSHA512');
  assert.equal(describeScheme(`{SSHA512}${b64(64)}`), 'UNKNOWN'); // no salt
  assert.equal(describeScheme(`{SSHA256}${b64(40)}`), 'SSHA256');
  assert.equal(describeScheme(`{SSHA}${b64(24)}`), 'SSHA');
  assert.equal(describeScheme(`{SSHA}${b64(24)}x`), 'UNKNOWN'); // not base64
  assert.equal(describeScheme('{Plain}secret'), 'PLAIN');
  assert.equal(describeScheme('{CLEAR}secret'), 'PLAIN');
  assert.equal(describeScheme('{PLAIN}'), 'UNKNOWN');
  assert.equal(describeScheme('secret'), 'UNKNOWN');
  assert.equal(describeScheme('{SHA512}abc'), 'UNKNOWN');
  assert.equal(describeScheme('$y$j9T$abc$def'), 'UNKNOWN'); // yescrypt: not supported
  assert.equal(describeScheme('ab01FAX.bQRSU'), 'UNKNOWN'); // DES crypt: not supported
});

test('garbage and hostile stored values: ok:false, no exception, bounded time', async () => {
  const h86 = 'a'.repeat(86);
  const salt = 'QkJCQkJCQkJCQkJCQkJCQg';
  const digest = 'Q'.repeat(43);
  const b53 = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ'; // 22 salt + 31 digest characters
  const garbage: unknown[] = [
    '',
    '{',
    '{}',
    '{}x',
    '{SHA512-CRYPT}',
    '{SHA512-CRYPT}$6$',
    '$6$',
    '$6$salt',
    '$6$salt$',
    '$6$salt$short',
    `$6$salt$${h86}x`,
    `$6$bad salt!$${h86}`,
    `$6$rounds=999999999$salt$${h86}`, // legal for crypt(3) but beyond our bound
    `$6$rounds=10$salt$${h86}`,
    `$6$rounds=$salt$${h86}`,
    `$5$salt$${'a'.repeat(86)}`,
    '$1$',
    '$1$saltsaltsalt$aaaaaaaaaaaaaaaaaaaaaa',
    '{NOPE}x',
    '{NOPE}$6$salt$' + h86,
    '{SHA512-CRYPT.HEX}abc',
    '$2y$',
    '$2y$05$',
    '$2y$05$abcdefghijklmnopqrstuv',
    `$2y$05$${b53.slice(0, -1)}`,
    `$2y$05$${b53}R`,
    `$2y$31$${b53}`, // cost 2^31
    `$2y$16$${b53}`, // beyond our bound
    `$2x$05$${b53}`,
    `$2y$03$${b53}`,
    `$2y$5$${b53}`,
    '{BLF-CRYPT}$2y$05$abc',
    '$argon2id$',
    '$argon2id$v=19$m=19456,t=2,p=1$xx$yy',
    `$argon2id$v=19$m=4294967295,t=2,p=1$${salt}$${digest}`, // 4 TiB
    `$argon2id$v=19$m=1048576,t=4294967295,p=1$${salt}$${digest}`,
    `$argon2id$v=19$m=19456,t=2,p=255$${salt}$${digest}`,
    `$argon2id$v=19$m=19456,t=0,p=1$${salt}$${digest}`,
    `$argon2id$v=18$m=19456,t=2,p=1$${salt}$${digest}`,
    `$argon2d$v=19$m=19456,t=2,p=1$${salt}$${digest}`,
    `$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$${salt}$${digest}`,
    `{ARGON2I}$argon2id$v=19$m=19456,t=2,p=1$${salt}$${digest}`,
    `{CRYPT}$argon2id$v=19$m=19456,t=2,p=1$${salt}$${digest}`,
    '{SSHA512}',
    '{SSHA512}!!!!',
    '{SSHA512}' + Buffer.alloc(10).toString('base64'),
    '{SSHA}====',
    'x'.repeat(1_000_000),
    '{PLAIN}' + 'x'.repeat(1_000_000),
    '$6$' + 'x'.repeat(1_000_000),
    '\u0000\uffff\ud800',
    '{PLAIN\u0000}x',
    null,
    undefined,
    42,
    {},
    ['$6$'],
  ];
  for (const g of garbage) {
    const label = typeof g === 'string' ? JSON.stringify(g.slice(0, 80)) : String(g);
    const started = Date.now();
    const r = await verifyPassword(g as string, PW);
    assert.deepEqual(r, { ok: false, needsRehash: false }, label);
    assert.equal(describeScheme(g as string), 'UNKNOWN', label);
    assert.ok(Date.now() - started < 2000, `took too long: ${label}`);
  }
  // Well-formed values that simply do not match.
  const wellFormed: Array<[string, string]> = [
    [`$2y$05$${b53}`, 'BLF-CRYPT'],
    [`$6$salt$${h86}`, 'SHA512-CRYPT'],
    [`$6$rounds=5000$salt$${h86}`, 'SHA512-CRYPT'],
    [`$5$$${'a'.repeat(43)}`, 'SHA256-CRYPT'],
    ['$1$$aaaaaaaaaaaaaaaaaaaaaa', 'MD5-CRYPT'],
    [`$argon2id$v=19$m=19456,t=2,p=1$${salt}$${digest}`, 'ARGON2ID'],
    [`$argon2i$m=4096,t=3,p=1$${salt}$${digest}`, 'ARGON2I'],
    [`{SSHA512}${Buffer.alloc(72, 1).toString('base64')}`, 'SSHA512'],
  ];
  for (const [stored, scheme] of wellFormed) {
    assert.equal(describeScheme(stored), scheme, stored);
    assert.deepEqual(await verifyPassword(stored, PW), { ok: false, needsRehash: false }, stored);
  }
});

test('hostile or odd passwords against a valid hash: ok:false, no exception', async () => {
  const ours = await hashPassword(PW);
  const plain = `{PLAIN}${PW}`;
  for (const stored of [ours, plain]) {
    for (const p of ['', 'x'.repeat(1_000_000), `${PW}\u0000`, `${PW} `, null, undefined, 42]) {
      assert.deepEqual(await verifyPassword(stored, p as string), { ok: false, needsRehash: false });
    }
  }
});
