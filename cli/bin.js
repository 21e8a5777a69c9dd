#!/usr/bin/env node
// The installed `alknet` command: TypeScript sources run through tsx's loader.
import { register } from 'tsx/esm/api';

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
