/**
 * A real DNS server for tests (dns2 3.0.0, UDP and TCP on 127.0.0.1, the same OS-chosen port), serving a zone
 * given as a plain object, with switches to answer NXDOMAIN, NODATA, SERVFAIL or nothing (timeout) for chosen
 * names. Point a resolver at `server.servers` (e.g. `new NodeResolver({ servers: dns.servers })`).
 *
 *   const dns = await startDnsServer({
 *     'example.test': { MX: [{ exchange: 'mx1.example.test', priority: 10 }], TXT: ['v=spf1 -all'] },
 *     'mx1.example.test': { A: ['127.0.0.2'], AAAA: ['::1'] },
 *     'sel._domainkey.example.test': { TXT: ['v=DKIM1; k=rsa; p=' + longKey] },   // >255 bytes: split into chunks
 *     'www.example.test': { CNAME: 'example.test' },
 *     '2.0.0.127.in-addr.arpa': { PTR: ['mx1.example.test'] },
 *     'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] },                       // RFC 7505 null MX
 *   });
 *   dns.fault('broken.test', 'SERVFAIL');          // or 'NXDOMAIN', 'NODATA', 'TIMEOUT'; optional 3rd arg: record type
 *   dns.set('new.test', { A: ['127.0.0.9'] });      // change the zone while running
 *   const r = dns.resolver({ timeoutMs: 300 });     // a NodeResolver using this server
 *   await dns.close();
 *
 * Rules: names are case-insensitive, a trailing dot is ignored. A name not in the zone is NXDOMAIN; a name in the
 * zone without records of the asked type is NODATA (NOERROR, no answers). A CNAME is answered for any type, followed
 * by the target's records when the target is in the zone. TXT values are strings (split into 255-byte chunks) or
 * arrays of chunks (kept as given). Every query is recorded in `queries`.
 */
import dns2 from 'dns2';
import { NodeResolver, type ResolverOptions } from '../../src/dns/resolver.js';

const { Packet } = dns2;

export interface MxValue {
  exchange: string;
  priority: number;
}

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  MX?: MxValue[];
  /** Each value is one TXT record: a string (split into 255-byte chunks) or its chunks. */
  TXT?: (string | string[])[];
  PTR?: string[];
  CNAME?: string;
}

export type Zone = Record<string, ZoneRecords>;
export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME';
export type Fault = 'NXDOMAIN' | 'NODATA' | 'SERVFAIL' | 'TIMEOUT';

export interface TestDnsServer {
  port: number;
  /** ["127.0.0.1:PORT"], for NodeResolver servers / dns.servers in the config. */
  servers: string[];
  /** Queries received, in order (lower-case names). */
  queries: { name: string; type: string }[];
  /** Replace (or with null, delete) the records of a name. */
  set(name: string, records: ZoneRecords | null): void;
  /** Make a name (optionally only one record type) answer with a fault instead of its records. */
  fault(name: string, fault: Fault, type?: RecordType): void;
  clearFaults(): void;
  /** A NodeResolver that asks this server (short timeout, one try by default). */
  resolver(opts?: ResolverOptions): NodeResolver;
  close(): Promise<void>;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Packet.TYPE as Record<string, number>).map(([k, v]) => [v, k]),
);

function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Split a TXT value into character-strings of at most 255 bytes (RFC 1035 §3.3.14), not splitting UTF-8. */
export function txtChunks(value: string): string[] {
  const buf = Buffer.from(value, 'utf8');
  if (buf.length <= 255) return [value];
  const out: string[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = Math.min(start + 255, buf.length);
    while (end < buf.length && (buf[end]! & 0xc0) === 0x80) end--; // do not cut inside a UTF-8 sequence
    out.push(buf.subarray(start, end).toString('utf8'));
    start = end;
  }
  return out;
}

export async function startDnsServer(initial: Zone = {}): Promise<TestDnsServer> {
  const zone = new Map<string, ZoneRecords>();
  for (const [k, v] of Object.entries(initial)) zone.set(norm(k), v);
  const faults = new Map<string, Fault>(); // key "name" or "name/TYPE"
  const queries: { name: string; type: string }[] = [];

  const answersFor = (name: string, type: string, depth = 0): unknown[] | null => {
    const recs = zone.get(name);
    if (!recs) return null;
    const base = { name, class: Packet.CLASS.IN, ttl: 60 };
    const out: unknown[] = [];
    if (recs.CNAME && type !== 'CNAME') {
      out.push({ ...base, type: Packet.TYPE.CNAME, domain: norm(recs.CNAME) });
      if (depth < 8) out.push(...(answersFor(norm(recs.CNAME), type, depth + 1) ?? []));
      return out;
    }
    switch (type) {
      case 'A':
        for (const a of recs.A ?? []) out.push({ ...base, type: Packet.TYPE.A, address: a });
        break;
      case 'AAAA':
        for (const a of recs.AAAA ?? []) out.push({ ...base, type: Packet.TYPE.AAAA, address: a });
        break;
      case 'MX':
        for (const m of recs.MX ?? [])
          out.push({ ...base, type: Packet.TYPE.MX, exchange: m.exchange === '.' ? '' : norm(m.exchange), priority: m.priority });
        break;
      case 'TXT':
        for (const t of recs.TXT ?? []) out.push({ ...base, type: Packet.TYPE.TXT, data: Array.isArray(t) ? t : txtChunks(t) });
        break;
      case 'PTR':
        for (const p of recs.PTR ?? []) out.push({ ...base, type: Packet.TYPE.PTR, domain: norm(p) });
        break;
      case 'CNAME':
        if (recs.CNAME) out.push({ ...base, type: Packet.TYPE.CNAME, domain: norm(recs.CNAME) });
        break;
    }
    return out;
  };

  const handle = (request: any, send: (p: any) => void) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const q = request.questions[0];
    if (!q) return send(response);
    const name = norm(q.name);
    const type = TYPE_NAMES[q.type] ?? String(q.type);
    queries.push({ name, type });
    const fault = faults.get(`${name}/${type}`) ?? faults.get(name);
    if (fault === 'TIMEOUT') return; // never answer
    if (fault === 'SERVFAIL') {
      response.header.rcode = Packet.RCODE.SERVFAIL;
      return send(response);
    }
    if (fault === 'NXDOMAIN') {
      response.header.rcode = Packet.RCODE.NXDOMAIN;
      return send(response);
    }
    if (fault === 'NODATA') return send(response);
    const answers = answersFor(name, type);
    if (answers === null) response.header.rcode = Packet.RCODE.NXDOMAIN;
    else response.answers = answers as typeof response.answers;
    send(response);
  };

  // UDP first on an OS-chosen port, then TCP on the same port (resolvers retry truncated answers over TCP).
  for (let attempt = 0; ; attempt++) {
    const udp = dns2.createUDPServer(handle as any);
    await udp.listen(0, '127.0.0.1');
    const port = (udp.address() as { port: number }).port;
    const tcp = dns2.createTCPServer(handle as any);
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) {
      udp.close();
      if (attempt < 20) continue;
      throw new Error('dns-server: could not bind TCP and UDP on one port');
    }
    const servers = [`127.0.0.1:${port}`];
    return {
      port,
      servers,
      queries,
      set(name, records) {
        if (records) zone.set(norm(name), records);
        else zone.delete(norm(name));
      },
      fault(name, fault, type) {
        faults.set(type ? `${norm(name)}/${type}` : norm(name), fault);
      },
      clearFaults() {
        faults.clear();
      },
      resolver(opts = {}) {
        return new NodeResolver({ servers, timeoutMs: 500, tries: 1, ...opts });
      },
      close: async () => {
        await Promise.all([
          new Promise<void>((r) => udp.close(() => r())),
          new Promise<void>((r) => {
            tcp.close(() => r());
            // TCP clients may keep connections open; do not wait for them
            setTimeout(r, 200).unref();
          }),
        ]);
      },
    };
  }
}
