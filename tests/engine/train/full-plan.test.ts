// Issue 18's full fine-tuning budget: SmolLM2-135M (BF16) trained on every parameter at 4 × 512 tokens with
// recomputation plans within 3 GB (the pool's accounting, poolTotal: the weights, every gradient, AdamW m and v, the
// f32 masters of the 16-bit matrices, and the step, whose CPT/SFT head streams its logits a block at a time); the same
// without recomputation does not fit, nor does DPO (whose head keeps every logits block); LoRA is a fraction of it.
// The plan is held to the pool's measured peak, trainer state included, by tests/engine/train/full-train.gpu.test.ts.
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../../src/io/config.ts';
import { benchModelConfigFields, findBenchModel } from '../../../src/engine/kernel-bench/models.ts';
import { LORA_TARGETS } from '../../../src/engine/lora/targets.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';

const GB = 1e9;

describe('full fine-tuning memory plan', () => {
  it('SmolLM2-135M BF16, every parameter, 4 × 512, recomputation: ≤ 3 GB', () => {
    const cfg = parseModelConfig({
      architectures: ['LlamaForCausalLM'],
      ...benchModelConfigFields(findBenchModel('135M')),
      max_position_embeddings: 8192,
      rms_norm_eps: 1e-5,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
    });
    const base = { dtype: 'bf16' as const, rows: 4, seqLen: 512, r: 16, targets: [...LORA_TARGETS], recompute: true, method: 'sft' as const, maxBindingBytes: 128 * 2 ** 20 };
    const full = planTrainingMemory(cfg, { ...base, mode: 'full' });
    const keepAll = planTrainingMemory(cfg, { ...base, mode: 'full', recompute: false });
    const dpo = planTrainingMemory(cfg, { ...base, mode: 'full', method: 'dpo' });
    const lora = planTrainingMemory(cfg, base);
    const g = (x: number) => `${(x / GB).toFixed(2)} GB`;
    console.log(
      `SmolLM2-135M full SFT 4×512 recompute: pool total ${g(full.poolTotal)} (weights ${g(full.weights)}, gradients ${g(full.fullGrads)}, AdamW ${g(full.optimizer)}, ` +
        `masters ${g(full.adapter - full.fullGrads - full.optimizer)}, kept ${g(full.kept)}, logits block ${g(full.logits)}); without recompute ${g(keepAll.poolTotal)}; DPO ${g(dpo.poolTotal)}; LoRA r 16 ${g(lora.poolTotal)}`,
    );
    expect(full.poolTotal).toBeLessThanOrEqual(3 * GB);
    expect(full.poolTotal).toBeGreaterThan(2.5 * GB);
    expect(keepAll.poolTotal).toBeGreaterThan(3 * GB);
    expect(dpo.poolTotal).toBeGreaterThan(3 * GB);
    expect(lora.poolTotal).toBeLessThan(0.35 * full.poolTotal);
  });
});
