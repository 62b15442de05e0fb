/**
 * `alloy bench kernels [--json] [--out FILE.json] [--models 135M,360M,1.7B] [--families software,hardware]
 *  [--rows N] [--only ID,…]`: the kernel bench (engine/kernel-bench) on this machine's adapter, both kernel
 * families by default. Text: one table per family (time, GFLOP/s, GB/s, check), the hardware/software ratio per
 * case when both ran, and each model's step estimates; --json prints the report object instead (the studio's
 * GPU check exports the same object). Progress goes to stderr.
 */
import { writeFileSync } from 'node:fs';
import { AlloyError } from '../common/errors.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { parseKernelFamily, type KernelFamily } from '../engine/kernel-family.ts';
import { findBenchModel, SMOLLM2_MODELS } from '../engine/kernel-bench/models.ts';
import { runKernelBench, type KernelBenchReport } from '../engine/kernel-bench/run.ts';
import { formatKernelReport } from '../engine/kernel-bench/format.ts';
import type { Io } from './main.ts';

export type BenchKernelsArgs = Partial<Record<'models' | 'families' | 'rows' | 'only' | 'out', string>> & { json?: boolean };

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
