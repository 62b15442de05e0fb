// Per-layer activation recomputation (gradient checkpointing, grad.ts PassOptions.recompute):
//   - loss and LoRA gradients with recompute = keeping everything, bit for bit (u32 views), for CPT and DPO on
//     tiny-llama and tiny-qwen2 (q/k biases), with LoRA dropout off and on (p = 0.2: the recomputed forward draws
//     the forward's masks again). Bit-identity, not a tolerance: the recomputed layer runs the same kernels on the
//     same bytes, and no kernel uses atomics;
//   - memory: one Trainer step on a fresh BufferPool per setting (tiny-llama, CPT 2×32 tokens and DPO 2 pairs of
//     32, r = 4 on q/v/down): the pool's peak drops with recompute, and planTrainingMemory's poolTotal is ≥ the
//     measured peak for both settings (and within 1.1× of it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { clearLoraGrads, createLora, loraFromTensors, readLoraF32 } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { loadModel } from '../../../src/engine/model/index.ts';
import { lossAndGrads, type PassOptions } from '../../../src/engine/train/grad.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import type { Method, Sequence } from '../../../src/common/training-data.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, type Fixture } from '../model/model-fixtures.ts';
import { randomAdapter } from '../lora/lora-helpers.ts';

const TARGETS: LoraTarget[] = ['q_proj', 'v_proj', 'down_proj'];
const seq = (ids: number[], promptLen = 0): Sequence => ({ ids, promptLen });
const BATCHES: Partial<Record<Method, Sequence[]>> = {
  cpt: [seq([1, 72, 101, 300, 108, 383, 2, 259, 5, 44]), seq([1, 17, 250, 3, 9, 77, 12])],
  dpo: [seq([1, 50, 60, 70, 80, 2], 3), seq([1, 90, 91, 92, 2], 2), seq([1, 50, 60, 33, 34, 35, 2], 3), seq([1, 90, 7, 2], 2)],
};
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const loaded: Fixture[] = [];
afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('recomputation = keeping everything, bit for bit', () => {
  // tiny-gemma3: sandwich norms, GeGLU and a sliding layer; tiny-smollm3: a NoPE layer
  for (const name of ['tiny-llama', 'tiny-qwen2', 'tiny-gemma3', 'tiny-smollm3']) {
    for (const method of ['cpt', 'dpo'] as Method[]) {
      it(`${name} · ${method} · dropout 0 and 0.2`, async () => {
        let f = loaded.find((x) => x.name === name);
        if (!f) loaded.push((f = await loadFixture(name)));
        const model = f.model;
        for (const p of [0, 0.2]) {
          const ad = randomAdapter(f.config, TARGETS, 2, 4, 500);
          const lora = loraFromTensors(model, { r: 2, loraAlpha: 4, useRslora: false, targetModules: null, loraDropout: p }, ad.tensors);
          const run = async (pass: PassOptions) => {
            clearLoraGrads(model, lora);
            const r = await lossAndGrads(model, lora, method, BATCHES[method]!, { beta: 0.5 }, pass);
            return { loss: r.loss, g: [...(await readLoraF32(model, lora, 'grads'))].map(([k, v]) => [k, bits(v.data)] as const) };
          };
          const at = { seed: 11, step: 2, micro: 0 };
          const keepAll = await run({ dropout: at });
          const re = await run({ dropout: at, recompute: true });
          expect(re.loss).toBe(keepAll.loss);
          expect(re.g).toEqual(keepAll.g);
          expect(keepAll.g.some(([, g]) => g.some((x) => x !== 0))).toBe(true);
          console.log(`${name} · ${method} · dropout ${p}: loss ${keepAll.loss} both ways; ${re.g.length} gradient tensors bit-identical`);
          lora.dispose();
        }
      });
    }
  }
});

describe('recomputation lowers the measured peak; the plan stays ≥ it', () => {
  const ROWS32 = Array.from({ length: 4 }, (_, r) => seq(Array.from({ length: 32 }, (_, t) => (t === 0 ? 1 : (r * 37 + t * 11) % 380 + 3))));
  const PAIRS32 = [...ROWS32.slice(0, 2).map((s) => ({ ...s, promptLen: 8 })), ...ROWS32.slice(2).map((s) => ({ ...s, promptLen: 8 }))];
  let config: Fixture['config'];
  beforeAll(async () => {
    await ensureFixtures('public/hub');
    let f = loaded.find((x) => x.name === 'tiny-llama');
    if (!f) loaded.push((f = await loadFixture('tiny-llama')));
    config = f.config;
  });

  const measure = async (method: Method, train: Sequence[], recompute: boolean, dropout: number) => {
    const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
    const ctx = await testGpu();
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), config);
    const lora = createLora(model, { r: 4, alpha: 8, targets: TARGETS, seed: 1, dropout });
    const t = new Trainer(model, lora, trainConfig({ method, steps: 1, microBatch: 2, recompute }), { train });
    const res = await t.run();
    const peak = pool.stats().peakBytes;
    t.dispose();
    lora.dispose();
    model.dispose();
    pool.destroyAll();
    return { peak, loss: res.history[0]!.loss };
  };

  for (const [method, dropout] of [['cpt', 0], ['cpt', 0.1], ['dpo', 0.1]] as const) {
    it(`${method}, dropout ${dropout}: peak with recompute < without; plan ≥ measured (≤ 1.1×) for both`, async () => {
      const train = method === 'cpt' ? ROWS32 : PAIRS32;
      const rows = method === 'cpt' ? 2 : 4;
      const lines: string[] = [];
      const peaks: number[] = [];
      const losses: number[] = [];
      for (const recompute of [false, true]) {
        const { peak, loss } = await measure(method, train, recompute, dropout);
        const plan = planTrainingMemory(config, { dtype: 'f32', rows, seqLen: 32, r: 4, targets: TARGETS, recompute, dropout: dropout > 0, method });
        lines.push(`${recompute ? 'recompute' : 'keep all '}: measured peak ${peak} B, plan ${plan.poolTotal} B (kept ${plan.kept}, backward ${plan.backward}), plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
        expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
        expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
        peaks.push(peak);
        losses.push(loss);
      }
      console.log(`tiny-llama ${method} ${rows}×32 r=4 dropout ${dropout}:\n  ${lines.join('\n  ')}\n  peak drop ${peaks[0]! - peaks[1]!} B`);
      expect(peaks[1]!).toBeLessThan(peaks[0]!);
      expect(losses[1]).toBe(losses[0]);
    });
  }
});
