#!/usr/bin/env node
// `npm start`: the development node of cli/dev-start.ts, run from dist/ like the `alknet` command
// (cli/build.js brings dist/ up to date first, or the sources run through tsx where it cannot).
import { importBuilt } from './build.js';

const { devStart } = await importBuilt('cli/dev-start');
process.exitCode = await devStart({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
