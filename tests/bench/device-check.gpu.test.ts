// The device check as a lent GPU machine runs it: bench/device/pack.mjs bundles it, and the bundle runs in a fresh
// Node on the quick plan (tiny shapes, SwiftShader here), so the script a session with a GPU has minutes to run is
// proven every CI run. The bundle lives under node_modules/.cache so that `webgpu` resolves as in the kit.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeviceCheckResult } from '../../bench/device/check.ts';
import { fp32PeakTflops } from '../../bench/device/check.ts';

const kit = 'node_modules/.cache/alloy-device-check';
const bundle = join(kit, 'device-check.mjs');

function runBundle(args: string[]): { status: number | null; out: string; result: DeviceCheckResult } {
  const out = mkdtempSync(join(tmpdir(), 'alloy-device-'));
  const p = spawnSync(process.execPath, [bundle, '--out', out, ...args], { encoding: 'utf8', timeout: 240_000 });
  if (p.status === null) throw new Error(`the bundle did not finish: ${p.error?.message}\n${p.stderr}`);
  return { status: p.status, out, result: JSON.parse(readFileSync(join(out, 'device.json'), 'utf8')) as DeviceCheckResult };
}

describe('device check (bench/device)', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['bench/device/pack.mjs', '--bundle-only', '--kit', kit], { stdio: 'pipe' });
  }, 120_000);

  it('the quick plan runs every section with both kernel families and writes device.json and device.md', () => {
    const { status, out, result: r } = runBundle(['--quick']);
    expect(status).toBe(0);
    expect(r.skipped).toEqual([]);
    expect(r.plan.quick).toBe(true);
    expect(r.subgroupSizes).toEqual({ min: 4, max: 4 }); // SwiftShader's, as its adapter info reports them
    // every kernel case passed its CPU check and has a time, in both families
    const cases = r.kernelBench!.results;
    console.log(`kernel cases: ${cases.map((c) => `${c.family} ${c.id} ${c.ms?.toFixed(3)} ms`).join('; ')}`);
    // (the o projection's f16-activation case is the hardware family's only)
    expect(cases.length).toBe(9);
    expect(cases.every((c) => c.check.ok && c.ms !== null && c.ms > 0)).toBe(true);
    // the same training step in both families: the same losses (the families' kernels agree to float rounding)
    const [sw, hw] = r.families;
    expect([sw!.family, hw!.family]).toEqual(['software', 'hardware']);
    for (const f of r.families) {
      expect(f.train?.error).toBeUndefined();
      expect(f.train!.tokPerSec).toBeGreaterThan(0);
      expect(f.decode && 'f32TokPerSec' in f.decode && f.decode.f32TokPerSec > 0 && f.decode.f16TokPerSec > 0).toBe(true);
      // the scoring forward: f16 activations on the hardware family only
      const pre = f.prefill && 'f32TokPerSec' in f.prefill ? f.prefill : null;
      expect(pre?.f32TokPerSec).toBeGreaterThan(0);
      if (f.family === 'hardware') expect(pre?.f16TokPerSec).toBeGreaterThan(0);
      else expect(pre?.f16TokPerSec).toBeNull();
    }
    const d0 = Math.abs(sw!.train!.loss0 - hw!.train!.loss0);
    const dN = Math.abs(sw!.train!.lossN - hw!.train!.lossN);
    console.log(`loss software ${sw!.train!.loss0} → ${sw!.train!.lossN}, hardware ${hw!.train!.loss0} → ${hw!.train!.lossN}: |Δ| ${d0.toExponential(1)}, ${dN.toExponential(1)}`);
    // measured 7e-8 and 1.6e-7
    expect(d0).toBeLessThan(1e-6);
    expect(dN).toBeLessThan(1e-6);
    expect(sw!.train!.lossN).toBeLessThan(sw!.train!.loss0);
    // PyTorch's step on the same shapes (on the CPU here; CUDA on a lent GPU)
    expect(r.torch && 'tok_per_s' in r.torch && r.torch.tok_per_s > 0 && r.torch.device === 'cpu').toBe(true);
    // the summary table, and the kernel bench's report beneath it
    const md = readFileSync(join(out, 'device.md'), 'utf8');
    expect(md).toContain('| work | software | hardware | hardware ÷ software | anchor |');
    expect(md).toMatch(/LoRA step, tiny Llama .*\| [\d.]+ \([\d.]+ s\) \| [\d.]+ \([\d.]+ s\) \| [\d.]+× \|/);
    expect(md).toMatch(/PyTorch [\d.a-z]+ f32 on cpu: [\d.]+ tok\/s; hardware = [\d.]+× PyTorch/);
    // the tile sweep's table entry, and the mat-vec without subgroups beside it with
    expect(r.tune!.entry.tuning.minWorkgroups).toBeGreaterThan(0);
    expect(r.tune!.shapes.length).toBe(7);
    expect(r.kernelBenchNoSubgroups!.results.map((x) => [x.id, x.check.ok])).toEqual([['smollm2-135m.o.m1', true]]);
    expect(md).toMatch(/hardware tile rule measured here \(7 products at M = 16\) \| — \| minWorkgroups \d+;/);
    expect(md).toMatch(/core WGSL ÷ with subgroups \(time\) \| — \| o 1×576×576 BF16: [\d.]+×/);
    expect(md).toMatch(/the same forward with f16 activations: tok\/s \| — \(f32 only\) \| [\d.]+ \|/);
    expect(md).toContain('## Kernel bench');
  }, 240_000);

  it('a spent budget skips the sections and says so, with the files still written', () => {
    const { status, result: r } = runBundle(['--quick', '--budget', '0.001']);
    expect(status).toBe(0);
    expect(r.kernelBench).toBeNull();
    // kernel bench, two training steps, two decodes, two scoring forwards, PyTorch, tiles, no subgroups (SwiftShader
    // has them)
    expect(r.skipped.length).toBe(10);
    expect(r.skipped[0]).toMatch(/^kernel bench, SmolLM2-135M: the 0\.001 s budget was spent$/);
    expect(r.note).toContain('Skipped: kernel bench');
  }, 120_000);

  it('knows the fp32 peak of the lent cards, and takes an override', () => {
    expect(fp32PeakTflops('NVIDIA H200', '')).toBe(66.9);
    expect(fp32PeakTflops('NVIDIA H100 80GB HBM3', '')).toBe(66.9);
    expect(fp32PeakTflops('NVIDIA H100 PCIe', '')).toBe(51.2);
    expect(fp32PeakTflops('SwiftShader Device (Subzero)', '')).toBeNull();
    expect(fp32PeakTflops('anything', '12.5')).toBe(12.5);
  });
});
