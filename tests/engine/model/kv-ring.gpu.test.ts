// The sliding layers' ring KV cache (kv-cache.ts, kv-ring.ts): a sliding layer keeps (W − 1) + holes + run slots
// a row instead of the whole context, full layers keep the capacity. Decoding far past the ring (it wraps several
// times) must equal the full forward, for a Mistral-style config (every layer slides, window 4: the fused split
// path writes the ring) and Gemma 3 (layer 0 slides with window 4, layer 1 is global: q/k norms, so the cache is
// filled by copies, which wrap in two pieces), and so must multi-token runs that wrap mid-run. The memory plan
// counts the ring. GPU-vs-GPU tolerance: model-fixtures.ts gpuVsGpuTolerance (1e-6; 2e-5 in the hardware family); measured values are printed.
import { afterAll, describe, expect, it } from 'vitest';
import { sizeClass } from '../../../src/engine/gpu/buffer-pool.ts';
import { forward, planInferenceMemory, prefill, step } from '../../../src/engine/model/index.ts';
import { KvCache } from '../../../src/engine/model/kv-cache.ts';
import { kvRingSlots } from '../../../src/engine/model/kv-ring.ts';
import { gpuShared, gpuVsGpuTolerance, loadFixture, maxAbsDiff, type Fixture } from './model-fixtures.ts';

/** 30 tokens: the ring of a 3-token prompt (6 slots with window 4) wraps four times */
const LONG = Array.from({ length: 30 }, (_, t) => (t === 0 ? 1 : ((t * 53 + 11) % 380) + 3));

const CASES = [
  { name: 'mistral (window 4, every layer)', fixture: 'tiny-llama', over: { architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4 }, sliding: [true, true] },
  { name: 'gemma3 (layer 0 window 4, layer 1 global)', fixture: 'tiny-gemma3', over: {}, sliding: [true, false] },
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

for (const c of CASES) {
  describe(`ring KV cache: ${c.name}`, () => {
    it('sliding layers keep a window-sized ring, full layers the capacity; decoding 27 steps past a 3-token prompt equals the full forward', async () => {
      const f = await get(c);
      const cfg = f.config;
      const V = cfg.vocabSize;
      const full = (await forward(f.model, [LONG]))[0]!;
      const P = 3;
      const { cache, logits } = await prefill(f.model, [LONG.slice(0, P)], { capacity: 32 });
      try {
        // (W − 1) + the prompt's 3 tokens
        expect(cache.ring).toBe(4 - 1 + P);
        const slotBytes = cfg.numKvHeads * cfg.headDim * 4;
        for (let l = 0; l < cfg.numLayers; l++) {
          const slots = c.sliding[l] ? cache.ring : 32;
          expect(cache.layerSlots(l)).toBe(slots);
          for (const b of [cache.k[l]!, cache.v[l]!]) expect(b.size).toBe(sizeClass(slots * slotBytes));
        }
        let err = maxAbsDiff(logits[0]!, full.subarray((P - 1) * V, P * V));
        for (let t = P; t < LONG.length; t++) {
          const [got] = await step(cache, [LONG[t]!]);
          err = Math.max(err, maxAbsDiff(got!, full.subarray(t * V, (t + 1) * V)));
        }
        console.log(`${c.name}: ring of ${cache.ring} slots (capacity 32), ${LONG.length - P} decode steps vs full forward: max|Δ| = ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      } finally {
        cache.release();
      }
    });

    it('runs of 4 tokens into a 7-slot ring (wrapping mid-run) equal the full forward; a run too long for the ring is refused', async () => {
      const f = await get(c);
      const V = f.config.vocabSize;
      const full = (await forward(f.model, [LONG]))[0]!;
      const ring = kvRingSlots(f.config, 40, 4);
      expect(ring).toBe(7);
      const cache = KvCache.create(f.model, 1, 40, null, ring);
      try {
        let err = 0;
        for (let t0 = 0; t0 + 4 <= 28; t0 += 4) {
          const rows = Uint32Array.from([0, 1, 2, 3]);
          const got = (await cache.run(Uint32Array.from(LONG.slice(t0, t0 + 4)), 4, [4], rows)) as Float32Array;
          err = Math.max(err, maxAbsDiff(got, full.subarray(t0 * V, (t0 + 4) * V)));
        }
        console.log(`${c.name}: 7 runs of 4 tokens through a 7-slot ring: max|Δ| = ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
        await expect(cache.run(Uint32Array.from([5, 6]), 2, [2], Uint32Array.from([1]))).resolves.toBeDefined(); // 3 + 2 ≤ 7
        await expect(cache.run(Uint32Array.from([5, 6, 7, 8, 9]), 5, [5], Uint32Array.from([4]))).rejects.toThrow(
          "this KV cache's sliding layers keep 7 slots a row (a ring); a run of 5 tokens with a 4-token window and 0 padding slots needs 8: run fewer tokens at once",
        );
      } finally {
        cache.release();
      }
    });

    if (c.fixture === 'tiny-gemma3') {
      it('a ragged prefill longer than its 256-token chunk runs in chunks into the ring, each row\'s logits from its chunk, and decodes on', async () => {
        // the fixture's 128 positions stretched to 512 (RoPE needs no table)
        const f = await loadFixture(c.fixture, { configOverrides: { ...c.over, max_position_embeddings: 512 } });
        const V = f.config.vocabSize;
        const tok = (n: number, k: number) => Array.from({ length: n }, (_, t) => (t === 0 ? 1 : ((t * k + 7) % 380) + 3));
        const rows = [tok(304, 29), tok(204, 41)];
        const prompts = [rows[0]!.slice(0, 300), rows[1]!.slice(0, 200)]; // row 1's last token is in chunk 1, row 0's in chunk 2
        const full = await Promise.all(rows.map(async (r) => (await forward(f.model, [r]))[0]!));
        const { cache, logits } = await prefill(f.model, prompts, { capacity: 400 });
        try {
          // (W − 1) + 100 padding slots + a 256-token chunk
          expect(cache.ring).toBe(3 + 100 + 256);
          let err = 0;
          for (const [b, p] of prompts.entries()) err = Math.max(err, maxAbsDiff(logits[b]!, full[b]!.subarray((p.length - 1) * V, p.length * V)));
          for (let s = 0; s < 4; s++) {
            const got = await step(cache, rows.map((r, b) => r[prompts[b]!.length + s]!));
            for (const b of [0, 1]) {
              const t = prompts[b]!.length + s;
              err = Math.max(err, maxAbsDiff(got[b]!, full[b]!.subarray(t * V, (t + 1) * V)));
            }
          }
          console.log(`${c.name}: chunked ragged prefill (300 and 200 tokens, ring ${cache.ring} of 400) + 4 steps vs full forwards: max|Δ| = ${err.toExponential(2)}`);
          expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
        } finally {
          cache.release();
          f.model.dispose();
        }
      });
    }

    it('a ring survives fork: each forked row decodes on past the wrap as the full forward', async () => {
      const f = await get(c);
      const V = f.config.vocabSize;
      const full = (await forward(f.model, [LONG]))[0]!;
      const { cache } = await prefill(f.model, [LONG.slice(0, 3)], { capacity: 32 });
      let forked: KvCache | null = null;
      try {
        for (let t = 3; t < 10; t++) await step(cache, [LONG[t]!]); // 10 slots through a 6-slot ring
        forked = cache.fork(2);
        expect(forked.ring).toBe(cache.ring);
        let err = 0;
        for (let t = 10; t < 16; t++) {
          const got = await step(forked, [LONG[t]!, LONG[t]!]);
          for (const g of got) err = Math.max(err, maxAbsDiff(g, full.subarray(t * V, (t + 1) * V)));
        }
        console.log(`${c.name}: forked ring (2 rows) after a wrap, 6 steps vs full forward: max|Δ| = ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      } finally {
        forked?.release();
        cache.release();
      }
    });

    it('the memory plan counts the ring for the sliding layers', async () => {
      const cfg = (await get(c)).config;
      const kvW = cfg.numKvHeads * cfg.headDim * 4;
      const opts = { dtype: 'f32' as const, batch: 2, seqLen: 3, kvCapacity: 32, logitRows: 2 };
      const ringed = planInferenceMemory(cfg, opts);
      const whole = planInferenceMemory(cfg, { ...opts, kvRing: 0 });
      const slots = c.sliding.reduce((n, s) => n + (s ? 6 : 32), 0);
      expect(ringed.kvCache).toBe(2 * 2 * slots * kvW);
      expect(whole.kvCache).toBe(2 * 2 * 32 * cfg.numLayers * kvW);
      console.log(`${c.name}: KV cache for 2 rows × 32 slots: ${ringed.kvCache} B with the ring, ${whole.kvCache} B without`);
    });
  });
}
