// Qwen3 (tiny-qwen3: per-head q/k RMSNorm before RoPE, no q/k/v bias, head_dim 32 ≠ hidden 96 / 4 heads) end to end
// on the GPU: logits against the float64 reference (which does the q/k norms on its own), KV-cache decoding against
// the full forward, LoRA gradients on q, k, v, o against finite differences of the reference loss (the q/k norms'
// backward sits between RoPE's backward and the q|k|v input gradient), and both memory plans against the pool's
// measured peak (the norms allocate normed q, k and, in training, keep the pre-norm q, k and their rstd).
// Tolerances as in logits.gpu.test.ts (1e-5, GPU-vs-GPU 1e-6, 2e-5 in the hardware family: gpuVsGpuTolerance) and grad.gpu.test.ts (3e-5 relative, loss 2e-6).
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { forward, loadModel, planInferenceMemory, prefill, step } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import { computeObjective, gatherLogp, objectiveTargets, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';
import { describeMemoryPlans } from './memory-plan-suite.ts';
import { gpuShared, gpuVsGpuTolerance, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const NAME = 'tiny-qwen3';
const TOL = 1e-5;
let fixture: Fixture | undefined;
const get = async () => (fixture ??= await loadFixture(NAME));

afterAll(async () => {
  fixture?.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('tiny-qwen3 forward', () => {
  it('is a Qwen3 with head_dim ≠ hidden / heads and q/k norms loaded', async () => {
    const f = await get();
    expect(f.config).toMatchObject({ family: 'qwen3', qkNorm: true, attentionBias: false, headDim: 32, hiddenSize: 96, numHeads: 4 });
    expect(f.model.layers[0]!.qNorm).toBeDefined();
    expect(f.model.layers[0]!.kNorm).toBeDefined();
  });

  it(`logits against the float64 reference: max |Δ| ≤ ${TOL}`, async () => {
    const f = await get();
    const [got] = await forward(f.model, [SEQ]);
    const want = f.reference(SEQ);
    const err = maxAbsDiff(got!, want);
    let scale = 0;
    for (const x of want) scale = Math.max(scale, Math.abs(x));
    // The q/k norms matter: without them the reference's logits move by far more than the tolerance.
    const noNorm = referenceForward({ ...f.config, qkNorm: false }, (n) => f.weights.get(n)!, SEQ);
    console.log(`${NAME}: max|Δlogit| = ${err.toExponential(2)} (max |logit| ${scale.toFixed(3)}, T=${SEQ.length}); without q/k norms the reference moves ${maxAbsDiff(noNorm, want).toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(noNorm, want)).toBeGreaterThan(1e-2);
  });

  it('prefill + steps (a batch of two rows) give the full forward at every new position', async () => {
    const f = await get();
    const V = f.config.vocabSize;
    const rows = [SEQ, SEQ.slice(2).reverse()];
    const full = await forward(f.model, rows);
    const k = 3;
    const { cache, logits } = await prefill(f.model, rows.map((r) => r.slice(0, k)), { capacity: SEQ.length });
    try {
      let err = 0;
      for (const [b, r] of rows.entries()) err = Math.max(err, maxAbsDiff(logits[b]!, full[b]!.subarray((k - 1) * V, k * V)));
      const n = Math.min(...rows.map((r) => r.length));
      for (let t = k; t < n; t++) {
        const got = await step(cache, rows.map((r) => r[t]!));
        for (const [b] of rows.entries()) err = Math.max(err, maxAbsDiff(got[b]!, full[b]!.subarray(t * V, (t + 1) * V)));
      }
      console.log(`${NAME}: KV-cache decode vs full forward, max|Δ| = ${err.toExponential(2)} over ${n - k} steps × 2 rows`);
      expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
    } finally {
      cache.release();
    }
  });
});

// ---- LoRA gradients on all four attention projections vs central finite differences of the reference ----
const TARGETS: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
const R = 2;
const ALPHA = 4;
const H = 1e-3;
const PER_TENSOR = 16;
const GRAD_TOL = 3e-5;
const LOSS_TOL = 2e-6;
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
};

describe('tiny-qwen3 LoRA gradients (q, k, v, o) against finite differences', () => {
  for (const method of ['cpt', 'sft'] as Method[]) {
    it(method, async () => {
      const f = await get();
      const cfg = f.config;
      const V = cfg.vocabSize;
      const ad = randomAdapter(cfg, TARGETS, R, ALPHA, 900);
      const lora = loraFromTensors(f.model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null }, ad.tensors);
      const seqs = BATCHES[method]!;
      clearLoraGrads(f.model, lora);
      const gpu = await lossAndGrads(f.model, lora, method, seqs, {});
      const grads = await readLoraF32(f.model, lora, 'grads');

      const fd = perturbableFold(f.weights, ad);
      const targets = objectiveTargets(method, seqs);
      const cpuLoss = () =>
        computeObjective(method, seqs, seqs.map((s, i) => gatherLogp(referenceForward(cfg, (n) => fd.weights.get(n)!, s.ids), V, targets[i]!)), {}).loss;
      const want = cpuLoss();
      const lossErr = Math.abs(gpu.loss - want) / Math.abs(want);
      expect(lossErr).toBeLessThanOrEqual(LOSS_TOL);

      const worst = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: PER_TENSOR, h: H, seed: 11 });
      console.log(`${NAME} · ${method}: loss GPU ${gpu.loss.toFixed(6)} vs CPU ${want.toFixed(6)} (rel ${lossErr.toExponential(2)}); q/k/v/o grads vs FD: max rel err ${worst.toExponential(2)} (tol ${GRAD_TOL})`);
      expect(worst).toBeLessThanOrEqual(GRAD_TOL);
      lora.dispose();
    });
  }
});

// ---- memory plans vs a fresh pool's peak ----
describeMemoryPlans(NAME, TARGETS);
