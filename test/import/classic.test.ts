/**
 * `mailwright import classic` against a real MariaDB loaded with the seed tutorial's schema (virtual_domains,
 * virtual_users, virtual_aliases) and `$6$` hashes from `openssl passwd -6` (bare, as MySQL tutorials store them,
 * one from MariaDB's own ENCRYPT() and one with the {SHA512-CRYPT} prefix), plus Postfix text maps, /etc/aliases and a
 * Dovecot passwd-file. The target database is PostgreSQL (a scratch database). Then the server runs on it and
 * IMAP LOGIN and SMTP AUTH (Python's imaplib and smtplib, and raw commands) succeed with the old passwords; the first login rehashes to Argon2id. Dry-run writes
 * nothing; a second run adds nothing. Table and column names are options: a PostfixAdmin-style schema (domain,
 * mailbox, alias with other column names) in the same MariaDB is imported with them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { runCli, type CliIo } from '../../src/cli/index.js';
import { openMysql } from '../../src/store/sql/dialects.js';
import { openDatabase } from '../../src/store/sql/db.js';
import { SqlAccountStore } from '../../src/store/sql/accounts.js';
import { AccountService } from '../../src/accounts/service.js';
import { createScratch, type Scratch } from '../backends/scratch.js';
import { startTestServer, tempDir, writeConfig } from '../helpers/server.js';
import { ImapClient, quote } from '../helpers/imap-client.js';
import { WireClient } from '../helpers/smtp-client.js';

const sha512crypt = (pw: string) => execFileSync('openssl', ['passwd', '-6', pw], { encoding: 'utf8' }).trim();

let src: Scratch;
let dst: Scratch;
let dir: string;
let config: string;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n'), stdin: () => '' };
  const code = await runCli(['node', 'mailwright', '--config', config, ...args], io);
  return { code, out, err };
}

before(async () => {
  dir = tempDir('mw-classic-');
  src = await createScratch('mysql', `mailserver_${Date.now().toString(36)}`);
  dst = await createScratch('postgres');
  config = writeConfig(dir, `database: "${dst.url}"`);
  const m = await openMysql(src.url, { poolSize: 1 });
  try {
    // The tutorial's schema, verbatim in spirit (latin1/utf8 tables, int ids, varchar(128) passwords).
    await sql`CREATE TABLE virtual_domains (id int(11) NOT NULL auto_increment, name varchar(50) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8`.execute(m.db);
    await sql`CREATE TABLE virtual_users (id int(11) NOT NULL auto_increment, domain_id int(11) NOT NULL, password varchar(128) NOT NULL, email varchar(100) NOT NULL, PRIMARY KEY (id), UNIQUE KEY email (email), FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8`.execute(m.db);
    await sql`CREATE TABLE virtual_aliases (id int(11) NOT NULL auto_increment, domain_id int(11) NOT NULL, source varchar(100) NOT NULL, destination varchar(100) NOT NULL, PRIMARY KEY (id), FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8`.execute(m.db);
    await sql`INSERT INTO virtual_domains (id, name) VALUES (1, 'example.com'), (2, 'hostname.example.com')`.execute(m.db);
    await sql`INSERT INTO virtual_users (domain_id, password, email) VALUES (1, ${sha512crypt('alice-old-pw')}, 'alice@example.com'), (1, ${'{SHA512-CRYPT}' + sha512crypt('bob-old-pw')}, 'Bob@example.com')`.execute(m.db);
    // As the tutorial does it: ENCRYPT('password', CONCAT('$6$', SUBSTRING(SHA(RAND()), -16))).
    await sql`INSERT INTO virtual_users (domain_id, password, email) VALUES (2, ENCRYPT('carol-old-pw', CONCAT('$6$', SUBSTRING(SHA(RAND()), -16))), 'carol@hostname.example.com')`.execute(m.db);
    await sql`INSERT INTO virtual_aliases (domain_id, source, destination) VALUES (1, 'postmaster@example.com', 'alice@example.com'), (1, 'alice@example.com', 'alice@example.com'), (1, 'sales@example.com', 'alice@example.com, bob@example.com')`.execute(m.db);
    const carol = (await sql<{ password: string | null }>`select password from virtual_users where email = 'carol@hostname.example.com'`.execute(m.db)).rows[0]!;
    assert.match(String(carol.password), /^\$6\$/, 'MariaDB ENCRYPT() made a SHA-512 crypt hash');
  } finally {
    await m.close();
  }
  const pf = join(dir, 'postfix');
  mkdirSync(pf);
  writeFileSync(join(pf, 'virtual_mailbox_domains'), '# hosted\nexample.net OK\n');
  writeFileSync(join(pf, 'virtual_mailbox_maps'), 'dave@example.net example.net/dave/\nerin@example.net example.net/erin/\n');
  writeFileSync(join(pf, 'virtual_alias_maps'), 'info@example.net dave@example.net,\n  alice@example.com\n@example.net dave@example.net\n');
  writeFileSync(join(dir, 'aliases'), 'root: dave\nabuse: dave, /dev/null\n');
  writeFileSync(join(dir, 'users.passwd'), `dave:{SHA512-CRYPT}${sha512crypt('dave-old-pw')}:5000:5000::/var/mail/vhosts/example.net/dave::\n`);
});

after(async () => {
  ImapClient.closeAll();
  WireClient.closeAll();
  await src?.drop();
  await dst?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const args = () => [
  'import', 'classic',
  '--mysql', src.url,
  '--postfix-dir', join(dir, 'postfix'),
  '--aliases', join(dir, 'aliases'), '--aliases-domain', 'example.net',
  '--passwd-file', join(dir, 'users.passwd'), '--passwd-domain', 'example.net',
];

test('dry run reports and writes nothing', async () => {
  const r = await cli([...args(), '--dry-run']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /domains: 3 would add/);
  assert.match(r.out, /users: 4 would add/);
  assert.match(r.out, /no password known for erin@example.net/);
  const o = await openDatabase(dst.url);
  try {
    assert.equal((await new SqlAccountStore(o.db).listDomains()).length, 0);
  } finally {
    await o.close();
  }
});

test('import, then a second run adds nothing', async () => {
  const r = await cli(args());
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /domains: 3 added/);
  assert.match(r.out, /users: 4 added/);
  assert.match(r.out, /aliases: 8 added/, r.out);
  assert.match(r.out, /SHA512-CRYPT 4/);
  const again = await cli(args());
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /domains: 0 added, 3 already there/);
  assert.match(again.out, /users: 0 added, 4 already there/);
  assert.match(again.out, /aliases: 0 added, 8 already there/);
  const o = await openDatabase(dst.url);
  try {
    const s = new SqlAccountStore(o.db);
    assert.match((await s.getUser('alice@example.com'))!.passwordHash, /^\$6\$/, 'bare hash kept as it is');
    assert.match((await s.getUser('bob@example.com'))!.passwordHash, /^\{SHA512-CRYPT\}\$6\$/);
    assert.deepEqual((await s.aliasDestinations('sales@example.com')).sort(), ['alice@example.com', 'bob@example.com']);
    assert.deepEqual(await s.aliasDestinations('root@example.net'), ['dave@example.net']);
    assert.deepEqual(await s.aliasDestinations('@example.net'), ['dave@example.net']);
    assert.deepEqual(await s.aliasDestinations('alice@example.com'), [], 'self-alias of a user not imported');
  } finally {
    await o.close();
  }
});

test('the server (on PostgreSQL) accepts IMAP LOGIN and SMTP AUTH with the old passwords; rehash to Argon2id', async () => {
  const ts = await startTestServer({ dataDir: join(dir, 'data'), database: dst.url, listen: { imap: '127.0.0.1:0', submission: '127.0.0.1:0' } });
  try {
    const imapPort = ts.server.addresses.imap!.port;
    const subPort = ts.server.addresses.submission!.port;
    const users: Array<[string, string]> = [
      ['alice@example.com', 'alice-old-pw'],
      ['bob@example.com', 'bob-old-pw'],
      ['carol@hostname.example.com', 'carol-old-pw'],
      ['dave@example.net', 'dave-old-pw'],
    ];
    // Real clients first, each user's first login (on the old hash): Python's imaplib for alice (bare $6$ from
    // `openssl passwd -6`), smtplib for carol (MariaDB's ENCRYPT()).
    // (asynchronously: the server runs in this process)
    const py = await promisify(execFile)(
      '/usr/bin/python3',
      [
        '-c',
        [
          'import imaplib, smtplib, sys',
          'a = sys.argv[1:]',
          "i = imaplib.IMAP4('127.0.0.1', int(a[0])); print(i.login(a[2], a[3])[0]); print(i.select('INBOX')[0]); i.logout()",
          "s = smtplib.SMTP('127.0.0.1', int(a[1])); s.ehlo('client.example.org'); print(s.login(a[4], a[5])[0]); s.quit()",
        ].join('\n'),
        String(imapPort), String(subPort), 'alice@example.com', 'alice-old-pw', 'carol@hostname.example.com', 'carol-old-pw',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.deepEqual(py.stdout.trim().split('\n'), ['OK', 'OK', '235']);
    for (const [u, p] of users) {
      const c = await ImapClient.connect(imapPort);
      const bad = await c.cmd(`LOGIN ${quote(u)} ${quote(p + 'x')}`);
      assert.match(bad.tagged, /NO/);
      c.close();
      const c2 = await ImapClient.connect(imapPort);
      await c2.login(u, p);
      const sel = await c2.select('INBOX');
      assert.match(sel.tagged, /OK/);
      c2.close();
      const s = await WireClient.connect(subPort);
      assert.equal((await s.read()).code, 220);
      assert.equal((await s.cmd('EHLO client.example.org')).code, 250);
      const auth = await s.cmd(`AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`);
      assert.equal(auth.code, 235, auth.raw);
      s.close();
      assert.match((await ts.accounts.store.getUser(u))!.passwordHash, /^\{ARGON2ID\}/, `${u} rehashed after login`);
    }
  } finally {
    await ts.stop();
  }
});

test('table and column names are configurable: a PostfixAdmin-style schema (domain, mailbox, alias)', async () => {
  const m = await openMysql(src.url, { poolSize: 1 });
  try {
    await sql`CREATE TABLE domain (domain varchar(255) NOT NULL, description varchar(255) NOT NULL DEFAULT '', PRIMARY KEY (domain)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`.execute(m.db);
    await sql`CREATE TABLE mailbox (username varchar(255) NOT NULL, pw varchar(255) NOT NULL, maildir varchar(255) NOT NULL DEFAULT '', dom varchar(255) NOT NULL, PRIMARY KEY (username)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`.execute(m.db);
    await sql`CREATE TABLE alias (address varchar(255) NOT NULL, goto text NOT NULL, dom varchar(255) NOT NULL, PRIMARY KEY (address)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`.execute(m.db);
    await sql`INSERT INTO domain (domain) VALUES ('example.org')`.execute(m.db);
    const md5 = execFileSync('openssl', ['passwd', '-1', 'gina-old-pw'], { encoding: 'utf8' }).trim();
    await sql`INSERT INTO mailbox (username, pw, dom) VALUES ('frank@example.org', ${'{SHA512-CRYPT}' + sha512crypt('frank-old-pw')}, 'example.org'), ('gina@example.org', ${md5}, 'example.org')`.execute(m.db);
    await sql`INSERT INTO alias (address, goto, dom) VALUES ('abuse@example.org', 'frank@example.org,gina@example.org', 'example.org'), ('frank@example.org', 'frank@example.org', 'example.org')`.execute(m.db);
  } finally {
    await m.close();
  }
  const pdir = join(dir, 'pfa');
  mkdirSync(pdir);
  const pconfig = writeConfig(pdir);
  const run = async (extra: string[]) => {
    let out = '';
    let err = '';
    const io: CliIo = { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n'), stdin: () => '' };
    const code = await runCli(['node', 'mailwright', '--config', pconfig, 'import', 'classic', '--mysql', src.url, ...extra], io);
    return { code, out, err };
  };
  // With the default names the tables are not found: the error names the problem.
  const wrong = await run(['--domains-table', 'domain']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.err, /reading the classic schema .* failed: .*(virtual_users|domain_id|id)/);
  const names = [
    '--domains-table', 'domain', '--domain-id-column', 'domain', '--domain-name-column', 'domain',
    '--users-table', 'mailbox', '--user-email-column', 'username', '--user-password-column', 'pw', '--user-domain-id-column', 'dom',
    '--aliases-table', 'alias', '--alias-source-column', 'address', '--alias-destination-column', 'goto',
  ];
  const bad = await run([...names.slice(0, -2), '--alias-destination-column', 'goto; drop table alias']);
  assert.equal(bad.code, 2, bad.err); // bad usage
  assert.match(bad.err, /invalid table or column name/);
  const r = await run(names);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /domains: 1 added/, r.out);
  assert.match(r.out, /users: 2 added/, r.out);
  assert.match(r.out, /aliases: 2 added/, r.out);
  assert.match(r.out, /SHA512-CRYPT 1/, r.out);
  const o = await openDatabase(`sqlite:${join(pdir, 'data', 'mailwright.db')}`);
  try {
    const s = new SqlAccountStore(o.db);
    assert.deepEqual((await s.listUsers()).map((u) => u.address), ['frank@example.org', 'gina@example.org']);
    assert.match((await s.getUser('gina@example.org'))!.passwordHash, /^\$1\$/, 'MD5-CRYPT kept as it is');
    assert.deepEqual((await s.aliasDestinations('abuse@example.org')).sort(), ['frank@example.org', 'gina@example.org']);
    const svc = new AccountService(s);
    assert.ok(await svc.authenticate('frank@example.org', 'frank-old-pw'));
    assert.ok(await svc.authenticate('gina@example.org', 'gina-old-pw'));
    assert.equal(await svc.authenticate('gina@example.org', 'frank-old-pw'), null);
  } finally {
    await o.close();
  }
});
