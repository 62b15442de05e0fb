// Training with f16 activations (act-dtype.ts; model/layer.ts layerActsF16) on the hardware family
// (ALLOY_KERNELS=hardware: SwiftShader here, lavapipe in gpu-lavapipe): the forward keeps n1, q, k, v, att, n2,
// gate, up and act as f16 words, the backward reads them through its f16 variants and every gradient stays f32.
// Against the float64 reference: LoRA gradients against central finite differences (grad.gpu.test.ts's harness)
// and full-parameter gradients (full-grad-helpers.ts), for each objective family and the architectures whose layers
// differ (Llama, Qwen2's biases, Qwen3's q/k norms, Gemma 3's sandwich norms and GeGLU); recomputation bit for bit;
// the f16 path's gradients differ from the f32 path's (it ran); an adapter applied unmerged at inference; and the
// training memory plan against the pool's peak.
//
// Tolerances: f16 keeps 11 significant bits, so the loss and the gradients are those of a function whose
// activations are each rounded by up to 2^-11 relative. Measured on SwiftShader (printed): loss 5.6e-6 to 2.9e-5
// relative, LoRA gradients against FD 1.3e-3 to 4.1e-3 of each tensor's max (Gemma 3 the widest), full-parameter
// gradients 1.2e-3 and 6.6e-3 (Gemma 3's q_norm); held to 1e-4 and 1e-2. The f32 path is held to 2e-6 and 3e-5
// in grad.gpu.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, needsReference, objectiveTargets, referenceLogps, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { createFullParams } from '../../../src/engine/train/full-params.ts';
import { forward, loadModel } from '../../../src/engine/model/index.ts';
import { join } from 'node:path';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from '../model/model-fixtures.ts';
import { foldedWeights, perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';
import { checkAgainstFd, fixture as fullFixture, gpuFull, disposeFixtures } from './full-grad-helpers.ts';

process.env.ALLOY_KERNELS = 'hardware';

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'gate_proj', 'down_proj'];
const R = 2;
const ALPHA = 4;
const H = 1e-3;
const PER_TENSOR = 24;
/** LoRA gradients against FD, of each tensor's max |grad| */
const GRAD_TOL_F16 = 1e-2;
/** the loss against the float64 reference, relative */
const LOSS_TOL_F16 = 1e-4;

const loaded: Fixture[] = [];
afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  await disposeFixtures();
  (await gpuShared()).pool.destroyAll();
});
async function fixtureOf(name: string): Promise<Fixture> {
  let f = loaded.find((x) => x.name === name);
  if (!f) loaded.push((f = await loadFixture(name)));
  return f;
}

const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
// more rows than the mat-vec takes (layerActsF16: BT > 4), right-padded
const BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
  orpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
const BETA: Partial<Record<Method, number>> = { dpo: 0.5, orpo: 0.3 };

describe('training with f16 activations (hardware family)', () => {
  for (const [name, method] of [['tiny-llama', 'cpt'], ['tiny-llama', 'dpo'], ['tiny-qwen2', 'sft'], ['tiny-qwen3', 'orpo'], ['tiny-gemma3', 'cpt']] as const) {
    it(`LoRA · ${name} · ${method}: loss and gradients against the float64 reference and its finite differences`, async () => {
      const f = await fixtureOf(name);
      const cfg = f.config;
      const V = cfg.vocabSize;
      const ad = randomAdapter(cfg, TARGETS, R, ALPHA, 500);
      const lora = loraFromTensors(f.model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null }, ad.tensors);
      const seqs = BATCHES[method]!;
      const beta = BETA[method] ?? 0.1;
      try {
        const run = async (acts: 'f32' | 'f16', recompute = false) => {
          f.model.activations = acts;
          try {
            clearLoraGrads(f.model, lora);
            const r = await lossAndGrads(f.model, lora, method, seqs, { beta }, { recompute });
            return { loss: r.loss, grads: await readLoraF32(f.model, lora, 'grads') };
          } finally {
            f.model.activations = 'f32';
          }
        };
        const g16 = await run('f16');
        const g32 = await run('f32');

        const fd = perturbableFold(f.weights, ad);
        const targets = objectiveTargets(method, seqs);
        const logpsWith = (get: (n: string) => ArrayLike<number>) => seqs.map((s, i) => gatherLogp(referenceForward(cfg, get, s.ids), V, targets[i]!));
        const refLogps = needsReference(method) ? referenceLogps(method, seqs, logpsWith((n) => f.weights.get(n)!)) : undefined;
        const cpuLoss = () => computeObjective(method, seqs, logpsWith((n) => fd.weights.get(n)!), { beta, refLogps }).loss;
        const want = cpuLoss();
        const lossErr = Math.abs(g16.loss - want) / Math.abs(want);
        const worst = worstFdError(fd, g16.grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: PER_TENSOR, h: H, seed: 7 });
        // the f16 path ran: its gradients are not the f32 path's
        let vsF32 = 0;
        for (const [n, g] of g16.grads) {
          const o = g32.grads.get(n)!.data;
          const scale = Math.max(...o.map(Math.abs));
          vsF32 = Math.max(vsF32, maxAbsDiff(g.data, o) / scale);
        }
        console.log(`f16 training · LoRA · ${name} · ${method}: loss rel err ${lossErr.toExponential(2)} (f32 path ${(Math.abs(g32.loss - want) / Math.abs(want)).toExponential(2)}); grads vs FD ${worst.toExponential(2)}; vs the f32 path's ${vsF32.toExponential(2)} of each tensor's max`);
        expect(lossErr).toBeLessThanOrEqual(LOSS_TOL_F16);
        expect(worst).toBeLessThanOrEqual(GRAD_TOL_F16);
        expect(vsF32).toBeGreaterThan(1e-5);
        // recomputation runs the same kernels on the same bytes
        const re = await run('f16', true);
        expect(re.loss).toBe(g16.loss);
        for (const [n, g] of g16.grads) expect(new Uint32Array(re.grads.get(n)!.data.buffer), n).toEqual(new Uint32Array(g.data.buffer));
      } finally {
        lora.dispose();
      }
    });
  }

  for (const [key, name, method] of [['tiny-llama', 'tiny-llama', 'cpt'], ['tiny-gemma3', 'tiny-gemma3', 'dpo']] as const) {
    it(`full fine-tuning · ${name} · ${method}: every parameter's gradient against float64 finite differences`, async () => {
      const f = await fullFixture(key, name);
      const full = createFullParams(f.model);
      f.model.activations = 'f16';
      try {
        const gpu = await gpuFull(f, full, method);
        const { lossErr, worst, worstName } = checkAgainstFd(f, method, gpu);
        console.log(`f16 training · full · ${name} · ${method}: loss rel err ${lossErr.toExponential(2)}; grads vs FD worst ${worst.toExponential(2)} (${worstName})`);
        expect(lossErr).toBeLessThanOrEqual(LOSS_TOL_F16);
        expect(worst).toBeLessThanOrEqual(GRAD_TOL_F16);
      } finally {
        f.model.activations = 'f32';
        full.dispose();
      }
    });
  }

  it('the training memory plan covers the pool peak of a LoRA run with f16 activations, within 1.1×, below the f32 plan', async () => {
    const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
    const config = parseModelConfig(await readJson(files, 'config.json'));
    const ctx = await testGpu();
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), config, { activations: 'f16' });
    const targets: LoraTarget[] = ['q_proj', 'v_proj', 'gate_proj', 'down_proj'];
    const lora = createLora(model, { r: 4, alpha: 8, targets, seed: 1 });
    const rows = [1, 2, 3, 4].map((i) => ({ ids: [1, 40 + i, 7, 9, 300, 5, 17 + i, 2], promptLen: 4 }));
    const t = new Trainer(model, lora, trainConfig({ method: 'sft', steps: 2, microBatch: 2 }), { train: rows });
    try {
      await t.run();
      const measured = pool.stats().peakBytes;
      const opts = { dtype: 'f32' as const, rows: 2, seqLen: 8, r: 4, targets, method: 'sft' as const, kernels: 'hardware' as const };
      const plan = planTrainingMemory(config, { ...opts, activations: 'f16' });
      const f32 = planTrainingMemory(config, opts);
      console.log(`f16 training B=2 T=8 r=4: plan ${plan.poolTotal} B, measured pool peak ${measured} B, ratio ${(plan.poolTotal / measured).toFixed(3)}; kept activations ${plan.kept} B against ${f32.kept} B with f32`);
      expect(plan.poolTotal).toBeGreaterThanOrEqual(measured);
      expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * measured);
      expect(plan.kept).toBeLessThan(0.8 * f32.kept);
    } finally {
      t.dispose();
      lora.dispose();
      model.dispose();
      pool.destroyAll();
    }
  });

  it('an adapter applied unmerged at inference: f16 logits against the reference on the folded weights', async () => {
    const f = await fixtureOf('tiny-llama');
    const ad = randomAdapter(f.config, TARGETS, R, ALPHA, 900);
    const lora = loraFromTensors(f.model, { r: R, loraAlpha: ALPHA, useRslora: false, targetModules: null }, ad.tensors);
    f.model.activations = 'f16';
    try {
      const folded = foldedWeights(f.weights, ad);
      const want = referenceForward(f.config, (n) => folded.get(n)!, SEQ);
      const [got] = await forward(f.model, [SEQ], { lora });
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      const err = maxAbsDiff(got!, want);
      console.log(`f16 activations, unmerged adapter: max|Δlogit| ${err.toExponential(2)} = ${(err / scale).toExponential(2)} × max|logit|`);
      expect(err).toBeLessThanOrEqual(1e-3 * scale);
      expect(err).toBeGreaterThan(1e-4); // the f16 path ran
    } finally {
      f.model.activations = 'f32';
      lora.dispose();
    }
  });
});
