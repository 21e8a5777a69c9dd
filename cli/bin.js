#!/usr/bin/env node
// The installed `alknet` command. It runs the compiled JavaScript in dist/ (cli/build.js: `npm ci`
// builds it, and any source newer than its output is transpiled again here first, so an edited .ts
// file is never run stale); where dist/ cannot be built it runs the sources through tsx.
import { importBuilt } from './build.js';

// `alknet blob get HASH | head`: a reader that stops early ends the command quietly, as SIGPIPE ends
// any Unix tool (exit 128 + 13), instead of an unhandled EPIPE with a stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(141);
  process.stderr.write(`alknet: cannot write to stdout: ${err.code ?? err.message}\n`);
  process.exit(1);
});

const { main } = await importBuilt('cli/main');
const code = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// Long-running commands (node, connect) resolve only when they are done.
process.exitCode = code;
