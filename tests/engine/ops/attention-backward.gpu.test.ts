import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeAttention, encodeAttentionBackward, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { attentionBackwardRef, attentionLseRef, attentionRef } from '../../../src/engine/reference/attention.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';

afterAll(releaseAll);

// Gradients here are O(1) (q spread to ±3, k, v, dOut in [-1, 1)); each is an f32 sum over ≤ 150 keys or
// (query, head) pairs of products of f32 dots over D ≤ 64, with P recomputed from the forward's f32 lse: ~1e-6.
const TOL = 1e-5;

async function check(family: KernelFamily, args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness(family);
  const B = args.batch ?? 1;
  const q = randomArray(B * args.T * args.nHeads * args.headDim, seed).map((x) => 3 * x);
  const k = randomArray(B * args.S * args.nKv * args.headDim, seed + 1);
  const v = randomArray(B * args.S * args.nKv * args.headDim, seed + 2);
  const dOut = randomArray(q.length, seed + 3);
  const rows = B * args.T * args.nHeads;
  const bufs = {
    q: pool.upload(q),
    k: pool.upload(k),
    v: pool.upload(v),
    out: pool.alloc(q.byteLength),
    lse: pool.alloc(rows * 4),
    dOut: pool.upload(dOut),
    dq: pool.alloc(q.byteLength),
    dk: pool.alloc(k.byteLength),
    dv: pool.alloc(v.byteLength),
    stats: pool.alloc(rows * 8),
    keyMask: mask && pool.upload(mask),
  };
  const enc = device.createCommandEncoder();
  // the forward as training runs it: saving lse for the backward
  await encodeAttention(kernels, enc, bufs.q, bufs.k, bufs.v, bufs.out, args, bufs.keyMask, bufs.lse);
  await encodeAttentionBackward(kernels, enc, bufs, args);
  device.queue.submit([enc.finish()]);

  // the forward with lse saved is still the forward
  expect(maxAbsDiff(await read(bufs.out, q.length), attentionRef(q, k, v, args, mask))).toBeLessThan(TOL);
  const lseWant = attentionLseRef(q, k, args, mask);
  const lseGot = await read(bufs.lse, rows);
  const seen = [...lseWant.keys()].filter((i) => Number.isFinite(lseWant[i]));
  expect(maxAbsDiff(seen.map((i) => lseGot[i]!), seen.map((i) => lseWant[i]!))).toBeLessThan(TOL);

  const want = attentionBackwardRef(q, k, v, dOut, args, mask);
  const errs = [
    maxAbsDiff(await read(bufs.dq, q.length), want.dq),
    maxAbsDiff(await read(bufs.dk, k.length), want.dk),
    maxAbsDiff(await read(bufs.dv, v.length), want.dv),
  ];
  console.log(
    `attention backward (${family} family) ${JSON.stringify(args)}${mask ? ' masked' : ''} max|Δ| dq/dk/dv ${errs.map((e) => e.toExponential(2)).join(' ')}`,
  );
  for (const e of errs) expect(e).toBeLessThan(TOL);
}

// Every case runs in both kernel families (the hardware family's kernels on SwiftShader: correctness only).
describe.each(KERNEL_FAMILIES)('attention backward kernels against the CPU reference (%s family)', (family) => {
  it('MHA, one key block, head_dim not a power of two', () => check(family, { T: 5, S: 5, nHeads: 2, nKv: 2, headDim: 12 }, 1));

  it('GQA 6 q-heads on 2 kv-heads, T spanning several 64-key blocks and pair blocks', () =>
    check(family, { T: 70, S: 70, nHeads: 6, nKv: 2, headDim: 8 }, 2));

  it('MQA, head_dim 64; head_dim 130 (ragged output dims per thread)', async () => {
    await check(family, { T: 19, S: 19, nHeads: 3, nKv: 1, headDim: 64 }, 3);
    await check(family, { T: 4, S: 4, nHeads: 2, nKv: 1, headDim: 130 }, 8);
  });

  it('KV-cache form: 3 queries over 70 keys (past = 67), custom scale', () =>
    check(family, { T: 3, S: 70, nHeads: 4, nKv: 2, headDim: 16, scale: 0.3 }, 4));

  it('batch of 3 with left padding masked per row (a row that sees no key included)', async () => {
    const B = 3;
    const T = 9;
    const pads = [0, 4, 8];
    const mask = new Uint32Array(B * T);
    pads.forEach((pad, b) => mask.fill(1, b * T + pad, (b + 1) * T));
    await check(family, { batch: B, T, S: T, nHeads: 4, nKv: 2, headDim: 8 }, 6, mask);
  });

  it('sliding window: longer than the window, KV-cache form with the window reaching into the cache, a masked batch with holes', async () => {
    await check(family, { T: 23, S: 23, nHeads: 4, nKv: 2, headDim: 8, window: 5 }, 11);
    await check(family, { T: 3, S: 30, nHeads: 2, nKv: 1, headDim: 16, past: 20, window: 7 }, 12);
    const B = 2;
    const S = 24;
    const mask = new Uint32Array(B * S).fill(1);
    mask.fill(0, 3, 9);
    mask.fill(0, S + 10, S + 14);
    await check(family, { batch: B, T: 4, S, nHeads: 2, nKv: 1, headDim: 8, past: 20, window: 6 }, 13, mask);
    const pads = new Uint32Array(2 * 12).fill(1);
    pads.fill(0, 7, 12); // right padding, as training batches have
    await check(family, { batch: 2, T: 12, S: 12, nHeads: 2, nKv: 2, headDim: 8, window: 4 }, 14, pads);
  });

  it('soft-capped scores (Gemma attn_logit_softcapping 2), with a window and a mask', async () => {
    await check(family, { T: 9, S: 9, nHeads: 4, nKv: 2, headDim: 8, softcap: 2 }, 21);
    const mask = new Uint32Array(2 * 12).fill(1);
    mask.fill(0, 8, 12);
    await check(family, { batch: 2, T: 12, S: 12, nHeads: 2, nKv: 1, headDim: 16, window: 5, softcap: 1.5, scale: 0.3 }, 22, mask);
  });

  it('the reference backward with soft-capping matches central differences of the reference forward', () => {
    const args = { T: 5, S: 5, nHeads: 2, nKv: 1, headDim: 4, softcap: 1.5, window: 3 };
    const q = Float64Array.from(randomArray(5 * 2 * 4, 31), (x) => 3 * x);
    const k = Float64Array.from(randomArray(5 * 4, 32));
    const v = Float64Array.from(randomArray(5 * 4, 33));
    const dOut = randomArray(q.length, 34);
    const loss = () => attentionRef(q, k, v, args).reduce((acc, o, i) => acc + o * dOut[i]!, 0);
    const { dq, dk } = attentionBackwardRef(q, k, v, dOut, args);
    const h = 1e-6;
    let worst = 0;
    for (const [x, g] of [[q, dq], [k, dk]] as const) {
      for (let i = 0; i < x.length; i++) {
        const keep = x[i]!;
        x[i] = keep + h;
        const up = loss();
        x[i] = keep - h;
        const down = loss();
        x[i] = keep;
        worst = Math.max(worst, Math.abs((up - down) / (2 * h) - g[i]!));
      }
    }
    console.log(`soft-capped attention reference backward vs FD: max |Δ| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-7);
  });

  // Head dims past ATTENTION_NAMED_MAX_HEAD_DIM take the vec4 entries (indexed rows), the rest the named ones.
  it('wide heads (vec4 entries): plain, windowed and soft-capped with a mask', async () => {
    await check(family, { T: 9, S: 9, nHeads: 2, nKv: 1, headDim: 128 }, 41);
    const mask = new Uint32Array(2 * 10).fill(1);
    mask.fill(0, 10, 13);
    await check(family, { batch: 2, T: 10, S: 10, nHeads: 4, nKv: 2, headDim: 72, window: 4, softcap: 1.5 }, 42, mask);
  });
});
