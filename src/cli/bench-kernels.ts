/**
 * `alloy bench kernels [--json] [--out FILE.json] [--models 135M,360M,1.7B] [--families software,hardware]
 *  [--rows N] [--only ID,…] [--tune]`: the kernel bench (engine/kernel-bench) on this machine's adapter, both kernel
 * families by default. Text: one table per family (time, GFLOP/s, GB/s, check), the hardware/software ratio per
 * case when both ran, and each model's step estimates; --json prints the report object instead (the studio's
 * GPU check exports the same object). --tune instead times the hardware family's tiles on this adapter and prints
 * the tuning-table entry to add (kernel-bench/tune.ts). Progress goes to stderr.
 */
import { writeFileSync } from 'node:fs';
import { AlloyError } from '../common/errors.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { parseKernelFamily, type KernelFamily } from '../engine/kernel-family.ts';
import { findBenchModel, SMOLLM2_MODELS, type BenchModel } from '../engine/kernel-bench/models.ts';
import { runKernelBench, type KernelBenchReport } from '../engine/kernel-bench/run.ts';
import { tuneHwMatmul } from '../engine/kernel-bench/tune.ts';
import { HW_TILES } from '../engine/ops/matmul-hw.ts';
import { formatKernelReport } from '../engine/kernel-bench/format.ts';
import type { Io } from './main.ts';

export type BenchKernelsArgs = Partial<Record<'models' | 'families' | 'rows' | 'only' | 'out', string>> & { json?: boolean; tune?: boolean };

const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

export async function benchKernelsCmd(v: BenchKernelsArgs, io: Io, signal?: AbortSignal): Promise<number> {
  const models = v.models ? list(v.models).map((m) => findBenchModel(m)) : SMOLLM2_MODELS;
  const families = v.families ? list(v.families).map((f) => parseKernelFamily(f, '--families')!) : undefined;
  let rows: number | undefined;
  if (v.rows !== undefined) {
    rows = Number(v.rows);
    if (!Number.isInteger(rows) || rows < 1) throw new AlloyError(`--rows must be a positive integer, got "${v.rows}"`);
  }
  const ctx = await acquireNodeDevice();
  if (v.tune) return tune(ctx, models, rows ?? 2048, v, io, signal);
  if (ctx.kernelFamily === 'software' && !v.rows && !v.only) {
    io.err(`note: ${ctx.adapterInfo.description} is a software adapter; the full suite at M = 2048 takes a long while here (--models 135M --rows 128 for a quick look)\n`);
  }
  const report: KernelBenchReport = await runKernelBench(ctx, {
    models,
    ...(families ? { families: families as KernelFamily[] } : {}),
    ...(rows ? { rows } : {}),
    ...(v.only ? { only: list(v.only) } : {}),
    ...(signal ? { signal } : {}),
    onProgress: (p) => p.case && io.err(`[${p.done + 1}/${p.total}] ${p.family}: ${p.case}\n`),
  });
  if (v.out) writeFileSync(v.out, JSON.stringify(report, null, 2) + '\n');
  io.out(v.json ? JSON.stringify(report) + '\n' : formatKernelReport(report));
  return report.results.every((r) => r.check.ok) ? 0 : 1;
}

/** --tune: the hardware family's tile rule measured here, and the gpu/hw-tuning.ts entry to add. */
async function tune(ctx: Awaited<ReturnType<typeof acquireNodeDevice>>, models: readonly BenchModel[], rows: number, v: BenchKernelsArgs, io: Io, signal?: AbortSignal): Promise<number> {
  const report = await tuneHwMatmul(ctx, { models, rows, ...(signal ? { signal } : {}), onProgress: (p) => io.err(`[${p.done + 1}/${p.total}] ${p.case}\n`) });
  if (v.out) writeFileSync(v.out, JSON.stringify(report, null, 2) + '\n');
  if (v.json) {
    io.out(JSON.stringify(report) + '\n');
    return 0;
  }
  const tiles = HW_TILES.map((t) => `${t.M}×${t.N}`);
  io.out(`hardware-family tiles on ${report.adapter.description} (${report.timing} timing), ms per product:\n`);
  io.out(`${'product'.padEnd(48)}${tiles.map((t) => t.padStart(10)).join('')}\n`);
  for (const s of report.shapes) io.out(`${s.label.padEnd(48)}${HW_TILES.map((t) => { const x = s.ms[`${t.M}x${t.N}`]; return (x === null || x === undefined ? 'FAILED' : x.toFixed(3)).padStart(10); }).join('')}\n`);
  io.out(`\nΣ ms by minWorkgroups: ${Object.entries(report.scores).map(([k, x]) => `${k}: ${x.toFixed(2)}`).join(', ')}\n`);
  io.out(`entry for HW_TUNING_TABLE (src/engine/gpu/hw-tuning.ts):\n${JSON.stringify(report.entry, null, 2)}\n`);
  return 0;
}
