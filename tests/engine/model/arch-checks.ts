// The three whole-model checks every architecture gets (sliding-window, SmolLM3, Gemma 3 tests): GPU logits
// against the float64 reference, KV-cache decoding of ragged rows against each row's full forward, and LoRA
// gradients against central finite differences of the reference loss. Each returns its measured error; the test
// prints and bounds it.
import { expect } from 'vitest';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { forward, prefill, step } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';
import { maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

/** max |GPU logit − float64 reference logit| over every position of `ids`, and the largest |logit|. */
export async function logitsError(f: Fixture, ids: readonly number[] = SEQ): Promise<{ err: number; scale: number }> {
  const [got] = await forward(f.model, [ids]);
  const want = f.reference(ids);
  let scale = 0;
  for (const x of want) scale = Math.max(scale, Math.abs(x));
  return { err: maxAbsDiff(got!, want), scale };
}

/**
 * Two rows prefilled with prompts of different lengths (the shorter leaves masked slots in the cache), then
 * stepped token by token: max |Δ| against each row's own full forward, every position.
 */
export async function decodeError(f: Fixture, rows: readonly (readonly number[])[] = [SEQ, SEQ.slice(2).reverse()], promptLens = [5, 2]): Promise<{ err: number; steps: number }> {
  const V = f.config.vocabSize;
  const prompts = rows.map((r, b) => r.slice(0, promptLens[b]));
  const full = await Promise.all(rows.map(async (r) => (await forward(f.model, [r]))[0]!));
  const { cache, logits } = await prefill(f.model, prompts, { capacity: 24 });
  try {
    let err = 0;
    for (const [b, p] of prompts.entries()) err = Math.max(err, maxAbsDiff(logits[b]!, full[b]!.subarray((p.length - 1) * V, p.length * V)));
    const steps = Math.min(...rows.map((r, b) => r.length - prompts[b]!.length));
    for (let s = 0; s < steps; s++) {
      const got = await step(cache, rows.map((r, b) => r[prompts[b]!.length + s]!));
      for (const b of rows.keys()) {
        const t = prompts[b]!.length + s;
        err = Math.max(err, maxAbsDiff(got[b]!, full[b]!.subarray(t * V, (t + 1) * V)));
      }
    }
    return { err, steps };
  } finally {
    cache.release();
  }
}

const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
/** Training batches of two rows each, both longer than the fixtures' windows. */
export const FD_BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
  // preference pairs (chosen, rejected) with a shared prompt, as grad.gpu.test.ts
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
  orpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
const BETA: Partial<Record<Method, number>> = { dpo: 0.5, orpo: 0.3 };

/** GPU loss and LoRA gradients against the float64 reference: loss relative error, worst relative FD error. */
export async function loraFdError(
  f: Fixture,
  method: Method,
  targets: LoraTarget[],
  o: { seed: number; perTensor?: number; h?: number } = { seed: 1 },
): Promise<{ lossErr: number; gradErr: number }> {
  const cfg = f.config;
  const V = cfg.vocabSize;
  const ad = randomAdapter(cfg, targets, 2, 4, o.seed);
  const lora = loraFromTensors(f.model, { r: 2, loraAlpha: 4, useRslora: false, targetModules: null }, ad.tensors);
  try {
    const seqs = FD_BATCHES[method]!;
    clearLoraGrads(f.model, lora);
    const beta = BETA[method];
    const gpu = await lossAndGrads(f.model, lora, method, seqs, beta === undefined ? {} : { beta });
    const grads = await readLoraF32(f.model, lora, 'grads');
    const fd = perturbableFold(f.weights, ad);
    const tg = objectiveTargets(method, seqs);
    const logpsWith = (get: (n: string) => ArrayLike<number>) => seqs.map((s, i) => gatherLogp(referenceForward(cfg, get, s.ids), V, tg[i]!));
    // DPO's reference policy is the base model (adapter off): its log-probs from the unadapted weights
    const refLogps = needsReference(method) ? referenceLogps(method, seqs, logpsWith((n) => f.weights.get(n)!)) : undefined;
    const cpuLoss = () => computeObjective(method, seqs, logpsWith((n) => fd.weights.get(n)!), { ...(beta === undefined ? {} : { beta }), refLogps }).loss;
    const want = cpuLoss();
    expect(Number.isFinite(gpu.loss)).toBe(true);
    const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
    const gradErr = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets, perTensor: o.perTensor ?? 12, h: o.h ?? 1e-3, seed: o.seed });
    return { lossErr, gradErr };
  } finally {
    lora.dispose();
  }
}
