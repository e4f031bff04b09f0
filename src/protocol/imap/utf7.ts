/**
 * Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3; base64 of RFC 2152 with "," for "/").
 *
 *   encodeMailboxName('Entwürfe')      === 'Entw&APw-rfe'
 *   decodeMailboxName('Entw&APw-rfe')  === 'Entwürfe'
 *   encodeMailboxName('&') === '&-'
 *
 * Untrusted input: `decodeMailboxName` takes names straight from clients. It is strict and throws
 * `ImapParseError` (BAD) for anything RFC 3501 §5.1.3 forbids: raw 8-bit or control characters,
 * an unterminated "&" shift, characters outside the modified base64 alphabet, non-zero padding
 * bits, a base64 run that encodes printable US-ASCII, or unpaired UTF-16 surrogates.
 * Pure functions, no I/O.
 */
import { ImapParseError } from './errors.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

function isDirect(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

/** Unicode name -> modified UTF-7 (RFC 3501 §5.1.3). Never throws. */
export function encodeMailboxName(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (isDirect(c)) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    // Collect a run of characters that must be encoded, as UTF-16 code units.
    const units: number[] = [];
    while (i < name.length && !isDirect(name.charCodeAt(i))) units.push(name.charCodeAt(i++));
    let bits = 0;
    let nbits = 0;
    let run = '';
    for (const u of units) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        run += B64[(bits >> nbits) & 0x3f];
      }
      bits &= (1 << nbits) - 1;
    }
    if (nbits > 0) run += B64[(bits << (6 - nbits)) & 0x3f];
    out += '&' + run + '-';
  }
  return out;
}

/** Modified UTF-7 -> Unicode name (RFC 3501 §5.1.3). Throws ImapParseError if not valid. */
export function decodeMailboxName(encoded: string): string {
  let out = '';
  let i = 0;
  while (i < encoded.length) {
    const c = encoded.charCodeAt(i);
    if (!isDirect(c)) throw new ImapParseError('Mailbox name is not valid modified UTF-7 (8-bit or control character)');
    if (c !== 0x26) {
      out += encoded[i++];
      continue;
    }
    const end = encoded.indexOf('-', i + 1);
    if (end < 0) throw new ImapParseError('Mailbox name is not valid modified UTF-7 (unterminated "&")');
    if (end === i + 1) {
      out += '&';
      i = end + 1;
      continue;
    }
    let bits = 0;
    let nbits = 0;
    const units: number[] = [];
    for (let j = i + 1; j < end; j++) {
      const ch = encoded.charCodeAt(j);
      const v = ch < 128 ? B64_VALUE[ch]! : -1;
      if (v < 0) throw new ImapParseError('Mailbox name is not valid modified UTF-7 (bad base64 character)');
      bits = ((bits << 6) | v) & 0xffffff;
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push((bits >> nbits) & 0xffff);
      }
    }
    if (nbits >= 6 || (bits & ((1 << nbits) - 1)) !== 0 || units.length === 0) {
      throw new ImapParseError('Mailbox name is not valid modified UTF-7 (bad base64 padding)');
    }
    for (let k = 0; k < units.length; k++) {
      const u = units[k]!;
      if (isDirect(u)) throw new ImapParseError('Mailbox name is not valid modified UTF-7 (encoded US-ASCII)');
      if (u >= 0xd800 && u <= 0xdbff) {
        const lo = units[k + 1];
        if (lo === undefined || lo < 0xdc00 || lo > 0xdfff) {
          throw new ImapParseError('Mailbox name is not valid modified UTF-7 (unpaired surrogate)');
        }
        out += String.fromCharCode(u, lo);
        k++;
        continue;
      }
      if (u >= 0xdc00 && u <= 0xdfff) throw new ImapParseError('Mailbox name is not valid modified UTF-7 (unpaired surrogate)');
      out += String.fromCharCode(u);
    }
    i = end + 1;
  }
  return out;
}
