#!/usr/bin/env node
// Runs src/cli/main.ts through Vite's module runner, so the CLI uses exactly the modules the studio bundles
// (WGSL loaded with import.meta.glob, TypeScript as written) without a separate build step.
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { runnerImport } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { module } = await runnerImport(resolve(root, 'src/cli/main.ts'), {
  root,
  configFile: false,
  logLevel: 'error',
});
const code = await module.main(process.argv.slice(2));
process.exitCode = code;
