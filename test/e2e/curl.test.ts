/**
 * curl's IMAP client (Debian curl 7.88) against Mailwright: LIST of the root, fetching one message by UID (bytes
 * compared with the Maildir file), EXAMINE-style mailbox listing, and TLS both ways: STARTTLS with --ssl-reqd on
 * the imap port and implicit TLS with imaps:// on the imaps port.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startImapServer, deliver, makeMessage, run, killChildren, RawImap, type ImapTestServer } from '../helpers/e2e.js';

const USER = 'curl@example.test';
let srv: ImapTestServer;
let url: string;
let urls: string;

before(async () => {
  srv = await startImapServer({ users: [USER] });
  url = `imap://127.0.0.1:${srv.imapPort}`;
  urls = `imaps://127.0.0.1:${srv.imapsPort}`;
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'c1@example.org', to: USER, subject: 'First for curl', body: 'one\r\n.leading dot\r\nend' }));
  await deliver(srv.smtpPort, USER, makeMessage({ id: 'c2@example.org', to: USER, subject: 'Second for curl' }));
});

after(async () => {
  killChildren();
  RawImap.closeAll();
  await srv?.stop();
});

const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '15', '-u', `${USER}:secret`, ...args], { timeoutMs: 20000 });

/** The Maildir file (cur/) of the message with this Message-ID. */
function fileOf(id: string): Buffer {
  const cur = join(srv.maildir(USER), 'cur');
  for (const f of readdirSync(cur)) {
    const b = readFileSync(join(cur, f));
    if (b.includes(`Message-ID: <${id}>`)) return b;
  }
  throw new Error(`no file for ${id}`);
}

function assertOk(r: { code: number | null; stderr: string }) {
  assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
}

test('curl imap://host:port/ lists the mailboxes (LIST)', async () => {
  const r = await curl(`${url}/`);
  assertOk(r);
  const lines = r.stdout.trim().split(/\r?\n/);
  for (const n of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) {
    assert.ok(lines.some((l) => new RegExp(`^\\* LIST \\([^)]*\\) "/" "?${n}"?$`).test(l)), `no LIST line for ${n}:\n${r.stdout}`);
  }
});

test("curl 'imap://host:port/INBOX;UID=1' fetches the message byte for byte (and the non-peek fetch sets \\Seen)", async () => {
  const r = await curl(`${url}/INBOX;UID=1`);
  assertOk(r);
  const file = fileOf('c1@example.org');
  assert.ok(r.stdoutBytes.equals(file), `bytes differ:\n${JSON.stringify(r.stdout)}\n---\n${JSON.stringify(file.toString('latin1'))}`);
  const r2 = await curl(`${url}/INBOX;UID=2`);
  assertOk(r2);
  assert.ok(r2.stdoutBytes.equals(fileOf('c2@example.org')));

  const c = await RawImap.login(srv.imapPort, USER, 'INBOX');
  const f = await c.cmd('UID FETCH 1:2 (FLAGS)');
  assert.match(f.untagged.join('\n'), /UID 1 FLAGS \(\\Seen\)/);
  c.close();
});

test('curl with a custom command (-X "UID SEARCH ...") and a mailbox URL', async () => {
  const r = await curl(`${url}/INBOX`, '-X', 'UID SEARCH SUBJECT "Second"');
  assertOk(r);
  assert.match(r.stdout, /^\* SEARCH 2\r?$/m);
  const e = await curl(`${url}/INBOX`, '-X', 'EXAMINE INBOX');
  assertOk(e);
  assert.match(e.stdout, /^\* 2 EXISTS\r?$/m);
});

test('curl --ssl-reqd (STARTTLS on the imap port) with -k', async () => {
  const r = await curl('--ssl-reqd', '-k', '-v', `${url}/INBOX;UID=2`);
  assertOk(r);
  assert.ok(r.stdoutBytes.equals(fileOf('c2@example.org')));
  assert.match(r.stderr, /STARTTLS/);
  assert.match(r.stderr, /SSL connection using TLSv1\.[23]/);
});

test('curl imaps:// on the imaps port with -k', async () => {
  const r = await curl('-k', '-v', `${urls}/INBOX;UID=1`);
  assertOk(r);
  assert.ok(r.stdoutBytes.equals(fileOf('c1@example.org')));
  assert.match(r.stderr, /SSL connection using TLSv1\.[23]/);
  const l = await curl('-k', `${urls}/`);
  assertOk(l);
  assert.match(l.stdout, /^\* LIST \([^)]*\) "\/" "?INBOX"?\r?$/m);
});

test('curl with a wrong password fails with a login error', async () => {
  const r = await run('curl', ['-sS', '--max-time', '15', '-u', `${USER}:wrong`, `${url}/`], { timeoutMs: 20000 });
  assert.equal(r.code, 67, `expected CURLE_LOGIN_DENIED (67), got ${r.code}: ${r.stderr}`);
});
