/**
 * Password storage: hashes new passwords with salted Argon2id and verifies stored hashes written by Dovecot,
 * crypt(3), OpenSSL, htpasswd and mkpasswd, so that user databases can be imported as they are and upgraded to
 * Argon2id at the next successful login (verifyPassword reports needsRehash).
 *
 * Standards and references:
 *   - Dovecot password schemes (doc.dovecot.org, "Password Schemes"): the `{SCHEME}value` syntax, scheme names
 *     (case-insensitive), SSHA/SSHA256/SSHA512 = base64(H(password + salt) + salt), PLAIN/CLEAR.
 *   - crypt(3) SHA-crypt, U. Drepper, "Unix crypt using SHA-256 and SHA-512" (akkadia.org/drepper/SHA-crypt.txt):
 *     `$5$` / `$6$`, optional `rounds=N` (1000..999999999, default 5000), salt up to 16 characters.
 *     Implemented here with node:crypto, because unixcrypt 3.0.4 gets passwords whose length is a multiple of the
 *     digest size (32 bytes for $5$, 64 for $6$) wrong (its steps 9/10 and 16 drop one block), which
 *     openssl/glibc hashes of such passwords would then never match.
 *   - md5crypt (P.-H. Kamp, FreeBSD libcrypt): `$1$`, salt up to 8 characters, 1000 rounds.
 *   - bcrypt (Provos & Mazières; OpenBSD / crypt_blowfish): `$2a$`, `$2b$`, `$2y$` via bcryptjs.
 *   - Argon2 (RFC 9106) in the PHC string format `$argon2id$v=19$m=..,t=..,p=..$salt$hash` via @node-rs/argon2;
 *     new hashes use the OWASP parameters m=19456 KiB, t=2, p=1 (also verifiable by Dovecot's libsodium).
 *
 * Untrusted input: both the stored hash (an imported database may be corrupt or planted) and the password (from
 * SMTP AUTH / IMAP LOGIN clients) are untrusted. verifyPassword and describeScheme never throw and never log;
 * anything malformed, unknown or out of bounds is ok:false / 'UNKNOWN'. Work factors are bounded so that a stored
 * hash cannot make one check cost more than a few seconds of CPU or 1 GiB of memory (SHA-crypt rounds <= 1,000,000,
 * bcrypt cost <= 15, Argon2 m <= 1 GiB, t <= 32, m*t <= 4 GiB-passes, p <= 16); hashes beyond those bounds are
 * treated as unknown. Passwords are limited to 1 to 1024 UTF-8 bytes; outside that, verification fails.
 * Hash comparisons use crypto.timingSafeEqual on equal-length buffers.
 *
 * A declared scheme must match its value: `{SHA512-CRYPT}$1$...` is rejected (Dovecot would hand it to crypt(3));
 * only `{CRYPT}` accepts any of the crypt forms ($1$, $5$, $6$, $2a/b/y$). Bare values are recognised by prefix:
 * $1$, $5$, $6$, $2a$/$2b$/$2y$, $argon2id$, $argon2i$. Not supported (ok:false): DES-CRYPT, yescrypt ($y$),
 * unsalted SHA/MD5 schemes, encoding suffixes such as `.HEX`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { UserError } from '../common/errors.js';

/** Parameters of new hashes (OWASP Password Storage Cheat Sheet, Argon2id option 2). */
export const ARGON2_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
/** Longest password accepted, in UTF-8 bytes (bounds the cost of SHA-crypt and md5crypt, which grow with it). */
export const MAX_PASSWORD_BYTES = 1024;
/** Longest stored hash looked at, in characters. */
export const MAX_STORED_LENGTH = 1024;

const MAX_SHA_CRYPT_ROUNDS = 1_000_000;
const MAX_BCRYPT_COST = 15;
const MAX_ARGON2_MEMORY_KIB = 1024 * 1024;
const MAX_ARGON2_TIME = 32;
const MAX_ARGON2_MEMORY_TIME = 4 * 1024 * 1024;
const MAX_ARGON2_PARALLELISM = 16;
/** SHA-crypt rounds computed between two turns of the event loop. */
const SHA_CRYPT_ROUNDS_PER_TURN = 10_000;

const ARGON2ID = 2 as Algorithm; // Algorithm.Argon2id: a const enum in the .d.ts, which tsx cannot inline

export type SchemeName =
  | 'SHA512-CRYPT'
  | 'SHA256-CRYPT'
  | 'MD5-CRYPT'
  | 'BLF-CRYPT'
  | 'SSHA512'
  | 'SSHA256'
  | 'SSHA'
  | 'ARGON2ID'
  | 'ARGON2I'
  | 'PLAIN';

export interface VerifyResult {
  ok: boolean;
  /** True when ok and the stored hash is not Argon2id with ARGON2_PARAMS: store hashPassword(plain) instead. */
  needsRehash: boolean;
}

type Parsed =
  | { scheme: 'SHA512-CRYPT' | 'SHA256-CRYPT'; rounds: number | null; salt: string; hash: string }
  | { scheme: 'MD5-CRYPT'; salt: string; hash: string }
  | { scheme: 'BLF-CRYPT'; setting: string; hash: string }
  | { scheme: 'SSHA512' | 'SSHA256' | 'SSHA'; digest: Buffer; salt: Buffer }
  | { scheme: 'ARGON2ID' | 'ARGON2I'; phc: string; version: number; m: number; t: number; p: number }
  | { scheme: 'PLAIN'; value: string };

const FAIL: VerifyResult = Object.freeze({ ok: false, needsRehash: false }) as VerifyResult;

// ---------------------------------------------------------------------------------------------------------------
// Public API

/** Hash a new password: `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` with a random 16-byte salt. */
export async function hashPassword(plain: string): Promise<string> {
  if (typeof plain !== 'string' || plain.length === 0) throw new UserError('password must not be empty');
  if (Buffer.byteLength(plain, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new UserError(`password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  const phc = await argon2Hash(plain, { ...ARGON2_PARAMS, algorithm: ARGON2ID, outputLen: 32 });
  return `{ARGON2ID}${phc}`;
}

/**
 * Check a password against a stored hash in Dovecot `{SCHEME}value` syntax or a bare crypt form.
 * Never throws; anything unknown or malformed is { ok: false, needsRehash: false }.
 */
export async function verifyPassword(stored: string, plain: string): Promise<VerifyResult> {
  try {
    if (typeof plain !== 'string' || plain.length === 0) return FAIL;
    const key = Buffer.from(plain, 'utf8');
    if (key.length > MAX_PASSWORD_BYTES) return FAIL;
    const parsed = parseStored(stored);
    if (!parsed) return FAIL;
    if (!(await check(parsed, plain, key))) return FAIL;
    return { ok: true, needsRehash: !isCurrent(parsed) };
  } catch {
    return FAIL;
  }
}

/** The scheme of a stored hash ('SHA512-CRYPT', 'ARGON2ID', ...), or 'UNKNOWN' when verifyPassword cannot check it. */
export function describeScheme(stored: string): SchemeName | 'UNKNOWN' {
  try {
    return parseStored(stored)?.scheme ?? 'UNKNOWN';
  } catch {
    return 'UNKNOWN';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

const SCHEME_PREFIX = /^\{([A-Za-z0-9-]{1,32})\}/;
const CRYPT64 = '[./0-9A-Za-z]';
const SHA_CRYPT = new RegExp(`^\\$([56])\\$(?:rounds=([0-9]{1,9})\\$)?(${CRYPT64}{0,16})\\$(${CRYPT64}+)$`);
const MD5_CRYPT = new RegExp(`^\\$1\\$(${CRYPT64}{0,8})\\$(${CRYPT64}{22})$`);
const BCRYPT = new RegExp(`^(\\$2[aby]\\$([0-9]{2})\\$${CRYPT64}{22})(${CRYPT64}{31})$`);
const ARGON2 =
  /^\$(argon2id|argon2i)\$(?:v=([0-9]{1,3})\$)?m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,3})\$([A-Za-z0-9+/]{11,64})\$([A-Za-z0-9+/]{16,128})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parseStored(stored: unknown): Parsed | null {
  if (typeof stored !== 'string' || stored.length === 0 || stored.length > MAX_STORED_LENGTH) return null;
  const m = SCHEME_PREFIX.exec(stored);
  if (!m) return parseBare(stored);
  const name = m[1]!.toUpperCase();
  const body = stored.slice(m[0].length);
  switch (name) {
    case 'PLAIN':
    case 'CLEAR':
      return body.length > 0 ? { scheme: 'PLAIN', value: body } : null;
    case 'CRYPT': {
      const p = parseBare(body);
      return p && p.scheme !== 'ARGON2ID' && p.scheme !== 'ARGON2I' ? p : null;
    }
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT':
    case 'MD5-CRYPT':
    case 'BLF-CRYPT':
    case 'ARGON2ID':
    case 'ARGON2I': {
      const p = parseBare(body);
      return p && p.scheme === name ? p : null;
    }
    case 'SSHA512':
      return parseSalted('SSHA512', 64, body);
    case 'SSHA256':
      return parseSalted('SSHA256', 32, body);
    case 'SSHA':
      return parseSalted('SSHA', 20, body);
    default:
      return null;
  }
}

/** A crypt-style value recognised by its `$id$` prefix. */
function parseBare(s: string): Parsed | null {
  if (s.startsWith('$5$') || s.startsWith('$6$')) {
    const m = SHA_CRYPT.exec(s);
    if (!m) return null;
    const sha512 = m[1] === '6';
    if (m[4]!.length !== (sha512 ? 86 : 43)) return null;
    let rounds: number | null = null;
    if (m[2] !== undefined) {
      rounds = Number(m[2]);
      // crypt(3) clamps to 1000..999999999 and then writes the clamped value, so anything below never matches.
      if (rounds < 1000 || rounds > MAX_SHA_CRYPT_ROUNDS) return null;
    }
    return { scheme: sha512 ? 'SHA512-CRYPT' : 'SHA256-CRYPT', rounds, salt: m[3]!, hash: m[4]! };
  }
  if (s.startsWith('$1$')) {
    const m = MD5_CRYPT.exec(s);
    return m ? { scheme: 'MD5-CRYPT', salt: m[1]!, hash: m[2]! } : null;
  }
  if (s.startsWith('$2')) {
    const m = BCRYPT.exec(s);
    if (!m) return null;
    const cost = Number(m[2]);
    if (cost < 4 || cost > MAX_BCRYPT_COST) return null;
    return { scheme: 'BLF-CRYPT', setting: m[1]!, hash: m[3]! };
  }
  if (s.startsWith('$argon2')) {
    const m = ARGON2.exec(s);
    if (!m) return null;
    const version = m[2] === undefined ? 16 : Number(m[2]);
    const mem = Number(m[3]);
    const t = Number(m[4]);
    const p = Number(m[5]);
    if (version !== 16 && version !== 19) return null;
    if (p < 1 || p > MAX_ARGON2_PARALLELISM) return null;
    if (t < 1 || t > MAX_ARGON2_TIME) return null;
    if (mem < 8 * p || mem > MAX_ARGON2_MEMORY_KIB || mem * t > MAX_ARGON2_MEMORY_TIME) return null;
    return { scheme: m[1] === 'argon2id' ? 'ARGON2ID' : 'ARGON2I', phc: s, version, m: mem, t, p };
  }
  return null;
}

/** SSHA family: base64(H(password + salt) + salt), with at least one byte of salt. */
function parseSalted(scheme: 'SSHA512' | 'SSHA256' | 'SSHA', size: number, body: string): Parsed | null {
  if (body.length === 0 || !BASE64.test(body)) return null;
  const raw = Buffer.from(body, 'base64');
  if (raw.length <= size) return null;
  return { scheme, digest: raw.subarray(0, size), salt: raw.subarray(size) };
}

function isCurrent(p: Parsed): boolean {
  return (
    p.scheme === 'ARGON2ID' &&
    p.version === 19 &&
    p.m === ARGON2_PARAMS.memoryCost &&
    p.t === ARGON2_PARAMS.timeCost &&
    p.p === ARGON2_PARAMS.parallelism
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Checking

async function check(p: Parsed, plain: string, key: Buffer): Promise<boolean> {
  switch (p.scheme) {
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT': {
      const alg = p.scheme === 'SHA512-CRYPT' ? 'sha512' : 'sha256';
      const computed = await shaCrypt(alg, key, p.salt, p.rounds ?? 5000);
      return safeEqualStrings(computed, p.hash);
    }
    case 'MD5-CRYPT':
      return safeEqualStrings(md5Crypt(key, p.salt), p.hash);
    case 'BLF-CRYPT': {
      const out = await bcrypt.hash(plain, p.setting);
      // Compare the 31-character digest only: bcryptjs re-encodes the salt, whose last character has unused bits.
      return typeof out === 'string' && out.length === 60 && safeEqualStrings(out.slice(29), p.hash);
    }
    case 'SSHA512':
    case 'SSHA256':
    case 'SSHA': {
      const alg = p.scheme === 'SSHA512' ? 'sha512' : p.scheme === 'SSHA256' ? 'sha256' : 'sha1';
      const digest = createHash(alg).update(key).update(p.salt).digest();
      return digest.length === p.digest.length && timingSafeEqual(digest, p.digest);
    }
    case 'ARGON2ID':
    case 'ARGON2I':
      return (await argon2Verify(p.phc, plain)) === true;
    case 'PLAIN': {
      // Hash both sides so that the comparison is constant-time whatever the lengths.
      const a = createHash('sha256').update(key).digest();
      const b = createHash('sha256').update(p.value, 'utf8').digest();
      return timingSafeEqual(a, b);
    }
  }
}

function safeEqualStrings(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** crypt(3)'s b64_from_24bit: n characters, least significant 6 bits first. */
function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

// Byte order of the final encoding (Drepper, step 22).
const SHA512_ORDER: ReadonlyArray<readonly [number, number, number]> = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];
const SHA256_ORDER: ReadonlyArray<readonly [number, number, number]> = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
  [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
];

/** SHA-crypt (Drepper), returning the 43/86-character digest part. Yields to the event loop on long runs. */
async function shaCrypt(alg: 'sha256' | 'sha512', key: Buffer, saltStr: string, rounds: number): Promise<string> {
  const n = alg === 'sha512' ? 64 : 32;
  const salt = Buffer.from(saltStr, 'latin1');
  const H = () => createHash(alg);

  // Steps 4-8: digest B = H(key, salt, key).
  const B = H().update(key).update(salt).update(key).digest();
  // Steps 1-3, 9-12: digest A.
  const a = H().update(key).update(salt);
  let cnt = key.length;
  for (; cnt > n; cnt -= n) a.update(B);
  a.update(B.subarray(0, cnt));
  for (cnt = key.length; cnt > 0; cnt >>= 1) a.update(cnt & 1 ? B : key);
  const A = a.digest();
  // Steps 13-16: P sequence, key.length bytes of H(key repeated key.length times).
  const dp = H();
  for (let i = 0; i < key.length; i++) dp.update(key);
  const DP = dp.digest();
  const P = Buffer.alloc(key.length);
  for (let i = 0; i < key.length; i++) P[i] = DP[i % n]!;
  // Steps 17-20: S sequence, salt.length bytes of H(salt repeated 16 + A[0] times).
  const ds = H();
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(salt);
  const S = ds.digest().subarray(0, salt.length);
  // Step 21: the rounds.
  let C = A;
  for (let r = 0; r < rounds; r++) {
    const h = H();
    h.update(r & 1 ? P : C);
    if (r % 3 !== 0) h.update(S);
    if (r % 7 !== 0) h.update(P);
    h.update(r & 1 ? C : P);
    C = h.digest();
    if (r % SHA_CRYPT_ROUNDS_PER_TURN === SHA_CRYPT_ROUNDS_PER_TURN - 1) await nextTurn();
  }
  // Step 22: encoding.
  let out = '';
  if (alg === 'sha512') {
    for (const [x, y, z] of SHA512_ORDER) out += b64From24(C[x]!, C[y]!, C[z]!, 4);
    out += b64From24(0, 0, C[63]!, 2);
  } else {
    for (const [x, y, z] of SHA256_ORDER) out += b64From24(C[x]!, C[y]!, C[z]!, 4);
    out += b64From24(0, C[31]!, C[30]!, 3);
  }
  return out;
}

/** md5crypt ($1$), returning the 22-character digest part. */
function md5Crypt(key: Buffer, saltStr: string): string {
  const salt = Buffer.from(saltStr, 'latin1');
  const H = () => createHash('md5');
  const alt = H().update(key).update(salt).update(key).digest();
  const ctx = H().update(key).update('$1$').update(salt);
  for (let pl = key.length; pl > 0; pl -= 16) ctx.update(alt.subarray(0, Math.min(pl, 16)));
  // "Then something really weird": a zero byte for each set bit of the length, else the key's first byte.
  const zero = Buffer.alloc(1);
  const first = key.subarray(0, 1);
  for (let i = key.length; i > 0; i >>= 1) ctx.update(i & 1 ? zero : first);
  let fin = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = H();
    c.update(i & 1 ? key : fin);
    if (i % 3 !== 0) c.update(salt);
    if (i % 7 !== 0) c.update(key);
    c.update(i & 1 ? fin : key);
    fin = c.digest();
  }
  const f = fin;
  return (
    b64From24(f[0]!, f[6]!, f[12]!, 4) +
    b64From24(f[1]!, f[7]!, f[13]!, 4) +
    b64From24(f[2]!, f[8]!, f[14]!, 4) +
    b64From24(f[3]!, f[9]!, f[15]!, 4) +
    b64From24(f[4]!, f[10]!, f[5]!, 4) +
    b64From24(0, 0, f[11]!, 2)
  );
}
