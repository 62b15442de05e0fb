// Builds the IndexedDB cache test harness (tests/browser/harness) into dist-harness/, a static page that exposes
// the cache/ingest API on window for tests/io/cache/*.browser.test.ts. Not part of the studio build.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('./tests/browser/harness', import.meta.url)),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist-harness', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
});
