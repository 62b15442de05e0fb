// The inference memory plan against the BufferPool's measured peak: tiny-llama loaded into a fresh pool, one
// forward (or a prefill into a KV cache), and planInferenceMemory's poolTotal for the same run. The plan replays
// the same allocations on the pool's accounting (size classes, reuse of released buffers), so it must be ≥ the
// measured peak and within 1.1× of it. Shapes cover one submit (≤ 64 rows: intermediates released after their last
// reader), per-layer submits (256 rows: a layer's intermediates held until its submit), gathered logit rows,
// and a split head (6000-byte binding: 17 embedding chunks, logits in 3-row blocks).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { forward, loadModel, planInferenceMemory, prefill } from '../../../src/engine/model/index.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { ensureFixtures, OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';

const rows = (B: number, T: number) => Array.from({ length: B }, (_, r) => Array.from({ length: T }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3)));

const CASES = [
  { name: 'forward 2×8 (one submit)', B: 2, T: 8, kv: false },
  { name: 'forward 4×64 (a submit per layer)', B: 4, T: 64, kv: false },
  { name: 'prefill 2×24 into a 40-slot cache, last rows only', B: 2, T: 24, kv: true },
  { name: 'forward 2×32, binding 6000 B (split tables and logits)', B: 2, T: 32, kv: false, limit: 6000 },
];

describe('inference memory plan vs BufferPool peak', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      await ensureFixtures('public/hub');
      const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
      const config = parseModelConfig(await readJson(files, 'config.json'));
      const ctx = await testGpu();
      const pool = new BufferPool(ctx.device);
      const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), config, c.limit ? { maxBindingBytes: c.limit } : {});
      try {
        if (c.kv) (await prefill(model, rows(c.B, c.T), { capacity: 40 })).cache.release();
        else await forward(model, rows(c.B, c.T));
        const peak = pool.stats().peakBytes;
        const opts = { dtype: 'f32' as const, batch: c.B, seqLen: c.T, kernels: model.kernels.family, ...(c.limit ? { maxBindingBytes: c.limit } : {}) };
        const plan = planInferenceMemory(config, c.kv ? { ...opts, kvCapacity: 40, logitRows: c.B } : { ...opts, kvCapacity: 0 });
        console.log(
          `tiny-llama ${c.name}: measured pool peak ${peak} B, plan ${plan.poolTotal} B (exact: weights ${plan.weights}, KV ${plan.kvCache}, ` +
            `activations ${plan.activations}, head ${plan.head}, logits ${plan.logits}), plan/measured ${(plan.poolTotal / peak).toFixed(3)}`,
        );
        expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
        expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
      } finally {
        model.dispose();
        pool.destroyAll();
      }
    });
  }
});
