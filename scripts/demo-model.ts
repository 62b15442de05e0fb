// `npm run demo-model`: rebuilds public/demo/stories260K (committed) from ../shared/data/models/stories260K.
//   --data <dir>   where stories260K.bin and tok512.model are (default ../shared/data/models/stories260K)
//   --out <dir>    default public/demo/stories260K
// Then `npm run fixtures` publishes it into the hub layout for the studio.
import { DEFAULT_DATA, DEMO_DIR, rebuildDemoModel } from './demo/stories260k.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const v = args[at + 1];
  if (v === undefined || v.startsWith('--')) {
    console.error('usage: demo-model [--data <dir>] [--out <dir>]');
    process.exit(2);
  }
  return v;
};
const data = opt('--data', DEFAULT_DATA);
const out = opt('--out', DEMO_DIR);
const files = await rebuildDemoModel(data, out);
console.log(`demo-model: wrote ${out} (${files.join(', ')}) from ${data}`);
