/**
 * imapflow with qresync: true against Mailwright (RFC 7162): it ENABLEs CONDSTORE and QRESYNC, reads
 * HIGHESTMODSEQ, and on reconnect resynchronizes with SELECT INBOX (QRESYNC (uidvalidity modseq)): expunged UIDs
 * arrive as 'expunge' events (vanished, earlier) and changed flags as 'flags' events with their modseq. While the
 * mailbox is open, another session's expunge arrives as a VANISHED 'expunge' event; fetch with changedSince
 * returns only what changed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startImapServer, deliver, makeMessage, RawImap, type ImapTestServer } from '../helpers/e2e.js';

const USER = 'sync@example.test';
let srv: ImapTestServer;
const clients: ImapFlow[] = [];

function client(): ImapFlow {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: srv.imapPort,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: USER, pass: 'secret' },
    logger: false,
    qresync: true,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

before(async () => {
  srv = await startImapServer({ users: [USER] });
  for (let i = 1; i <= 5; i++) await deliver(srv.smtpPort, USER, makeMessage({ id: `q${i}@x.test`, to: USER, subject: `q${i}` }));
});

after(async () => {
  for (const c of clients) {
    try {
      c.close();
    } catch {
      /* closed */
    }
  }
  RawImap.closeAll();
  await srv?.stop();
});

test('imapflow (qresync: true): QRESYNC resync after offline flag changes and expunges, then live VANISHED', async () => {
  const first = client();
  await first.connect();
  assert.ok(first.enabled.has('QRESYNC'), [...first.enabled].join(' '));
  assert.ok(first.enabled.has('CONDSTORE'));
  const mb = await first.mailboxOpen('INBOX');
  assert.equal(mb.exists, 5);
  const uidValidity = mb.uidValidity;
  const modseq = mb.highestModseq;
  assert.ok(typeof modseq === 'bigint' && modseq > 0n, String(modseq));
  await first.logout();

  // Offline: another client flags UID 2 and expunges UID 3.
  const raw = await RawImap.login(srv.imapPort, USER);
  await raw.cmd('SELECT INBOX');
  await raw.cmd('UID STORE 2 +FLAGS (\\Flagged)');
  await raw.cmd('UID STORE 3 +FLAGS (\\Deleted)');
  await raw.cmd('UID EXPUNGE 3');

  const c = client();
  const expunged: Array<{ uid?: number; vanished: boolean; earlier?: boolean }> = [];
  const flags: Array<{ uid?: number; flags: Set<string>; modseq?: bigint }> = [];
  c.on('expunge', (e) => expunged.push(e));
  c.on('flags', (f) => flags.push(f));
  await c.connect();
  const again = await c.mailboxOpen('INBOX', { uidValidity, changedSince: modseq } as never);
  assert.equal((again as { qresync?: boolean }).qresync, true, 'imapflow accepted the QRESYNC answer');
  assert.equal(again.exists, 4);
  assert.ok(again.highestModseq! > modseq);
  assert.deepEqual(expunged.map((e) => [e.uid, e.vanished, e.earlier]), [[3, true, true]]);
  const f2 = flags.find((f) => f.uid === 2);
  assert.ok(f2 && f2.flags.has('\\Flagged') && typeof f2.modseq === 'bigint' && f2.modseq > modseq, JSON.stringify(flags, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Set ? [...v] : v)));

  // fetch with changedSince: only UID 2 changed since the old modseq (the expunge is not a message).
  const changed: number[] = [];
  for await (const m of c.fetch('1:*', { flags: true }, { uid: true, changedSince: modseq })) changed.push(m.uid);
  assert.deepEqual(changed, [2]);

  // Live: the other session expunges UID 5; imapflow learns it as VANISHED at its next NOOP.
  expunged.length = 0;
  await raw.cmd('UID STORE 5 +FLAGS (\\Deleted)');
  await raw.cmd('UID EXPUNGE 5');
  await c.noop();
  assert.deepEqual(expunged.map((e) => [e.uid, e.vanished]), [[5, true]]);
  assert.equal(c.mailbox && c.mailbox.exists, 3);
  await c.logout();
  raw.close();
});
