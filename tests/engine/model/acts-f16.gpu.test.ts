// f16 activations (act-dtype.ts, Model.activations = 'f16') through the whole model on the hardware family
// (ALLOY_KERNELS=hardware: SwiftShader here, lavapipe in gpu-lavapipe): the forward against the float64 reference,
// a prefill into a KV cache then decode steps, the fallbacks layerActsF16 names (Qwen3's q/k norms, decode rows),
// and the memory plan against the pool's measured peak.
//
// Tolerance: f16 keeps 11 significant bits, so each stored activation is off by up to 2^-11 relative; through
// two layers and the head the fixtures' logits (|logit| ≲ 3) move by ~1e-3. The bound is set near what is
// measured and printed (see each test); f32 activations are held to 1e-5 in hardware-family.gpu.test.ts.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OWNER, REVISION } from '../../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { forward, loadModel, planInferenceMemory, prefill, step } from '../../../src/engine/model/index.ts';
import { layerActsF16 } from '../../../src/engine/model/layer.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, loadFixture, maxAbsDiff, SEQ, type Fixture } from './model-fixtures.ts';
import { countGpuCalls, perUnit } from '../../../src/engine/gpu/call-counter.ts';

process.env.ALLOY_KERNELS = 'hardware';

const TOL_F16 = 4e-3;
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
  for (const name of ['tiny-llama', 'tiny-llama-bf16', 'tiny-qwen2', 'tiny-smollm3', 'tiny-gemma3']) {
    it(`${name}: forward within ${TOL_F16} of the reference, and not the f32 path's logits (the f16 path ran)`, async () => {
      const f = await loadFixture(name);
      loaded.push(f);
      const want = f.reference(SEQ);
      const f16 = await logitsWith(f, 'f16');
      const f32 = await logitsWith(f, 'f32');
      const err = maxAbsDiff(f16, want);
      const vsF32 = maxAbsDiff(f16, f32);
      console.log(`f16 activations ${name}: max|Δlogit| vs reference ${err.toExponential(2)}, vs f32 activations ${vsF32.toExponential(2)} (f32 vs reference ${maxAbsDiff(f32, want).toExponential(2)})`);
      expect(err).toBeLessThanOrEqual(TOL_F16);
      // f16 rounding moves the logits far more than f32 summation order does (≤ 2e-5 between hardware paths)
      expect(vsF32).toBeGreaterThan(1e-4);
    });
  }

  it('tiny-qwen3: q/k norms keep the layer on the f32 path, bit for bit', async () => {
    const f = await loadFixture('tiny-qwen3');
    loaded.push(f);
    const f16 = await logitsWith(f, 'f16');
    const f32 = await logitsWith(f, 'f32');
    expect(maxAbsDiff(f16, f32)).toBe(0);
  });

  it('tiny-llama: a prefill with f16 activations into a KV cache, then decode steps (f32 rows), against the reference', async () => {
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const V = f.config.vocabSize;
    const want = f.reference(SEQ);
    const k = 7; // more rows than the mat-vec takes: the prefill runs f16
    f.model.activations = 'f16';
    try {
      for (const kvDtype of ['f32', 'f16'] as const) {
        const { cache, logits } = await prefill(f.model, [SEQ.slice(0, k)], { capacity: SEQ.length, kvDtype });
        try {
          let err = maxAbsDiff(logits[0]!, want.subarray((k - 1) * V, k * V));
          for (let t = k; t < SEQ.length; t++) {
            const [row] = await step(cache, [SEQ[t]!]);
            err = Math.max(err, maxAbsDiff(row!, want.subarray(t * V, (t + 1) * V)));
          }
          console.log(`f16 activations tiny-llama: prefill ${k} into an ${kvDtype} cache + decode, max|Δlogit| vs reference ${err.toExponential(2)}`);
          expect(err).toBeLessThanOrEqual(TOL_F16);
        } finally {
          cache.release();
        }
      }
    } finally {
      f.model.activations = 'f32';
    }
  });

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

  it('the memory plan covers the pool peak of an f16 forward (4×64), within 1.1×, and halves the layer tensors', async () => {
    const f = loaded.find((x) => x.name === 'tiny-llama')!;
    const ctx = await testGpu();
    const pool = new BufferPool(ctx.device);
    // its own pool, so the peak is this forward's (and the weights')
    const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
    const model = await loadModel(ctx, await testKernels(), pool, await openCheckpoint(files), f.config, { activations: 'f16' });
    try {
      const ids = Array.from({ length: 4 }, (_, r) => Array.from({ length: 64 }, (_, t) => (t === 0 ? 1 : ((r * 37 + t * 11) % 380) + 3)));
      await forward(model, ids);
      const peak = pool.stats().peakBytes;
      const opts = { dtype: 'f32' as const, batch: 4, seqLen: 64, kernels: 'hardware' as const, kvCapacity: 0 };
      const plan16 = planInferenceMemory(f.config, { ...opts, activations: 'f16' });
      const plan32 = planInferenceMemory(f.config, opts);
      console.log(`f16 activations 4×64: measured pool peak ${peak} B, plan ${plan16.poolTotal} B (${(plan16.poolTotal / peak).toFixed(3)}); layer stage ${plan16.activations} B against ${plan32.activations} B with f32`);
      expect(plan16.poolTotal).toBeGreaterThanOrEqual(peak);
      expect(plan16.poolTotal).toBeLessThanOrEqual(1.1 * peak);
      expect(plan16.activations).toBeLessThan(0.8 * plan32.activations);
    } finally {
      model.dispose();
      pool.destroyAll();
    }
  });
});

describe('layerActsF16: where f16 activations apply', () => {
  const base = { activations: 'f16' as const, family: 'hardware' as const, BT: 64, training: false, lora: false, fused: true, qkNorm: false };
  it('applies to a fused hardware-family inference pass of more rows than the mat-vec takes', () => {
    expect(layerActsF16(base)).toBe(true);
  });
  it('falls back to f32 for f32 models, the software family, training, LoRA, unfused layers, q/k norms and decode rows', () => {
    for (const over of [{ activations: 'f32' as const }, { family: 'software' as const }, { training: true }, { lora: true }, { fused: false }, { qkNorm: true }, { BT: 4 }]) {
      expect(layerActsF16({ ...base, ...over }), JSON.stringify(over)).toBe(false);
    }
    expect(layerActsF16({ ...base, BT: 5 })).toBe(true);
  });
});
