// `alloy bench kernels` end to end, in-process: a few SmolLM2-135M cases at 8 rows on one family, as text, as
// JSON and written to --out; bad arguments are refused by name.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import type { KernelBenchReport } from '../../src/engine/kernel-bench/run.ts';

const tmp = mkdtempSync(join(tmpdir(), 'alloy-bench-kernels-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ARGS = ['bench', 'kernels', '--models', '135M', '--rows', '8', '--only', 'smollm2-135m.o,smollm2-135m.rmsnorm,dispatch', '--families', 'software'];

describe('alloy bench kernels', () => {
  it('prints a table, a JSON report and writes --out', async () => {
    const text = capture();
    expect(await main(ARGS, text)).toBe(0);
    console.log(text.stdout);
    expect(text.stdout).toMatch(/^adapter: /);
    expect(text.stdout).toMatch(/software kernels/);
    expect(text.stdout).toMatch(/SmolLM2-135M: o 8×576×576 BF16 .* ok /);
    expect(text.stdout).toMatch(/SmolLM2-135M: RMSNorm 8 × 576 .* ok /);
    expect(text.stderr).toMatch(/\[1\/5\] software: o 8×576×576 BF16/);

    const json = capture();
    const out = join(tmp, 'kernels.json');
    expect(await main([...ARGS, '--json', '--out', out], json)).toBe(0);
    const report = JSON.parse(json.stdout) as KernelBenchReport;
    expect(report.format).toBe('alloy-kernel-bench');
    // (an id is a prefix: smollm2-135m.rmsnorm takes its backward case too)
    expect(report.results.map((r) => r.id)).toEqual(['smollm2-135m.o.m8', 'smollm2-135m.o.m1', 'smollm2-135m.rmsnorm', 'smollm2-135m.rmsnorm_backward', 'dispatch.overhead']);
    expect(report.results.every((r) => r.check.ok && r.ms! > 0)).toBe(true);
    expect(report.options.rows).toBe(8);
    expect(JSON.parse(readFileSync(out, 'utf8')).results.length).toBe(report.results.length);
  });

  it('refuses an unknown suite, model, family or row count by name', async () => {
    for (const [args, msg] of [
      [['bench', 'layers'], /the one suite is "kernels" .*got "layers"/],
      [['bench', 'kernels', '--models', '7B'], /no bench model "7B" \(known: SmolLM2-135M, SmolLM2-360M, SmolLM2-1\.7B\)/],
      [['bench', 'kernels', '--families', 'gpu'], /--families=gpu: the kernel family must be software or hardware/],
      [['bench', 'kernels', '--rows', '0'], /--rows must be a positive integer, got "0"/],
      [['bench', 'kernels', '--model', 'x'], /alloy bench does not take --model/],
    ] as const) {
      const io = capture();
      expect(await main([...args], io)).toBe(1);
      expect(io.stderr).toMatch(msg);
    }
  });
});
