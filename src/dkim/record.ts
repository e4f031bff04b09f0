/**
 * DKIM key records (RFC 6376 §3.6.1): parsing a published TXT record and writing one in zone-file form.
 */
import type { DkimDnsRecord } from './keys.js';

/**
 * `name. IN TXT ( "v=DKIM1; k=rsa; " "p=..." "..." )`: the tag prefix, then p= split into character-strings of at
 * most 255 bytes (RFC 1035 §3.3.14; resolvers join them back).
 */
export function zoneFileRecord(rec: Pick<DkimDnsRecord, 'name' | 'value'>): string {
  return `${rec.name}. IN TXT ( ${txtStrings(rec.value)
    .map((s) => `"${s.replace(/(["\\])/g, '\\$1')}"`)
    .join(' ')} )`;
}

/** Splits a record value at " p=" (when present) and into chunks of at most 255 bytes (the values are ASCII). */
export function txtStrings(value: string): string[] {
  const out: string[] = [];
  const i = value.indexOf('p=');
  const parts = i > 0 ? [value.slice(0, i), value.slice(i)] : [value];
  for (const part of parts) {
    for (let s = 0; s < part.length; s += 255) out.push(part.slice(s, s + 255));
  }
  return out;
}

export type ParsedKeyRecord =
  | { ok: true; tags: Map<string, string>; keyType: string; p: string }
  | { ok: false; error: string };

/**
 * Parses a DKIM key record (the TXT character-strings already joined). Follows RFC 6376 §3.2 (tag-list syntax,
 * duplicate tags are an error, whitespace around and inside values ignored) and §3.6.1 (v= first if present and
 * exactly DKIM1, k= defaults to rsa, p= required; an empty p= means the key was revoked).
 */
export function parseKeyRecord(record: string): ParsedKeyRecord {
  const tags = new Map<string, string>();
  const list = record.split(';');
  for (let i = 0; i < list.length; i++) {
    const spec = list[i]!.trim();
    if (!spec) {
      if (i === list.length - 1) continue; // a trailing ";" is allowed
      return { ok: false, error: 'empty tag (";;")' };
    }
    const eq = spec.indexOf('=');
    if (eq < 0) return { ok: false, error: `'${spec.slice(0, 40)}' is not tag=value` };
    const name = spec.slice(0, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return { ok: false, error: `invalid tag name '${name.slice(0, 40)}'` };
    if (tags.has(name)) return { ok: false, error: `tag ${name}= appears twice` };
    tags.set(name, spec.slice(eq + 1).replace(/[ \t\r\n]+/g, ''));
    if (name === 'v' && tags.size !== 1) return { ok: false, error: 'v= must be the first tag' };
  }
  const v = tags.get('v');
  if (v !== undefined && v !== 'DKIM1') return { ok: false, error: `v=${v.slice(0, 20)} (expected v=DKIM1)` };
  const p = tags.get('p');
  if (p === undefined) return { ok: false, error: 'no p= tag (public key)' };
  if (p !== '' && !/^[A-Za-z0-9+/]+={0,2}$/.test(p)) return { ok: false, error: 'p= is not base64' };
  const keyType = (tags.get('k') ?? 'rsa').toLowerCase();
  const h = tags.get('h');
  if (h !== undefined && !h.toLowerCase().split(':').includes('sha256')) return { ok: false, error: `h=${h} excludes sha256` };
  const s = tags.get('s');
  if (s !== undefined && !s.split(':').some((x) => x === '*' || x.toLowerCase() === 'email')) {
    return { ok: false, error: `s=${s} excludes email` };
  }
  return { ok: true, tags, keyType, p };
}
