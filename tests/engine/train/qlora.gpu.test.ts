// QLoRA: LoRA on a base whose projections stay Q4_K (or Q5_K) on the GPU (matmul_q forward and the backward through the
// frozen packed weight, dX = dY·W). For each objective, the GPU's LoRA gradients equal central finite
// differences of the float64 CPU reference loss on the de-quantised base (ggml's values: what the kernels
// de-quantise to) plus the adapter, as grad.gpu.test.ts does for f32 bases; the model is the 2-layer K-quant
// Llama (hidden 256, MLP 512: rows of whole super-blocks) with every matrix in the base's type, the embedding (gathered
// by embedding_q) and lm_head (whose input gradient runs through matmul_q too) included, adapted on q, v and down.
//
// Tolerances (grad.gpu.test.ts's, for the same f32-vs-f64 gap): gradient max |GPU − FD| ≤ 3e-5 · max |GPU grad|
// of the tensor, on 6 random entries of every lora_A / lora_B; loss |GPU − CPU| ≤ 2e-6 · |CPU|. Measured values
// are printed (SwiftShader: gradients ≤ 3.9e-6, loss ≤ 6.6e-7 relative).
import { afterAll, describe, expect, it } from 'vitest';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { loadModel, type Model } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { testGpu } from '../../helpers/gpu.ts';
import { gpuShared } from '../model/model-fixtures.ts';
import { asGgml, kQuantLlama } from '../model/quant-fixtures.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const R = 2;
const ALPHA = 4;
const H = 1e-3;
const PER_TENSOR = 6;
const GRAD_TOL = 3e-5;
const LOSS_TOL = 2e-6;

const models = new Map<string, Model>();
afterAll(async () => {
  for (const m of models.values()) m.dispose();
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

// Q4_K (the issue's base) under every objective; Q5_K (Q5_K_M files' main type: the same walk plus the high-bit
// plane) under CPT and DPO, whose backward reaches every packed weight as the others' does.
const BASES: [string, Method[]][] = [
  ['Q4_K', ['cpt', 'sft', 'dpo', 'ipo', 'orpo']],
  ['Q5_K', ['cpt', 'dpo']],
];

describe.each(BASES)('QLoRA: LoRA gradients on a %s base against finite differences of the CPU reference', (type, methods) => {
  const { config: cfg, checkpoint } = kQuantLlama();
  const base = asGgml(checkpoint, () => type);
  const weights = (async () => {
    const q = await base;
    const w = new Map<string, Float32Array>();
    for (const n of q.names()) w.set(n, await q.readF32(n));
    return w;
  })();
  for (const method of methods) {
    it(method, async () => {
      const q = await base;
      let model = models.get(type);
      if (!model) {
        const { pool, kernels } = await gpuShared();
        model = await loadModel(await testGpu(), kernels, pool, q, cfg);
        models.set(type, model);
      }
      const l0 = model.layers[0]!;
      expect([(l0.qkv ?? l0.q!).weight.dtype, l0.down.weight.dtype, model.embed.dtype, model.lmHead.dtype]).toEqual([type, type, type, type]);
      const W = await weights;
      const V = cfg.vocabSize;
      const ad = randomAdapter(cfg, TARGETS, R, ALPHA, 500);
      const lora = loraFromTensors(model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null }, ad.tensors);
      const seqs = BATCHES[method];
      const beta = BETA[method];

      clearLoraGrads(model, lora);
      const gpu = await lossAndGrads(model, lora, method, seqs, { beta });
      const grads = await readLoraF32(model, lora, 'grads');

      const fd = perturbableFold(W, ad);
      const targets = objectiveTargets(method, seqs);
      const logpsWith = (get: (n: string) => ArrayLike<number>) => seqs.map((s, i) => gatherLogp(referenceForward(cfg, get, s.ids), V, targets[i]!));
      const refLogps = needsReference(method) ? referenceLogps(method, seqs, logpsWith((n) => W.get(n)!)) : undefined;
      const cpuLoss = () => computeObjective(method, seqs, logpsWith((n) => fd.weights.get(n)!), { beta, refLogps }).loss;
      const want = cpuLoss();
      const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
      const worst = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: PER_TENSOR, h: H, seed: 7 });
      console.log(`${type} base · ${method}: loss GPU ${gpu.loss.toFixed(6)} vs CPU ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}); grads vs FD: max rel err ${worst.toExponential(2)} (tol ${GRAD_TOL})`);
      expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);
      expect(worst).toBeLessThanOrEqual(GRAD_TOL);
      lora.dispose();
    });
  }
});
