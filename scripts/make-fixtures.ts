// `npm run fixtures` (also run before dev and build): tiny deterministic model repos in the hub layout under
// public/hub, so the studio's offline demo and the tests never need the internet.
//   --force        rewrite even when the existing output is up to date
//   --root <dir>   write somewhere else (default public/hub)
import { DEFAULT_ROOT, ensureFixtures, writeFixtures } from './fixtures/index.ts';

const args = process.argv.slice(2);
const rootAt = args.indexOf('--root');
const root = rootAt >= 0 ? args[rootAt + 1] : DEFAULT_ROOT;
if (root === undefined || root.startsWith('--')) {
  console.error('usage: make-fixtures [--force] [--root <dir>]');
  process.exit(2);
}

const t0 = performance.now();
const written = args.includes('--force') ? (await writeFixtures(root), true) : (await ensureFixtures(root)).written;
const ms = Math.round(performance.now() - t0);
console.log(written ? `fixtures: wrote ${root} in ${ms} ms` : `fixtures: ${root} is up to date`);
