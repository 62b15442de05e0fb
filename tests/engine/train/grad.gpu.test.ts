// The key check of training: for each objective (CPT, SFT with a prompt mask, DPO, ORPO) on tiny-llama and
// tiny-qwen2 with a small random adapter (r = 2 on q, v, down; A and B non-zero so every path is live), the GPU's
// LoRA gradients equal central finite differences of the float64 CPU reference loss (referenceForward on the
// folded weights W + scale·B·A, then objectives.ts), on 40 random entries of every lora_A / lora_B tensor.
//
// Tolerances: step h = 1e-3 in float64 (truncation ~h²·|L'''| ≈ 1e-7); the GPU runs in f32. Measured on
// SwiftShader: gradients 7e-7 to 2.7e-6, loss 1e-9 to 2.3e-7 relative; held to about 10× that:
//   gradient: max |GPU − FD| ≤ 3e-5 · max |GPU grad| of that tensor;  loss: |GPU − CPU| ≤ 2e-6 · |CPU|.
// Batches are right-padded (rows of different lengths), so masking of padded keys and rows is exercised too.
import { afterAll, describe, expect, it } from 'vitest';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { gpuShared, loadFixture, type Fixture } from '../model/model-fixtures.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const R = 2;
const ALPHA = 4;
const H = 1e-3;
const PER_TENSOR = 40;
const GRAD_TOL = 3e-5;
const LOSS_TOL = 2e-6;

const loaded: Fixture[] = [];
afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Record<Method, Sequence[]> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
  ipo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
  orpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
const BETA = { dpo: 0.5, ipo: 0.5, orpo: 0.3 } as Record<Method, number>;

describe('LoRA gradients of the whole model against finite differences of the CPU reference', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2']) {
    for (const method of ['cpt', 'sft', 'dpo', 'ipo', 'orpo'] as Method[]) {
      it(`${name} · ${method}`, async () => {
        let f = loaded.find((x) => x.name === name);
        if (!f) loaded.push((f = await loadFixture(name)));
        const cfg = f.config;
        const V = cfg.vocabSize;
        const ad = randomAdapter(cfg, TARGETS, R, ALPHA, 500);
        const lora = loraFromTensors(f.model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null }, ad.tensors);
        const seqs = BATCHES[method];
        const beta = BETA[method];

        clearLoraGrads(f.model, lora);
        const gpu = await lossAndGrads(f.model, lora, method, seqs, { beta });
        const grads = await readLoraF32(f.model, lora, 'grads');

        // CPU side, float64: A and B as float64 copies; a module's folded weight is recomputed when it changes.
        const fd = perturbableFold(f.weights, ad);
        const targets = objectiveTargets(method, seqs);
        const logpsWith = (get: (n: string) => ArrayLike<number>) =>
          seqs.map((s, i) => gatherLogp(referenceForward(cfg, get, s.ids), V, targets[i]!));
        const refLogps = needsReference(method) ? referenceLogps(method, seqs, logpsWith((n) => f.weights.get(n)!)) : undefined;
        const cpuLoss = () => computeObjective(method, seqs, logpsWith((n) => fd.weights.get(n)!), { beta, refLogps }).loss;
        const want = cpuLoss();
        const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
        expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);

        const worst = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: PER_TENSOR, h: H, seed: 7 });
        console.log(`${name} · ${method}: loss GPU ${gpu.loss.toFixed(6)} vs CPU ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}); grads vs FD: max rel err ${worst.toExponential(2)} (tol ${GRAD_TOL})`);
        expect(worst).toBeLessThanOrEqual(GRAD_TOL);
        lora.dispose();
      });
    }
  }
});
