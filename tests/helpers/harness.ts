// The browser harness (tests/browser/harness, built into dist-harness/ by vite.harness.config.ts): a page that
// exposes src/io modules (and the worker's adapter import) to Playwright so they run on the browser's real IndexedDB.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';

export const HARNESS_DIR = 'dist-harness';

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds the harness unless dist-harness is newer than everything it is built from. */
export async function ensureHarness(): Promise<void> {
  const out = join(HARNESS_DIR, 'index.html');
  // src/worker and what it imports: the harness also runs the worker's adapter import on real IndexedDB
  const dirs = ['src/io', 'src/worker', 'src/engine', 'shaders', 'tests/browser/harness'];
  const inputs = Math.max(...dirs.map(newestMtime), statSync('vite.harness.config.ts').mtimeMs);
  if (existsSync(out) && statSync(out).mtimeMs > inputs) return;
  await build({ configFile: 'vite.harness.config.ts' });
}
