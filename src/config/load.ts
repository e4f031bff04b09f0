/**
 * Loads and validates the configuration. Order: --config FILE, then $MAILWRIGHT_CONFIG, then the embedded
 * development defaults (data under ./data, listeners on 127.0.0.1 high ports), which need no file at all.
 * Errors name the key and what is wrong, e.g. `listen.smtp: expected "address:port"`.
 */
import { readFileSync } from 'node:fs';
import { resolve, dirname, isAbsolute } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { UserError } from '../common/errors.js';

/** Development defaults: what `npm start` runs with when no config is given. High ports, loopback only. */
export const DEV_DEFAULTS = {
  hostname: 'mail.example.test',
  dataDir: './data',
  listen: {
    smtp: '127.0.0.1:2525',
    submission: '127.0.0.1:2587',
    submissions: '127.0.0.1:2465',
    imap: '127.0.0.1:2143',
    imaps: '127.0.0.1:2993',
    pop3: '127.0.0.1:2110',
    pop3s: '127.0.0.1:2995',
    http: '127.0.0.1:8080',
    https: '127.0.0.1:8443',
  },
};

/** The first domain created on a fresh development server. */
export const DEV_FIRST_DOMAIN = 'example.test';

export function configPathFrom(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return explicit || env.MAILWRIGHT_CONFIG || undefined;
}

/** Validate a parsed object; `source` names the file in messages. Relative paths resolve against the file's folder. */
export function validateConfig(raw: unknown, source: string, baseDir = process.cwd()): Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`${source}: the configuration must be a mapping of keys (hostname, dataDir, listen, ...)`, 2);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.length ? i.path.join('.') : '(top level)';
      let msg = i.message;
      if (i.code === 'unrecognized_keys') msg = `unknown key(s): ${(i as { keys: string[] }).keys.join(', ')}`;
      if (i.code === 'invalid_type' && /received undefined/.test(i.message)) msg = 'is required';
      return `  ${key}: ${msg}`;
    });
    throw new UserError(`${source}: invalid configuration\n${lines.join('\n')}`, 2);
  }
  const c = result.data;
  const dataDir = isAbsolute(c.dataDir) ? c.dataDir : resolve(baseDir, c.dataDir);
  const abs = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(baseDir, p));
  let database = c.database ?? `sqlite:${resolve(dataDir, 'mailwright.db')}`;
  if (database.startsWith('sqlite:')) {
    const p = database.slice('sqlite:'.length);
    database = `sqlite:${p === ':memory:' ? p : abs(p)}`;
  }
  return {
    ...c,
    dataDir,
    database,
    tls: { ...c.tls, cert: abs(c.tls.cert), key: abs(c.tls.key), certificates: c.tls.certificates.map((x) => ({ ...x, cert: abs(x.cert)!, key: abs(x.key)! })) },
    acme: c.acme && { ...c.acme, caCert: abs(c.acme.caCert) },
    source,
  };
}

export function loadConfig(path?: string): Config {
  if (!path) {
    return validateConfig(structuredClone(DEV_DEFAULTS), 'defaults');
  }
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read config file ${file}: ${(err as Error).message}`, 2);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const e = err as YAMLParseError;
    throw new UserError(`${file}: not valid YAML: ${e.message}`, 2);
  }
  return validateConfig(raw, file, dirname(file));
}

/** True when the server runs on the embedded development defaults. */
export function isDevDefaults(config: Config): boolean {
  return config.source === 'defaults';
}
