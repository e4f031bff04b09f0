/**
 * A correct zone for example.test hosted on mail.example.test at 127.0.0.1 (our "public" address in tests), built
 * from the domain's real DKIM keys, and helpers to break it.
 */
import { generate } from 'selfsigned';
import type { DkimDnsRecord } from '../../src/dkim/keys.js';
import type { Zone } from '../helpers/dns-server.js';
import { DMARC_VALUE } from '../../src/dnscheck/records.js';
import { mtaStsPolicy, policyId, policyText, stsTxtValue, tlsRptValue } from '../../src/dnscheck/mtasts.js';

export const HOST = 'mail.example.test';
export const DOMAIN = 'example.test';
export const IP = '127.0.0.1';
export const DNSBL = 'dnsbl.test';
export const MTA_STS = { mode: 'testing' as const, maxAgeSeconds: 604800 };
export const POLICY = policyText(mtaStsPolicy({ hostname: HOST, mtaSts: MTA_STS }));

export function goodZone(dkim: DkimDnsRecord[]): Zone {
  const zone: Zone = {
    [DOMAIN]: { MX: [{ exchange: HOST, priority: 10 }], TXT: [`v=spf1 mx ip4:${IP} -all`] },
    [HOST]: { A: [IP], TXT: ['v=spf1 a -all'] },
    [`_dmarc.${DOMAIN}`]: { TXT: [DMARC_VALUE(DOMAIN)] },
    [`_mta-sts.${DOMAIN}`]: { TXT: [stsTxtValue(policyId(POLICY))] },
    [`mta-sts.${DOMAIN}`]: { CNAME: HOST },
    [`_smtp._tls.${DOMAIN}`]: { TXT: [tlsRptValue(DOMAIN)] },
    '1.0.0.127.in-addr.arpa': { PTR: [HOST] },
    // a DNSBL zone that lists 127.0.0.2 only (RFC 5782 test entry)
    [`2.0.0.127.${DNSBL}`]: { A: ['127.0.0.2'], TXT: ['test entry'] },
  };
  for (const r of dkim) zone[r.name] = { TXT: [r.value] };
  return zone;
}

/** A CA-signed certificate for `names` (not self-signed), valid from `from` to `to`. */
export async function caSignedCert(names: string[], from: Date, to: Date): Promise<{ cert: string; key: string }> {
  const ca = await generate([{ name: 'commonName', value: 'Test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 86400_000),
    notAfterDate: new Date(Date.now() + 3650 * 86400_000),
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }],
  });
  const leaf = await generate([{ name: 'commonName', value: names[0]! }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: from,
    notAfterDate: to,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: names.map((n) => ({ type: 2, value: n })) },
    ],
  });
  return { cert: leaf.cert, key: leaf.private };
}
