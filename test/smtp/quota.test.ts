/**
 * Mailbox quota on SMTP delivery (intake/quota.ts, delivery/local.ts): 452 4.2.2 at RCPT for a full mailbox (or one
 * that a declared SIZE= would overflow), at the end of DATA with the real size; an alias reaching a full and a
 * roomy mailbox delivers to the roomy one now and queues the full one, which the queue delivers once there is room;
 * smtp.quotaExceeded: reject answers 552 5.2.2 and bounces. Usage counts mail still in new/ (never indexed).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { WireClient, dotStuff } from '../helpers/smtp-client.js';
import { startMw, waitUntil, dsnParts, PASSWORD, python, type Mw } from '../helpers/queue-server.js';

const FULL = 'full@example.test';
const ROOMY = 'roomy@example.test';
const SENDER = 'sender@example.test';

function message(subject: string, bodyBytes: number): Buffer {
  const line = 'x'.repeat(76) + '\r\n';
  const body = line.repeat(Math.ceil(bodyBytes / line.length));
  return dotStuff(`From: <someone@elsewhere.example>\r\nTo: <${FULL}>\r\nSubject: ${subject}\r\n\r\n${body}`);
}

async function mx(mw: Mw): Promise<WireClient> {
  return WireClient.open(mw.smtpPort);
}

const sizeOnDisk = (mw: Mw, a: string) => mw.newFiles(a).reduce((n, f) => n + statSync(f.path).size, 0);

describe('quota on SMTP delivery (defer: 452 4.2.2)', () => {
  let mw: Mw;
  after(async () => {
    WireClient.closeAll();
    await mw?.stop();
  });

  it('messages are accepted while they fit; the one that does not gets 452 4.2.2 at the end of DATA and is not stored', async () => {
    mw = await startMw({ users: [FULL, ROOMY, SENDER], aliases: [['team@example.test', FULL], ['team@example.test', ROOMY]] });
    await mw.server.store.setQuota(FULL, 15_000);
    const c = await mx(mw);
    for (const s of ['one', 'two']) assert.equal((await c.send('a@elsewhere.example', [FULL], message(s, 6000))).code, 250);
    const r = await c.send('a@elsewhere.example', [FULL], message('three', 6000));
    assert.equal(r.code, 452, r.raw);
    assert.equal(r.enhanced, '4.2.2');
    assert.match(r.raw, /Mailbox full/);
    assert.equal(mw.newFiles(FULL).length, 2);
    // Usage counts the two files that no IMAP session has indexed yet.
    assert.equal((await mw.server.mail.quotaUsage(FULL)).bytes, sizeOnDisk(mw, FULL));
    // A small one still fits.
    assert.equal((await c.send('a@elsewhere.example', [FULL], message('small', 500))).code, 250);
    c.close();
  });

  it('RCPT: a SIZE= that would overflow the quota gets 452 4.2.2; so does any RCPT once the mailbox is full', async () => {
    const c = await mx(mw);
    assert.equal((await c.cmd('MAIL FROM:<a@elsewhere.example> SIZE=50000')).code, 250);
    const r = await c.cmd(`RCPT TO:<${FULL}>`);
    assert.equal(r.code, 452, r.raw);
    assert.equal(r.enhanced, '4.2.2');
    assert.equal((await c.cmd(`RCPT TO:<${ROOMY}>`)).code, 250, 'other recipients are not affected');
    await c.cmd('RSET');
    await mw.server.store.setQuota(FULL, 10_000); // now below what it holds
    assert.equal((await c.cmd('MAIL FROM:<a@elsewhere.example>')).code, 250);
    const r2 = await c.cmd(`RCPT TO:<${FULL}>`);
    assert.equal(r2.code, 452, r2.raw);
    assert.equal(r2.enhanced, '4.2.2');
    // An alias that also reaches a roomy mailbox is accepted.
    assert.equal((await c.cmd('RCPT TO:<team@example.test>')).code, 250);
    await c.cmd('RSET');
    c.close();
  });

  it('an alias to a full and a roomy mailbox: delivered to the roomy one, queued for the full one, delivered there once there is room', async () => {
    const c = await mx(mw);
    const before = mw.newFiles(FULL).length;
    const r = await c.send('a@elsewhere.example', ['team@example.test'], message('for the team', 3000));
    assert.equal(r.code, 250, r.raw);
    c.close();
    assert.ok(mw.newFiles(ROOMY).some((f) => /Subject: for the team/.test(f.text)));
    assert.equal(mw.newFiles(FULL).length, before);
    const q = await waitUntil(async () => (await mw.queue()).find((x) => x.recipients.some((y) => y.lastError)), 10_000, 'a deferred attempt');
    assert.deepEqual(q.recipients.map((x) => x.address), [FULL]);
    assert.match(q.recipients[0]!.lastError!, /^452 4\.2\.2 .*Mailbox full/);
    await mw.server.store.setQuota(FULL, 0); // unlimited
    await mw.server.queue.flush();
    await waitUntil(() => mw.newFiles(FULL).some((f) => /Subject: for the team/.test(f.text)), 10_000, 'delivery from the queue');
    await waitUntil(async () => (await mw.queue()).length === 0, 5000, 'queue empty');
    const copy = mw.newFiles(FULL).find((f) => /Subject: for the team/.test(f.text))!;
    assert.match(copy.text, /^Return-Path: <a@elsewhere\.example>\r\n/);
    assert.match(copy.name, /,S=\d+$/);
  });

  it('submission: smtplib sending to a full local mailbox sees 452 at RCPT', async () => {
    await mw.server.store.setQuota(FULL, 1000);
    const r = await python(
      `import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.login(sys.argv[2], sys.argv[3])
try:
    s.sendmail(sys.argv[2], [sys.argv[4]], 'From: <' + sys.argv[2] + '>\\r\\nSubject: hi\\r\\n\\r\\nhello\\r\\n')
    print('accepted')
except smtplib.SMTPRecipientsRefused as e:
    code, msg = e.recipients[sys.argv[4]]
    print(code, msg.decode())
s.quit()
`,
      [String(mw.submissionPort), SENDER, PASSWORD, FULL],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^452 4\.2\.2 <full@example\.test>: Mailbox full/);
  });
});

describe('quota on SMTP delivery (smtp.quotaExceeded: reject)', () => {
  let mw: Mw;
  after(async () => {
    WireClient.closeAll();
    await mw?.stop();
  });

  it('552 5.2.2 at RCPT; a queued copy for a full alias member bounces at once with Status 5.2.2', async () => {
    mw = await startMw({ smtp: { quotaExceeded: 'reject' }, users: [FULL, ROOMY, SENDER], aliases: [['team@example.test', FULL], ['team@example.test', ROOMY]] });
    await mw.server.store.setQuota(FULL, 2000);
    const c = await mx(mw);
    assert.equal((await c.send(SENDER, [FULL], message('fits', 500))).code, 250);
    const r = await c.send(SENDER, [FULL], message('too big', 3000));
    assert.equal(r.code, 552, r.raw);
    assert.equal(r.enhanced, '5.2.2');
    assert.equal((await c.cmd('MAIL FROM:<a@elsewhere.example> SIZE=5000')).code, 250);
    const r2 = await c.cmd(`RCPT TO:<${FULL}>`);
    assert.equal(r2.code, 552, r2.raw);
    await c.cmd('RSET');
    assert.equal((await c.send(SENDER, ['team@example.test'], message('team mail', 3000))).code, 250);
    c.close();
    assert.ok(mw.newFiles(ROOMY).some((f) => /Subject: team mail/.test(f.text)));
    const bounce = await waitUntil(() => mw.newFiles(SENDER).find((f) => /report-type=delivery-status/.test(f.text)), 10_000, 'the bounce');
    const p = dsnParts(bounce.text);
    assert.match(p.status, /^Final-Recipient: rfc822; full@example\.test$/m);
    assert.match(p.status, /^Status: 5\.2\.2$/m);
    assert.match(p.status, /^Diagnostic-Code: smtp; 552 5\.2\.2 <full@example\.test>: Mailbox full/m);
    assert.ok(!mw.newFiles(FULL).some((f) => /Subject: team mail/.test(f.text)));
  });
});
