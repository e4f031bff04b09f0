/**
 * Inbound checks on the MX (src/mailauth/inbound.ts via src/server/smtp/mx.ts) against a DNS server the test
 * starts: SPF pass/fail/softfail/neutral/none/temperror/permerror (syntax and > 10 lookups), DKIM pass and fail
 * (dkimpy signs with a key the test DNS serves), DMARC relaxed/strict alignment, subdomain policy, p=reject ->
 * 550 5.7.1 with nothing delivered, p=quarantine -> .Junk (and IMAP Junk), p=none -> INBOX, SPF -all without DKIM
 * -> Junk by default or reject with spfFail: reject; one Authentication-Results header with our authserv-id, and
 * forged ones with our id removed (foreign ones kept).
 * Clients connect from 127.0.0.3 (authorised by the test SPF records) or 127.0.0.4 (not authorised).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateDkimKey, dnsRecordValue } from '../../src/dkim/keys.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { ImapClient, literalsOf } from '../helpers/imap-client.js';
import { WireClient } from '../helpers/smtp-client.js';
import { dkimpySign } from '../dkim/helpers.js';
import { headerValues, ourResults, parseResults, plainMessage, sendMx, startAuthMw, LogCapture, type AuthMw } from './helpers.js';

const GOOD = '127.0.0.3';
const BAD = '127.0.0.4';
const RCPT = 'bob@example.test';
const HOST = 'mx.example.test';

let dns: TestDnsServer;
let mw: AuthMw;
let strictMw: AuthMw;
let rsa: { privateKey: string; publicKey: string };
let ed: { privateKey: string; publicKey: string };
const log = new LogCapture();

const spf = (rule: string) => ({ TXT: [`v=spf1 ${rule}`] });

before(async () => {
  [rsa, ed] = await Promise.all([generateDkimKey('rsa-sha256'), generateDkimKey('ed25519-sha256')]);
  const includes: Record<string, { TXT: string[] }> = {};
  for (let i = 1; i <= 11; i++) includes[`inc${i}.spf-many.test`] = spf('ip4:10.9.9.9 -all');
  dns = await startDnsServer({
    'spf-pass.test': spf(`ip4:${GOOD} -all`),
    'spf-fail.test': spf(`ip4:${GOOD} -all`),
    'spf-soft.test': spf(`ip4:${GOOD} ~all`),
    'spf-neutral.test': spf(`ip4:${GOOD} ?all`),
    'spf-none.test': { A: ['127.0.0.9'] },
    'spf-temp.test': spf(`ip4:${GOOD} -all`),
    'spf-syntax.test': spf(`ip4:${GOOD} frobnicate:x.test -all`),
    'spf-many.test': spf([...Array(11).keys()].map((i) => `include:inc${i + 1}.spf-many.test`).join(' ') + ' -all'),
    ...includes,
    'helo.spf-pass.test': spf(`ip4:${GOOD} -all`),
    // DKIM: keys for dkimpy's signatures
    'py._domainkey.dk.test': { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] },
    'pye._domainkey.dk.test': { TXT: [dnsRecordValue('ed25519-sha256', ed.publicKey)] },
    'dk.test': { A: ['127.0.0.9'] },
    // DMARC
    'rel.test': spf(`ip4:${GOOD} -all`),
    'mail.rel.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.rel.test': { TXT: ['v=DMARC1; p=reject'] },
    'py._domainkey.rel.test': { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] },
    'strict.test': spf(`ip4:${GOOD} -all`),
    'mail.strict.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.strict.test': { TXT: ['v=DMARC1; p=reject; adkim=s; aspf=s'] },
    'py._domainkey.strict.test': { TXT: [dnsRecordValue('rsa-sha256', rsa.publicKey)] },
    'sp.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.sp.test': { TXT: ['v=DMARC1; p=reject; sp=quarantine'] },
    'sub.sp.test': spf(`ip4:${GOOD} -all`),
    'reject.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.reject.test': { TXT: ['v=DMARC1; p=reject'] },
    'quarantine.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.quarantine.test': { TXT: ['v=DMARC1; p=quarantine'] },
    'pnone.test': spf(`ip4:${GOOD} -all`),
    '_dmarc.pnone.test': { TXT: ['v=DMARC1; p=none'] },
    'spf-reject.test': spf(`ip4:${GOOD} -all`),
  });
  dns.fault('spf-temp.test', 'SERVFAIL', 'TXT');
  mw = await startAuthMw({
    hostname: HOST,
    dnsServers: dns.servers,
    listen: { imap: '127.0.0.1:0' },
    domains: ['example.test'],
    users: [RCPT],
    log,
  });
  strictMw = await startAuthMw({ hostname: HOST, dnsServers: dns.servers, authentication: { spfFail: 'reject' }, domains: ['example.test'], users: [RCPT] });
});

after(async () => {
  WireClient.closeAll();
  ImapClient.closeAll();
  await mw?.stop();
  await strictMw?.stop();
  await dns?.close();
});

/** Send one message to bob and return the reply plus the new file in INBOX or Junk (whichever got it). */
async function deliver(o: { from: string; headerFrom?: string; source?: string; helo?: string; data?: string | Buffer; server?: AuthMw; subject?: string }) {
  const s = o.server ?? mw;
  // Maildir names do not sort by arrival: compare sets
  const inbox = new Set(s.files(RCPT));
  const junk = new Set(s.files(RCPT, '.Junk'));
  const data = o.data ?? plainMessage({ from: o.headerFrom ?? o.from, to: RCPT, subject: o.subject });
  const reply = await sendMx(s.smtpPort, { from: o.from, to: [RCPT], data, source: o.source ?? GOOD, helo: o.helo });
  const newInbox = s.files(RCPT).filter((f) => !inbox.has(f));
  const newJunk = s.files(RCPT, '.Junk').filter((f) => !junk.has(f));
  assert.ok(newInbox.length + newJunk.length <= 1);
  // Nothing left behind in tmp/ (the file is opened in INBOX's tmp/ while the checks run: a junk verdict links it
  // into .Junk/new and removes the tmp name; a rejected message's file is removed).
  for (const dir of [join(s.maildir(RCPT), 'tmp'), join(s.maildir(RCPT), '.Junk', 'tmp')]) {
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], dir);
  }
  const folder = newInbox.length ? 'INBOX' : newJunk.length ? 'Junk' : null;
  const text = newInbox[0] ?? newJunk[0] ?? null;
  return { reply, folder, text, ar: text ? ourResults(text) : null };
}

async function signed(o: { domain: string; from: string; selector?: string; algorithm?: 'rsa-sha256' | 'ed25519-sha256'; subject?: string; envelope?: string }): Promise<string> {
  const msg = plainMessage({ from: o.from, to: RCPT, subject: o.subject });
  const algorithm = o.algorithm ?? 'rsa-sha256';
  const sig = await dkimpySign(Buffer.from(msg), {
    domain: o.domain,
    selector: o.selector ?? (algorithm === 'rsa-sha256' ? 'py' : 'pye'),
    privateKeyPem: algorithm === 'rsa-sha256' ? rsa.privateKey : ed.privateKey,
    algorithm,
  });
  return sig + msg;
}

describe('SPF (MAIL FROM)', () => {
  const cases: [string, string, string, string][] = [
    // name, sender domain, client IP, expected spf result
    ['pass (ip4 matches)', 'spf-pass.test', GOOD, 'pass'],
    ['fail (-all)', 'spf-fail.test', BAD, 'fail'],
    ['softfail (~all)', 'spf-soft.test', BAD, 'softfail'],
    ['neutral (?all)', 'spf-neutral.test', BAD, 'neutral'],
    ['none (no SPF record)', 'spf-none.test', BAD, 'none'],
    ['temperror (SERVFAIL)', 'spf-temp.test', GOOD, 'temperror'],
    ['permerror (unknown mechanism)', 'spf-syntax.test', GOOD, 'permerror'],
    ['permerror (more than 10 DNS lookups)', 'spf-many.test', BAD, 'permerror'],
  ];
  for (const [name, domain, ip, expected] of cases) {
    test(name, async () => {
      const r = await deliver({ from: `alice@${domain}`, source: ip });
      assert.equal(r.reply.code, 250, r.reply.raw);
      assert.equal(r.ar!.authservId, HOST);
      assert.deepEqual(r.ar!.methods.spf, [expected], r.ar!.raw);
      assert.match(r.ar!.raw, new RegExp(`spf=${expected}[^;]*smtp\\.mailfrom=alice@${domain.replace(/\./g, '\\.')}`));
      assert.deepEqual(r.ar!.methods.dkim ?? ['none'], ['none'], r.ar!.raw);
      // only an SPF "fail" (-all) without DKIM moves the message to Junk; no DNS error ever rejects
      assert.equal(r.folder, expected === 'fail' ? 'Junk' : 'INBOX');
      if (expected === 'fail') assert.match(r.text!, /^Received-SPF: fail/m);
    });
  }

  test('the null sender is checked with the HELO name', async () => {
    const r = await deliver({ from: '', headerFrom: 'daemon@helo.spf-pass.test', helo: 'helo.spf-pass.test' });
    assert.equal(r.reply.code, 250, r.reply.raw);
    assert.deepEqual(r.ar!.methods.spf, ['pass'], r.ar!.raw);
    assert.match(r.ar!.raw, /helo\.spf-pass\.test/);
  });

  test('SPF -all fail without DKIM: 550 5.7.1 with spfFail: reject, nothing delivered', async () => {
    const r = await deliver({ from: 'alice@spf-reject.test', source: BAD, server: strictMw });
    assert.equal(r.reply.code, 550, r.reply.raw);
    assert.equal(r.reply.enhanced, '5.7.1');
    assert.match(r.reply.raw, /SPF/);
    assert.equal(r.folder, null);
    // the same from the authorised address is accepted
    const ok = await deliver({ from: 'alice@spf-reject.test', source: GOOD, server: strictMw });
    assert.equal(ok.reply.code, 250, ok.reply.raw);
    assert.equal(ok.folder, 'INBOX');
  });

  test('SPF -all fail but a DKIM pass: INBOX (no junking)', async () => {
    const data = await signed({ domain: 'dk.test', from: 'alice@dk.test' });
    const r = await deliver({ from: 'alice@spf-fail.test', source: BAD, data });
    assert.deepEqual(r.ar!.methods.spf, ['fail']);
    assert.deepEqual(r.ar!.methods.dkim, ['pass']);
    assert.equal(r.folder, 'INBOX');
  });
});

describe('DKIM', () => {
  for (const algorithm of ['rsa-sha256', 'ed25519-sha256'] as const) {
    test(`a dkimpy ${algorithm} signature passes (key served by the test DNS)`, async () => {
      const data = await signed({ domain: 'dk.test', from: 'alice@dk.test', algorithm });
      const r = await deliver({ from: 'alice@dk.test', source: BAD, data });
      assert.equal(r.reply.code, 250);
      assert.deepEqual(r.ar!.methods.dkim, ['pass'], r.ar!.raw);
      assert.match(r.ar!.raw, new RegExp(`dkim=pass[^;]*header\\.i=@dk\\.test[^;]*header\\.s=${algorithm === 'rsa-sha256' ? 'py' : 'pye'}[^;]*header\\.a=${algorithm}`));
      assert.equal(r.folder, 'INBOX');
    });
  }

  test('a tampered body fails (dkim=fail, body hash did not verify)', async () => {
    const data = (await signed({ domain: 'dk.test', from: 'alice@dk.test' })).replace('Hello from', 'Hullo from');
    const r = await deliver({ from: 'alice@dk.test', source: BAD, data });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(r.ar!.methods.dkim, ['fail'], r.ar!.raw);
    assert.match(r.ar!.raw, /body hash did not verify/);
  });

  test('a tampered signed header fails', async () => {
    const data = (await signed({ domain: 'dk.test', from: 'alice@dk.test', subject: 'original' })).replace('Subject: original', 'Subject: changed');
    const r = await deliver({ from: 'alice@dk.test', source: BAD, data });
    assert.deepEqual(r.ar!.methods.dkim, ['fail'], r.ar!.raw);
  });

  test('a signature whose key is not published is not a pass', async () => {
    const data = await signed({ domain: 'dk.test', from: 'alice@dk.test', selector: 'missing' });
    const r = await deliver({ from: 'alice@dk.test', source: BAD, data });
    assert.notEqual(r.ar!.methods.dkim![0], 'pass');
    assert.equal(r.folder, 'INBOX');
  });
});

describe('DMARC', () => {
  test('relaxed alignment: DKIM d=rel.test aligns with From news.rel.test; SPF mail.rel.test aligns with rel.test', async () => {
    const viaDkim = await deliver({ from: 'x@unrelated.test', source: BAD, data: await signed({ domain: 'rel.test', from: 'alice@news.rel.test' }) });
    assert.equal(viaDkim.reply.code, 250, viaDkim.reply.raw);
    assert.deepEqual(viaDkim.ar!.methods.dmarc, ['pass'], viaDkim.ar!.raw);
    assert.match(viaDkim.ar!.raw, /dmarc=pass[^;]*header\.from=/);
    const viaSpf = await deliver({ from: 'bounce@mail.rel.test', headerFrom: 'alice@rel.test', source: GOOD });
    assert.deepEqual(viaSpf.ar!.methods.spf, ['pass']);
    assert.deepEqual(viaSpf.ar!.methods.dmarc, ['pass'], viaSpf.ar!.raw);
    assert.equal(viaSpf.folder, 'INBOX');
  });

  test('strict alignment (adkim=s, aspf=s): the same organisational-domain matches fail -> p=reject -> 550', async () => {
    const viaDkim = await deliver({ from: 'x@unrelated.test', source: BAD, data: await signed({ domain: 'strict.test', from: 'alice@news.strict.test' }) });
    assert.equal(viaDkim.reply.code, 550, viaDkim.reply.raw);
    assert.equal(viaDkim.reply.enhanced, '5.7.1');
    assert.equal(viaDkim.folder, null);
    const viaSpf = await deliver({ from: 'bounce@mail.strict.test', headerFrom: 'alice@strict.test', source: GOOD });
    assert.equal(viaSpf.reply.code, 550, viaSpf.reply.raw);
    // exact matches pass
    const exactDkim = await deliver({ from: 'x@unrelated.test', source: BAD, data: await signed({ domain: 'strict.test', from: 'alice@strict.test' }) });
    assert.equal(exactDkim.reply.code, 250, exactDkim.reply.raw);
    assert.deepEqual(exactDkim.ar!.methods.dmarc, ['pass'], exactDkim.ar!.raw);
    const exactSpf = await deliver({ from: 'bounce@strict.test', headerFrom: 'alice@strict.test', source: GOOD });
    assert.deepEqual(exactSpf.ar!.methods.dmarc, ['pass'], exactSpf.ar!.raw);
  });

  test('subdomain policy: sp=quarantine applies to sub.sp.test (Junk), p=reject to sp.test itself (550)', async () => {
    const sub = await deliver({ from: 'alice@sub.sp.test', headerFrom: 'alice@sub.sp.test', source: BAD });
    assert.equal(sub.reply.code, 250, sub.reply.raw);
    assert.equal(sub.folder, 'Junk');
    assert.deepEqual(sub.ar!.methods.dmarc, ['fail'], sub.ar!.raw);
    assert.match(sub.ar!.raw, /sp=QUARANTINE/);
    const org = await deliver({ from: 'alice@sp.test', source: BAD });
    assert.equal(org.reply.code, 550, org.reply.raw);
    assert.equal(org.folder, null);
  });

  test('p=reject: 550 5.7.1, nothing delivered, the rejection is logged', async () => {
    const before = mw.files(RCPT).length + mw.files(RCPT, '.Junk').length;
    const r = await deliver({ from: 'ceo@reject.test', source: BAD, subject: 'wire the money' });
    assert.equal(r.reply.code, 550, r.reply.raw);
    assert.equal(r.reply.enhanced, '5.7.1');
    assert.match(r.reply.raw, /DMARC policy of reject\.test \(p=reject\)/);
    assert.equal(mw.files(RCPT).length + mw.files(RCPT, '.Junk').length, before);
    const line = await log.waitFor((l) => l.msg === 'message rejected by sender authentication policy' && (l.from as string) === 'ceo@reject.test');
    assert.deepEqual(line.auth, { spf: 'fail', dkim: 'none', dmarc: 'fail', arc: 'none', action: 'reject' });
  });

  test('p=quarantine: delivered into .Junk/new and visible in IMAP Junk', async () => {
    const r = await deliver({ from: 'alice@quarantine.test', source: BAD, subject: 'quarantined one' });
    assert.equal(r.reply.code, 250, r.reply.raw);
    assert.equal(r.folder, 'Junk');
    assert.deepEqual(r.ar!.methods.dmarc, ['fail']);
    assert.match(r.ar!.raw, /p=QUARANTINE/);
    const c = await ImapClient.connect(mw.imapPort);
    await c.login(RCPT);
    const sel = await c.cmd('SELECT Junk');
    assert.match(sel.tagged, /OK/);
    const fetched = await c.cmd('FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT AUTHENTICATION-RESULTS)])');
    const all = fetched.lines.join('\n') + literalsOf(fetched.lines.join('\n')).join('\n');
    assert.match(all, /quarantined one/);
    assert.match(all, /dmarc=fail/);
    await c.cmd('LOGOUT').catch(() => undefined);
    c.close();
  });

  test('p=none: a DMARC fail is delivered to INBOX', async () => {
    const r = await deliver({ from: 'alice@pnone.test', source: BAD });
    assert.equal(r.reply.code, 250);
    assert.deepEqual(r.ar!.methods.dmarc, ['fail'], r.ar!.raw);
    assert.deepEqual(r.ar!.methods.spf, ['fail']);
    // spf fail without dkim would go to Junk by default; p=none with an SPF fail still goes to Junk (SPF policy)
    assert.equal(r.folder, 'Junk');
    const soft = await deliver({ from: 'x@spf-soft.test', headerFrom: 'alice@pnone.test', source: BAD });
    assert.deepEqual(soft.ar!.methods.dmarc, ['fail'], soft.ar!.raw);
    assert.equal(soft.folder, 'INBOX');
  });

  test('a full pass: spf, dkim and dmarc in one header, in INBOX', async () => {
    const r = await deliver({ from: 'alice@rel.test', source: GOOD, data: await signed({ domain: 'rel.test', from: 'alice@rel.test' }) });
    assert.deepEqual([r.ar!.methods.spf, r.ar!.methods.dkim, r.ar!.methods.dmarc], [['pass'], ['pass'], ['pass']], r.ar!.raw);
    assert.equal(r.folder, 'INBOX');
    // order in the file: Return-Path, Received, then our Authentication-Results, then the message
    const lines = r.text!.split('\r\n');
    assert.match(lines[0]!, /^Return-Path: <alice@rel\.test>$/);
    assert.ok(r.text!.indexOf('Authentication-Results:') > r.text!.indexOf('Received: from'));
    assert.ok(r.text!.indexOf('Authentication-Results:') < r.text!.indexOf('DKIM-Signature:'));
  });
});

describe('forged Authentication-Results', () => {
  test('a header with our authserv-id is removed; a foreign authserv-id is kept', async () => {
    const data = plainMessage({
      from: 'alice@spf-soft.test',
      to: RCPT,
      extra: [
        `Authentication-Results: ${HOST}; dkim=pass header.d=paypal.example; dmarc=pass`,
        `Authentication-Results: ${HOST.toUpperCase()};`,
        '\tspf=pass smtp.mailfrom=paypal.example',
        'Authentication-Results: other.example.net; spf=pass smtp.mailfrom=x@spf-soft.test',
      ],
    });
    const reply = await sendMx(mw.smtpPort, { from: 'alice@spf-soft.test', to: [RCPT], data, source: BAD });
    assert.equal(reply.code, 250, reply.raw);
    const r = { text: mw.files(RCPT).find((f) => f.includes('other.example.net')) };
    const all = headerValues(r.text!, 'Authentication-Results').map(parseResults);
    assert.deepEqual(all.map((a) => a.authservId), [HOST, 'other.example.net']);
    assert.doesNotMatch(r.text!, /paypal/);
    assert.deepEqual(all[0]!.methods.spf, ['softfail']);
    assert.equal(all[0]!.methods.dkim?.[0] ?? 'none', 'none');
    await log.waitFor((l) => l.msg === 'removed a forged Authentication-Results header');
  });
});
