/**
 * A tiny authoritative DNS server for benchmarks (dns2 3.0.0, UDP and TCP on 127.0.0.1, one OS-chosen port).
 * `zone` maps lower-case names to { MX: [{ exchange, priority }], A: [...], AAAA: [...] }. A name not in the zone is
 * NXDOMAIN; a name without records of the asked type is NODATA. Counts queries per type.
 *
 *   const dns = await startDns({ 'd1.test': { MX: [{ exchange: 'sink.test', priority: 10 }] }, 'sink.test': { A: ['127.0.0.2'] } });
 *   dns.port; dns.queries; await dns.close();
 */
import dns2 from 'dns2';

const { Packet } = dns2;
const TYPE_NAMES = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v, k]));

export async function startDns(zone) {
  const queries = {};
  const handle = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const q = request.questions[0];
    if (!q) return send(response);
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const type = TYPE_NAMES[q.type] ?? String(q.type);
    queries[type] = (queries[type] ?? 0) + 1;
    const recs = zone[name];
    if (!recs) {
      response.header.rcode = Packet.RCODE.NXDOMAIN;
      return send(response);
    }
    const base = { name: q.name, class: Packet.CLASS.IN, ttl: 300 };
    if (type === 'MX') for (const m of recs.MX ?? []) response.answers.push({ ...base, type: Packet.TYPE.MX, exchange: m.exchange, priority: m.priority });
    if (type === 'A') for (const a of recs.A ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address: a });
    if (type === 'AAAA') for (const a of recs.AAAA ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address: a });
    send(response);
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dns2.createUDPServer(handle);
    await udp.listen(0, '127.0.0.1');
    const port = udp.address().port;
    const tcp = dns2.createTCPServer(handle);
    const ok = await new Promise((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) {
      udp.close();
      continue;
    }
    return {
      port,
      queries,
      close: () =>
        Promise.all([
          new Promise((r) => udp.close(() => r())),
          new Promise((r) => {
            tcp.close(() => r());
            setTimeout(r, 200).unref();
          }),
        ]),
    };
  }
  throw new Error('dns: could not bind UDP and TCP on one port');
}
