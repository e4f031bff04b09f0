/**
 * Configuration loading and validation (src/config): every error names the key and what is wrong; defaults;
 * MAILWRIGHT_CONFIG; relative paths resolve against the config file's folder.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, validateConfig, configPathFrom, isDevDefaults } from '../../src/config/load.js';
import { UserError } from '../../src/common/errors.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-config-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, sub = ''): string {
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  const p = join(d, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}

/** loadConfig must throw a UserError (exit status 2) whose message matches every pattern. */
function rejects(text: string, ...patterns: RegExp[]): string {
  const p = file(text);
  let caught: unknown;
  try {
    loadConfig(p);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UserError, `expected a UserError for:\n${text}\ngot ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  assert.ok(caught.message.startsWith(p), `message names the file: ${caught.message}`);
  for (const re of patterns) assert.match(caught.message, re);
  return caught.message;
}

const BASE = 'hostname: mail.example.com\ndataDir: ./data\n';

describe('config validation errors name the key', () => {
  test('hostname that is not an FQDN', () => {
    rejects('hostname: localhost\ndataDir: /tmp/x\n', /^\s+hostname: must be a fully qualified domain name/m);
    rejects('hostname: mail_server.example.com\ndataDir: /tmp/x\n', /hostname: must be a fully qualified/);
    rejects('hostname: 192.168.1.1\ndataDir: /tmp/x\n', /hostname: must be a fully qualified/);
  });

  test('missing required keys', () => {
    rejects('dataDir: /tmp/x\n', /^\s+hostname: is required$/m);
    rejects('hostname: mail.example.com\n', /^\s+dataDir: is required$/m);
  });

  test('bad listen addresses', () => {
    rejects(BASE + 'listen:\n  smtp: "25"\n', /^\s+listen\.smtp: expected "address:port"/m);
    rejects(BASE + 'listen:\n  imap: "0.0.0.0:99999"\n', /^\s+listen\.imap: port must be 0\.\.65535/m);
    rejects(BASE + 'listen:\n  smtp: "0.0.0.0 :25"\n', /listen\.smtp: expected "address:port"/);
    rejects(BASE + 'listen:\n  smtp: 25\n', /listen\.smtp: /);
  });

  test('unknown keys, at the top level and nested', () => {
    rejects(BASE + 'hostnmae: typo.example.com\n', /\(top level\): unknown key\(s\): hostnmae/);
    rejects(BASE + 'smtp:\n  maxMessageSzie: 10\n', /^\s+smtp: unknown key\(s\): maxMessageSzie/m);
    rejects(BASE + 'listen:\n  smpt: "0.0.0.0:25"\n', /listen: unknown key\(s\): smpt/);
  });

  test('tls cert without key (and key without cert)', () => {
    rejects(BASE + 'tls:\n  cert: /etc/ssl/cert.pem\n', /^\s+tls: cert and key go together/m);
    rejects(BASE + 'tls:\n  key: /etc/ssl/key.pem\n', /tls: cert and key go together/);
  });

  test('bad database URL', () => {
    rejects(BASE + 'database: oracle://db.example.com/mail\n', /^\s+database: expected sqlite:PATH, mysql:\/\/\.\.\. or postgres:\/\/\.\.\./m);
    rejects(BASE + 'database: /var/lib/mailwright.db\n', /database: expected sqlite:PATH/);
  });

  test('wrong types and ranges name the key', () => {
    rejects(BASE + 'smtp:\n  maxMessageSize: "big"\n', /smtp\.maxMessageSize: /);
    rejects(BASE + 'smtp:\n  idleTimeoutSeconds: 1\n', /smtp\.idleTimeoutSeconds: /);
    rejects(BASE + 'dns:\n  servers: "127.0.0.1"\n', /dns\.servers: /);
    rejects(BASE + 'log:\n  level: loud\n', /log\.level: /);
  });

  test('several errors are all listed', () => {
    const m = rejects('hostname: nope\ndataDir: ./d\nlisten:\n  smtp: bad\ndatabase: x\n', /hostname: /, /listen\.smtp: /, /database: /);
    assert.match(m, /invalid configuration/);
  });

  test('a document that is not a mapping', () => {
    rejects('- hostname: mail.example.com\n- dataDir: /tmp\n', /the configuration must be a mapping/);
    rejects('just a string\n', /the configuration must be a mapping/);
    rejects('', /the configuration must be a mapping/);
  });

  test('invalid YAML', () => {
    rejects('hostname: mail.example.com\n  dataDir: [unclosed\n', /not valid YAML/);
    rejects('hostname: "unterminated\n', /not valid YAML/);
  });

  test('a missing file', () => {
    assert.throws(() => loadConfig(join(dir, 'does-not-exist.yaml')), (e: unknown) => e instanceof UserError && /cannot read config file .*does-not-exist\.yaml/.test(e.message));
  });
});

describe('config values', () => {
  test('defaults for everything optional', () => {
    const c = loadConfig(file('hostname: Mail.Example.com\ndataDir: /srv/mail\n'));
    assert.equal(c.dataDir, '/srv/mail');
    assert.equal(c.database, 'sqlite:/srv/mail/mailwright.db');
    assert.deepEqual(c.listen, {});
    assert.deepEqual(c.tls, { cert: undefined, key: undefined, certificates: [], watch: true });
    assert.equal(c.dns.timeoutMs, 5000);
    assert.equal(c.dns.servers, undefined);
    assert.deepEqual(c.smtp, {
      maxMessageSize: 50 * 1024 * 1024,
      maxRecipients: 100,
      maxConnections: 1000,
      maxConnectionsPerIp: 20,
      idleTimeoutSeconds: 300,
      recipientDelimiter: '+',
      reverseLookup: true,
      allowInsecureAuthOnLoopback: true,
      dnsbl: [],
      quotaExceeded: 'defer',
      dnsblCheckLoopback: false,
      greylisting: { enabled: false, delaySeconds: 300, expireDays: 35, checkLoopback: false },
    });
    assert.equal(c.log.level, 'info');
    assert.equal(isDevDefaults(c), false);
  });

  test('no config at all: development defaults on loopback high ports, data under ./data', () => {
    const c = loadConfig(undefined);
    assert.ok(isDevDefaults(c));
    assert.equal(c.hostname, 'mail.example.test');
    assert.equal(c.dataDir, join(process.cwd(), 'data'));
    for (const [name, addr] of Object.entries(c.listen)) {
      assert.match(String(addr), /^127\.0\.0\.1:\d+$/, `${name} on loopback`);
      assert.ok(Number(String(addr).split(':')[1]) >= 1024, `${name} on a high port`);
    }
  });

  test('a full config as documented loads', () => {
    const c = loadConfig(
      file(
        [
          'hostname: mail.example.com',
          'dataDir: /var/lib/mailwright',
          'database: postgres://mail:pw@db.example.com/mail',
          'listen: { smtp: "0.0.0.0:25", submission: "0.0.0.0:587", submissions: "0.0.0.0:465", imap: "[::]:143", imaps: "0.0.0.0:993", pop3: false, pop3s: null, http: "127.0.0.1:8080" }',
          'dns: { servers: ["127.0.0.1:53", "9.9.9.9"], timeoutMs: 2000 }',
          'tls: { cert: /etc/ssl/fullchain.pem, key: /etc/ssl/key.pem }',
          'smtp: { maxMessageSize: 1048576, maxRecipients: 50, reverseLookup: false }',
          'log: { level: debug }',
        ].join('\n'),
      ),
    );
    assert.equal(c.database, 'postgres://mail:pw@db.example.com/mail');
    assert.equal(c.listen.imap, '[::]:143');
    assert.equal(c.listen.pop3, false);
    assert.deepEqual(c.dns.servers, ['127.0.0.1:53', '9.9.9.9']);
    assert.equal(c.smtp.maxMessageSize, 1048576);
    assert.equal(c.smtp.maxConnectionsPerIp, 20);
  });

  test('relative paths resolve against the config file\'s folder, not the working directory', () => {
    const p = file('hostname: mail.example.com\ndataDir: ./data\ndatabase: sqlite:db/accounts.db\ntls:\n  cert: certs/fullchain.pem\n  key: ../keys/key.pem\n', 'sub/etc');
    const c = loadConfig(p);
    const folder = join(dir, 'sub', 'etc');
    assert.equal(c.dataDir, join(folder, 'data'));
    assert.equal(c.database, `sqlite:${join(folder, 'db', 'accounts.db')}`);
    assert.equal(c.tls.cert, join(folder, 'certs', 'fullchain.pem'));
    assert.equal(c.tls.key, join(dir, 'sub', 'keys', 'key.pem'));
    // The default database follows dataDir.
    const c2 = loadConfig(file('hostname: mail.example.com\ndataDir: d\n', 'other'));
    assert.equal(c2.database, `sqlite:${join(dir, 'other', 'd', 'mailwright.db')}`);
    // sqlite::memory: stays as is.
    assert.equal(loadConfig(file(BASE + 'database: "sqlite::memory:"\n')).database, 'sqlite::memory:');
  });

  test('MAILWRIGHT_CONFIG names the file when --config is not given; --config wins', () => {
    assert.equal(configPathFrom(undefined, { MAILWRIGHT_CONFIG: '/etc/mw.yaml' }), '/etc/mw.yaml');
    assert.equal(configPathFrom('/cli.yaml', { MAILWRIGHT_CONFIG: '/etc/mw.yaml' }), '/cli.yaml');
    assert.equal(configPathFrom(undefined, {}), undefined);
    assert.equal(configPathFrom(undefined, { MAILWRIGHT_CONFIG: '' }), undefined);
    const p = file('hostname: env.example.com\ndataDir: ./d\n');
    const c = loadConfig(configPathFrom(undefined, { MAILWRIGHT_CONFIG: p }));
    assert.equal(c.hostname, 'env.example.com');
    assert.equal(c.source, p);
  });

  test('validateConfig on an object (as tests and init use it)', () => {
    const c = validateConfig({ hostname: 'mail.example.com', dataDir: 'rel' }, 'inline', '/base');
    assert.equal(c.dataDir, '/base/rel');
    assert.throws(() => validateConfig([], 'inline'), /inline: the configuration must be a mapping/);
    assert.throws(() => validateConfig(null, 'inline'), /inline: the configuration must be a mapping/);
  });
});
