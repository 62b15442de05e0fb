// A KV cache stored as f16: rope.wgsl store_kv_f16 writes it, the attention forwards' +f16 variant
// (shaders/_kv_load_f16.wgsl) read it. Both against the CPU: the store against f32ToF16Bits (round to nearest
// even) word by word, the attention against the float64 reference over the same f16-rounded keys and values.
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeAttention, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { encodeSplitQkv, encodeStoreKvF16, ropeInvFreq, type SplitQkvArgs } from '../../../src/engine/ops/rope.ts';
import { attentionRef } from '../../../src/engine/reference/attention.ts';
import { f16BitsToF32 } from '../../../src/io/safetensors/dtypes.ts';
import { harness, releaseAll } from './op-harness.ts';
import { f16Words, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';

afterAll(releaseAll);


const roundF16 = roundToF16;

async function readWords(buf: GPUBuffer, device: GPUDevice, n: number): Promise<Uint32Array> {
  const staging = device.createBuffer({ size: n * 4, usage: 0x01 | 0x08 });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x01);
  const out = new Uint32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

describe('store_kv_f16: a run of keys and values into an f16 KV cache', () => {
  // rows = batch·T, written at slots past.. of each batch row (or a ring's rows slot mod ring)
  const cases: Array<{ name: string; args: SplitQkvArgs; slots: number }> = [
    { name: 'a 3-row batch of 5 tokens at past 4 of 12 slots', args: { rows: 15, heads: 4, kvHeads: 2, headDim: 12, T: 5, S: 12, past: 4 }, slots: 12 },
    { name: 'one decode token a row (T = 1) at the last slot', args: { rows: 2, heads: 2, kvHeads: 1, headDim: 8, T: 1, S: 7, past: 6 }, slots: 7 },
    { name: 'into a ring of 6 slots, wrapping', args: { rows: 8, heads: 2, kvHeads: 1, headDim: 8, T: 4, S: 20, past: 9, ring: 6, intoRing: true }, slots: 6 },
  ];
  it.each(cases)('$name', async ({ args, slots }) => {
    const { device, kernels, pool } = await harness('software');
    const { rows, kvHeads, headDim: D } = args;
    const T = args.T!;
    const batch = rows / T;
    const W = kvHeads * D;
    const k = randomArray(rows * W, 3).map((x) => 40 * x);
    const v = randomArray(rows * W, 4);
    k[0] = 1e6; // beyond f16's range: clamped to 65504
    v[1] = -7e4;
    const cacheWords = (batch * slots * W) / 2;
    const k16 = pool.alloc(cacheWords * 4);
    const v16 = pool.alloc(cacheWords * 4);
    const enc = device.createCommandEncoder();
    enc.clearBuffer(k16);
    enc.clearBuffer(v16);
    await encodeStoreKvF16(kernels, enc, pool.upload(k), pool.upload(v), k16, v16, args);
    device.queue.submit([enc.finish()]);
    const [gotK, gotV] = await Promise.all([readWords(k16, device, cacheWords), readWords(v16, device, cacheWords)]);
    // the expected cache: each row's halves at its destination row, zero elsewhere
    const clampF = (x: Float32Array) => x.map((e) => Math.max(-65504, Math.min(65504, e)));
    const want = [new Uint32Array(cacheWords), new Uint32Array(cacheWords)];
    [clampF(k), clampF(v)].forEach((src, i) => {
      const words = f16Words(src);
      for (let r = 0; r < rows; r++) {
        const slot = args.past! + (r % T);
        const drow = Math.floor(r / T) * slots + (args.intoRing ? slot % args.ring! : slot);
        want[i]!.set(words.subarray((r * W) / 2, ((r + 1) * W) / 2), (drow * W) / 2);
      }
    });
    // WGSL lets an f32 → f16 conversion round either way; count the halves that differ by one unit in the last place
    let exact = 0;
    let total = 0;
    for (const [got, w] of [[gotK, want[0]!], [gotV, want[1]!]] as const) {
      for (let i = 0; i < got.length; i++) {
        for (const sh of [0, 16]) {
          const a = (got[i]! >>> sh) & 0xffff;
          const b = (w[i]! >>> sh) & 0xffff;
          total++;
          if (a === b) exact++;
          else expect(Math.abs(a - b), `half ${2 * i + sh / 16}`).toBe(1);
        }
      }
    }
    console.log(`store_kv_f16 ${JSON.stringify(args)}: ${exact}/${total} halves equal round-to-nearest-even, the rest one ulp off`);
    expect(exact / total).toBeGreaterThan(0.99);
    // k[0] (1e6) landed at batch 0's first written slot as f16's largest value
    expect(f16BitsToF32(gotK[(args.past! % slots) * (W / 2)]! & 0xffff)).toBe(65504);
  });
});

describe('split_qkv_f16: the fused split straight into an f16 cache', () => {
  // rows off the 64-thread workgroup, GQA, a batch of 2 rows of T tokens at slot past, or wrapping a ring
  const cases = [
    { name: 'with RoPE and a bias, into slots 3.. of 9', rope: true, bias: true, ring: 0 },
    { name: 'without RoPE (a NoPE layer), into a ring of 5 that wraps', rope: false, bias: false, ring: 5 },
  ];
  it.each(cases)('$name: q and the cache words equal split_qkv then store_kv_f16, bit for bit', async ({ rope, bias: withBias, ring }) => {
    const { device, kernels, pool } = await harness('software');
    const [batch, T, heads, kvHeads, D, S, past] = [2, 3, 6, 2, 12, 9, 3];
    const rows = batch * T;
    const W = (heads + 2 * kvHeads) * D;
    const qkv = pool.upload(randomArray(rows * W, 91).map((x) => 20 * x));
    const bias = withBias ? pool.upload(randomArray(W, 92)) : null;
    const pos = pool.upload(Uint32Array.from({ length: rows }, (_, i) => i * 517 + 3));
    const inv = pool.upload(ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 }));
    const slots = ring || S;
    const cacheBytes = batch * slots * kvHeads * D * 2;
    const dest = { rows, heads, kvHeads, headDim: D, T, S, past, rope, ...(ring ? { ring, intoRing: true } : {}) };
    const [q1, q2] = [pool.alloc(rows * heads * D * 4), pool.alloc(rows * heads * D * 4)];
    const [k1, v1, k2, v2] = [0, 1, 2, 3].map(() => pool.alloc(cacheBytes));
    const [kd, vd] = [pool.alloc(rows * kvHeads * D * 4), pool.alloc(rows * kvHeads * D * 4)];
    const enc = device.createCommandEncoder();
    for (const b of [k1!, v1!, k2!, v2!]) enc.clearBuffer(b);
    // the two-dispatch path: dense f32 k, v, then the store
    await encodeSplitQkv(kernels, enc, qkv, pos, inv, q1, kd, vd, { rows, heads, kvHeads, headDim: D, rope }, undefined, bias);
    await encodeStoreKvF16(kernels, enc, kd, vd, k1!, v1!, dest);
    await encodeSplitQkv(kernels, enc, qkv, pos, inv, q2, k2!, v2!, { ...dest, kvF16: true }, undefined, bias);
    device.queue.submit([enc.finish()]);
    const n = cacheBytes / 4;
    const [gq1, gq2] = await Promise.all([readWords(q1, device, rows * heads * D), readWords(q2, device, rows * heads * D)]);
    const [gk1, gv1, gk2, gv2] = await Promise.all([k1!, v1!, k2!, v2!].map((b) => readWords(b, device, n)));
    expect([...gq2]).toEqual([...gq1]);
    expect([...gk2!]).toEqual([...gk1!]);
    expect([...gv2!]).toEqual([...gv1!]);
    // and the run's slots were written, the others left cleared
    expect(gk2!.filter((w) => w !== 0).length).toBe((rows * kvHeads * D) / 2);
    console.log(`split_qkv_f16 (${rope ? 'RoPE' : 'no RoPE'}${withBias ? ', bias' : ''}${ring ? `, ring ${ring}` : ''}): ${gk2!.length + gv2!.length} cache words and ${gq2.length} q values equal the two-dispatch path`);
  });

  it('refuses a head dim that is not a multiple of 4', async () => {
    const { device, kernels, pool } = await harness('software');
    const b = pool.alloc(4096);
    await expect(
      encodeSplitQkv(kernels, device.createCommandEncoder(), b, b, b, pool.alloc(4096), pool.alloc(4096), pool.alloc(4096), { rows: 1, heads: 1, kvHeads: 1, headDim: 6, kvF16: true }),
    ).rejects.toThrow(/f16 KV cache needs headDim % 4 == 0, got 6/);
  });
});

// The keys and values are f16 values exactly (rounded on the CPU, packed), so the kernels see the reference's inputs
// and only f32 summation separates them (measured up to 2.0e-7).
const TOL = 1e-6;

async function checkF16(family: KernelFamily, args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness(family);
  const B = args.batch ?? 1;
  const q = randomArray(B * args.T * args.nHeads * args.headDim, seed).map((x) => 3 * x);
  const k = roundF16(randomArray(B * args.S * args.nKv * args.headDim, seed + 1));
  const v = roundF16(randomArray(B * args.S * args.nKv * args.headDim, seed + 2));
  const out = pool.alloc(q.byteLength);
  const enc = device.createCommandEncoder();
  await encodeAttention(kernels, enc, pool.upload(q), pool.upload(f16Words(k)), pool.upload(f16Words(v)), out, { ...args, kvF16: true }, mask && pool.upload(mask));
  device.queue.submit([enc.finish()]);
  const got = new Float32Array((await readWords(out, device, q.length)).buffer);
  const err = maxAbsDiff(got, attentionRef(q, k, v, args, mask));
  console.log(`attention over an f16 KV cache (${family}) ${JSON.stringify(args)}${mask ? ' masked' : ''} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

describe.each(KERNEL_FAMILIES)('attention over an f16 KV cache against the CPU reference (%s family)', (family) => {
  it('a decode step over 81 slots (the hardware family splits it over the keys), and 3 queries past 67', async () => {
    await checkF16(family, { T: 1, S: 81, nHeads: 4, nKv: 2, headDim: 16 }, 5);
    await checkF16(family, { T: 3, S: 70, nHeads: 4, nKv: 2, headDim: 16 }, 4);
  });

  it('a masked batch over a cache with holes, a window and soft-capping', async () => {
    const B = 2;
    const S = 24;
    const mask = new Uint32Array(B * S).fill(1);
    mask.fill(0, 3, 9);
    mask.fill(0, S + 10, S + 14);
    await checkF16(family, { batch: B, T: 4, S, nHeads: 2, nKv: 1, headDim: 8, past: 20, window: 6, softcap: 1.5 }, 13, mask);
  });

  it('wide heads (the 4-queries-an-invocation vec4 entry): 128 and 68', async () => {
    await checkF16(family, { T: 6, S: 20, nHeads: 2, nKv: 1, headDim: 128 }, 31);
    await checkF16(family, { T: 1, S: 30, nHeads: 2, nKv: 1, headDim: 68, past: 29 }, 33);
  });

  it('a head dim that is not a multiple of 4 is refused', async () => {
    const { device, kernels, pool } = await harness(family);
    const b = pool.alloc(256);
    await expect(encodeAttention(kernels, device.createCommandEncoder(), b, b, b, pool.alloc(256), { T: 1, S: 2, nHeads: 1, nKv: 1, headDim: 6, kvF16: true })).rejects.toThrow(
      /f16 KV cache needs headDim % 4 == 0, got 6/,
    );
  });
});
