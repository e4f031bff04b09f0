/**
 * Python's imaplib (Debian's /usr/bin/python3) end to end against Mailwright's IMAP: a fixed session
 * (test/fixtures/e2e/imaplib_client.py) over STARTTLS on the imap port and over implicit TLS (IMAP4_SSL) on the
 * imaps port — LOGIN, LIST, SELECT, APPEND, FETCH, SEARCH, STORE, COPY, EXPUNGE, CLOSE, LOGOUT — and the results
 * are checked here, against the server's own view (raw IMAP) where it matters.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startImapServer, deliver, makeMessage, run, killChildren, RawImap, ROOT, type ImapTestServer } from '../helpers/e2e.js';

const PY = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'fixtures', 'e2e', 'imaplib_client.py');
let srv: ImapTestServer;

before(async () => {
  srv = await startImapServer({ users: ['u1@example.test', 'u2@example.test'] });
  await deliver(srv.smtpPort, ['u1@example.test', 'u2@example.test'], makeMessage({ id: 'first@example.org', subject: 'Delivered first' }));
});

after(async () => {
  killChildren();
  RawImap.closeAll();
  await srv?.stop();
});

interface PyResult {
  error?: string;
  trace?: string;
  caps_before_tls?: string[];
  starttls?: string;
  caps: string[];
  tls_version: string | null;
  login: string;
  list: string[];
  select_exists: number;
  append: [string, string[]];
  appenduid: number | null;
  exists_after_append: number;
  fetch_body_equal: boolean;
  fetch_flags: string[];
  fetch_size: number;
  msg_len: number;
  fetch_envelopes: unknown[];
  search_body: string[];
  search_flagged_uids: string[];
  search_subject_utf8: [string, string[]];
  search_all: string[];
  store: [string, string[]];
  flags_after_store: string[];
  copy: [string, unknown[]];
  status_saved: string[];
  store_deleted: [string, unknown[]];
  expunge: [string, string[]];
  search_all_after_expunge: string[];
  saved_exists: number;
  saved_body_equal: boolean;
  close: string;
  logout: string;
}

async function runPy(mode: 'starttls' | 'ssl', port: number, user: string): Promise<PyResult> {
  const r = await run(PY, [SCRIPT, mode, '127.0.0.1', String(port), user, 'secret'], { timeoutMs: 20000 });
  let out: PyResult;
  try {
    out = JSON.parse(r.stdout) as PyResult;
  } catch {
    throw new Error(`python exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  }
  assert.equal(out.error, undefined, `imaplib failed: ${out.error}\n${out.trace}`);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

function checkSession(out: PyResult, user: string) {
  assert.equal(out.login, 'OK');
  assert.match(out.tls_version ?? '', /^TLSv1\.[23]$/);
  // After TLS and before login: no STARTTLS, no LOGINDISABLED.
  assert.ok(!out.caps.includes('STARTTLS'), out.caps.join(' '));
  assert.ok(!out.caps.includes('LOGINDISABLED'));
  assert.ok(out.caps.includes('AUTH=PLAIN'));

  const names = out.list.map((l) => /"\/" (.+)$/.exec(l)?.[1]);
  for (const n of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) assert.ok(names.includes(n), `LIST lacks ${n}: ${out.list.join(' | ')}`);
  assert.ok(out.list.some((l) => l.includes('\\Sent') && l.endsWith(' Sent')), 'SPECIAL-USE \\Sent on Sent');

  assert.equal(out.select_exists, 1, 'the delivered message');
  assert.equal(out.append[0], 'OK');
  assert.match(out.append[1][0]!, /^\[APPENDUID \d+ 2\] /);
  assert.equal(out.appenduid, 2);
  assert.equal(out.exists_after_append, 2);

  assert.equal(out.fetch_body_equal, true, 'BODY.PEEK[] returns the appended bytes');
  assert.deepEqual(out.fetch_flags, ['\\Flagged'], 'flags given to APPEND; BODY.PEEK does not set \\Seen');
  assert.equal(out.fetch_size, out.msg_len, 'RFC822.SIZE is the byte count');
  const envText = JSON.stringify(out.fetch_envelopes);
  assert.match(envText, /Delivered first/);
  assert.match(envText, /appended by imaplib café/);
  assert.ok(envText.includes(`NIL NIL \\"${user.split('@')[0]}\\" \\"example.test\\"`), `To: ${user} in the ENVELOPE: ${envText}`);

  assert.deepEqual(out.search_body, ['2']);
  assert.deepEqual(out.search_flagged_uids, ['2']);
  assert.deepEqual(out.search_subject_utf8, ['OK', ['2']], 'SEARCH CHARSET UTF-8 with a literal');
  assert.deepEqual(out.search_all, ['1', '2']);

  assert.equal(out.store[0], 'OK');
  for (const f of ['\\Seen', '\\Flagged', '$Label1']) assert.ok(out.flags_after_store.join(' ').includes(f), `${f} after STORE: ${out.flags_after_store}`);

  assert.equal(out.copy[0], 'OK');
  assert.match(out.status_saved[0]!, /^"?Saved"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)$/);
  assert.equal(out.store_deleted[0], 'OK');
  assert.deepEqual(out.expunge, ['OK', ['2']], 'EXPUNGE reports sequence number 2');
  assert.deepEqual(out.search_all_after_expunge, ['1']);
  assert.equal(out.saved_exists, 1);
  assert.equal(out.saved_body_equal, true, 'COPY keeps the bytes');
  assert.equal(out.close, 'OK');
  assert.equal(out.logout, 'BYE');
}

test('imaplib over STARTTLS on the imap port: the whole session', async () => {
  const out = await runPy('starttls', srv.imapPort, 'u1@example.test');
  assert.equal(out.starttls, 'OK');
  assert.ok(out.caps_before_tls!.includes('STARTTLS'), 'STARTTLS advertised on the plain port');
  checkSession(out, 'u1@example.test');

  // The server's view after the session: INBOX holds only the delivered message; Saved the copy with its flags.
  const c = await RawImap.login(srv.imapPort, 'u1@example.test');
  const s = await c.cmd('STATUS INBOX (MESSAGES UIDNEXT)');
  assert.match(s.untagged[0]!, /MESSAGES 1 UIDNEXT 3/);
  await c.cmd('EXAMINE Saved');
  const f = await c.cmd('UID FETCH 1:* (FLAGS)');
  assert.match(f.untagged.join('\n'), /UID 1 FLAGS \((?=[^)]*\\Seen)(?=[^)]*\\Flagged)(?=[^)]*\$Label1)[^)]*\)/);
  c.close();
});

test('imaplib over implicit TLS (IMAP4_SSL) on the imaps port: the whole session', async () => {
  const out = await runPy('ssl', srv.imapsPort, 'u2@example.test');
  checkSession(out, 'u2@example.test');
});
