// Training with the vocabulary end split over several bindings (grad.ts head, model/head.ts encodeLmHeadBlock /
// encodeLmHeadBackward): the tiny fixtures loaded with a binding limit of 6000 B, so embed_tokens / lm_head
// [384, 64] come as 17 (F32) or 9 (BF16) row chunks and the batch's logits as 3-row blocks, against the same
// fixture loaded whole:
//   - loss and LoRA gradients for every objective, tied F32 and untied BF16, with and without recomputation;
//   - the memory plan given the same binding limit stays ≥ the BufferPool's measured peak of one Trainer step, and ≤ 1.1× it.
//
// Tolerances: the forward is the same kernels on the same rows (each logit is one dot over hidden, whichever chunk
// holds its row), so target log-probs and loss agree to float32 rounding (≤ 1e-6 relative). The backward's
// dnormed = dlogits·lm_head is summed chunk by chunk (matmul with beta = 1) instead of in one pass over the
// vocabulary, a different summation order: gradients agree to ≤ 1e-5 of the largest gradient entry.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { loadModel, type Model } from '../../../src/engine/model/index.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import type { Method, Sequence } from '../../../src/common/training-data.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, type Fixture } from '../model/model-fixtures.ts';
import { randomAdapter } from '../lora/lora-helpers.ts';

const LIMIT = 6000;
const LOSS_REL = 1e-6;
const GRAD_REL = 1e-5;
const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const PAIRS = [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)];
const BATCHES: Record<Method, Sequence[]> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259], 4), seq([1, 17, 250, 3, 9, 77, 12], 3)],
  dpo: PAIRS,
  ipo: PAIRS,
  orpo: PAIRS,
};

const loaded: Fixture[] = [];
afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const CASES = [
  { label: 'tied F32', name: 'tiny-llama', bf16: false },
  { label: 'untied BF16', name: 'tiny-llama-untied', bf16: true },
];

describe(`LoRA loss and gradients with lm_head and logits split to a ${LIMIT}-byte binding = unsplit`, () => {
  for (const c of CASES) {
    it(`${c.label}: cpt, sft, dpo, orpo; keep-all and recompute`, async () => {
      const whole = await loadFixture(c.name, { bf16: c.bf16 });
      const split = await loadFixture(c.name, { bf16: c.bf16, load: { maxBindingBytes: LIMIT } });
      loaded.push(whole, split);
      expect(split.model.lmHead.chunks.length).toBeGreaterThan(1);
      expect(whole.model.lmHead.chunks).toHaveLength(1);
      const ad = randomAdapter(whole.config, TARGETS, 2, 4, 700);
      const cfg = { r: 2, loraAlpha: 4, useRslora: false, targetModules: null, loraDropout: 0 };
      const run = async (model: Model, method: Method, recompute: boolean) => {
        const lora = loraFromTensors(model, cfg, ad.tensors);
        try {
          clearLoraGrads(model, lora);
          const r = await lossAndGrads(model, lora, method, BATCHES[method], { beta: 0.5 }, { recompute });
          return { loss: r.loss, g: [...(await readLoraF32(model, lora, 'grads'))].map(([k, v]) => [k, v.data] as const) };
        } finally {
          lora.dispose();
        }
      };
      for (const method of ['cpt', 'sft', 'dpo', 'orpo'] as Method[]) {
        const want = await run(whole.model, method, false);
        for (const recompute of [false, true]) {
          const got = await run(split.model, method, recompute);
          expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(LOSS_REL * Math.abs(want.loss));
          let maxG = 0;
          let maxD = 0;
          got.g.forEach(([k, g], i) => {
            const [wk, wg] = want.g[i]!;
            expect(k).toBe(wk);
            g.forEach((x, j) => {
              maxG = Math.max(maxG, Math.abs(wg[j]!));
              maxD = Math.max(maxD, Math.abs(x - wg[j]!));
            });
          });
          expect(maxG).toBeGreaterThan(0);
          expect(maxD).toBeLessThanOrEqual(GRAD_REL * maxG);
          console.log(`${c.label} · ${method}${recompute ? ' · recompute' : ''}: loss ${got.loss} vs ${want.loss}; grad max diff ${maxD.toExponential(2)} of max ${maxG.toExponential(2)}`);
        }
      }
    });
  }
});

describe('the memory plan with a split head stays ≥ the measured peak', () => {
  const ROWS = Array.from({ length: 4 }, (_, r) => seq(Array.from({ length: 32 }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3))));
  for (const recompute of [false, true]) {
    it(`tiny-llama cpt 2×32, r 4, binding ${LIMIT} B${recompute ? ', recompute' : ''}`, async () => {
      await ensureFixtures('public/hub');
      const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
      const ctx = await testGpu();
      const pool = new BufferPool(ctx.device);
      const checkpoint = await openCheckpoint(files);
      const f = loaded.find((x) => x.name === 'tiny-llama')!;
      const model = await loadModel(ctx, await testKernels(), pool, checkpoint, f.config, { maxBindingBytes: LIMIT });
      const lora = createLora(model, { r: 4, alpha: 8, targets: TARGETS, seed: 1, dropout: 0 });
      const t = new Trainer(model, lora, trainConfig({ method: 'cpt', steps: 1, microBatch: 2, recompute }), { train: ROWS });
      try {
        const res = await t.run();
        expect(Number.isFinite(res.history[0]!.loss)).toBe(true);
        const peak = pool.stats().peakBytes;
        const plan = planTrainingMemory(f.config, { dtype: 'f32', rows: 2, seqLen: 32, r: 4, targets: TARGETS, recompute, method: 'cpt', maxBindingBytes: LIMIT });
        console.log(`split head${recompute ? ', recompute' : ''}: measured peak ${peak} B, plan ${plan.poolTotal} B, plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
        expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
        expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
      } finally {
        t.dispose();
        lora.dispose();
        model.dispose();
        pool.destroyAll();
      }
    });
  }
});
