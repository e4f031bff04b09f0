#!/usr/bin/env node
/**
 * QRESYNC benchmark (RFC 7162 §3.2.5): how long a client that was offline needs to resynchronize a 10,000-message
 * mailbox after 1,000 flag changes and 100 expunges, Mailwright against a private Dovecot, same Maildir, same
 * client (bench/lib/imap-client.mjs), one server at a time.
 *
 * Per server:
 * 1. The generated Maildir (bench/lib/maildir-gen.mjs, seeded) is copied in; the server starts
 *    (bench/lib/mailwright.mjs, bench/lib/dovecot.mjs).
 * 2. "Before": LOGIN, ENABLE QRESYNC, SELECT INBOX (the first SELECT indexes the Maildir); the client keeps
 *    UIDVALIDITY and HIGHESTMODSEQ; LOGOUT.
 * 3. Changes from another connection: 1,000 × `UID STORE <uid> +FLAGS.SILENT ($Bench)` (UIDs 1, 11, 21, ...), then
 *    `UID STORE <100 UIDs> +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE` of them (UIDs 5, 15, ..., 995).
 * 4. Resync, `--rounds` times (median): a fresh connection, LOGIN, ENABLE QRESYNC, timed
 *    `SELECT INBOX (QRESYNC (uidvalidity modseq))`; the answer must carry 100 vanished UIDs and 1,000 FETCHes.
 *    For comparison, the same client without QRESYNC: timed `SELECT INBOX` + `UID FETCH 1:* (FLAGS)` (what a
 *    client must do to learn the same), and `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)` in a selected mailbox.
 * Prints a table (ratio = Mailwright / Dovecot) and writes bench/results/qresync-<date>.json.
 *
 * Usage: node bench/qresync.mjs [--messages N] [--flags N] [--expunges N] [--rounds R] [--only mailwright|dovecot]
 *                               [--no-build] [--keep]
 * Needs root and Debian's dovecot-imapd for the Dovecot half (--only mailwright without). Every process it starts
 * is stopped at the end, also on errors.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ImapClient } from './lib/imap-client.mjs';
import { generateMaildir } from './lib/maildir-gen.mjs';
import { startMailwright, ROOT } from './lib/mailwright.mjs';
import { startDovecot, dovecotAvailable } from './lib/dovecot.mjs';
import { median } from './lib/proc.mjs';

const USER = 'bench@example.test';
const PASS = 'bench-secret-1';

function parseArgs(argv) {
  const o = { messages: 10000, flags: 1000, expunges: 100, rounds: 5, only: null, build: true, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--messages') o.messages = Number(val());
    else if (a === '--flags') o.flags = Number(val());
    else if (a === '--expunges') o.expunges = Number(val());
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--only') o.only = val();
    else if (a === '--no-build') o.build = false;
    else if (a === '--keep') o.keep = true;
    else {
      console.error('usage: node bench/qresync.mjs [--messages N] [--flags N] [--expunges N] [--rounds R] [--only mailwright|dovecot] [--no-build] [--keep]');
      process.exit(2);
    }
  }
  if (o.flags * 10 > o.messages || o.expunges * 10 > o.messages) throw new Error('--flags and --expunges must be at most messages/10');
  return o;
}

const log = (m) => console.error(`qresync-bench: ${m}`);

async function connect(port) {
  const c = await ImapClient.connect({ port });
  await c.login(USER, PASS);
  return c;
}

async function runSuite(name, port, o) {
  const r = { name };
  // 2. The client's state before it goes offline.
  const a = await connect(port);
  await a.command('ENABLE QRESYNC');
  const t0 = Date.now();
  const sel = await a.command('SELECT INBOX', { keep: true });
  r.firstSelectMs = Date.now() - t0;
  const text = sel.untagged.join('\n');
  const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(text)[1]);
  const modseq = /HIGHESTMODSEQ (\d+)/.exec(text)[1];
  r.exists = Number(/\* (\d+) EXISTS/.exec(text)[1]);
  await a.logout();

  // 3. Changes by another client.
  const b = await connect(port);
  await b.command('SELECT INBOX');
  const t1 = Date.now();
  for (let i = 0; i < o.flags; i++) await b.command(`UID STORE ${i * 10 + 1} +FLAGS.SILENT ($Bench)`);
  const gone = Array.from({ length: o.expunges }, (_, i) => i * 10 + 5).join(',');
  await b.command(`UID STORE ${gone} +FLAGS.SILENT (\\Deleted)`);
  await b.command(`UID EXPUNGE ${gone}`);
  r.changesMs = Date.now() - t1;
  await b.logout();

  // 4. Resync rounds.
  const qr = [];
  const plain = [];
  const changed = [];
  for (let round = 0; round < o.rounds; round++) {
    const c = await connect(port);
    await c.command('ENABLE QRESYNC');
    const res = await c.command(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq}))`, { keep: true });
    const vanished = res.untagged.filter((l) => l.startsWith('* VANISHED'));
    const fetches = res.untagged.filter((l) => / FETCH /.test(l)).length;
    const vanishedCount = vanished.flatMap((l) => l.replace(/^\* VANISHED \(EARLIER\) /, '').trim().split(',')).reduce((n, part) => {
      const [x, y] = part.split(':').map(Number);
      return n + (y ? Math.abs(y - x) + 1 : 1);
    }, 0);
    if (vanishedCount !== o.expunges || fetches !== o.flags) throw new Error(`${name}: QRESYNC answer had ${vanishedCount} vanished UIDs and ${fetches} FETCHes`);
    qr.push(res.ms);
    const ch = await c.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`);
    changed.push(ch.ms);
    await c.logout();
    const p = await connect(port);
    const s = await p.command('SELECT INBOX');
    const f = await p.command('UID FETCH 1:* (FLAGS)');
    if (f.count !== o.messages - o.expunges) throw new Error(`${name}: full flag fetch gave ${f.count}`);
    plain.push(s.ms + f.ms);
    await p.logout();
  }
  r.qresyncSelectMs = median(qr);
  r.changedSinceVanishedMs = median(changed);
  r.selectPlusFullFlagsMs = median(plain);
  r.samples = { qr, changed, plain };
  return r;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.build) {
    log('npm run build');
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('build failed');
  }
  const base = mkdtempSync(join(os.tmpdir(), 'mw-qresync-bench-'));
  chmodSync(base, 0o755); // Dovecot's auth process (user dovecot) must reach its passwd file below
  const stops = [];
  const results = {};
  try {
    const src = join(base, 'Maildir');
    log(`generating ${o.messages} messages`);
    generateMaildir(src, { count: o.messages, seed: 42 });
    const kinds = o.only ? [o.only] : ['mailwright', 'dovecot'];
    for (const kind of kinds) {
      let srv;
      if (kind === 'mailwright') srv = await startMailwright({ dir: join(base, 'mw'), users: [{ user: USER, pass: PASS, maildir: src }] });
      else {
        if (!dovecotAvailable()) throw new Error('dovecot not installed (Debian dovecot-imapd) or not root');
        srv = await startDovecot({ dir: join(base, 'dc'), users: [{ user: USER, pass: PASS, maildir: src }] });
      }
      stops.push(srv.stop);
      log(`${kind} ${srv.version} on 127.0.0.1:${srv.port}`);
      results[kind] = { version: srv.version, ...(await runSuite(kind, srv.port, o)) };
      await srv.stop();
      spawnSync('sync');
    }
  } finally {
    for (const s of stops) await s().catch(() => {});
    if (!o.keep) rmSync(base, { recursive: true, force: true });
    else log(`kept ${base}`);
  }
  const rows = [
    ['first SELECT (indexing) ms', 'firstSelectMs'],
    [`${o.flags} STOREs + ${o.expunges} expunges ms`, 'changesMs'],
    ['SELECT (QRESYNC) resync ms', 'qresyncSelectMs'],
    ['UID FETCH (CHANGEDSINCE VANISHED) ms', 'changedSinceVanishedMs'],
    ['SELECT + UID FETCH 1:* (FLAGS) ms', 'selectPlusFullFlagsMs'],
  ];
  const mw = results.mailwright;
  const dc = results.dovecot;
  console.log(`\nQRESYNC resync: ${o.messages} messages, ${o.flags} flag changes, ${o.expunges} expunges, median of ${o.rounds}`);
  console.log('| step | Mailwright | Dovecot | ratio |');
  console.log('|---|---:|---:|---:|');
  for (const [label, key] of rows) {
    const a = mw?.[key];
    const b = dc?.[key];
    const f = (x) => (x == null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
    console.log(`| ${label} | ${f(a)} | ${f(b)} | ${a != null && b ? (a / b).toFixed(2) : '-'} |`);
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `qresync-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ options: o, results, machine: { cpus: os.cpus().length, node: process.version } }, null, 2));
  log(`wrote ${file}`);
}

main().catch((err) => {
  console.error(`qresync-bench: ${err.stack ?? err.message}`);
  process.exit(1);
});
