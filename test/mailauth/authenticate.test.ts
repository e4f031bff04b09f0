/**
 * authenticateConcurrently (src/mailauth/authenticate.ts) against mailauth's own authenticate(): the same results and
 * the same Authentication-Results text for passing, failing and unsigned messages, the null sender, and an ARC seal;
 * and SPF's DNS lookups really overlap with DKIM's (they used to run one after the other).
 */
import '../../src/mailauth/pubkey-cache.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { authenticate, dkimSign } from 'mailauth';
import { authenticateConcurrently } from '../../src/mailauth/authenticate.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const P = rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

const zone: Record<string, string[][]> = {
  'good.test': [['v=spf1 ip4:127.0.0.1 -all']],
  '_dmarc.good.test': [['v=DMARC1; p=reject']],
  'sel._domainkey.good.test': [[`v=DKIM1; k=rsa; p=${P}`]],
  'soft.test': [['v=spf1 ~all']],
  '_dmarc.soft.test': [['v=DMARC1; p=quarantine']],
  'helo.good.test': [['v=spf1 ip4:127.0.0.1 -all']],
  'sel._domainkey.sealer.test': [[`v=DKIM1; k=rsa; p=${P}`]],
};

function resolver(delayMs = 0, log?: { inFlight: number; max: number; order: string[] }) {
  return async (name: string, type: string) => {
    if (log) {
      log.inFlight++;
      log.max = Math.max(log.max, log.inFlight);
      log.order.push(`${type} ${name}`);
    }
    try {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const v = type === 'TXT' ? zone[name.toLowerCase()] : undefined;
      if (!v) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
      return v;
    } finally {
      if (log) log.inFlight--;
    }
  };
}

function message(from: string, n: number): Buffer {
  return Buffer.from(
    `Received: from client.test ([127.0.0.1]) by mx.example.test\r\nFrom: <a@${from}>\r\nTo: <u@example.test>\r\nSubject: s${n}\r\n` +
      `Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nMessage-ID: <${n}@${from}>\r\n\r\nbody ${n}\r\n`,
  );
}
async function sign(m: Buffer, domain = 'good.test'): Promise<Buffer> {
  // t= a minute ago: mailauth's signatureTimeValid compares t= with the clock, which must not tick between the two
  // verifications compared below.
  const s = await dkimSign(m, { signTime: new Date(Date.now() - 60_000), signatureData: [{ signingDomain: domain, selector: 'sel', privateKey: PEM }] } as never);
  return Buffer.concat([Buffer.from(s.signatures), m]);
}

const cases: [string, () => Promise<{ msg: Buffer; ip: string; sender?: string; helo: string }>][] = [
  ['full pass (SPF, DKIM, DMARC)', async () => ({ msg: await sign(message('good.test', 1)), ip: '127.0.0.1', sender: 'a@good.test', helo: 'helo.good.test' })],
  ['SPF fail, tampered DKIM, DMARC fail', async () => {
    const m = await sign(message('good.test', 2));
    return { msg: Buffer.from(m.toString('latin1').replace('body 2', 'body X'), 'latin1'), ip: '127.0.0.9', sender: 'a@good.test', helo: 'x.test' };
  }],
  ['unsigned, softfail, quarantine policy', async () => ({ msg: message('soft.test', 3), ip: '127.0.0.1', sender: 'b@soft.test', helo: 'x.test' })],
  ['null sender: SPF of the HELO name', async () => ({ msg: message('good.test', 4), ip: '127.0.0.1', helo: 'helo.good.test' })],
  ['HELO is an IP literal, unknown domains', async () => ({ msg: message('none.test', 5), ip: '127.0.0.1', sender: 'c@none.test', helo: '127.0.0.1' })],
];

for (const [name, make] of cases) {
  test(`same result as mailauth's authenticate(): ${name}`, async () => {
    const c = await make();
    const opts = { ip: c.ip, helo: c.helo, ...(c.sender ? { sender: c.sender } : {}), mta: 'mx.example.test', resolver: resolver() };
    const ours = await authenticateConcurrently(c.msg, opts);
    const theirs = await authenticate(c.msg, { ...opts, disableBimi: true } as never);
    assert.equal(ours.headers, theirs.headers);
    for (const k of ['spf', 'dmarc', 'arc'] as const) assert.deepEqual(JSON.parse(JSON.stringify(ours[k])), JSON.parse(JSON.stringify(theirs[k])), k);
    assert.deepEqual(JSON.parse(JSON.stringify(ours.dkim.results)), JSON.parse(JSON.stringify(theirs.dkim.results)));
    assert.deepEqual(ours.receivedChain, theirs.receivedChain);
  });
}

test('ARC seal: the same ARC set as mailauth (apart from its time and signatures)', async () => {
  const msg = await sign(message('good.test', 6));
  const seal = { signingDomain: 'sealer.test', selector: 'sel', privateKey: PEM };
  const opts = { ip: '127.0.0.1', helo: 'helo.good.test', sender: 'a@good.test', mta: 'mx.example.test', resolver: resolver(), seal };
  const norm = (h: string) => h.replace(/\r\n[ \t]+/g, ' ').replace(/\b([tb])=[^;]*/g, '$1=_');
  const ours = await authenticateConcurrently(msg, opts);
  const theirs = await authenticate(msg, { ...opts, disableBimi: true } as never);
  assert.match(ours.headers, /^ARC-Seal: i=1; a=rsa-sha256;/);
  assert.equal(norm(ours.headers), norm(theirs.headers));
});

test('SPF lookups run while DKIM is being verified (concurrent DNS)', async () => {
  const log = { inFlight: 0, max: 0, order: [] as string[] };
  const msg = await sign(message('good.test', 7));
  const t0 = Date.now();
  const r = await authenticateConcurrently(msg, { ip: '127.0.0.1', helo: 'helo.good.test', sender: 'a@good.test', mta: 'mx.example.test', resolver: resolver(150, log) });
  const took = Date.now() - t0;
  assert.equal(r.dmarc && r.dmarc.status.result, 'pass');
  assert.ok(log.max >= 2, `at most ${log.max} lookup(s) at once: ${log.order.join(', ')}`);
  // Sequential: DKIM key, SPF record, DMARC record = 3 x 150 ms at least; concurrent: about 2 x 150 ms.
  assert.ok(took < 3 * 150, `took ${took} ms`);
});
