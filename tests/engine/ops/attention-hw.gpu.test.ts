// The hardware family's attention forward (shaders/hw_attention.wgsl, ops/attention-hw.ts) against the float64
// reference, on SwiftShader: the tiled forward (rows of one kv-head's GQA group per workgroup) and flash-decoding
// (key slices + reduce), forced through each path, on shapes off every tile: T not a multiple of the row block,
// head dims not a multiple of the lanes, GQA 4:1 and 1:1, a key mask, a sliding window, soft-capping, past > 0 and
// a ring of KV slots. attention.gpu.test.ts and attention-backward.gpu.test.ts run the shared cases in both families.
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { attentionUniforms, encodeAttention, encodeAttentionBackward, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { encodeHwAttention, hwAttentionBackwardShape, hwAttentionShape, type HwAttentionShape } from '../../../src/engine/ops/attention-hw.ts';
import { attentionBackwardRef, attentionLseRef, attentionRef } from '../../../src/engine/reference/attention.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// Outputs are convex combinations of v ∈ [-1, 1), lse O(1..10); f32 dots over D ≤ 256 and f32 exp, summed in
// another order than the reference: measured max |Δout| 1.9e-7, max |Δlse| 6.0e-7 over the cases below (the
// software family's tests allow 1e-5).
const TOL_OUT = 1e-6;
const TOL_LSE = 2e-6;

/**
 * k, v of a ring of R slots a batch row (slot j at row j mod R) as a sliding layer's KV cache holds them after a
 * run that wrote slots up to `end` − 1 (later slots overwrite earlier ones).
 */
function toRing(full: Float32Array, B: number, S: number, R: number, width: number, end: number): Float32Array {
  const ring = new Float32Array(B * R * width);
  for (let b = 0; b < B; b++) for (let j = 0; j < end; j++) ring.set(full.subarray((b * S + j) * width, (b * S + j + 1) * width), (b * R + (j % R)) * width);
  return ring;
}

interface Case {
  args: AttentionArgs;
  seed: number;
  mask?: Uint32Array;
  /** force this shape through encodeHwAttention (else encodeAttention picks) */
  shape?: HwAttentionShape;
}

async function check({ args, seed, mask, shape }: Case) {
  const { device, kernels, pool } = await harness('hardware');
  const B = args.batch ?? 1;
  const width = args.nKv * args.headDim;
  const q = randomArray(B * args.T * args.nHeads * args.headDim, seed).map((x) => 3 * x);
  const k = randomArray(B * args.S * width, seed + 1);
  const v = randomArray(B * args.S * width, seed + 2);
  const end = (args.past ?? args.S - args.T) + args.T;
  const kIn = args.ring ? toRing(k, B, args.S, args.ring, width, end) : k;
  const vIn = args.ring ? toRing(v, B, args.S, args.ring, width, end) : v;
  const rows = B * args.T * args.nHeads;
  const out = pool.alloc(q.byteLength);
  const lse = pool.alloc(rows * 4);
  const enc = device.createCommandEncoder();
  const bufs = { q: pool.upload(q), k: pool.upload(kIn), v: pool.upload(vIn), out, lse };
  const maskBuf = mask && pool.upload(mask);
  const used = shape ?? hwAttentionShape(args, kernels.hwTuning.minWorkgroups);
  if (shape) {
    const words = attentionUniforms(args);
    const params = device.createBuffer({ size: words.byteLength, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */ });
    device.queue.writeBuffer(params, 0, words);
    const constants = { USE_MASK: !!mask, ...(args.window ? { WINDOW: args.window } : {}), ...(args.softcap ? { SOFTCAP: args.softcap } : {}) };
    await encodeHwAttention(kernels, enc, { ...bufs, mask: maskBuf ?? pool.upload(new Uint32Array(4)) }, args, params, constants, shape);
  } else {
    await encodeAttention(kernels, enc, bufs.q, bufs.k, bufs.v, out, args, maskBuf, lse);
  }
  device.queue.submit([enc.finish()]);
  const err = maxAbsDiff(await read(out, q.length), attentionRef(q, k, v, args, mask));
  const lseWant = attentionLseRef(q, k, args, mask);
  const lseGot = await read(lse, rows);
  const seen = [...lseWant.keys()].filter((i) => Number.isFinite(lseWant[i]));
  const lseErr = maxAbsDiff(seen.map((i) => lseGot[i]!), seen.map((i) => lseWant[i]!));
  const unseen = [...lseWant.keys()].filter((i) => !Number.isFinite(lseWant[i]));
  console.log(`hw attention ${JSON.stringify(args)}${mask ? ' masked' : ''} shape ${JSON.stringify(used)}: max|Δout| ${err.toExponential(2)}, max|Δlse| ${lseErr.toExponential(2)}`);
  expect(err).toBeLessThan(TOL_OUT);
  expect(lseErr).toBeLessThan(TOL_LSE);
  // a row that sees no key keeps the software kernel's "nothing" lse (−1e30), never NaN
  for (const i of unseen) expect(lseGot[i]).toBe(Math.fround(-1e30));
  return used;
}

/** A mask [B, S] of ones with the given [from, to) holes per row. */
function holes(B: number, S: number, gaps: Array<[number, number, number]>): Uint32Array {
  const m = new Uint32Array(B * S).fill(1);
  for (const [b, from, to] of gaps) m.fill(0, b * S + from, b * S + to);
  return m;
}

describe('hardware attention forward (tiled, FlashAttention-2 style) against the float64 reference', () => {
  it('GQA 4:1, head_dim 8, T = 37 (off the 16-row blocks: the group packs 4 heads a query)', async () => {
    const used = await check({ args: { T: 37, S: 37, nHeads: 8, nKv: 2, headDim: 8 }, seed: 1 });
    expect(used).toMatchObject({ BR: 16, TPR: 4, splits: 1 });
  });

  it('MHA 1:1, head_dim 16, past > 0 (a prefill chunk after cached keys), batch 2', () =>
    check({ args: { batch: 2, T: 21, S: 30, nHeads: 3, nKv: 3, headDim: 16 }, seed: 2 }));

  it('GQA 4:1, head_dim 64, masked batch (left padding; a row of nothing but padding gives zeros)', () =>
    check({ args: { batch: 2, T: 19, S: 19, nHeads: 4, nKv: 1, headDim: 64 }, seed: 3, mask: holes(2, 19, [[0, 0, 3], [1, 0, 19]]) }));

  it('sliding window with holes in the mask, soft-capped, past > 0', () =>
    check({ args: { batch: 2, T: 9, S: 33, nHeads: 4, nKv: 1, headDim: 16, past: 24, window: 6, softcap: 1.5 }, seed: 4, mask: holes(2, 33, [[0, 20, 26], [1, 3, 9]]) }));

  it('head_dim 12 and 130 (dims not a multiple of the lanes), 256 (Gemma 3: 4-key tiles)', async () => {
    await check({ args: { T: 7, S: 7, nHeads: 2, nKv: 2, headDim: 12 }, seed: 5 });
    await check({ args: { T: 6, S: 6, nHeads: 2, nKv: 1, headDim: 130 }, seed: 6 });
    const used = await check({ args: { T: 9, S: 9, nHeads: 2, nKv: 1, headDim: 256, window: 4 }, seed: 7 });
    expect(used).toMatchObject({ BR: 8, TPR: 8, BC: 4 });
  });

  it('a ring of KV slots (a sliding layer’s cache): a prefill chunk whose keys wrap around the ring', () =>
    // W − 1 + T = 5 + 8 = 13 slots a row hold every key the chunk sees (model/kv-ring.ts)
    check({ args: { batch: 2, T: 8, S: 40, nHeads: 4, nKv: 2, headDim: 16, past: 32, window: 6, ring: 13 }, seed: 8 }));
});

describe('hardware attention: flash-decoding (key slices + a fixed-order reduce) against the float64 reference', () => {
  it('picks slices for 1–4 rows over a long cache, none for a short one or a prefill', () => {
    expect(hwAttentionShape({ T: 1, S: 2048, nHeads: 9, nKv: 3, headDim: 64 }, 128)).toEqual({ BR: 4, TPR: 16, BC: 16, splits: 32 });
    expect(hwAttentionShape({ T: 1, S: 100, nHeads: 9, nKv: 3, headDim: 64 }, 128).splits).toBe(3);
    expect(hwAttentionShape({ T: 1, S: 31, nHeads: 9, nKv: 3, headDim: 64 }, 128).splits).toBe(1);
    expect(hwAttentionShape({ T: 5, S: 2048, nHeads: 9, nKv: 3, headDim: 64 }, 128).splits).toBe(1);
  });

  it('one decode row, GQA 4:1, head_dim 64, 100 keys in 3 slices (default shape)', async () => {
    const used = await check({ args: { T: 1, S: 100, nHeads: 8, nKv: 2, headDim: 64 }, seed: 11 });
    expect(used.splits).toBe(3);
  });

  it('4 rows, MHA, head_dim 16, masked batch with holes, 5 slices', () =>
    check({ args: { batch: 2, T: 4, S: 90, nHeads: 2, nKv: 2, headDim: 16 }, seed: 12, mask: holes(2, 90, [[0, 0, 7], [1, 40, 61]]), shape: { BR: 4, TPR: 16, BC: 16, splits: 5 } }));

  it('empty slices: a cache of 200 slots holding 12 keys (past 9, T 3) in 6 slices', () =>
    check({ args: { T: 3, S: 200, nHeads: 8, nKv: 2, headDim: 8, past: 9 }, seed: 13, shape: { BR: 16, TPR: 4, BC: 16, splits: 6 } }));

  it('window + soft-cap + mask over a ring (a sliding layer decoding), 2 rows, 4 slices', () =>
    // a query sees its 7 most recent real keys; 3 masked slots inside: ring ≥ 6 + 3 + 2 = 11 slots
    check({
      args: { batch: 2, T: 2, S: 70, nHeads: 4, nKv: 1, headDim: 16, past: 60, window: 7, softcap: 2, ring: 12 },
      seed: 14,
      mask: holes(2, 70, [[0, 57, 60], [1, 10, 20]]),
      shape: { BR: 8, TPR: 8, BC: 4, splits: 4 },
    }));

  it('head_dim 12 and 256, 1 row, slices of whole tiles', async () => {
    await check({ args: { T: 1, S: 75, nHeads: 4, nKv: 1, headDim: 12 }, seed: 15, shape: { BR: 4, TPR: 16, BC: 16, splits: 3 } });
    const used = await check({ args: { T: 1, S: 64, nHeads: 2, nKv: 1, headDim: 256 }, seed: 16 });
    expect(used.splits).toBeGreaterThan(1);
  });
});

// dq, dk, dv O(1) (q spread to ±3, k, v, dOut in [-1, 1)), f32 sums over ≤ 40 keys or (query, q-head) rows:
// measured max |Δ| 1.9e-6 (dv; printed below; the software family's tests allow 1e-5).
const TOL_GRAD = 3e-6;

async function checkBackward(args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness('hardware');
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
    ...(mask ? { keyMask: pool.upload(mask) } : {}),
  };
  const enc = device.createCommandEncoder();
  await encodeAttention(kernels, enc, bufs.q, bufs.k, bufs.v, bufs.out, args, bufs.keyMask, bufs.lse);
  await encodeAttentionBackward(kernels, enc, bufs, args);
  device.queue.submit([enc.finish()]);
  const want = attentionBackwardRef(q, k, v, dOut, args, mask);
  const errs = [
    maxAbsDiff(await read(bufs.dq, q.length), want.dq),
    maxAbsDiff(await read(bufs.dk, k.length), want.dk),
    maxAbsDiff(await read(bufs.dv, v.length), want.dv),
  ];
  console.log(`hw attention backward ${JSON.stringify(args)}${mask ? ' masked' : ''} shape ${JSON.stringify(hwAttentionBackwardShape(args.headDim))}: max|Δ| dq/dk/dv ${errs.map((e) => e.toExponential(2)).join(' ')}`);
  for (const e of errs) expect(e).toBeLessThan(TOL_GRAD);
}

describe('hardware attention backward (dq; dk, dv per key block) against the float64 reference', () => {
  it('GQA 4:1, head_dim 8, T = 37 (off the row blocks and the key blocks)', () => checkBackward({ T: 37, S: 37, nHeads: 8, nKv: 2, headDim: 8 }, 31));

  it('MHA 1:1, head_dim 16, past > 0, batch 2 with a padded row', () =>
    checkBackward({ batch: 2, T: 13, S: 20, nHeads: 3, nKv: 3, headDim: 16 }, 32, holes(2, 20, [[1, 0, 20]])));

  it('GQA 4:1, head_dim 64, sliding window over holes, soft-capped, custom scale', () =>
    checkBackward({ batch: 2, T: 19, S: 19, nHeads: 4, nKv: 1, headDim: 64, window: 5, softcap: 1.5, scale: 0.3 }, 33, holes(2, 19, [[0, 4, 8], [1, 15, 19]])));

  it('a small window over a long masked batch: dk/dv walk the window starts incrementally across many holes', () =>
    checkBackward(
      { batch: 2, T: 41, S: 41, nHeads: 8, nKv: 2, headDim: 8, window: 3 },
      36,
      holes(2, 41, [[0, 2, 5], [0, 9, 10], [0, 17, 23], [0, 30, 31], [0, 33, 35], [1, 0, 6], [1, 20, 30], [1, 38, 41]]),
    ));

  it('head_dim 12 and 256 (4-key tiles), windowed', async () => {
    await checkBackward({ T: 7, S: 7, nHeads: 2, nKv: 2, headDim: 12 }, 34);
    await checkBackward({ T: 6, S: 6, nHeads: 2, nKv: 1, headDim: 256, window: 3 }, 35);
  });
});
