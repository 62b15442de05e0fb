// The worker's plain words about what the GPU will not keep packed after "load as 4-bit" (worker/quantize.ts
// gpuWarnings), from the plans of real shapes: stories260K's 64-wide rows under Q4_K_M fall back to Q5_0, which the
// GPU de-quantises; Q4_0 and Q8_0 stay packed; a Gemma embedding in blocks is de-quantised by its scaled gather.
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
  it('names the Q5_0 fallbacks of Q4_K_M and suggests Q4_0; none for Q4_0 and Q8_0', () => {
    const w = warnings('public/demo/stories260K/config.json', 'q4_k_m');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^Q5_0 × \d+ are de-quantised to f32 when loaded on the GPU .*Q4_0 keeps them 4-bit/);
    expect(warnings('public/demo/stories260K/config.json', 'q4_0')).toEqual([]);
    expect(warnings('public/demo/stories260K/config.json', 'q8_0')).toEqual([]);
  });

  it("says a Gemma embedding in blocks is de-quantised by the scaled gather", () => {
    // the fixture's hidden size (80) is not whole 32-blocks, so its embedding would fall back to F16: 64 is
    const w = warnings('public/hub/alloy-fixtures/tiny-gemma3/resolve/main/config.json', 'q8_0', { hidden_size: 64 });
    expect(w.some((x) => /token embedding \(Q8_0\) is de-quantised to f32 on the GPU/.test(x))).toBe(true);
  });
});
