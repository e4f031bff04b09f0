#!/usr/bin/env node
/**
 * Import benchmark: `mailwright import maildir` of a generated Dovecot Maildir (default 100,000 messages; uidlist
 * with gaps, keywords) into a fresh store. Reports messages/s and the import process's peak RSS (getrusage
 * maxRSS of the child, read by /usr/bin/time -f %M), into SQLite by default or --database URL (an empty
 * mysql:// or postgres:// database you created). Checks the count, and that a second run imports nothing.
 *
 * Usage: node bench/import.mjs [--messages N] [--database URL] [--batch N] [--link] [--keep]
 * Needs `npm run build` (runs the built CLI as a child process).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDovecotTree } from './lib/dovecot-tree.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('--messages', '100000'));
const DBURL = opt('--database', '');
const DB = DBURL ? DBURL.split(':')[0] : 'sqlite';
const BATCH = opt('--batch', '500');
const LINK = args.includes('--link');
const KEEP = args.includes('--keep');

if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) {
  console.error('run `npm run build` first');
  process.exit(2);
}

const base = mkdtempSync(join(tmpdir(), 'mw-bench-import-'));
const src = join(base, 'src');
try {
  let t = Date.now();
  const tree = makeDovecotTree(src, { count: N });
  console.log(`generated ${tree.count} messages in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  let database = `sqlite:${join(base, 'data', 'mailwright.db')}`;
  if (DBURL) database = DBURL;
  writeFileSync(join(base, 'mailwright.yaml'), `hostname: mail.example.test\ndataDir: ./data\ndatabase: "${database}"\n`);
  const cli = (a, o = {}) => {
    const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS_KB %M', process.execPath, join(ROOT, 'bin', 'mailwright.js'), '--config', join(base, 'mailwright.yaml'), ...a], { encoding: 'utf8', maxBuffer: 1 << 26, ...o });
    if (r.status !== 0) throw new Error(`${a.join(' ')}: ${r.stderr}${r.stdout}`);
    return { out: r.stdout, maxRssKiB: Number(/MAXRSS_KB (\d+)/.exec(r.stderr)?.[1] ?? 0) };
  };
  cli(['domain', 'add', 'example.com']);
  cli(['user', 'add', 'bench@example.com', '--password', 'bench-pw']);
  t = Date.now();
  const r = cli(['import', 'maildir', '--user', 'bench@example.com', '--from', src, '--batch', BATCH, ...(LINK ? ['--link'] : [])]);
  const secs = (Date.now() - t) / 1000;
  console.log(r.out.trim());
  const m = /total: (\d+) imported/.exec(r.out);
  if (!m || Number(m[1]) !== tree.count) throw new Error(`expected ${tree.count} imported`);
  t = Date.now();
  const again = cli(['import', 'maildir', '--user', 'bench@example.com', '--from', src]);
  const resumeSecs = (Date.now() - t) / 1000;
  if (!/total: 0 imported/.test(again.out)) throw new Error('second run imported again');
  const result = {
    date: new Date().toISOString().slice(0, 10),
    cpus: cpus().length,
    db: DB,
    messages: tree.count,
    batch: Number(BATCH),
    link: LINK,
    seconds: Number(secs.toFixed(1)),
    messagesPerSecond: Math.round(tree.count / secs),
    peakRssMiB: Number((r.maxRssKiB / 1024).toFixed(1)),
    rerunSeconds: Number(resumeSecs.toFixed(1)),
    rerunPeakRssMiB: Number((again.maxRssKiB / 1024).toFixed(1)),
  };
  console.log(JSON.stringify(result));
  console.log(
    `import maildir: ${tree.count} messages in ${result.seconds} s = ${result.messagesPerSecond} msg/s, peak RSS ${result.peakRssMiB} MiB (${DB}); ` +
      `re-run (all skipped) ${result.rerunSeconds} s, peak RSS ${result.rerunPeakRssMiB} MiB`,
  );
} finally {
  if (!KEEP) rmSync(base, { recursive: true, force: true });
  else console.log(`kept ${base}`);
}
