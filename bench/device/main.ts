// The device check's command line: node device-check.mjs [--quick] [--out DIR] [--budget SECONDS]
// (bundled by bench/device/pack.mjs for the lent machine; here `npx tsx` cannot load WGSL through import.meta.glob,
// so run the bundle where `webgpu` resolves: node bench/device/pack.mjs --bundle-only --kit node_modules/.cache/dc &&
// node node_modules/.cache/dc/device-check.mjs --quick --out /tmp/dc).
import { parseArgs } from 'node:util';
import { runDeviceCheck } from './check.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string' }, budget: { type: 'string' } } });
const budgetSec = values.budget === undefined ? undefined : Number(values.budget);
if (budgetSec !== undefined && !(budgetSec > 0)) throw new Error(`--budget must be a positive number of seconds, got "${values.budget}"`);
const out = values.out ?? process.env.OUT ?? 'device-check-out';
const r = await runDeviceCheck({ out, quick: values.quick ?? false, ...(budgetSec ? { budgetSec } : {}) });
console.log(`${r.note}\n${r.rows.map((row) => Object.values(row).join(' | ')).join('\n')}\nwritten to ${out}/device.json and device.md`);
// Dawn keeps the process alive after its devices are destroyed
process.exit(r.kernelBench?.results.every((x) => x.check.ok) === false ? 1 : 0);
