/**
 * imapflow (the npm IMAP client; it behaves much like Thunderbird: STARTTLS, CAPABILITY/ID/NAMESPACE/LIST, SELECT,
 * FETCH with ENVELOPE and BODYSTRUCTURE, UID commands, MOVE, IDLE) end to end against Mailwright.
 * Delivery during IDLE goes through the server's SMTP port (raw socket), as it would in production.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startImapServer, deliver, makeMessage, RawImap, type ImapTestServer } from '../helpers/e2e.js';

let srv: ImapTestServer;
const clients: ImapFlow[] = [];
const USER = 'flow@example.test';

function client(o: { secure?: boolean; port?: number } = {}): ImapFlow {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: o.port ?? srv.imapPort,
    secure: o.secure ?? false,
    doSTARTTLS: o.secure ? undefined : true,
    tls: { rejectUnauthorized: false },
    auth: { user: USER, pass: 'secret' },
    logger: false,
    clientInfo: { name: 'mailwright-e2e' },
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

before(async () => {
  srv = await startImapServer({ users: [USER] });
  const multipart = [
    'From: Bob <bob@example.org>',
    `To: Flow <${USER}>`,
    'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= with attachment',
    'Date: Wed, 08 May 2024 09:00:00 +0000',
    'Message-ID: <multi@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Hallo Welt =E2=80=93 searchable-word',
    '--b1',
    'Content-Type: application/octet-stream; name="a.bin"',
    'Content-Disposition: attachment; filename="a.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    'AAECAwQ=',
    '--b1--',
    '',
  ].join('\r\n');
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'plain@example.org', to: USER, subject: 'Plain one' }));
  await deliver(srv.smtpPort, USER, multipart);
});

after(async () => {
  for (const c of clients) {
    try {
      c.close();
    } catch {
      /* already closed */
    }
  }
  RawImap.closeAll();
  await srv?.stop();
});

test('imapflow: STARTTLS, list/status, open, fetch envelope+bodyStructure+source, search, flags, move, append', async () => {
  const c = client();
  await c.connect();
  assert.ok(c.usable);
  // Connected to the plain port; imapflow upgraded with STARTTLS, so the connection is secure now.
  assert.equal(c.secureConnection, true, 'STARTTLS done');
  assert.equal((c as unknown as { socket: { encrypted?: boolean } }).socket.encrypted, true);
  assert.ok(c.capabilities.has('IDLE') && c.capabilities.has('UIDPLUS') && c.capabilities.has('MOVE'), [...c.capabilities.keys()].join(' '));

  const list = await c.list({ statusQuery: { messages: true, unseen: true, uidNext: true } });
  const byPath = new Map(list.map((m) => [m.path, m]));
  for (const p of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) assert.ok(byPath.has(p), `LIST lacks ${p}`);
  assert.equal(byPath.get('Sent')!.specialUse, '\\Sent');
  assert.equal(byPath.get('Trash')!.specialUse, '\\Trash');
  assert.equal(byPath.get('INBOX')!.status?.messages, 2);
  assert.equal(byPath.get('INBOX')!.status?.unseen, 2);

  const st = await c.status('INBOX', { messages: true, uidNext: true, uidValidity: true, unseen: true });
  assert.ok(st, 'STATUS answered');
  assert.equal(st.messages, 2);
  assert.equal(st.uidNext, 3);
  assert.ok(Number(st.uidValidity) > 0);

  const box = await c.mailboxOpen('INBOX');
  assert.equal(box.exists, 2);
  assert.equal(box.uidNext, 3);
  assert.equal(String(box.uidValidity), String(st.uidValidity));
  assert.ok(box.permanentFlags?.has('\\Seen'));

  const msgs: Array<{ uid: number; subject?: string; struct: unknown; source: Buffer; flags: Set<string> }> = [];
  for await (const m of c.fetch('1:*', { uid: true, envelope: true, bodyStructure: true, source: true, flags: true, size: true })) {
    assert.equal(m.size, m.source!.length, 'RFC822.SIZE matches the source');
    msgs.push({ uid: m.uid, subject: m.envelope!.subject, struct: m.bodyStructure, source: m.source!, flags: m.flags! });
  }
  assert.deepEqual(
    msgs.map((m) => [m.uid, m.subject]),
    [
      [1, 'Plain one'],
      [2, 'Grüße with attachment'],
    ],
  );
  const bs = msgs[1]!.struct as { type: string; childNodes: Array<{ type: string; encoding?: string; disposition?: string; dispositionParameters?: Record<string, string> }> };
  assert.equal(bs.type, 'multipart/mixed');
  assert.equal(bs.childNodes.length, 2);
  assert.equal(bs.childNodes[0]!.type, 'text/plain');
  assert.equal(bs.childNodes[0]!.encoding, 'quoted-printable');
  assert.equal(bs.childNodes[1]!.type, 'application/octet-stream');
  assert.equal(bs.childNodes[1]!.disposition, 'attachment');
  assert.equal(bs.childNodes[1]!.dispositionParameters?.filename, 'a.bin');
  // The source is the Maildir file (Return-Path + Received + the message).
  assert.match(msgs[1]!.source.toString('latin1'), /^Return-Path: <alice@example\.org>\r\nReceived: /);
  assert.ok(msgs[1]!.source.toString('latin1').endsWith('--b1--\r\n'));
  assert.equal(msgs[0]!.flags.has('\\Seen'), false, 'fetching source with BODY.PEEK leaves \\Seen unset');

  // A part download (BODY[2]), decoded by imapflow.
  const part = await c.download('2', '2', { uid: true });
  const chunks: Buffer[] = [];
  assert.ok(part.content, 'BODY[2] downloaded');
  for await (const ch of part.content) chunks.push(ch as Buffer);
  assert.deepEqual(Buffer.concat(chunks), Buffer.from([0, 1, 2, 3, 4]));

  assert.deepEqual(await c.search({ body: 'searchable-word' }, { uid: true }), [2]);
  assert.deepEqual(await c.search({ subject: 'Grüße' }, { uid: true }), [2], 'SEARCH CHARSET UTF-8 on a decoded encoded-word');
  assert.deepEqual(await c.search({ seen: false }, { uid: true }), [1, 2]);

  assert.equal(await c.messageFlagsAdd({ uid: '1' }, ['\\Seen', '\\Flagged'], { uid: true }), true);
  assert.deepEqual(await c.search({ flagged: true }, { uid: true }), [1]);
  assert.deepEqual(await c.search({ seen: false }, { uid: true }), [2]);
  const f1 = await c.fetchOne('1', { flags: true }, { uid: true });
  assert.ok(f1 && f1.flags!.has('\\Seen') && f1.flags!.has('\\Flagged'));

  const moved = await c.messageMove({ uid: '1' }, 'Archive', { uid: true });
  assert.ok(moved);
  assert.equal(moved.destination, 'Archive');
  assert.deepEqual([...(moved.uidMap ?? new Map()).entries()], [[1, 1]], 'COPYUID mapping from MOVE');
  assert.equal(c.mailbox && c.mailbox.exists, 1, 'EXPUNGE from MOVE seen by imapflow');

  const raw = makeMessage({ id: 'appended@example.org', subject: 'Draft via imapflow', to: USER });
  const app = await c.append('Drafts', raw, ['\\Draft', '\\Seen'], new Date('2024-01-02T03:04:05Z'));
  assert.ok(app);
  assert.equal(app.destination, 'Drafts');
  assert.equal(app.uid, 1);

  const drafts = await c.mailboxOpen('Drafts', { readOnly: true });
  assert.equal(drafts.exists, 1);
  const d = await c.fetchOne('1', { source: true, flags: true, internalDate: true, envelope: true }, { uid: true });
  assert.ok(d);
  assert.equal(d.source!.toString('latin1'), raw, 'APPENDed bytes come back unchanged');
  assert.deepEqual([...d.flags!].sort(), ['\\Draft', '\\Seen']);
  assert.equal(new Date(d.internalDate!).toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(d.envelope!.messageId, '<appended@example.org>');

  await c.mailboxOpen('Archive');
  const a = await c.fetchOne('*', { envelope: true, flags: true, uid: true });
  assert.ok(a);
  assert.equal(a.envelope!.messageId, '<plain@example.org>');
  assert.ok(a.flags!.has('\\Flagged') && a.flags!.has('\\Seen'), 'flags move with the message');
  await c.logout();
});

test('imapflow over implicit TLS on the imaps port', async () => {
  const c = client({ secure: true, port: srv.imapsPort });
  await c.connect();
  assert.equal(c.secureConnection, true);
  const st = await c.status('INBOX', { messages: true });
  assert.ok(st);
  assert.equal(typeof st.messages, 'number');
  await c.logout();
});

test('imapflow IDLE on INBOX: a message delivered over SMTP fires "exists" within 2 s', async () => {
  const c = client();
  await c.connect();
  const box = await c.mailboxOpen('INBOX');
  const before = box.exists;
  const seen = new Promise<{ count: number; prevCount: number; path: string }>((res) => c.on('exists', (e: { count: number; prevCount: number; path: string }) => res(e)));
  const idling = c.idle();
  // Wait until the IDLE command is really running on the server (imapflow has sent IDLE and got "+").
  const deadline = Date.now() + 3000;
  while (!(c as unknown as { idling: boolean }).idling && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok((c as unknown as { idling: boolean }).idling, 'imapflow is idling');
  const t0 = Date.now();
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'during-idle@example.org', to: USER, subject: 'During IDLE' }));
  const ev = await Promise.race([seen, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
  const elapsed = Date.now() - t0;
  assert.ok(ev, `no "exists" event within 2 s of the SMTP 250 (elapsed ${elapsed} ms)`);
  assert.equal(ev.path, 'INBOX');
  assert.equal(ev.count, before + 1);
  assert.equal(ev.prevCount, before);
  // Leave IDLE by running a command; imapflow sends DONE first.
  const m = await c.fetchOne('*', { envelope: true });
  assert.ok(m);
  assert.equal(m.envelope!.subject, 'During IDLE');
  await idling.catch(() => {});
  await c.logout();
});
