// The training memory plan with f16 activations (act-dtype.ts) on SmolLM2-135M's shapes: the study's LoRA step
// (4 × 512 tokens, r 16 on all seven projections) keeps its layer activations at about half the bytes; LoRA
// dropout and the software family keep f32 (model/layer.ts layerActsF16), and nothing else in the plan moves.
import { describe, expect, it } from 'vitest';
import { smolConfig } from '../../../bench/synthetic.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';

const smol = smolConfig('135M');
const ALL: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const step = { dtype: 'bf16' as const, rows: 4, seqLen: 512, r: 16, targets: ALL, method: 'cpt' as const, kernels: 'hardware' as const };
const MB = 1e6;

describe('planTrainingMemory with f16 activations', () => {
  it('SmolLM2-135M, 4 × 512, r 16 on all projections: the kept activations at 2 bytes, the rest unchanged', () => {
    const f32 = planTrainingMemory(smol, step);
    const f16 = planTrainingMemory(smol, { ...step, activations: 'f16' });
    console.log(`kept activations ${(f32.kept / MB).toFixed(1)} MB → ${(f16.kept / MB).toFixed(1)} MB; total ${(f32.total / MB).toFixed(1)} MB → ${(f16.total / MB).toFixed(1)} MB`);
    // per row and layer, f32: x_in, x_mid, rstd ×2, lse, the xa blocks; f16: n1, n2, q, k, v, att, gate, up, act
    const C = 576, F = 1536, qW = 576, kvW = 192, BT = 2048, L = 30;
    const halved = 2 * BT * L * (2 * C + 2 * qW + 2 * kvW + 3 * F);
    expect(f32.kept - f16.kept).toBe(halved);
    expect(f16.kept / f32.kept).toBeLessThan(0.6);
    for (const k of ['weights', 'adapter', 'backward', 'logits'] as const) expect(f16[k], k).toBe(f32[k]);
  });

  it('LoRA dropout and the software family keep f32', () => {
    const f32 = planTrainingMemory(smol, { ...step, dropout: true });
    expect(planTrainingMemory(smol, { ...step, dropout: true, activations: 'f16' }).kept).toBe(f32.kept);
    expect(planTrainingMemory(smol, { ...step, kernels: 'software', activations: 'f16' }).kept).toBe(planTrainingMemory(smol, { ...step, kernels: 'software' }).kept);
  });
});
