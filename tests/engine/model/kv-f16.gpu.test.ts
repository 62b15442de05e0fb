// Decoding through an f16 KV cache (kv-dtype.ts) against the f32 path. Every cached key and value is rounded to
// f16 (relative error ≤ 2^-11), so the logits move by a bounded amount, measured and printed here, while the cache
// takes half the bytes. Three ways the cache is filled: the fused split writing f16 words itself (tiny-llama), the
// store after q/k norms into a sliding layer's ring (tiny-gemma3), and the unfused path LoRA on q, k, v takes (the
// store too); plus scoring's forked caches.
import { afterAll, describe, expect, it } from 'vitest';
import { sizeClass } from '../../../src/engine/gpu/buffer-pool.ts';
import { countGpuCalls } from '../../../src/engine/gpu/call-counter.ts';
import { createLora } from '../../../src/engine/lora/adapter.ts';
import { forward, planInferenceMemory, prefill, scoreContinuations, step } from '../../../src/engine/model/index.ts';
import { gpuShared, loadFixture, maxAbsDiff, type Fixture } from './model-fixtures.ts';

/** 20 tokens: the gemma3 ring of a 3-token prompt (6 slots, window 4) wraps more than twice */
const LONG = Array.from({ length: 20 }, (_, t) => (t === 0 ? 1 : ((t * 53 + 11) % 380) + 3));
const P = 3;

/**
 * Bounds on max|Δ logits| between the f16 and the f32 cache on these fixtures (random weights), about twice what
 * was measured: tiny-llama 1.2e-3, tiny-gemma3 5.2e-3 (its √hidden-scaled embeddings and norms give larger keys);
 * scoring's log-probs 2.1e-4.
 */
const LLAMA_TOL = 2.5e-3;
const GEMMA_TOL = 1e-2;
const SCORE_TOL = 5e-4;

const loaded = new Map<string, Promise<Fixture>>();
const get = (name: string) => {
  let f = loaded.get(name);
  if (!f) loaded.set(name, (f = loadFixture(name)));
  return f;
};
afterAll(async () => {
  for (const f of loaded.values()) (await f).model.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe('f16 KV cache: decoding against the f32 path', () => {
  for (const c of [
    { name: 'tiny-llama, fused q|k|v split', fixture: 'tiny-llama', lora: false, tol: LLAMA_TOL },
    { name: 'tiny-gemma3, q/k norms, a ring for its sliding layer', fixture: 'tiny-gemma3', lora: false, tol: GEMMA_TOL },
    { name: 'tiny-llama with LoRA on q, k, v (the unfused path)', fixture: 'tiny-llama', lora: true, tol: LLAMA_TOL },
  ]) {
    it(c.name, async () => {
      const f = await get(c.fixture);
      const cfg = f.config;
      const V = cfg.vocabSize;
      const lora = c.lora ? createLora(f.model, { r: 4, alpha: 8, targets: ['q_proj', 'k_proj', 'v_proj'], seed: 3, grads: false }) : null;
      const full = (await forward(f.model, [LONG], lora ? { lora } : {}))[0]!;
      const run = async (kvDtype: 'f32' | 'f16') => {
        const { cache, logits } = await prefill(f.model, [LONG.slice(0, P)], { capacity: 24, lora, kvDtype });
        try {
          const out = [logits[0]!];
          for (let t = P; t < LONG.length; t++) out.push((await step(cache, [LONG[t]!]))[0]!);
          const bytes = [...cache.k, ...cache.v].reduce((s, b) => s + b.size, 0);
          return { out, bytes, ring: cache.ring, dtype: cache.dtype, slots: Array.from({ length: cfg.numLayers }, (_, l) => cache.layerSlots(l)) };
        } finally {
          cache.release();
        }
      };
      try {
        const f32 = await run('f32');
        const f16 = await run('f16');
        expect(f16.dtype).toBe('f16');
        // each layer's k and v hold half the bytes (buffers come in pool size classes)
        const want = f16.slots.reduce((s, n) => s + 2 * sizeClass(n * cfg.numKvHeads * cfg.headDim * 2), 0);
        expect(f16.bytes).toBe(want);
        let vsF32 = 0;
        let vsFull = 0;
        let f32VsFull = 0;
        f16.out.forEach((got, i) => {
          const t = P - 1 + i;
          vsF32 = Math.max(vsF32, maxAbsDiff(got, f32.out[i]!));
          vsFull = Math.max(vsFull, maxAbsDiff(got, full.subarray(t * V, (t + 1) * V)));
          f32VsFull = Math.max(f32VsFull, maxAbsDiff(f32.out[i]!, full.subarray(t * V, (t + 1) * V)));
        });
        console.log(
          `${c.name}: ${f16.out.length} positions, ring ${f16.ring}; f16 cache ${f16.bytes} B vs f32 ${f32.bytes} B; max|Δ| f16 vs f32 cache ${vsF32.toExponential(2)}, f16 vs forward ${vsFull.toExponential(2)} (f32 cache vs forward ${f32VsFull.toExponential(2)})`,
        );
        expect(vsF32).toBeLessThan(c.tol);
        expect(vsFull).toBeLessThan(c.tol);
        // the rounding shows: an f16 cache is not secretly f32
        expect(vsF32).toBeGreaterThan(0);
      } finally {
        lora?.dispose();
      }
    });
  }

  it('scoring with shared prefixes forks f16 caches; the log-probs follow the f32 ones', async () => {
    const f = await get('tiny-llama');
    const opening = LONG.slice(0, 12);
    const requests = [5, 9, 77].map((x) => ({ context: [...opening, x], continuation: [x + 1, x + 2] }));
    const f32 = await scoreContinuations(f.model, requests);
    f.model.kvDtype = 'f16';
    try {
      const f16 = await scoreContinuations(f.model, requests);
      const err = Math.max(...f16.map((r, i) => Math.abs(r.logProb - f32[i]!.logProb)));
      console.log(`scoring 3 requests over a 12-token opening with an f16 cache: max|Δ log p| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(SCORE_TOL);
      expect(err).toBeGreaterThan(0);
    } finally {
      f.model.kvDtype = 'f32';
    }
  });

  it('a decode step dispatches as many kernels with either cache (the fused split writes f16 words itself)', async () => {
    const f = await get('tiny-llama');
    const counts: number[] = [];
    for (const kvDtype of ['f32', 'f16'] as const) {
      const { cache } = await prefill(f.model, [LONG.slice(0, P)], { capacity: 8, kvDtype });
      try {
        await step(cache, [LONG[P]!]); // first use: pipelines, step buffers
        const counter = countGpuCalls(f.model.device);
        try {
          await step(cache, [LONG[P + 1]!]);
          counts.push(counter.snapshot().dispatches);
        } finally {
          counter.dispose();
        }
      } finally {
        cache.release();
      }
    }
    console.log(`dispatches per decode step, tiny-llama: f32 cache ${counts[0]}, f16 cache ${counts[1]}`);
    expect(counts[1]).toBe(counts[0]);
  });

  it('the memory plan counts two bytes a cached element', () => {
    const cfg = { dtype: 'f32' as const, batch: 2, seqLen: 24, kvCapacity: 40, logitRows: 2 };
    return get('tiny-llama').then((f) => {
      const f32 = planInferenceMemory(f.config, cfg);
      const f16 = planInferenceMemory(f.config, { ...cfg, kvDtype: 'f16' });
      expect(f16.kvCache * 2).toBe(f32.kvCache);
      expect(f16.kvCache).toBe(2 * f.config.numLayers * 2 * 40 * f.config.numKvHeads * f.config.headDim * 2);
    });
  });
});
