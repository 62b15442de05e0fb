// Memory plans against a fresh pool's peak, for a fixture architecture (Qwen3, Gemma 3 tests): three inference
// shapes (one submit, a submit per layer, a prefill into a KV cache) and an SFT LoRA run on the given targets.
// Each plan must cover the measured peak and stay within 1.1× of it; the ratio is printed.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import type { LoraTarget } from '../../../src/engine/lora/targets.ts';
import { forward, loadModel, planInferenceMemory, prefill } from '../../../src/engine/model/index.ts';
import { planTrainingMemory } from '../../../src/engine/train/memory.ts';
import { Trainer, trainConfig } from '../../../src/engine/train/trainer.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';

const ids = (B: number, T: number) => Array.from({ length: B }, (_, r) => Array.from({ length: T }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3)));

export function describeMemoryPlans(name: string, targets: LoraTarget[], note = ''): void {
  const fresh = async () => {
    const files = dirModelFiles(join('public/hub', OWNER, name, 'resolve', REVISION));
    const config = parseModelConfig(await readJson(files, 'config.json'));
    const ctx = await testGpu();
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), config);
    return { config, pool, model };
  };
  describe(`${name} memory plans vs BufferPool peak${note}`, () => {
    for (const c of [
      { name: 'forward 2×8 (one submit)', B: 2, T: 8, kv: false },
      { name: 'forward 4×64 (a submit per layer)', B: 4, T: 64, kv: false },
      { name: 'prefill 2×24 into a 40-slot cache', B: 2, T: 24, kv: true },
      { name: 'prefill 2×24 into a 40-slot f16 cache', B: 2, T: 24, kv: true, kvDtype: 'f16' as const },
    ]) {
      it(`inference: ${c.name}`, async () => {
        const { config, pool, model } = await fresh();
        try {
          const kvDtype = 'kvDtype' in c ? c.kvDtype : 'f32';
          if (c.kv) (await prefill(model, ids(c.B, c.T), { capacity: 40, kvDtype })).cache.release();
          else await forward(model, ids(c.B, c.T));
          const peak = pool.stats().peakBytes;
          const opts = { dtype: 'f32' as const, batch: c.B, seqLen: c.T, kernels: model.kernels.family };
          const plan = planInferenceMemory(config, c.kv ? { ...opts, kvCapacity: 40, kvDtype, logitRows: c.B } : { ...opts, kvCapacity: 0 });
          console.log(`${name} ${c.name}: measured pool peak ${peak} B, plan ${plan.poolTotal} B, plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
          expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
          expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
        } finally {
          model.dispose();
          pool.destroyAll();
        }
      });
    }

    it(`training: SFT, LoRA on ${targets.join(', ')}, B=2 T=8`, async () => {
      const { config, pool, model } = await fresh();
      const lora = createLora(model, { r: 4, alpha: 8, targets, seed: 1 });
      const rows = [1, 2, 3, 4].map((i) => ({ ids: [1, 40 + i, 7, 9, 300, 5, 17 + i, 2], promptLen: 4 }));
      const t = new Trainer(model, lora, trainConfig({ method: 'sft', steps: 2, microBatch: 2 }), { train: rows });
      try {
        await t.run();
        const measured = pool.stats().peakBytes;
        const plan = planTrainingMemory(config, { dtype: 'f32', rows: 2, seqLen: 8, r: 4, targets, method: 'sft' });
        console.log(`${name} training B=2 T=8 r=4 (${targets.length} targets): plan ${plan.poolTotal} B, measured pool peak ${measured} B, ratio ${(plan.poolTotal / measured).toFixed(3)}`);
        expect(plan.poolTotal).toBeGreaterThanOrEqual(measured);
        expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * measured);
      } finally {
        t.dispose();
        lora.dispose();
        model.dispose();
        pool.destroyAll();
      }
    });
  });
}
