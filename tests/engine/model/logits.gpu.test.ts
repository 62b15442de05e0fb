// Whole-model logits on the GPU against the float64 reference forward, for every fixture checkpoint, and the
// batched / KV-cache paths against the plain forward.
//
// Tolerance: max |Δlogit| ≤ 1e-5 for every fixture (measured on SwiftShader: 7e-7 to 1e-6 with |logits| ≤ 4.5;
// the bound leaves 10× for another device's summation order and exp/rsqrt, while a real regression, e.g. one
// kernel's rounding gone from f32 to f16, shows up as 1e-3 or more). For F32 weights the only difference is the
// GPU's f32 arithmetic; for BF16 the reference runs on the bf16-decoded weights (what the kernels decode), so the
// same bound holds. GPU-vs-GPU comparisons (batching, cache) run the same kernels on the same rows: measured
// identical (0), held to ≤ 1e-6 (2e-5 in the hardware family, whose mat-vec and tiles sum in shape-dependent orders: gpuVsGpuTolerance) so that a change of tiling that only reorders a sum still passes.
import { afterAll, describe, expect, it } from 'vitest';
import { forward, prefill, step } from '../../../src/engine/model/index.ts';
import { gpuShared, gpuVsGpuTolerance, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';

const TOL = 1e-5;
const loaded: Fixture[] = [];

afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

async function fixture(name: string) {
  const f = await loadFixture(name);
  loaded.push(f);
  return f;
}

describe('GPU forward against the reference forward', () => {
  for (const name of ['tiny-llama', 'tiny-llama-bf16', 'tiny-llama-sharded', 'tiny-llama-untied', 'tiny-qwen2']) {
    it(`${name}: max |Δlogit| ≤ ${TOL}`, async () => {
      const f = await fixture(name);
      const [got] = await forward(f.model, [SEQ]);
      const want = f.reference(SEQ);
      const err = maxAbsDiff(got!, want);
      let scale = 0;
      for (const x of want) scale = Math.max(scale, Math.abs(x));
      console.log(`${name}: max|Δlogit| = ${err.toExponential(2)} (max |logit| ${scale.toFixed(3)}, T=${SEQ.length})`);
      expect(err).toBeLessThanOrEqual(TOL);
      if (name === 'tiny-llama-bf16') {
        // 16-bit weights stay 16-bit on the GPU.
        expect(f.model.embed.dtype).toBe('bf16');
        expect(f.model.layers[0]!.o.weight.dtype).toBe('bf16');
      }
    });
  }

  it('BF16 weights take half the bytes of F32', async () => {
    const f32 = loaded.find((f) => f.name === 'tiny-llama')!;
    const bf16 = loaded.find((f) => f.name === 'tiny-llama-bf16')!;
    expect(bf16.model.weightBytes).toBeLessThan(0.55 * f32.model.weightBytes);
  });
});

describe('batching and the KV cache', () => {
  it('a right-padded batch equals each row run alone', async () => {
    const f = loaded.find((x) => x.name === 'tiny-qwen2') ?? (await fixture('tiny-qwen2'));
    const rows = [SEQ.slice(0, 4), SEQ, SEQ.slice(3, 10).reverse()];
    const batched = await forward(f.model, rows);
    for (const [i, r] of rows.entries()) {
      const [alone] = await forward(f.model, [r]);
      const err = maxAbsDiff(batched[i]!, alone!);
      console.log(`batch row ${i} (len ${r.length}): max|Δ| vs alone = ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
    }
  });

  it('prefill + steps give the full-sequence logits at every new position', async () => {
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const V = f.config.vocabSize;
    const [full] = await forward(f.model, [SEQ]);
    const k = 4;
    const { cache, logits } = await prefill(f.model, [SEQ.slice(0, k)], { capacity: SEQ.length });
    try {
      let err = maxAbsDiff(logits[0]!, full!.subarray((k - 1) * V, k * V));
      // A bad id is refused before anything runs and leaves the cache usable.
      await expect(step(cache, [V])).rejects.toThrow(/outside the model's vocabulary/);
      for (let t = k; t < SEQ.length; t++) {
        const [row] = await step(cache, [SEQ[t]!]);
        err = Math.max(err, maxAbsDiff(row!, full!.subarray(t * V, (t + 1) * V)));
      }
      console.log(`KV cache: max|Δ| vs full forward = ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
      await expect(step(cache, [3])).rejects.toThrow(/KV cache/);
    } finally {
      cache.release();
    }
  });

  it('batched decoding of prompts of different lengths equals each row alone (holes masked, own positions)', async () => {
    const f = loaded.find((x) => x.name === 'tiny-llama-bf16')!;
    const V = f.config.vocabSize;
    const prompts = [SEQ.slice(0, 3), SEQ.slice(2, 8)];
    const next = [
      [40, 41, 42],
      [50, 51, 52],
    ];
    const { cache, logits } = await prefill(f.model, prompts);
    let err = 0;
    try {
      const fulls = await forward(f.model, prompts.map((p, b) => [...p, ...next[b]!]));
      const at = (b: number, pos: number) => fulls[b]!.subarray(pos * V, (pos + 1) * V);
      prompts.forEach((p, b) => (err = Math.max(err, maxAbsDiff(logits[b]!, at(b, p.length - 1)))));
      for (let s = 0; s < 3; s++) {
        const rows = await step(cache, [next[0]![s]!, next[1]![s]!]);
        prompts.forEach((p, b) => (err = Math.max(err, maxAbsDiff(rows[b]!, at(b, p.length + s)))));
      }
    } finally {
      cache.release();
    }
    console.log(`batched KV decoding: max|Δ| vs full forward per row = ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(gpuVsGpuTolerance(f.model));
  });

  it('dispose returns every weight buffer to the pool', async () => {
    const { pool } = await gpuShared();
    const before = pool.stats().liveBytes;
    const f = await loadFixture('tiny-llama-untied');
    expect(pool.stats().liveBytes).toBe(before + f.model.weightBytes + 256 /* inv_freq */);
    f.model.dispose();
    expect(pool.stats().liveBytes).toBe(before);
    await expect(forward(f.model, [[1, 2]])).rejects.toThrow(/disposed/);
  });
});
