/**
 * SASL PLAIN (RFC 4616) as carried by POP3 AUTH (RFC 5034): decoding the client response. Pure.
 * Untrusted input: the base64 text. "=" is the empty initial response (RFC 5034 §4), "*" cancels.
 */
import { Pop3Error } from './responses.js';

export interface PlainCredentials {
  authzid: string;
  authcid: string;
  password: string;
}

export function decodeSaslPlain(response: string): PlainCredentials {
  if (response === '*') throw new Pop3Error('Authentication cancelled');
  const b64 = response === '=' ? '' : response;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new Pop3Error('Invalid base64 in SASL response');
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3 || !parts[1]) throw new Pop3Error('Malformed SASL PLAIN response');
  const [authzid, authcid, password] = parts as [string, string, string];
  return { authzid, authcid, password };
}
