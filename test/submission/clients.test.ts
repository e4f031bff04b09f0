/**
 * Submission (RFC 6409) with real clients: swaks (STARTTLS on the submission port, implicit TLS on the submissions
 * port, AUTH PLAIN and LOGIN) and Python's smtplib (starttls + login; SMTP_SSL). Mail to a local user lands in the
 * Maildir; mail to a remote address is queued and delivered to Postfix's smtp-sink on 127.0.0.2, found through the
 * test DNS server's MX (delivery.port) or a transportMap next hop.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/peers.js';
import { startMw, type Mw, swaks, python, killChildren, waitUntil, header, PASSWORD } from '../helpers/queue-server.js';

const U1 = 'u1@example.test';
const U2 = 'u2@example.test';

describe('submission with swaks and smtplib', () => {
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let relaySink: SmtpSink;
  let mw: Mw;

  before(async () => {
    sink = await startSmtpSink({ host: '127.0.0.2' });
    relaySink = await startSmtpSink({ host: '127.0.0.2' });
    dns = await startDnsServer({
      'remote.test': { MX: [{ exchange: 'mx.remote.test', priority: 10 }] },
      'mx.remote.test': { A: ['127.0.0.2'] },
    });
    mw = await startMw({
      users: [U1, U2],
      dns: { servers: dns.servers, timeoutMs: 1000 },
      delivery: { port: sink.port, transportMap: { 'relay.test': { host: '127.0.0.2', port: relaySink.port } } },
    });
  });
  after(async () => {
    killChildren();
    await mw?.stop();
    await sink?.close();
    await relaySink?.close();
    await dns?.close();
  });

  /** A transaction at the sink by its (unique) recipient: the envelope does not depend on the body. */
  const sinkEnvelope = (s: SmtpSink, rcpt: string) =>
    waitUntil(() => s.messages().find((m) => m.rcptArgs.some((a) => a.includes(`<${rcpt}>`))), 10_000, `${rcpt} at the sink`);
  const sinkMessage = (s: SmtpSink, marker: string) =>
    waitUntil(() => s.messages().find((m) => m.data.includes(marker)), 10_000, `${marker} at the sink`);

  it('swaks --tls (STARTTLS, AUTH PLAIN) on the submission port delivers to a local user', async () => {
    const r = await swaks([
      '--server', `127.0.0.1:${mw.submissionPort}`, '--tls', '--auth', 'PLAIN', '--auth-user', U1, '--auth-password', PASSWORD,
      '--from', U1, '--to', U2, '--header', 'Subject: swaks-plain-local',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<~ +235 2\.7\.0 /);
    assert.match(r.stdout, /<~ +250 2\.0\.0 Ok: queued as [0-9A-Z]+/);
    const f = await waitUntil(() => mw.newFiles(U2).find((x) => x.text.includes('swaks-plain-local')), 5000, 'delivery');
    assert.match(f.text, /with ESMTPSA id [0-9A-Z]+/);
    assert.match(f.text, /\(using TLSv1\.[23] with cipher /);
  });

  it('swaks --tlsc (implicit TLS, AUTH LOGIN) on the submissions port: remote address queued, delivered via MX to smtp-sink', async () => {
    const r = await swaks([
      '--server', `127.0.0.1:${mw.submissionsPort}`, '--tlsc', '--auth', 'LOGIN', '--auth-user', U1, '--auth-password', PASSWORD,
      '--from', U1, '--to', 'someone@remote.test', '--header', 'Subject: swaks-login-remote',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<~ +334 VXNlcm5hbWU6/); // the LOGIN mechanism's "Username:" challenge
    const id = /queued as ([0-9A-Z]+)/.exec(r.stdout)![1]!;
    const m = await sinkMessage(sink, 'swaks-login-remote');
    assert.match(m.mailArgs, /<u1@example\.test>/i);
    assert.deepEqual(m.rcptArgs.map((a) => /<([^>]*)>/.exec(a)?.[1]), ['someone@remote.test']);
    assert.match(m.data, new RegExp(`with ESMTPSA id ${id}`));
    assert.equal(header(m.data, 'Return-Path'), null, 'no Return-Path is sent to the next hop');
    await waitUntil(async () => (await mw.queue()).every((q) => q.id !== id), 5000, 'queue to drain');
  });

  it('swaks to a transportMap domain goes to its next hop', async () => {
    const r = await swaks([
      '--server', `127.0.0.1:${mw.submissionPort}`, '--tls', '--auth', 'PLAIN', '--auth-user', U2, '--auth-password', PASSWORD,
      '--from', U2, '--to', 'bob@relay.test', '--header', 'Subject: swaks-transport-map',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = await sinkEnvelope(relaySink, 'bob@relay.test');
    assert.match(m.mailArgs, /<u2@example\.test>/);
    assert.ok(!sink.messages().some((x) => x.rcptArgs.some((a) => a.includes('bob@relay.test'))));
  });

  it('swaks --tls with AUTH LOGIN on the submission port: remote address queued, delivered via MX (test DNS) to smtp-sink', async () => {
    const r = await swaks([
      '--server', `127.0.0.1:${mw.submissionPort}`, '--tls', '--auth', 'LOGIN', '--auth-user', U1, '--auth-password', PASSWORD,
      '--from', U1, '--to', 'starttls-login@remote.test', '--header', 'Subject: swaks-starttls-login-remote',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<~ +334 VXNlcm5hbWU6/);
    const id = /queued as ([0-9A-Z]+)/.exec(r.stdout)![1]!;
    const m = await sinkEnvelope(sink, 'starttls-login@remote.test');
    assert.match(m.mailArgs, /<u1@example\.test>/i);
    assert.equal(m.helo, 'mail.example.test');
    await waitUntil(async () => (await mw.queue()).every((q) => q.id !== id), 5000, 'queue to drain');
    assert.ok(dns.queries.some((q) => q.name === 'remote.test' && q.type === 'MX'));
  });

  it('the queued message reaches the sink with its content (Received ESMTPSA, no Return-Path)', async () => {
    const m = await sinkEnvelope(sink, 'starttls-login@remote.test');
    assert.match(m.data, /Subject: swaks-starttls-login-remote/);
    assert.match(m.data, /with ESMTPSA id [0-9A-Z]+/);
    assert.equal(header(m.data, 'Return-Path'), null);
  });

  it('swaks with a wrong password gets 535 5.7.8', async () => {
    const r = await swaks([
      '--server', `127.0.0.1:${mw.submissionPort}`, '--tls', '--auth', 'PLAIN', '--auth-user', U1, '--auth-password', 'wrong',
      '--from', U1, '--to', U2, '--local-interface', '127.0.0.21',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /<~\* +535 5\.7\.8 /);
  });

  const py = (body: string) => `
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
${body}
`;

  it('smtplib starttls + login to a local user; Date and Message-ID added when missing', async () => {
    const r = await python(
      py(`
s = smtplib.SMTP('127.0.0.1', ${mw.submissionPort}, timeout=10)
s.ehlo('py.client.test')
s.starttls(context=ctx)
s.ehlo('py.client.test')
s.login('${U1}', '${PASSWORD}')
msg = 'From: U1 <${U1}>\\r\\nTo: ${U2}\\r\\nSubject: py-no-date\\r\\n\\r\\nbody\\r\\n'
print(s.sendmail('${U1}', ['${U2}'], msg))
code, text = s.noop()
s.quit()
`),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '{}');
    const f = await waitUntil(() => mw.newFiles(U2).find((x) => x.text.includes('py-no-date')), 5000, 'delivery');
    const date = header(f.text, 'Date');
    assert.ok(date && !Number.isNaN(Date.parse(date)) && Math.abs(Date.now() - Date.parse(date)) < 120_000, `Date: ${date}`);
    assert.match(header(f.text, 'Message-ID') ?? '', /^<[0-9A-Z]+\.[0-9a-f]+@mail\.example\.test>$/);
    assert.match(f.text, /with ESMTPSA id /);
  });

  it('smtplib SMTP_SSL + login to a remote address: queued, delivered to smtp-sink; Date/Message-ID kept', async () => {
    const r = await python(
      py(`
s = smtplib.SMTP_SSL('127.0.0.1', ${mw.submissionsPort}, context=ctx, timeout=10)
s.login('${U2}', '${PASSWORD}')
msg = 'From: ${U2}\\r\\nTo: far@remote.test\\r\\nSubject: py-ssl-remote\\r\\nDate: Tue, 01 Dec 2026 09:08:07 +0100\\r\\nMessage-ID: <keep-me@client.test>\\r\\n\\r\\nbody\\r\\n'
print(s.sendmail('${U2}', ['far@remote.test'], msg))
s.quit()
`),
    );
    assert.equal(r.code, 0, r.stderr);
    const m = await sinkMessage(sink, 'py-ssl-remote');
    assert.equal(header(m.data, 'Date'), 'Tue, 01 Dec 2026 09:08:07 +0100');
    assert.equal(header(m.data, 'Message-ID'), '<keep-me@client.test>');
    assert.equal((m.data.match(/^Message-ID:/gim) ?? []).length, 1);
    assert.equal((m.data.match(/^Date:/gim) ?? []).length, 1);
  });

  it('smtplib starttls + login to a remote address: queued and delivered to smtp-sink', async () => {
    const r = await python(
      py(`
s = smtplib.SMTP('127.0.0.1', ${mw.submissionPort}, timeout=10)
s.starttls(context=ctx)
s.login('${U2}', '${PASSWORD}')
print(s.sendmail('${U2}', ['py-starttls@remote.test'], 'From: ${U2}\\r\\nSubject: py-starttls-remote\\r\\n\\r\\nbody\\r\\n'))
s.quit()
`),
    );
    assert.equal(r.code, 0, r.stderr);
    const m = await sinkEnvelope(sink, 'py-starttls@remote.test');
    assert.match(m.mailArgs, /<u2@example\.test>/);
  });

  it('smtplib sees the rejected cases with their codes', async () => {
    const r = await python(
      py(`
def attempt(fn):
    try:
        fn()
        print('ok')
    except smtplib.SMTPRecipientsRefused as e:
        print('rcpt', *[f"{c} {m.decode()}" for c, m in e.recipients.values()])
    except smtplib.SMTPResponseException as e:
        print('err', e.smtp_code, e.smtp_error.decode())
s = smtplib.SMTP('127.0.0.1', ${mw.submissionPort}, timeout=10)
s.starttls(context=ctx)
attempt(lambda: s.sendmail('${U1}', ['${U2}'], 'Subject: x\\r\\n\\r\\nx\\r\\n'))
s.rset()
s.login('${U1}', '${PASSWORD}')
attempt(lambda: s.sendmail('other@example.test', ['${U2}'], 'From: ${U1}\\r\\n\\r\\nx\\r\\n'))
s.rset()
attempt(lambda: s.sendmail('${U1}', ['nobody@example.test'], 'From: ${U1}\\r\\n\\r\\nx\\r\\n'))
s.rset()
attempt(lambda: s.sendmail('${U1}', ['${U2}'], 'From: ${U2}\\r\\n\\r\\nx\\r\\n'))
s.quit()
`),
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^err 530 5\.7\.0 /);
    assert.match(lines[1]!, /^err 553 5\.7\.1 /);
    assert.match(lines[2]!, /^rcpt 550 5\.1\.1 /);
    assert.match(lines[3]!, /^err 553 5\.7\.1 From: <u2@example\.test> is not one of your addresses/);
  });
});
