// f16 activations (act-dtype.ts, Model.activations = 'f16') through the whole model on the hardware family
// (ALLOY_KERNELS=hardware: SwiftShader here, lavapipe in gpu-lavapipe): the forward of every fixture architecture
// against the float64 reference, a prefill into a KV cache then decode steps, where layerActsF16 falls back to f32,
// the dispatch count, and the memory plan against the pool's measured peak.
//
// Tolerance: f16 keeps 11 significant bits, so each stored activation is off by up to 2^-11 relative; through
// two layers and the head the fixtures' logits move by about 1e-3 of their largest magnitude, so the bound is
// relative to max|logit|: measured 3.1e-4 to 8.1e-4 (Llama, Qwen2/3, SmolLM3; bound 1e-3) and 1.7e-3 for
// tiny-gemma3 (bound 2e-3), whose sandwich norms rescale the o_proj and down_proj outputs, made from f16 inputs,
// to unit RMS before they join the residual; its error is spread evenly over the positions, before and past its
// 4-key window alike. f32 activations are held to 1e-5 in hardware-family.gpu.test.ts.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { asGgml, kQuantLlama, typeRule } from './quant-fixtures.ts';
import { forward, loadModel, planInferenceMemory, prefill, step } from '../../../src/engine/model/index.ts';
import { layerActsF16 } from '../../../src/engine/model/layer.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';
import { countGpuCalls, perUnit } from '../../../src/engine/gpu/call-counter.ts';

process.env.ALLOY_KERNELS = 'hardware';

/** the bound on max|Δlogit| ÷ max|logit| */
const relTol = (name: string) => (name === 'tiny-gemma3' ? 2e-3 : 1e-3);
const maxAbs = (x: Float64Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const loaded: Fixture[] = [];

afterAll(async () => {
  for (const f of loaded) f.model.dispose();
  (await gpuShared()).pool.destroyAll();
});

/** Logits of SEQ with the model's activations set to `acts`. */
async function logitsWith(f: Fixture, acts: 'f32' | 'f16'): Promise<Float32Array> {
  f.model.activations = acts;
  try {
    return (await forward(f.model, [SEQ]))[0]!;
  } finally {
    f.model.activations = 'f32';
  }
}

describe('f16 activations: the whole model (hardware family)', () => {
  for (const name of ['tiny-llama', 'tiny-llama-bf16', 'tiny-qwen2', 'tiny-smollm3', 'tiny-qwen3', 'tiny-gemma3']) {
    it(`${name}: forward within ${relTol(name)} × max|logit| of the reference, and not the f32 path's logits (the f16 path ran)`, async () => {
      const f = await loadFixture(name);
      loaded.push(f);
      const want = f.reference(SEQ);
      const f16 = await logitsWith(f, 'f16');
      const f32 = await logitsWith(f, 'f32');
      const err = maxAbsDiff(f16, want);
      const vsF32 = maxAbsDiff(f16, f32);
      const scale = maxAbs(want);
      console.log(`f16 activations ${name}: max|Δlogit| vs reference ${err.toExponential(2)} = ${(err / scale).toExponential(2)} × max|logit| ${scale.toFixed(2)}; vs f32 activations ${vsF32.toExponential(2)} (f32 vs reference ${maxAbsDiff(f32, want).toExponential(2)})`);
      expect(err).toBeLessThanOrEqual(relTol(name) * scale);
      // f16 rounding moves the logits far more than f32 summation order does (≤ 2e-5 between hardware paths)
      expect(vsF32).toBeGreaterThan(1e-4);
    });
  }

  // ggml blocks kept packed on the GPU (hw_matmul_q's +a16/+c16 variants), against the reference on their
  // de-quantised weights
  for (const type of ['Q8_0', 'Q4_K']) {
    it(`${type} weights: forward within ${relTol(type)} × max|logit| of the reference`, async () => {
      const ctx = await testGpu();
      const { pool, kernels } = await gpuShared();
      const { config, checkpoint } = kQuantLlama();
      const q = await asGgml(checkpoint, typeRule(type, config));
      const model = await loadModel(ctx, kernels, pool, q, config, { activations: 'f16' });
      try {
        expect(model.layers[0]!.qkv!.weight.dtype).toBe(type);
        const weights = new Map<string, Float32Array>();
        for (const n of q.names()) weights.set(n, await q.readF32(n));
        const want = referenceForward(config, (n) => weights.get(n)!, SEQ);
        const [got] = await forward(model, [SEQ]);
        const err = maxAbsDiff(got!, want);
        console.log(`f16 activations ${type}: max|Δlogit| vs reference ${err.toExponential(2)} = ${(err / maxAbs(want)).toExponential(2)} × max|logit|`);
        expect(err).toBeLessThanOrEqual(relTol(type) * maxAbs(want));
        expect(err).toBeGreaterThan(1e-4); // the f16 path ran (f32 activations: ≤ 2.1e-6, quantized.gpu.test.ts)
      } finally {
        model.dispose();
      }
    });
  }

  // q/k-norm layers (Qwen3, Gemma 3) copy their dense f16 keys into an f16 cache word for word; into an f32 cache
  // they stay f32 (layerActsF16), so only the f16 cache is theirs here
  for (const [name, kvDtypes] of [['tiny-llama', ['f32', 'f16']], ['tiny-qwen3', ['f16']], ['tiny-gemma3', ['f16']]] as const) {
    it(`${name}: a prefill with f16 activations into a KV cache (${kvDtypes.join(', ')}), then decode steps (f32 rows), against the reference`, async () => {
      const f = loaded.find((x) => x.name === name)!;
      const V = f.config.vocabSize;
      const want = f.reference(SEQ);
      const k = 7; // more rows than the mat-vec takes: the prefill runs f16
      f.model.activations = 'f16';
      try {
        for (const kvDtype of kvDtypes) {
          const { cache, logits } = await prefill(f.model, [SEQ.slice(0, k)], { capacity: SEQ.length, kvDtype });
          try {
            let err = maxAbsDiff(logits[0]!, want.subarray((k - 1) * V, k * V));
            for (let t = k; t < SEQ.length; t++) {
              const [row] = await step(cache, [SEQ[t]!]);
              err = Math.max(err, maxAbsDiff(row!, want.subarray(t * V, (t + 1) * V)));
            }
            console.log(`f16 activations ${name}: prefill ${k} into an ${kvDtype} cache + decode, max|Δlogit| vs reference ${err.toExponential(2)} = ${(err / maxAbs(want)).toExponential(2)} × max|logit|`);
            expect(err).toBeLessThanOrEqual(relTol(name) * maxAbs(want));
          } finally {
            cache.release();
          }
        }
      } finally {
        f.model.activations = 'f32';
      }
    });
  }

  it('tiny-llama: the f16 forward runs as many dispatches as the f32 one (variants, no conversions)', async () => {
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const count = async (acts: 'f32' | 'f16') => {
      await logitsWith(f, acts); // warm: pipelines and bind groups made
      const counter = countGpuCalls(f.model.device);
      try {
        await logitsWith(f, acts);
        return perUnit(counter.snapshot(), 1);
      } finally {
        counter.dispose();
      }
    };
    const f32 = await count('f32');
    const f16 = await count('f16');
    console.log(`tiny-llama forward of ${SEQ.length} tokens: f32 ${JSON.stringify(f32)}, f16 ${JSON.stringify(f16)}`);
    expect(f16.dispatches).toBe(f32.dispatches);
  });

  const ids = (B: number, T: number) => Array.from({ length: B }, (_, r) => Array.from({ length: T }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3)));
  for (const [name, kv] of [['tiny-llama', false], ['tiny-qwen3', false], ['tiny-gemma3', true]] as const) {
    const what = kv ? 'a prefill 2×24 into a 40-slot f16 cache' : 'a forward 4×64';
    it(`${name}: the memory plan covers the pool peak of ${what} with f16 activations, within 1.1×, and shrinks the layer stage`, async () => {
      const ctx = await testGpu();
      // its own pool, so the peak is this run's (and the weights')
      const pool = new BufferPool(ctx.device);
      const files = dirModelFiles(join('public/hub', OWNER, name, 'resolve', REVISION));
      const config = parseModelConfig(await readJson(files, 'config.json'));
      const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), config, { activations: 'f16' });
      try {
        const [B, T] = kv ? [2, 24] : [4, 64];
        if (kv) (await prefill(model, ids(B, T), { capacity: 40, kvDtype: 'f16' })).cache.release();
        else await forward(model, ids(B, T));
        const peak = pool.stats().peakBytes;
        const base = { dtype: 'f32' as const, batch: B, seqLen: T, kernels: 'hardware' as const };
        const opts = kv ? { ...base, kvCapacity: 40, kvDtype: 'f16' as const, logitRows: B } : { ...base, kvCapacity: 0 };
        const plan16 = planInferenceMemory(config, { ...opts, activations: 'f16' });
        const plan32 = planInferenceMemory(config, opts);
        console.log(`f16 activations ${name}, ${what}: measured pool peak ${peak} B, plan ${plan16.poolTotal} B (${(plan16.poolTotal / peak).toFixed(3)}); layer stage ${plan16.activations} B against ${plan32.activations} B with f32`);
        expect(plan16.poolTotal).toBeGreaterThanOrEqual(peak);
        expect(plan16.poolTotal).toBeLessThanOrEqual(1.1 * peak);
        expect(plan16.activations).toBeLessThan(0.8 * plan32.activations);
      } finally {
        model.dispose();
        pool.destroyAll();
      }
    });
  }
});

describe('layerActsF16: where f16 activations apply', () => {
  const base = { activations: 'f16' as const, family: 'hardware' as const, BT: 64, fused: true, splitsQkv: false, cacheF32: false, loraDropout: false };
  it('applies to a fused hardware-family pass of more rows than the mat-vec takes, training and adapters included', () => {
    expect(layerActsF16(base)).toBe(true);
    expect(layerActsF16({ ...base, BT: 5 })).toBe(true);
    expect(layerActsF16({ ...base, splitsQkv: true })).toBe(true); // training, an adapter on q/k/v, q/k norms
    expect(layerActsF16({ ...base, cacheF32: true })).toBe(true); // the fused split writes an f32 cache itself
  });
  it('falls back to f32 for f32 models, the software family, unfused layers, LoRA dropout, split keys into an f32 cache and decode rows', () => {
    for (const over of [{ activations: 'f32' as const }, { family: 'software' as const }, { fused: false }, { loraDropout: true }, { splitsQkv: true, cacheF32: true }, { BT: 4 }]) {
      expect(layerActsF16({ ...base, ...over }), JSON.stringify(over)).toBe(false);
    }
  });
});
