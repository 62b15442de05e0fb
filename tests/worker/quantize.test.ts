// The worker's plain words about what the GPU will not keep packed after "load as 4-bit" (worker/quantize.ts
// gpuWarnings), from the plans of real shapes: stories260K's 64-wide rows under Q4_K_M fall back to Q5_0, which the
// GPU keeps packed like Q4_0 and Q8_0; a type without a kernel is named; a Gemma embedding in blocks is de-quantised
// by its scaled gather.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseModelConfig } from '../../src/io/config.ts';
import { quantizePlan, summarizePlan, type QuantizePreset } from '../../src/io/quantize-model.ts';
import { gpuWarnings } from '../../src/worker/quantize.ts';

const config = (path: string, over: Record<string, unknown>) => parseModelConfig({ ...(JSON.parse(readFileSync(path, 'utf8')) as object), ...over });
const warnings = (path: string, preset: QuantizePreset, over: Record<string, unknown> = {}) => {
  const cfg = config(path, over);
  return gpuWarnings(summarizePlan(quantizePlan(cfg, preset, () => 'F32'), preset, 0, 0), cfg.scaleEmbedding);
};

describe('gpuWarnings', () => {
  it('none for any preset of stories260K: Q4_K_M falls back to Q5_0 for its 64-wide rows, which the GPU keeps packed', () => {
    for (const p of ['q4_k_m', 'q4_0', 'q8_0'] as const) expect(warnings('public/demo/stories260K/config.json', p)).toEqual([]);
  });

  it('names a block type the GPU would unpack (one it has no kernel for)', () => {
    const s = summarizePlan(quantizePlan(config('public/demo/stories260K/config.json', {}), 'q4_k_m', () => 'F32'), 'q4_k_m', 0, 0);
    const w = gpuWarnings({ ...s, types: { ...s.types, Q5_1: { count: 3, bytes: 96 } } }, false);
    expect(w).toEqual(['Q5_1 × 3 are de-quantised to f32 when loaded on the GPU (only Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K stay packed)']);
  });

  it("says a Gemma embedding in blocks is de-quantised by the scaled gather", () => {
    // the fixture's hidden size (80) is not whole 32-blocks, so its embedding would fall back to F16: 64 is
    const w = warnings('public/hub/alloy-fixtures/tiny-gemma3/resolve/main/config.json', 'q8_0', { hidden_size: 64 });
    expect(w.some((x) => /token embedding \(Q8_0\) is de-quantised to f32 on the GPU/.test(x))).toBe(true);
  });
});
