#!/usr/bin/env node
// Entry point of the `mailwright` command: runs the compiled CLI (npm run build).
import { main } from '../dist/cli/index.js';

main(process.argv).catch((err) => {
  process.stderr.write(`mailwright: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
