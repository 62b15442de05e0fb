// Files what a device check brought back (device.json, device.md, gpu.txt from $OUT, which the device tool lands in
// its files_at folder) into bench/results/device.{json,md} and the README's device table:
//   npx tsx bench/device/import.ts /work/.device/<files_at>
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceCheckResult } from './check.ts';

const dir = process.argv[2];
if (!dir || !existsSync(join(dir, 'device.json'))) throw new Error(`usage: npx tsx bench/device/import.ts DIR (DIR holds device.json from the device check; got ${dir ?? 'nothing'})`);
const r = JSON.parse(readFileSync(join(dir, 'device.json'), 'utf8')) as DeviceCheckResult;
if (r.plan.quick) throw new Error(`${dir}/device.json is from the quick plan (tiny shapes): only a full run is filed`);
const gpu = existsSync(join(dir, 'gpu.txt')) ? readFileSync(join(dir, 'gpu.txt'), 'utf8').trim() : '';
copyFileSync(join(dir, 'device.json'), 'bench/results/device.json');
const md = readFileSync(join(dir, 'device.md'), 'utf8');
writeFileSync('bench/results/device.md', gpu ? `${md}\nnvidia-smi:\n\n\`\`\`\n${gpu}\n\`\`\`\n` : md);
// the README shows the summary table; the kernel bench's full report stays in bench/results/device.md
const summary = md.split('\n## Kernel bench')[0]!.trimEnd();
const [start, end] = ['<!-- bench:device:start -->', '<!-- bench:device:end -->'];
const readme = readFileSync('README.md', 'utf8');
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} section`);
writeFileSync('README.md', `${readme.slice(0, i + start.length)}\n${summary}\n\nEvery kernel case: bench/results/device.md.\n${readme.slice(j)}`);
console.log(`filed ${r.adapter} (${r.date.slice(0, 10)}): bench/results/device.{json,md}, README`);
