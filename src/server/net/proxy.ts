/**
 * PROXY protocol versions 1 (text) and 2 (binary), as sent by HAProxy and cloud load balancers
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): the original client's address, sent first on a
 * proxied connection. Honoured only from configured source addresses (a header from anyone else is just bytes
 * of the protocol, i.e. a protocol error): otherwise any client could claim any address.
 * Untrusted input: the header bytes (bounded: v1 at most 107 bytes, v2 at most 16 + 65535).
 */
import type { Socket } from 'node:net';
import net from 'node:net';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface ProxiedAddress {
  /** null for "PROXY UNKNOWN" / v2 LOCAL (health checks): keep the socket's own addresses. */
  remoteAddress: string | null;
  remotePort: number;
  localAddress?: string;
  localPort?: number;
}

export type ParseResult = { done: false } | { done: true; consumed: number; address: ProxiedAddress } | { done: true; error: string };

/** Parse a PROXY header at the start of `buf`; `done: false` means more bytes are needed. */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length >= 1 && buf[0] === 0x0d) {
    const n = Math.min(buf.length, 12);
    if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return { done: true, error: 'bad PROXY v2 signature' };
    if (buf.length < 16) return { done: false };
    const verCmd = buf[12]!;
    if (verCmd >> 4 !== 2) return { done: true, error: 'unsupported PROXY version' };
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return { done: false };
    const consumed = 16 + len;
    const cmd = verCmd & 0x0f;
    if (cmd === 0) return { done: true, consumed, address: { remoteAddress: null, remotePort: 0 } }; // LOCAL
    if (cmd !== 1) return { done: true, error: 'unsupported PROXY v2 command' };
    const fam = buf[13]! >> 4;
    const body = buf.subarray(16, consumed);
    if (fam === 1 && body.length >= 12) {
      const ip = (o: number) => `${body[o]}.${body[o + 1]}.${body[o + 2]}.${body[o + 3]}`;
      return { done: true, consumed, address: { remoteAddress: ip(0), localAddress: ip(4), remotePort: body.readUInt16BE(8), localPort: body.readUInt16BE(10) } };
    }
    if (fam === 2 && body.length >= 36) {
      const ip6 = (o: number) => {
        const parts: string[] = [];
        for (let i = 0; i < 16; i += 2) parts.push(body.readUInt16BE(o + i).toString(16));
        return compress6(parts.join(':'));
      };
      return { done: true, consumed, address: { remoteAddress: ip6(0), localAddress: ip6(16), remotePort: body.readUInt16BE(32), localPort: body.readUInt16BE(34) } };
    }
    if (fam === 0) return { done: true, consumed, address: { remoteAddress: null, remotePort: 0 } }; // UNSPEC
    return { done: true, error: 'unsupported PROXY v2 address family' };
  }
  if (buf.length >= 1 && buf[0] === 0x50) {
    const n = Math.min(buf.length, 6);
    if (!buf.subarray(0, n).equals(Buffer.from('PROXY ').subarray(0, n))) return { done: true, error: 'bad PROXY v1 header' };
    const nl = buf.indexOf('\r\n');
    if (nl < 0) return buf.length > 107 ? { done: true, error: 'PROXY v1 header too long' } : { done: false };
    if (nl > 105) return { done: true, error: 'PROXY v1 header too long' };
    const parts = buf.subarray(0, nl).toString('latin1').split(' ');
    const consumed = nl + 2;
    if (parts[1] === 'UNKNOWN') return { done: true, consumed, address: { remoteAddress: null, remotePort: 0 } };
    if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { done: true, error: 'malformed PROXY v1 header' };
    const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
    const fam = proto === 'TCP4' ? 4 : 6;
    if (net.isIP(src) !== fam || net.isIP(dst) !== fam || !/^\d{1,5}$/.test(sport) || !/^\d{1,5}$/.test(dport)) {
      return { done: true, error: 'malformed PROXY v1 addresses' };
    }
    return { done: true, consumed, address: { remoteAddress: src, remotePort: Number(sport), localAddress: dst, localPort: Number(dport) } };
  }
  return { done: true, error: 'no PROXY header' };
}

function compress6(a: string): string {
  // Longest run of zero groups -> "::" (RFC 5952 enough for logging and comparison).
  const groups = a.split(':');
  let best = -1, bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * Read a PROXY header from a fresh socket (nothing else may read it yet). Bytes after the header are pushed back
 * with unshift. Resolves to the address or an error string; times out after `timeoutMs`.
 */
export function readProxyHeader(sock: Socket, timeoutMs: number): Promise<ProxiedAddress | { error: string }> {
  // Paused mode ('readable' + read()): when the listener is removed the stream goes back to "no mode yet", so the
  // session's own 'data' listener (or a TLSSocket) later gets the bytes after the header.
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (r: ProxiedAddress | { error: string }, rest?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.off('readable', onReadable);
      sock.off('end', onEnd);
      if (rest?.length) sock.unshift(rest);
      resolve(r);
    };
    const onEnd = () => finish({ error: 'connection closed before the PROXY header' });
    const onReadable = () => {
      let c: Buffer | null;
      while (!settled && (c = sock.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, c]);
        const r = parseProxyHeader(buf);
        if (!r.done) {
          if (buf.length > 16 + 65535) finish({ error: 'PROXY header too long' });
          continue;
        }
        if ('error' in r) return finish({ error: r.error });
        return finish(r.address, buf.subarray(r.consumed));
      }
    };
    const timer = setTimeout(() => finish({ error: 'no PROXY header in time' }), timeoutMs);
    timer.unref();
    sock.on('readable', onReadable);
    sock.once('end', onEnd);
  });
}

/** Make a socket report the proxied client's addresses (remoteAddress is a getter; an own property shadows it). */
export function applyProxiedAddress(sock: Socket, a: ProxiedAddress): void {
  if (!a.remoteAddress) return;
  Object.defineProperty(sock, 'remoteAddress', { value: a.remoteAddress, configurable: true });
  Object.defineProperty(sock, 'remotePort', { value: a.remotePort, configurable: true });
  Object.defineProperty(sock, 'remoteFamily', { value: net.isIPv6(a.remoteAddress) ? 'IPv6' : 'IPv4', configurable: true });
}

/** CIDR list matching ("10.0.0.0/8", "::1", "2001:db8::/32"); IPv4-mapped IPv6 addresses match IPv4 entries. */
export class CidrList {
  private readonly list = new net.BlockList();
  readonly empty: boolean;

  constructor(cidrs: string[]) {
    for (const c of cidrs) {
      const [addr, bits] = c.split('/') as [string, string | undefined];
      const fam = net.isIP(addr);
      if (!fam) throw new Error(`not an address or CIDR: ${c}`);
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(bits), type);
    }
    this.empty = cidrs.length === 0;
  }

  has(ip: string): boolean {
    if (this.empty || !ip) return false;
    const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : null;
    if (v4) return this.list.check(v4, 'ipv4');
    return this.list.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
}
