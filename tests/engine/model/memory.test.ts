// The inference memory plan against numbers worked out by hand for SmolLM2-135M (hidden 576, intermediate 1536,
// 30 layers, 9 query / 3 KV heads of 64, vocab 49152, tied) and SmolLM2-1.7B, and the split planning it relies on.
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../../src/io/config.ts';
import { bindableBytes, logitRowsPerBlock, planInferenceMemory, planRowChunks } from '../../../src/engine/model/index.ts';

const smol = (over: Record<string, unknown> = {}) =>
  parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    hidden_size: 576,
    intermediate_size: 1536,
    max_position_embeddings: 8192,
    num_attention_heads: 9,
    num_hidden_layers: 30,
    num_key_value_heads: 3,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    vocab_size: 49152,
    ...over,
  });
const SMOL_1_7B = { hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 24, num_attention_heads: 32, num_key_value_heads: 32 };
const MiB = 2 ** 20;

describe('planInferenceMemory', () => {
  it('SmolLM2-135M, BF16, one row of 2048 tokens', () => {
    const p = planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 2048 });
    expect(p.params).toBe(134_515_008);
    // 61 norm vectors of 576 stay f32 (35,136 params); the other 134,479,872 are bf16; inv_freq is 32 f32.
    expect(p.weights).toBe(134_479_872 * 2 + 35_136 * 4 + 32 * 4); // 269,100,416 ≈ 269 MB
    // k and v, 30 layers, 2048 slots × 3 heads × 64, f32.
    expect(p.kvCache).toBe(2 * 30 * 2048 * 192 * 4); // 94,371,840
    // 2048 rows > ONE_SUBMIT_MAX_ROWS: a layer's intermediates live until its submit. Per token: ids + position,
    // key mask (S = 2048), residual + 2 norms 3×576, the packed q|k|v 960, q + attention 2×576 (k and v go straight
    // into the cache), the packed gate|up 2×1536 and act 1536 (o_proj and down_proj add into the residual).
    expect(p.activations).toBe(4 * 2048 * (2 + 1 + 1728 + 960 + 1152 + 3072 + 1536)); // 69,230,592
    expect(p.logits).toBe(4 * 2048 * 49152); // 402,653,184 = 384 MiB: above 128 MiB, so 4 blocks of ≤ 682 rows
    expect(p.logitBlocks).toBe(4);
    expect(p.embedChunks).toBe(1); // 56,623,104 B fits 128 MiB
    expect(p.head).toBe(2 * 4 * 2048 * 576); // normed, and its per-block copies
    expect(p.total).toBe(844_793_216);
    expect(p.poolTotal).toBeGreaterThan(p.weights + p.kvCache + p.logits);
  });

  it('SmolLM2-135M, f16 activations (hardware family): the layer tensors at 2 bytes, the rest as before', () => {
    const f32 = planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 2048 });
    const f16 = planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 2048, activations: 'f16' });
    // ids, position, mask and the f32 residual stay 4 bytes; the 2 norms 2×576, the packed q|k|v 960, q + attention
    // 2×576, the packed gate|up 2×1536 and act 1536 take 2
    expect(f16.activations).toBe(4 * 2048 * (2 + 1 + 576) + 2 * 2048 * (1152 + 960 + 1152 + 3072 + 1536)); // 37,490,688
    expect(f16.activations / f32.activations).toBeCloseTo(0.534, 3);
    for (const k of ['weights', 'kvCache', 'head', 'logits'] as const) expect(f16[k]).toBe(f32[k]);
    // the software family runs f32 whatever the model asks
    expect(planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 2048, activations: 'f16', kernels: 'software' }).activations).toBe(
      planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 2048, kernels: 'software' }).activations,
    );
  });

  it('SmolLM2-135M decoding: one token against a 2048-slot cache, one logit row', () => {
    const p = planInferenceMemory(smol(), { dtype: 'bf16', batch: 1, seqLen: 1, kvCapacity: 2048, logitRows: 1 });
    expect(p.kvCache).toBe(94_371_840);
    // One row: each intermediate goes back after its last reader, so the layer's peak is n2 (576), act (1536) and the
    // packed gate|up (3072); with ids, position, residual (576) and the key mask, which spans the cache.
    expect(p.activations).toBe(4 * (2 + 576 + 576 + 1536 + 3072) + 4 * 2048);
    expect(p.logits).toBe(196_608);
    expect(p.head).toBe(4 * 576);
    expect(p.logitBlocks).toBe(1);
  });

  it('F32 weights take twice the bytes of the matrices; no KV cache when scoring', () => {
    const p = planInferenceMemory(smol(), { dtype: 'f32', batch: 4, seqLen: 64, kvCapacity: 0, logitRows: 40 });
    expect(p.weights).toBe(134_479_872 * 4 + 35_136 * 4 + 128);
    expect(p.kvCache).toBe(0);
    // 256 rows: the whole layer's set at once (as in the first case, plus dense k and v 2×192: no cache), the key
    // mask and the 40 row indices.
    expect(p.activations).toBe(4 * 256 * (2 + 1728 + 960 + 1152 + 384 + 3072 + 1536) + 4 * 4 * 64 + 4 * 40);
    // 40 scored rows: gathered rows + normed.
    expect(p.head).toBe(2 * 4 * 40 * 576);
    expect(p.embedChunks).toBe(1); // 113,246,208 B still fits
  });

  it('SmolLM2-1.7B: 1,711,376,384 params, ≈ 3.4 GB of BF16 weights, embedding in 2 chunks at 128 MiB', () => {
    const p = planInferenceMemory(smol(SMOL_1_7B), { dtype: 'bf16', batch: 1, seqLen: 16 });
    expect(p.params).toBe(1_711_376_384);
    const vectors = 49 * 2048;
    expect(p.weights).toBe((1_711_376_384 - vectors) * 2 + vectors * 4 + 32 * 4);
    expect(p.embedChunks).toBe(2);
    expect(p.lmHeadChunks).toBe(2);
    // The split lm_head's per-chunk outputs add one more [16, vocab].
    expect(p.head).toBe(4 * 16 * 2048 + 4 * 16 * 49152);
    expect(planInferenceMemory(smol(SMOL_1_7B), { dtype: 'bf16', batch: 1, seqLen: 16, maxBindingBytes: 1024 * MiB }).embedChunks).toBe(1);
  });
});

describe('split planning', () => {
  it('bindableBytes: the largest pool size class within the limit', () => {
    expect(bindableBytes(128 * MiB)).toBe(128 * MiB);
    expect(bindableBytes(2 ** 32 - 1)).toBe(2 ** 31); // a pool class of 4 GiB would not fit
    expect(bindableBytes(6000)).toBe(5888);
    expect(bindableBytes(1.5 * MiB)).toBe(MiB);
    expect(bindableBytes(100)).toBe(0);
  });

  it('row chunks: equal chunks, a shorter last one, even rows for odd-width 16-bit tables', () => {
    expect(planRowChunks(49152, 2048, 'bf16', 128 * MiB)).toEqual([
      { rowStart: 0, rows: 32768 },
      { rowStart: 32768, rows: 16384 },
    ]);
    expect(planRowChunks(384, 64, 'f32', 6000).map((c) => c.rows)).toEqual([...Array(16).fill(23), 16]);
    expect(planRowChunks(37, 5, 'bf16', 256).map((c) => c.rows)).toEqual([24, 13]);
    expect(planRowChunks(37, 5, 'f32', 256).map((c) => c.rows)).toEqual([12, 12, 12, 1]);
    expect(() => planRowChunks(10, 64, 'f32', 200, 'lm_head.weight')).toThrow(/tensor "lm_head.weight": one row/);
  });

  it('logit rows per block', () => {
    expect(logitRowsPerBlock(49152, 128 * MiB)).toBe(682);
    expect(logitRowsPerBlock(128256, 128 * MiB)).toBe(261);
    expect(() => logitRowsPerBlock(49152, MiB / 8)).toThrow(/one row of logits/);
  });
});
