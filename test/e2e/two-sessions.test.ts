/**
 * Several sessions on one mailbox (RFC 3501 §5.2, §7.4.1; IDLE RFC 2177): what one session changes reaches the
 * other at the points the RFC allows — flag changes as untagged FETCH, EXPUNGE never while answering FETCH/STORE/
 * SEARCH but at the next NOOP, everything at once during IDLE — and a message delivered over SMTP shows up in an
 * IDLE session within a second or two (measured from the SMTP "250" to the "* n EXISTS").
 * Raw sessions check the exact responses; two imapflow clients check the same from a real client's point of view.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startImapServer, deliver, makeMessage, RawImap, type ImapTestServer } from '../helpers/e2e.js';

const USER = 'two@example.test';
let srv: ImapTestServer;
const flows: ImapFlow[] = [];

before(async () => {
  srv = await startImapServer({ users: [USER] });
  for (let i = 1; i <= 4; i++) await deliver(srv.smtpPort, USER, makeMessage({ id: `m${i}@x.test`, to: USER }));
});

after(async () => {
  for (const f of flows) {
    try {
      f.close();
    } catch {
      /* closed */
    }
  }
  RawImap.closeAll();
  await srv?.stop();
});

const existsOf = (lines: string[]) => Number(/\* (\d+) EXISTS/.exec(lines.join('\n'))?.[1]);

test('raw sessions: flags and expunges from A reach B at NOOP; no EXPUNGE while B runs FETCH', async () => {
  const a = await RawImap.login(srv.imapPort, USER);
  const b = await RawImap.login(srv.imapPort, USER);
  const sa = await a.cmd('SELECT INBOX');
  const sb = await b.cmd('SELECT INBOX');
  assert.equal(existsOf(sa.untagged), 4);
  assert.equal(existsOf(sb.untagged), 4);

  // Flags.
  const st = await a.cmd('STORE 1 +FLAGS (\\Flagged $Work)');
  assert.equal(st.status, 'OK');
  const n = await b.cmd('NOOP');
  assert.equal(n.untagged.length, 1, n.untagged.join('\n'));
  assert.match(n.untagged[0]!, /^\* 1 FETCH \(FLAGS \((?=[^)]*\\Flagged)(?=[^)]*\$Work)[^)]*\)\)$/);
  assert.deepEqual((await b.cmd('NOOP')).untagged, [], 'reported once');

  // Expunge: A removes message 2; B's FETCH must not carry EXPUNGE (sequence numbers stay put), NOOP does.
  assert.equal((await a.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)')).status, 'OK');
  const ex = await a.cmd('EXPUNGE');
  assert.deepEqual(ex.untagged, ['* 2 EXPUNGE']);
  const f = await b.cmd('FETCH 1 (FLAGS)');
  assert.equal(f.status, 'OK');
  assert.ok(!f.untagged.some((l) => /EXPUNGE/.test(l)), `no EXPUNGE during FETCH: ${f.untagged.join(' | ')}`);
  const s = await b.cmd('SEARCH ALL');
  assert.ok(!s.untagged.some((l) => /EXPUNGE/.test(l)), `no EXPUNGE during SEARCH: ${s.untagged.join(' | ')}`);
  const n2 = await b.cmd('NOOP');
  assert.ok(n2.untagged.includes('* 2 EXPUNGE'), `EXPUNGE at NOOP: ${n2.untagged.join(' | ')}`);
  const after = await b.cmd('UID FETCH 1:* (FLAGS)');
  assert.equal(after.untagged.filter((l) => / FETCH /.test(l)).length, 3, 'B now sees 3 messages');

  // A new message appended by A is announced to B (EXISTS) at B's next command.
  const msg = makeMessage({ id: 'appended@x.test', to: USER });
  assert.equal((await a.cmd(`APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}`)).status, 'OK');
  const n3 = await b.cmd('NOOP');
  assert.deepEqual(n3.untagged, ['* 4 EXISTS']);
  a.close();
  b.close();
});

test('raw IDLE session: SMTP delivery appears within 2 s; flag changes and expunges by another session at once', async (t) => {
  const idler = await RawImap.login(srv.imapPort, USER);
  const other = await RawImap.login(srv.imapPort, USER);
  const sel = await idler.cmd('SELECT INBOX');
  const exists = existsOf(sel.untagged);
  await other.cmd('SELECT INBOX');
  const tag = await idler.idle();

  const t0 = Date.now();
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'idle-1@x.test', to: USER, subject: 'while idling' }));
  const tAck = Date.now();
  const line = await idler.readResponse(2000);
  const elapsed = Date.now() - tAck;
  assert.equal(line, `* ${exists + 1} EXISTS`);
  assert.ok(elapsed < 2000, `EXISTS ${elapsed} ms after the SMTP 250`);
  t.diagnostic(`IDLE: EXISTS ${elapsed} ms after the SMTP 250 (${Date.now() - t0} ms after the SMTP connection opened)`);

  // Flags from the other session.
  assert.equal((await other.cmd('STORE 1 +FLAGS (\\Seen)')).status, 'OK');
  const fl = await idler.readResponse(2000);
  assert.match(fl, /^\* 1 FETCH \(FLAGS \([^)]*\\Seen[^)]*\)\)$/);

  // Expunge from the other session.
  assert.equal((await other.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')).status, 'OK');
  const fl2 = await idler.readResponse(2000);
  assert.match(fl2, /^\* 1 FETCH \(FLAGS \([^)]*\\Deleted[^)]*\)\)$/);
  assert.equal((await other.cmd('EXPUNGE')).status, 'OK');
  assert.equal(await idler.readResponse(2000), '* 1 EXPUNGE');

  const rest = await idler.done(tag);
  assert.deepEqual(rest, [], 'nothing left over after DONE');
  const count = await idler.cmd('NOOP');
  assert.deepEqual(count.untagged, []);
  const all = await idler.cmd('SEARCH ALL');
  assert.equal(all.untagged[0], `* SEARCH ${Array.from({ length: exists }, (_, i) => i + 1).join(' ')}`);
  idler.close();
  other.close();
});

function flow(): ImapFlow {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: srv.imapPort,
    secure: false,
    tls: { rejectUnauthorized: false },
    auth: { user: USER, pass: 'secret' },
    logger: false,
  });
  c.on('error', () => {});
  flows.push(c);
  return c;
}

test('two imapflow clients: flags, expunge and an SMTP delivery reach the idling one (events)', async () => {
  const a = flow();
  const b = flow();
  await a.connect();
  await b.connect();
  await a.mailboxOpen('INBOX');
  const boxB = await b.mailboxOpen('INBOX');
  const uids = await a.search({ all: true }, { uid: true });
  assert.ok(uids && uids.length >= 2);

  type FlagsEv = { uid?: number; seq: number; flags: Set<string> };
  const next = <T>(ev: string, pred: (e: T) => boolean = () => true) =>
    new Promise<T>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no "${ev}" event within 2 s`)), 2000);
      const h = (e: T) => {
        if (!pred(e)) return;
        clearTimeout(t);
        b.off(ev, h);
        res(e);
      };
      b.on(ev, h);
    });
  const startIdle = async () => {
    void b.idle().catch(() => {});
    const deadline = Date.now() + 3000;
    while (!(b as unknown as { idling: boolean }).idling && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok((b as unknown as { idling: boolean }).idling, 'b is idling');
  };

  await startIdle();
  const fl = next<FlagsEv>('flags', (e) => e.flags.has('\\Answered'));
  await a.messageFlagsAdd({ uid: String(uids[0]) }, ['\\Answered'], { uid: true });
  const fe = await fl;
  assert.equal(fe.seq, 1);

  const ex = next<{ seq: number }>('expunge');
  await a.messageDelete({ uid: String(uids[1]) }, { uid: true });
  const ee = await ex;
  assert.equal(ee.seq, 2);

  const ev = next<{ count: number; prevCount: number }>('exists');
  const t0 = Date.now();
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'flow-idle@x.test', to: USER }));
  const e = await ev;
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 2000, `exists after ${elapsed} ms`);
  assert.equal(e.count, boxB.exists); // one expunged, one delivered
  assert.equal(e.prevCount, boxB.exists - 1);

  const last = await b.fetchOne('*', { envelope: true });
  assert.ok(last);
  assert.equal(last.envelope!.messageId, '<flow-idle@x.test>');
  await a.logout();
  await b.logout();
});
