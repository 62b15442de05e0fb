// Sliding-window attention end to end on the GPU, with windows (3, 4) much shorter than the sequences (11 tokens):
//   Mistral (every layer slides): tiny-llama's weights under a MistralForCausalLM config with sliding_window 4;
//   Qwen2 with use_sliding_window and max_window_layers 1: tiny-qwen2 with layer 0 full and layer 1 sliding (3).
// Logits against the float64 reference (whose mask, i−W < j ≤ i, is written apart from the kernels' counting of
// real keys), KV-cache decoding of ragged rows (padding holes inside the window) against each row's full forward,
// and LoRA gradients through the windowed attention backward against finite differences of the reference loss.
// Tolerances as in qwen3.gpu.test.ts (logits 1e-5, GPU-vs-GPU 1e-6 or 2e-5 in the hardware family: gpuVsGpuTolerance, grads 3e-5 relative, loss 2e-6).
import { afterAll, describe, expect, it } from 'vitest';
import { clearLoraGrads, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { forward, prefill, step } from '../../../src/engine/model/index.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { lossAndGrads } from '../../../src/engine/train/grad.ts';
import { computeObjective, gatherLogp, objectiveTargets, type Method, type Sequence } from '../../../src/engine/train/objectives.ts';
import { perturbableFold, randomAdapter, worstFdError } from '../lora/lora-helpers.ts';
import { gpuShared, gpuVsGpuTolerance, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const TOL = 1e-5;

const CASES = [
  {
    name: 'mistral (window 4, every layer)',
    fixture: 'tiny-llama',
    over: { architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4 },
    windows: [4, 4],
  },
  {
    name: 'qwen2 (use_sliding_window, max_window_layers 1, window 3)',
    fixture: 'tiny-qwen2',
    over: { use_sliding_window: true, sliding_window: 3, max_window_layers: 1 },
    windows: [0, 3],
  },
] as const;

const loaded = new Map<string, Promise<Fixture>>();
const get = (c: (typeof CASES)[number]) => {
  let f = loaded.get(c.name);
  if (!f) loaded.set(c.name, (f = loadFixture(c.fixture, { configOverrides: c.over })));
  return f;
};

afterAll(async () => {
  for (const f of loaded.values()) (await f).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

const TARGETS: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  sft: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5], 4), seq([1, 44, 17, 250, 3, 9, 77, 12, 40, 41, 2], 3)],
};

for (const c of CASES) {
  describe(`sliding window: ${c.name}`, () => {
    it('parses into per-layer windows', async () => {
      const f = await get(c);
      expect(f.config.layerWindows).toEqual([...c.windows]);
    });

    it(`logits of a sequence longer than the window against the float64 reference: max |Δ| ≤ ${TOL}`, async () => {
      const f = await get(c);
      const [got] = await forward(f.model, [SEQ]);
      const want = f.reference(SEQ);
      const err = maxAbsDiff(got!, want);
      // the window matters at this length: the reference without it moves far more than the tolerance
      const full = referenceForward({ ...f.config, layerWindows: f.config.layerWindows.map(() => 0) }, (n) => f.weights.get(n)!, SEQ);
      const moved = maxAbsDiff(full, want);
      console.log(`${c.name}: max|Δlogit| = ${err.toExponential(2)} (T=${SEQ.length}); without the window the reference moves ${moved.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL);
      expect(moved).toBeGreaterThan(1e-2);
    });

    it('KV-cache decoding of ragged rows (holes inside the window) equals each row’s full forward', async () => {
      const f = await get(c);
      const V = f.config.vocabSize;
      const rows = [SEQ, SEQ.slice(2).reverse()];
      const prompts = [rows[0]!.slice(0, 5), rows[1]!.slice(0, 2)]; // row 1 leaves 3 masked slots after its prompt
      const full = await Promise.all(rows.map(async (r) => (await forward(f.model, [r]))[0]!));
      const { cache, logits } = await prefill(f.model, prompts, { capacity: 24 });
      try {
        let err = 0;
        for (const [b, p] of prompts.entries()) err = Math.max(err, maxAbsDiff(logits[b]!, full[b]!.subarray((p.length - 1) * V, p.length * V)));
        const steps = Math.min(...rows.map((r, b) => r.length - prompts[b]!.length));
        for (let s = 0; s < steps; s++) {
          const got = await step(cache, rows.map((r, b) => r[prompts[b]!.length + s]!));
          for (const [b, r] of rows.entries()) {
            const t = prompts[b]!.length + s;
            err = Math.max(err, maxAbsDiff(got[b]!, full[b]!.subarray(t * V, (t + 1) * V)));
            expect(t).toBeLessThan(r.length);
          }
        }
        console.log(`${c.name}: KV-cache decode vs full forward, max|Δ| = ${err.toExponential(2)} over ${steps} steps × 2 ragged rows`);
        expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      } finally {
        cache.release();
      }
    });

    for (const method of ['cpt', 'sft'] as Method[]) {
      it(`LoRA gradients (q, k, v, o) through the windowed attention against finite differences: ${method}`, async () => {
        const f = await get(c);
        const cfg = f.config;
        const V = cfg.vocabSize;
        const ad = randomAdapter(cfg, TARGETS, 2, 4, 700);
        const lora = loraFromTensors(f.model, { r: 2, loraAlpha: 4, useRslora: false, targetModules: null }, ad.tensors);
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
        const worst = worstFdError(fd, grads, cpuLoss, { layers: cfg.numLayers, targets: TARGETS, perTensor: 16, h: 1e-3, seed: 5 });
        console.log(`${c.name} · ${method}: loss rel err ${lossErr.toExponential(2)}; grads vs FD max rel err ${worst.toExponential(2)}`);
        expect(lossErr).toBeLessThanOrEqual(2e-6);
        expect(worst).toBeLessThanOrEqual(3e-5);
        lora.dispose();
      });
    }
  });
}
