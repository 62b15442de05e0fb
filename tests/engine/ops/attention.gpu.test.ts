import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeAttention, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { attentionRef } from '../../../src/engine/reference/attention.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';

afterAll(releaseAll);

// Outputs are convex combinations of v ∈ [-1, 1); f32 dots over D ≤ 64 and f32 exp: ~1e-6.
const TOL = 1e-5;

async function check(family: KernelFamily, args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness(family);
  const B = args.batch ?? 1;
  // Spread the scores over a few units so the softmax is not flat (random q·k/sqrt(D) alone is ~0.3).
  const q = randomArray(B * args.T * args.nHeads * args.headDim, seed).map((x) => 3 * x);
  const k = randomArray(B * args.S * args.nKv * args.headDim, seed + 1);
  const v = randomArray(B * args.S * args.nKv * args.headDim, seed + 2);
  const out = pool.alloc(q.byteLength);
  const enc = device.createCommandEncoder();
  await encodeAttention(kernels, enc, pool.upload(q), pool.upload(k), pool.upload(v), out, args, mask && pool.upload(mask));
  device.queue.submit([enc.finish()]);
  const got = await read(out, q.length);
  const want = attentionRef(q, k, v, args, mask);
  const err = maxAbsDiff(got, want);
  console.log(`attention (${family}) ${JSON.stringify(args)}${mask ? ' masked' : ''} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
  return { got, want };
}

// Every case runs in both kernel families (the hardware family's kernels on SwiftShader: correctness only).
describe.each(KERNEL_FAMILIES)('attention kernel against the CPU reference (%s family)', (family) => {
  it('MHA, one key block, head_dim not a power of two', () => check(family, { T: 5, S: 5, nHeads: 2, nKv: 2, headDim: 12 }, 1));

  it('GQA 6 q-heads on 2 kv-heads, T spanning several 64-key blocks', () =>
    check(family, { T: 150, S: 150, nHeads: 6, nKv: 2, headDim: 8 }, 2));

  it('MQA, head_dim 64 (several output dims per thread at 256)', () => check(family, { T: 37, S: 37, nHeads: 3, nKv: 1, headDim: 64 }, 3));

  it('head_dim 130: several, ragged output dims per thread; head_dim > 256 refused', async () => {
    await check(family, { T: 6, S: 6, nHeads: 2, nKv: 1, headDim: 130 }, 8);
    const { device, kernels, pool } = await harness(family);
    const b = pool.alloc(64);
    await expect(
      encodeAttention(kernels, device.createCommandEncoder(), b, b, b, pool.alloc(64), { T: 1, S: 1, nHeads: 1, nKv: 1, headDim: 257 }),
    ).rejects.toThrow(/headDim 257/);
  });

  it('KV cache: 3 new queries over 70 keys (past = 67), and a single decode step', async () => {
    await check(family, { T: 3, S: 70, nHeads: 4, nKv: 2, headDim: 16 }, 4);
    await check(family, { T: 1, S: 81, nHeads: 4, nKv: 2, headDim: 16 }, 5);
  });

  it('batch of 3 with left padding masked per row', async () => {
    const B = 3;
    const T = 9;
    const pads = [0, 4, 8]; // row 2 has one real token
    const mask = new Uint32Array(B * T);
    pads.forEach((pad, b) => mask.fill(1, b * T + pad, (b + 1) * T));
    const { got } = await check(family, { batch: B, T, S: T, nHeads: 4, nKv: 2, headDim: 8 }, 6, mask);
    // padding queries that see only padding keys are zeros, not NaN
    const firstRow2 = got.subarray(2 * T * 4 * 8, 2 * T * 4 * 8 + 8);
    expect([...firstRow2].every((x) => x === 0)).toBe(true);
  });

  it('batch with a mask over a KV cache (padding inside the cached keys)', async () => {
    const B = 2;
    const S = 20;
    const mask = new Uint32Array(B * S).fill(1);
    mask.fill(0, 0, 3);
    mask.fill(0, S + 5, S + 7);
    await check(family, { batch: B, T: 4, S, nHeads: 2, nKv: 1, headDim: 16 }, 7, mask);
  });

  it('sliding window: a plain sequence longer than the window, a KV cache whose window starts inside the cached keys, a masked batch', async () => {
    await check(family, { T: 23, S: 23, nHeads: 4, nKv: 2, headDim: 8, window: 5 }, 11);
    await check(family, { T: 3, S: 30, nHeads: 2, nKv: 1, headDim: 16, past: 20, window: 7 }, 12);
    // holes inside the window: each query still sees its 6 most recent real keys (slots further back than 6)
    const B = 2;
    const S = 24;
    const mask = new Uint32Array(B * S).fill(1);
    mask.fill(0, 3, 9);
    mask.fill(0, S + 10, S + 14);
    await check(family, { batch: B, T: 4, S, nHeads: 2, nKv: 1, headDim: 8, past: 20, window: 6 }, 13, mask);
  });

  it('soft-capped scores (Gemma attn_logit_softcapping), plain and over a windowed KV cache', async () => {
    await check(family, { T: 13, S: 13, nHeads: 4, nKv: 2, headDim: 8, softcap: 2 }, 21);
    await check(family, { T: 2, S: 30, nHeads: 2, nKv: 1, headDim: 16, past: 20, window: 7, softcap: 1.5 }, 22);
  });

  // Head dims past ATTENTION_NAMED_MAX_HEAD_DIM (Qwen3's 128, Gemma 3's 256) take the vec4 entry with 4 queries an
  // invocation: T off the 4-query blocks, a mask, a window and soft-capping over it.
  it('wide heads (4 queries an invocation): plain, masked batch, windowed and soft-capped KV cache', async () => {
    await check(family, { T: 11, S: 11, nHeads: 2, nKv: 1, headDim: 128 }, 31);
    const B = 2;
    const T = 7;
    const mask = new Uint32Array(B * T).fill(1);
    mask.fill(0, T, T + 3);
    await check(family, { batch: B, T, S: T, nHeads: 4, nKv: 2, headDim: 72 }, 32, mask);
    await check(family, { T: 6, S: 30, nHeads: 2, nKv: 1, headDim: 68, past: 24, window: 9, softcap: 1.5 }, 33);
  });
});
