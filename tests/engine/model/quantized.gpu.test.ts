// A model whose projections stay ggml blocks on the GPU (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and llama-quantize's Q4_K_M and
// Q5_K_M mixes)
// against the same model de-quantised: the same weights (ggml's de-quantised values) loaded as f32, so the logits
// may differ only by f32 summation order. Both kernel families. Also against the float64 reference forward on the
// de-quantised weights, with logits.gpu.test.ts's bound.
//
// Tolerances (measured on SwiftShader, printed): quantised vs de-quantised GPU: identical (0: the quantised kernels
// sum in the f32 kernels' order), held to ≤ 1e-6 so a kernel that only reorders a sum still passes; quantised vs
// the float64 reference: ≤ 2.1e-6 with |logits| ≤ 2, held to logits.gpu.test.ts's 1e-5.
import { afterAll, describe, expect, it } from 'vitest';
import { forward, loadModel, planInferenceMemory, type Model } from '../../../src/engine/model/index.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { ggmlTypesOf } from '../../../src/io/safetensors/checkpoint.ts';
import { KERNEL_FAMILIES } from '../../../src/engine/kernel-family.ts';
import { referenceForward } from '../../../src/engine/reference/forward.ts';
import { testGpu, testKernels } from '../../helpers/gpu.ts';
import { gpuShared, maxAbsDiff, SEQ } from './model-fixtures.ts';
import { asDequantized, asGgml, kQuantLlama, typeRule } from './quant-fixtures.ts';

const GPU_TOL = 1e-6;
const REF_TOL = 1e-5;
const models: Model[] = [];
afterAll(async () => {
  for (const m of models) m.dispose();
  (await gpuShared()).pool.destroyAll();
});

describe.each(KERNEL_FAMILIES)('quantised weights on the GPU = the same model de-quantised (%s family)', (family) => {
  for (const type of ['Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'q4_k_m', 'q5_k_m']) {
    it(`${type}`, async () => {
      const mix = /_m$/.test(type) ? type.slice(0, 2).toUpperCase() + '_K' : null; // a preset's main type
      const ctx = await testGpu();
      const { pool } = await gpuShared();
      const kernels = await testKernels(family);
      const { config, checkpoint } = kQuantLlama();
      const q = await asGgml(checkpoint, typeRule(type, config));
      const quant = await loadModel(ctx, kernels, pool, q, config);
      const plain = await loadModel(ctx, kernels, pool, asDequantized(q), config);
      models.push(quant, plain);
      const l0 = quant.layers[0]!;
      // projections and tables (embedding: a get-rows gather; lm_head) stay in their GGUF types
      const kept = [l0.qkv?.weight ?? l0.q!.weight, l0.o.weight, l0.down.weight].map((w) => w.dtype);
      console.log(`${family} ${type}: GPU storage of qkv, o, down: ${kept.join(', ')}; weights ${quant.weightBytes} B vs ${plain.weightBytes} B de-quantised`);
      if (mix === null) expect(kept).toEqual([type, type, type]);
      else {
        // llama-quantize's mix: layer 1 of 2 is a "more bits" layer (attn_v, ffn_down Q6_K), so its q|k|v cannot
        // share one storage and load apart
        const l1 = quant.layers[1]!;
        expect(kept).toEqual([mix, mix, mix]);
        expect([l1.qkv, l1.q!.weight.dtype, l1.v!.weight.dtype, l1.down.weight.dtype]).toEqual([null, mix, 'Q6_K', 'Q6_K']);
      }
      expect([quant.embed.dtype, quant.lmHead.dtype]).toEqual(mix ? [mix, 'Q6_K'] : [type, type]);
      expect(quant.weightBytes).toBeLessThan(plain.weightBytes);

      const weights = new Map<string, Float32Array>();
      for (const n of q.names()) weights.set(n, await q.readF32(n));
      const want = referenceForward(config, (n) => weights.get(n)!, SEQ);
      for (const rows of [SEQ, SEQ.slice(0, 1)]) {
        const [got] = await forward(quant, [rows]);
        const [deq] = await forward(plain, [rows]);
        const err = maxAbsDiff(got!, deq!);
        const ref = maxAbsDiff(got!, want.subarray(0, rows.length * config.vocabSize));
        let scale = 0;
        for (const x of deq!) scale = Math.max(scale, Math.abs(x));
        console.log(`${family} ${type} T=${rows.length}: max|Δlogit| vs de-quantised ${err.toExponential(2)}, vs f64 reference ${ref.toExponential(2)} (max |logit| ${scale.toFixed(2)})`);
        expect(err).toBeLessThanOrEqual(GPU_TOL);
        expect(ref).toBeLessThanOrEqual(REF_TOL);
      }
    });
  }
});

// The memory plan counts the packed bytes: loadModel + one forward in a fresh pool, against planInferenceMemory
// given the checkpoint's block types (memory-plan.gpu.test.ts's bounds: ≥ the measured peak, within 1.1×).
describe('memory plan of a quantised model', () => {
  for (const type of ['Q8_0', 'Q4_K', 'Q5_K', 'q4_k_m']) {
    it(`${type}: plan vs the BufferPool's peak`, async () => {
      const ctx = await testGpu();
      const { config, checkpoint } = kQuantLlama();
      const q = await asGgml(checkpoint, typeRule(type, config));
      const matrixTypes = ggmlTypesOf(q);
      const pool = new BufferPool(ctx.device);
      const model = await loadModel(ctx, await testKernels(), pool, q, config);
      try {
        await forward(model, [SEQ]);
        const peak = pool.stats().peakBytes;
        const opts = { dtype: 'f32' as const, batch: 1, seqLen: SEQ.length, kvCapacity: 0, kernels: model.kernels.family };
        const plan = planInferenceMemory(config, { ...opts, matrixTypes });
        const f32 = planInferenceMemory(config, opts);
        console.log(`${type}: measured pool peak ${peak} B, plan ${plan.poolTotal} B (weights ${plan.weights} B packed vs ${f32.weights} B f32), plan/measured ${(plan.poolTotal / peak).toFixed(3)}`);
        expect(plan.poolTotal).toBeGreaterThanOrEqual(peak);
        expect(plan.poolTotal).toBeLessThanOrEqual(1.1 * peak);
        expect(plan.weights).toBeLessThan(f32.weights);
      } finally {
        model.dispose();
        pool.destroyAll();
      }
    });
  }
});

// A quantised table split into row chunks (each packed on its own): gather and lm_head across the chunks.
describe('quantised tables split to fit a small binding', () => {
  it('Q4_K embedding and lm_head in 4 chunks each give the unsplit logits', async () => {
    const ctx = await testGpu();
    const { pool, kernels } = await gpuShared();
    const { config, checkpoint } = kQuantLlama();
    const q = await asGgml(checkpoint, () => 'Q4_K');
    // 384 rows × 144 B: 113 rows per 16 KiB chunk (a word left for the chunk's scale table)
    const split = await loadModel(ctx, kernels, pool, q, config, { maxBindingBytes: 16384 });
    const whole = await loadModel(ctx, kernels, pool, q, config);
    models.push(split, whole);
    expect([split.embed.chunks.length, split.lmHead.chunks.length, whole.embed.chunks.length]).toEqual([4, 4, 1]);
    expect(split.embed.chunks.map((c) => c.dtype)).toEqual(['Q4_K', 'Q4_K', 'Q4_K', 'Q4_K']);
    const [got] = await forward(split, [SEQ]);
    const [want] = await forward(whole, [SEQ]);
    const err = maxAbsDiff(got!, want!);
    console.log(`split Q4_K tables: max|Δlogit| vs unsplit ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(GPU_TOL);
  });
});
