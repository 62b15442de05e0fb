// The kernel bench / GPU check (issue 15) on SwiftShader, both kernel families, on a tiny model's shapes with
// odd sizes (M = 23 rows, attention 2 × 19, contexts 5 and 33): every case's output passes its sampled float64
// check, every figure is positive, and each model gets its step estimates. A check that reads an output the
// kernel never wrote fails, so a wrong kernel cannot get a figure. Times are printed, never asserted.
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import { kernelCases, DEFAULT_CASE_OPTIONS } from '../../../src/engine/kernel-bench/cases.ts';
import { runKernelBench } from '../../../src/engine/kernel-bench/run.ts';
import type { BenchModel } from '../../../src/engine/kernel-bench/models.ts';
import { tuneHwMatmul, tuneShapes, TUNE_MIN_WORKGROUPS } from '../../../src/engine/kernel-bench/tune.ts';
import { HW_TILES } from '../../../src/engine/ops/matmul-hw.ts';
import { testGpu } from '../../helpers/gpu.ts';

const TINY: BenchModel = { name: 'tiny', hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: 2, headDim: 16, vocab: 300 };
// measurements aim at 10 ms of GPU time each (the bench's 150 ms is for real figures)
const OPTS = { rows: 23, attention: { batch: 2, T: 19 }, contexts: [5, 33], r: 4, targetMs: 10 };

describe('kernel bench', () => {
  it('every case of both families passes its CPU check and gets a figure; estimates for the model', async () => {
    const ctx = await testGpu();
    const seen: number[] = [];
    const report = await runKernelBench(ctx, { ...OPTS, models: [TINY], onProgress: (p) => seen.push(p.done) });
    for (const r of report.results) {
      console.log(`${r.family.padEnd(8)} ${r.label.padEnd(48)} ${r.ms?.toFixed(3)} ms, err ${r.check.err.toExponential(2)} (tol ${r.check.tol.toExponential(2)})${r.error ? ` ${r.error}` : ''}`);
    }
    const { targetMs: _t, ...caseOpts } = OPTS;
    const cases = kernelCases([TINY], { ...DEFAULT_CASE_OPTIONS, ...caseOpts }, ctx.limits.maxStorageBufferBindingSize);
    // the f16-activation cases are the hardware family's only
    const f16 = cases.filter((c) => c.actF16);
    expect(f16.map((c) => c.id)).toEqual(['tiny.qkv.m23.f16act', 'tiny.o.m23.f16act', 'tiny.gate_up.m23.f16act', 'tiny.down.m23.f16act', 'tiny.attention.f16act', 'tiny.rmsnorm.f16act']);
    expect(report.results.length).toBe(2 * cases.length - f16.length);
    expect(report.results.filter((r) => r.id.endsWith('.f16act')).every((r) => r.family === 'hardware')).toBe(true);
    expect(report.results.filter((r) => !r.check.ok).map((r) => `${r.family} ${r.id}: ${r.error ?? r.check.err}`)).toEqual([]);
    for (const r of report.results) expect(r.ms, r.id).toBeGreaterThan(0);
    expect(report.timing).toBe(ctx.device.features.has('timestamp-query') ? 'timestamp' : 'wall');
    expect(report.estimates.map((e) => e.family)).toEqual(['software', 'hardware']);
    for (const e of report.estimates) {
      console.log(`${e.family}: train step ${e.trainStepMs?.toFixed(2)} ms, forward ${e.forwardMs?.toFixed(2)} ms, decode ${e.decodeMs?.toFixed(3)} ms`);
      expect(e.trainStepMs).toBeGreaterThan(e.forwardMs!);
      expect(e.decodeTokPerSec).toBeCloseTo(1000 / e.decodeMs!, 6);
      if (e.family === 'hardware') expect(e.forwardF16Ms).toBeGreaterThan(0);
      else expect(e.forwardF16Ms).toBeNull();
    }
    expect(seen.at(-1)).toBe(report.results.length);
    expect(JSON.parse(JSON.stringify(report)).format).toBe('alloy-kernel-bench');
  });

  it('a check fails on an output the kernel never wrote', async () => {
    const ctx = await testGpu();
    const env = { device: ctx.device, kernels: new KernelRegistry(ctx.device, 'software'), pool: new BufferPool(ctx.device), maxBinding: ctx.limits.maxStorageBufferBindingSize };
    const { targetMs: _t, ...caseOpts } = OPTS;
    const cases = kernelCases([TINY], { ...DEFAULT_CASE_OPTIONS, ...caseOpts }, env.maxBinding).filter((c) => c.group !== 'dispatch');
    try {
      for (const c of cases) {
        const p = await c.prepare(env);
        // the output buffers come from a fresh pool zeroed, or hold another case's values: never the right ones
        const chk = await p.check();
        p.release();
        expect(chk.err, c.id).toBeGreaterThan(chk.tol);
      }
    } finally {
      env.pool.destroyAll();
    }
  });

  it('only= selects cases by id prefix; an unknown one is refused by name', async () => {
    const ctx = await testGpu();
    const report = await runKernelBench(ctx, { ...OPTS, models: [TINY], families: ['hardware'], only: ['tiny.qkv', 'dispatch'] });
    expect(report.results.map((r) => r.id)).toEqual(['tiny.qkv.m23', 'tiny.qkv.m1', 'tiny.qkv.m23.f16act', 'dispatch.overhead']);
    await expect(runKernelBench(ctx, { ...OPTS, models: [TINY], only: ['nothing'] })).rejects.toThrow(/no kernel bench case matches nothing/);
  });

  it('--tune: every hardware tile of each step product timed after its check; the best minWorkgroups as a table entry', async () => {
    const ctx = await testGpu();
    const report = await tuneHwMatmul(ctx, { models: [TINY], rows: 23, r: 4, targetMs: 10 });
    console.log(JSON.stringify(report.scores), JSON.stringify(report.entry));
    expect(report.shapes.length).toBe(tuneShapes([TINY], 23, 4).length);
    for (const s of report.shapes) for (const t of HW_TILES) expect(s.ms[`${t.M}x${t.N}`], `${s.label} ${t.M}×${t.N}`).toBeGreaterThan(0);
    expect(Object.keys(report.scores).map(Number)).toEqual([...TUNE_MIN_WORKGROUPS]);
    expect(TUNE_MIN_WORKGROUPS).toContain(report.entry.tuning.minWorkgroups);
    const best = Math.min(...Object.values(report.scores));
    expect(report.scores[report.entry.tuning.minWorkgroups]).toBe(best);
    expect(report.entry.vendor).toBe(ctx.adapterInfo.vendor.toLowerCase());
    expect(report.entry.source).toMatch(/^alloy bench kernels --tune on /);
  });
});

