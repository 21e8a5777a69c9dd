#!/usr/bin/env node
// The installed `alknet` command: TypeScript sources run through tsx's loader.
import { register } from 'tsx/esm/api';

// `alknet blob get HASH | head`: a reader that stops early ends the command quietly, as SIGPIPE ends
// any Unix tool (exit 128 + 13), instead of an unhandled EPIPE with a stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(141);
  process.stderr.write(`alknet: cannot write to stdout: ${err.code ?? err.message}\n`);
  process.exit(1);
});

register();
const { main } = await import('./main.ts');
const code = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// Long-running commands (node, connect) resolve only when they are done.
process.exitCode = code;
