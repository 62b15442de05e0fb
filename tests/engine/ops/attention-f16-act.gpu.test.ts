// The hardware family's attention forward with f16 activations (act-dtype.ts): q read and out written as f16
// pairs (hw_attention+a16, shaders/_hw_attention_io_a16.wgsl), over an f32 or an f16 KV cache (+a16+f16), in the
// tiled forward and the flash-decoding split + reduce. q, k, v are f16 values exactly (k, v rounded for the f32
// cache too, so both cache dtypes see the same inputs), so only f32 summation and out's final rounding separate
// the kernel from the float64 reference: out within one f16 ulp relative plus the f32 path's 1e-6
// (attention-hw.gpu.test.ts), lse (f32) within 1e-6 (the f32 path allows 2e-6).
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeAttention, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { hwAttentionShape } from '../../../src/engine/ops/attention-hw.ts';
import { attentionLseRef, attentionRef } from '../../../src/engine/reference/attention.ts';
import { f16Words, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { f16Error, RATIO_BOUND, readF16 } from './f16-act.ts';

afterAll(releaseAll);

const TOL_OUT = 1e-6;
// lse is f32 as in the f32 path, from the same (f16-valued) inputs: measured ≤ 3.1e-7 (SwiftShader and lavapipe)
const TOL_LSE = 1e-6;

async function check(args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness('hardware');
  const B = args.batch ?? 1;
  const width = args.nKv * args.headDim;
  const q = roundToF16(randomArray(B * args.T * args.nHeads * args.headDim, seed).map((x) => 3 * x));
  const k = roundToF16(randomArray(B * args.S * width, seed + 1));
  const v = roundToF16(randomArray(B * args.S * width, seed + 2));
  const rows = B * args.T * args.nHeads;
  const out = pool.alloc(q.length * 2);
  const lse = pool.alloc(rows * 4);
  const kv = args.kvF16 ? [f16Words(k), f16Words(v)] : [k, v];
  const enc = device.createCommandEncoder();
  await encodeAttention(kernels, enc, pool.upload(f16Words(q)), pool.upload(kv[0]!), pool.upload(kv[1]!), out, { ...args, actF16: true }, mask && pool.upload(mask), lse);
  device.queue.submit([enc.finish()]);
  const err = f16Error(await readF16(out, q.length), attentionRef(q, k, v, args, mask), TOL_OUT);
  const lseWant = attentionLseRef(q, k, args, mask);
  const lseGot = await read(lse, rows);
  const seen = [...lseWant.keys()].filter((i) => Number.isFinite(lseWant[i]));
  const lseErr = maxAbsDiff(seen.map((i) => lseGot[i]!), seen.map((i) => lseWant[i]!));
  const shape = hwAttentionShape(args, kernels.hwTuning.minWorkgroups);
  console.log(`attention actF16 kv ${args.kvF16 ? 'f16' : 'f32'} ${JSON.stringify(args)}${mask ? ' masked' : ''} (${shape.splits > 1 ? `${shape.splits} splits` : 'tiled'}): out ratio ${err.ratio.toFixed(3)} rel ${err.rel.toExponential(2)}, max|Δlse| ${lseErr.toExponential(2)}`);
  expect(err.ratio).toBeLessThanOrEqual(RATIO_BOUND);
  expect(lseErr).toBeLessThan(TOL_LSE);
  return shape;
}

describe.each([false, true])('hardware attention with f16 q and out (kvF16 %s) against the CPU reference', (kvF16) => {
  it('causal, batch 2, GQA 6/2 at D 16, with a padding mask', async () => {
    const [B, T] = [2, 5];
    const mask = new Uint32Array(B * T).fill(1);
    mask.fill(0, 0, 2); // batch row 0 left-padded: its first queries see no key (zeros, as the f32 path)
    mask[T + 3] = 0;
    await check({ batch: B, T, S: T, nHeads: 6, nKv: 2, headDim: 16, kvF16 }, 3, mask);
  });

  it('prefills into a cache, batch 2: 7 tokens past 5 and 3 past 9 of 12 slots', async () => {
    await check({ batch: 2, T: 7, S: 12, past: 5, nHeads: 6, nKv: 2, headDim: 16, kvF16 }, 11);
    await check({ batch: 2, T: 3, S: 12, past: 9, nHeads: 6, nKv: 2, headDim: 16, kvF16 }, 17);
  });

  it('decode steps (T = 1): split over 81 keys (flash-decoding) and a short tiled one', async () => {
    const split = await check({ T: 1, S: 81, nHeads: 6, nKv: 2, headDim: 16, kvF16 }, 23);
    expect(split.splits).toBeGreaterThan(1);
    await check({ batch: 2, T: 1, S: 9, nHeads: 6, nKv: 2, headDim: 16, kvF16 }, 29);
  });

  it('a window with soft-capping over a masked cache, and wide heads (D 128: 8 lanes of 8 pairs)', async () => {
    const [B, S] = [2, 24];
    const mask = new Uint32Array(B * S).fill(1);
    mask.fill(0, 3, 9);
    mask.fill(0, S + 10, S + 14);
    await check({ batch: B, T: 4, S, nHeads: 2, nKv: 1, headDim: 8, past: 20, window: 6, softcap: 1.5, kvF16 }, 13, mask);
    await check({ T: 6, S: 20, nHeads: 2, nKv: 1, headDim: 128, kvF16 }, 31);
  });
});

describe('attention with f16 activations: refusals', () => {
  it('the software family, and a head dim that is not a multiple of 4', async () => {
    const sw = await harness('software');
    const b = () => sw.pool.alloc(256);
    await expect(encodeAttention(sw.kernels, sw.device.createCommandEncoder(), b(), b(), b(), b(), { T: 1, S: 2, nHeads: 1, nKv: 1, headDim: 8, actF16: true })).rejects.toThrow(
      /hardware kernel family only/,
    );
    const hw = await harness('hardware');
    await expect(encodeAttention(hw.kernels, hw.device.createCommandEncoder(), b(), b(), b(), b(), { T: 1, S: 2, nHeads: 1, nKv: 1, headDim: 6, actF16: true })).rejects.toThrow(
      /f16 activations need headDim % 4 == 0, got 6/,
    );
  });
});
