#!/usr/bin/env node
// Finds test files (test/**/*.test.ts) and runs them with node's test runner through tsx.
// Node 20's --test does not expand globs itself. Pass file or folder names to run a subset.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(p, out) {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const name of readdirSync(p).sort()) collect(join(p, name), out);
  } else if (p.endsWith('.test.ts')) {
    out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length ? args : ['test'];
const files = roots.flatMap((r) => collect(resolve(r), []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
