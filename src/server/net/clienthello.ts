/**
 * A minimal reader of a TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) for two fields: the SNI host name
 * (RFC 6066 §3) and the ALPN protocols (RFC 7301). Used only to route "acme-tls/1" handshakes (RFC 8737) to the
 * challenge certificate. Untrusted input: every length is checked; anything odd returns null.
 */
export interface HelloInfo {
  servername: string | null;
  alpn: string[];
}

/** null when `buf` does not (yet) hold a whole ClientHello in its first record. */
export function parseClientHello(buf: Buffer): HelloInfo | null {
  try {
    if (buf.length < 5 || buf[0] !== 0x16) return null;
    const recLen = buf.readUInt16BE(3);
    if (buf.length < 5 + recLen) return null;
    let p = 5;
    if (buf[p] !== 0x01) return null;
    const hsLen = buf.readUIntBE(p + 1, 3);
    const end = Math.min(p + 4 + hsLen, 5 + recLen);
    p += 4 + 2 + 32; // version, random
    p += 1 + buf[p]!; // session id
    p += 2 + buf.readUInt16BE(p); // cipher suites
    p += 1 + buf[p]!; // compression
    if (p + 2 > end) return { servername: null, alpn: [] };
    const extEnd = Math.min(p + 2 + buf.readUInt16BE(p), end);
    p += 2;
    const out: HelloInfo = { servername: null, alpn: [] };
    while (p + 4 <= extEnd) {
      const type = buf.readUInt16BE(p);
      const len = buf.readUInt16BE(p + 2);
      const body = buf.subarray(p + 4, p + 4 + len);
      p += 4 + len;
      if (type === 0 && body.length >= 5) {
        const nameLen = body.readUInt16BE(3);
        if (body[2] === 0) out.servername = body.subarray(5, 5 + nameLen).toString('latin1').toLowerCase();
      } else if (type === 16 && body.length >= 2) {
        let q = 2;
        while (q < body.length) {
          const l = body[q]!;
          out.alpn.push(body.subarray(q + 1, q + 1 + l).toString('latin1'));
          q += 1 + l;
        }
      }
    }
    return out;
  } catch {
    return null;
  }
}
