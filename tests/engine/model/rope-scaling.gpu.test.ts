// RoPE scaling end to end: tiny-llama with a rope_scaling laid over its config, on every path that applies RoPE.
//   forward: GPU logits vs the float64 reference, which does linear scaling on its own terms (angle from pos/factor,
//     not from the GPU's folded inv_freq/factor), so a scaling lost or applied twice on the GPU shows.
//   KV cache: ragged prefill + steps (each row at its own positions) vs the full forward.
//   training: LoRA gradients on q/k/v (so the RoPE backward is on the path) vs central finite differences of the
//     reference loss.
// Each case also checks that the scaling matters on this model: the unscaled reference is ≥ 100× the tolerance away.
//
// Tolerances, near what is measured on SwiftShader (console lines): logits ≤ 1e-5 (measured 0.8–1.0e-6); KV vs full
// forward ≤ 1e-5 (GPU vs GPU, summation order only: measured 0 here, the margin is for a driver that contracts
// differently; a lost scaling is 0.19); gradients: max |GPU − FD| ≤ 1e-5 · max |GPU grad|
// of the tensor (measured ~1e-6, the FD truncation with h = 1e-3), loss ≤ 1e-6 relative (measured ~1e-8).
import { afterAll, describe, expect, it } from 'vitest';
import { forward, prefill, step } from '../../../src/engine/model/index.ts';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, objectiveTargets } from '../../../src/engine/train/objectives.ts';
import type { Sequence } from '../../../src/common/training-data.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const LOGIT_TOL = 1e-5;
const KV_TOL = 1e-5;
const GRAD_TOL = 1e-5;
const LOSS_TOL = 1e-6;

const SCALINGS: Record<string, Record<string, unknown>> = {
  'linear ×4': { type: 'linear', factor: 4 },
  // not a power of two: inv_freq/factor is rounded in f32 on the GPU (as in HF), pos/factor is exact in the reference
  'linear ×2.5 (v5 rope_parameters)': { rope_type: 'linear', factor: 2.5 },
  // head_dim 16, θ 1e4: wavelengths 6.3, 20, 63, 199, … so with 64/4 … 64/1 every llama3 band has members
  llama3: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
};

const loaded = new Map<string, Promise<Fixture>>();
const fixture = (label: string) => {
  if (!loaded.has(label)) {
    const s = SCALINGS[label]!;
    const configOverrides = label.includes('v5') ? { rope_scaling: null, rope_parameters: { rope_theta: 10000, ...s } } : { rope_scaling: s };
    loaded.set(label, loadFixture('tiny-llama', { configOverrides }));
  }
  return loaded.get(label)!;
};
let plain: Promise<Fixture> | undefined;
const unscaled = () => (plain ??= loadFixture('tiny-llama'));

afterAll(async () => {
  for (const f of [...loaded.values(), ...(plain ? [plain] : [])]) (await f).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('RoPE scaling: forward logits against the float64 reference', () => {
  for (const label of Object.keys(SCALINGS)) {
    it(`${label}: max |Δlogit| ≤ ${LOGIT_TOL}, and the scaling changes the logits`, async () => {
      const f = await fixture(label);
      expect(f.config.ropeScaling?.type).toBe(label.startsWith('linear') ? 'linear' : 'llama3');
      const [got] = await forward(f.model, [SEQ]);
      const want = f.reference(SEQ);
      const err = maxAbsDiff(got!, want);
      const effect = maxAbsDiff(want, (await unscaled()).reference(SEQ));
      console.log(`${label}: max|Δlogit| GPU vs reference = ${err.toExponential(2)}; scaled vs unscaled reference = ${effect.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(LOGIT_TOL);
      expect(effect).toBeGreaterThan(100 * LOGIT_TOL);
    });
  }
});

describe('RoPE scaling: KV-cache decoding', () => {
  it('linear ×4: ragged prefill + steps equal the full forward at every new position', async () => {
    const f = await fixture('linear ×4');
    const V = f.config.vocabSize;
    const prompts = [SEQ.slice(0, 3), SEQ.slice(2, 8)];
    const next = [
      [40, 41, 42, 43],
      [50, 51, 52, 53],
    ];
    const fulls = await forward(f.model, prompts.map((p, b) => [...p, ...next[b]!]));
    const at = (b: number, pos: number) => fulls[b]!.subarray(pos * V, (pos + 1) * V);
    const { cache, logits } = await prefill(f.model, prompts);
    let err = 0;
    try {
      prompts.forEach((p, b) => (err = Math.max(err, maxAbsDiff(logits[b]!, at(b, p.length - 1)))));
      for (let s = 0; s < next[0]!.length; s++) {
        const rows = await step(cache, [next[0]![s]!, next[1]![s]!]);
        prompts.forEach((p, b) => (err = Math.max(err, maxAbsDiff(rows[b]!, at(b, p.length + s)))));
      }
    } finally {
      cache.release();
    }
    // the full forward itself is the reference's (so the decode is too)
    const ref = referenceForward(f.config, (n) => f.weights.get(n)!, [...prompts[1]!, ...next[1]!]);
    const refErr = maxAbsDiff(fulls[1]!, ref);
    console.log(`linear ×4 KV decoding: max|Δ| vs full forward = ${err.toExponential(2)}; full forward vs reference = ${refErr.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(KV_TOL);
    expect(refErr).toBeLessThanOrEqual(LOGIT_TOL);
  });
});

describe('RoPE scaling: LoRA gradients against finite differences of the reference', () => {
  const TARGETS: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj'];
  const R = 2;
  const H = 1e-3;
  const PER_TENSOR = 16;
  const seqs: Sequence[] = [
    { ids: [1, 72, 101, 300, 108, 383, 2, 259, 5, 44], promptLen: 0 },
    { ids: [1, 17, 250, 3, 9, 77, 12], promptLen: 0 },
  ];

  it('linear ×4 · cpt: loss and every q/k/v lora_A, lora_B gradient', async () => {
    const f = await fixture('linear ×4');
    const cfg = f.config;
    const V = cfg.vocabSize;
    const ad = randomAdapter(cfg, TARGETS, R, 4, 900);
    const lora = loraFromTensors(f.model, { r: R, loraAlpha: 4, useRslora: false, targetModules: null }, ad.tensors);
    try {
      clearLoraGrads(f.model, lora);
      const gpu = await lossAndGrads(f.model, lora, 'cpt', seqs, {});
      const grads = await readLoraF32(f.model, lora, 'grads');

      // CPU: float64 A, B; a module's folded weight W + scale·B·A is recomputed when one of its entries moves.
      const fd = perturbableFold(f.weights, ad);
      const targets = objectiveTargets('cpt', seqs);
      const lossOf = (c: typeof cfg) =>
        computeObjective('cpt', seqs, seqs.map((s, i) => gatherLogp(referenceForward(c, (n) => fd.weights.get(n)!, s.ids), V, targets[i]!)), {}).loss;
      const cpuLoss = () => lossOf(cfg);
      const want = cpuLoss();
      const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
      const lossEffect = Math.abs(lossOf({ ...cfg, ropeScaling: null }) - want) / Math.abs(want);

      const worst = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: PER_TENSOR, h: H, seed: 11 });
      console.log(
        `linear ×4 · cpt: loss GPU ${gpu.loss.toFixed(6)} vs CPU ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}; unscaled loss differs by rel ${lossEffect.toExponential(2)}); ` +
          `grads vs FD: max rel err ${worst.toExponential(2)} (tol ${GRAD_TOL})`,
      );
      expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);
      expect(lossEffect).toBeGreaterThan(100 * LOSS_TOL);
      expect(worst).toBeLessThanOrEqual(GRAD_TOL);
    } finally {
      lora.dispose();
    }
  });
});
