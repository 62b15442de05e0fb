// Issue 17's QLoRA budget: LoRA (r 16, all seven projections) on SmolLM2-1.7B stored as llama-quantize's Q4_K_M
// picks them, 4 × 512 tokens with recomputation, plans within 4 GB (the pool's accounting, poolTotal); the same run
// on the BF16 base does not, which is what the 4-bit base buys. The plan is held to the pool's measured peak on the
// tiny quantised fixtures by tests/engine/model/quantized.gpu.test.ts and tests/engine/train/*.gpu.test.ts.
import { describe, expect, it } from 'vitest';
import { expectedTensorShapes, parseModelConfig } from '../../../src/io/config.ts';
import { tensorTypeFor } from '../../../src/io/gguf/presets.ts';
import { hfToGgufName } from '../../../src/io/gguf/names.ts';
import { benchModelConfigFields, findBenchModel } from '../../../src/engine/kernel-bench/models.ts';
import { LORA_TARGETS } from '../../../src/engine/lora/targets.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';

const GB = 1e9;

describe('QLoRA memory plan', () => {
  it('SmolLM2-1.7B at Q4_K_M, 4 × 512, r 16 on all seven projections, recomputation: ≤ 4 GB', () => {
    const cfg = parseModelConfig({
      architectures: ['LlamaForCausalLM'],
      ...benchModelConfigFields(findBenchModel('1.7B')),
      max_position_embeddings: 8192,
      rms_norm_eps: 1e-5,
      rope_theta: 130000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
    });
    const matrixTypes: Record<string, string> = {};
    for (const [name, shape] of expectedTensorShapes(cfg)) {
      if (shape.length !== 2) continue;
      matrixTypes[name] = tensorTypeFor('q4_k_m', hfToGgufName(name)!, shape, cfg.numLayers, cfg.tieWordEmbeddings);
    }
    const counts: Record<string, number> = {};
    for (const t of Object.values(matrixTypes)) counts[t] = (counts[t] ?? 0) + 1;
    const opts = { dtype: 'bf16' as const, rows: 4, seqLen: 512, r: 16, targets: [...LORA_TARGETS], recompute: true, method: 'cpt' as const, maxBindingBytes: 128 * 2 ** 20 };
    const q = planTrainingMemory(cfg, { ...opts, matrixTypes });
    const bf16 = planTrainingMemory(cfg, opts);
    console.log(`types ${JSON.stringify(counts)}; Q4_K_M: weights ${(q.weights / GB).toFixed(2)} GB, pool total ${(q.poolTotal / GB).toFixed(2)} GB; BF16: weights ${(bf16.weights / GB).toFixed(2)} GB, pool total ${(bf16.poolTotal / GB).toFixed(2)} GB`);
    expect(counts.Q4_K).toBeGreaterThan(100);
    expect(q.weights).toBeLessThan(1.2 * GB);
    expect(q.poolTotal).toBeLessThanOrEqual(4 * GB);
    expect(bf16.poolTotal).toBeGreaterThan(4 * GB);
  });
});
