// AdamW on the GPU against the float64 reference over 5 steps with changing gradients (n = 1000, not a multiple
// of the 256-thread workgroup): max |Δparam| ≤ 1e-6. The reference itself is checked against a hand-worked
// first step (bias correction makes step 1 move each weight by ≈ lr·sign(g)).
import { describe, expect, it } from 'vitest';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { adamwReference, encodeAdamW } from '../../../src/engine/train/adamw.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { maxAbsDiff, randomArray, testGpu, testKernels } from '../../helpers/gpu.ts';

describe('AdamW', () => {
  it('reference: first step moves by lr·sign(g) after decay', () => {
    const p = Float64Array.of(1, -2);
    const m = new Float64Array(2);
    const v = new Float64Array(2);
    adamwReference(p, [0.5, -3], m, v, 1, { lr: 0.1, weightDecay: 0.1, eps: 0 });
    expect(p[0]).toBeCloseTo(1 * 0.99 - 0.1, 12);
    expect(p[1]).toBeCloseTo(-2 * 0.99 + 0.1, 12);
  });

  it('GPU = reference over 5 steps (≤ 1e-6)', async () => {
    const ctx = await testGpu();
    const kernels = await testKernels();
    const pool = new BufferPool(ctx.device);
    const n = 1000;
    const p0 = randomArray(n, 1);
    const param = pool.upload(p0);
    const m = pool.upload(new Float32Array(n));
    const v = pool.upload(new Float32Array(n));
    const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
    const hyper = { lr: 0.01, weightDecay: 0.05 };
    for (let step = 1; step <= 5; step++) {
      const g = randomArray(n, 10 + step).map((x) => x * 0.1);
      const grad = pool.upload(g);
      const enc = ctx.device.createCommandEncoder();
      await encodeAdamW(kernels, enc, { param, grad, m, v }, { n, step, gradScale: 0.5, ...hyper });
      ctx.device.queue.submit([enc.finish()]);
      adamwReference(ref.p, g, ref.m, ref.v, step, hyper, 0.5);
      pool.release(grad);
    }
    const got = new Float32Array(await readBuffer(ctx.device, param, n * 4));
    const err = maxAbsDiff(got, ref.p);
    console.log(`AdamW GPU vs float64 reference after 5 steps: max |Δ| ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-6);
    pool.destroyAll();
  });

  it('takes the clip scale from the GPU buffer, and leaves param, m, v untouched when Σ g² is not finite', async () => {
    const ctx = await testGpu();
    const kernels = await testKernels();
    const pool = new BufferPool(ctx.device);
    const n = 300;
    const p0 = randomArray(n, 3);
    const g = randomArray(n, 4);
    const hyper = { lr: 0.01, weightDecay: 0.05 };
    const run = async (clip: number[]) => {
      const bufs = { param: pool.upload(p0), grad: pool.upload(g), m: pool.upload(new Float32Array(n)), v: pool.upload(new Float32Array(n)) };
      const enc = ctx.device.createCommandEncoder();
      await encodeAdamW(kernels, enc, bufs, { n, step: 1, gradScale: 0.5, ...hyper }, undefined, pool.upload(Float32Array.from(clip)));
      ctx.device.queue.submit([enc.finish()]);
      return [bufs.param, bufs.m, bufs.v].map(async (b) => new Float32Array(await readBuffer(ctx.device, b, n * 4)));
    };
    const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
    adamwReference(ref.p, g, ref.m, ref.v, 1, hyper, 0.5 * 0.25);
    const [p] = await run([7, 0.25]);
    const err = maxAbsDiff(await p!, ref.p);
    console.log(`AdamW with GPU clip scale 0.25 (× grad_scale 0.5) vs reference: max |Δ| ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-6);
    for (const bad of [Infinity, NaN]) {
      const [pb, mb, vb] = await run([bad, 0.25]);
      expect([...(await pb!)]).toEqual([...p0]);
      expect((await mb!).every((x) => x === 0)).toBe(true);
      expect((await vb!).every((x) => x === 0)).toBe(true);
    }
    pool.destroyAll();
  });

  // Full fine-tuning of a 16-bit model: the f32 master follows the reference, and the model's packed weight holds
  // exactly the master rounded to nearest even (odd n: the last word's unused high half is kept); a tensor without
  // weight decay (decay: false) follows the reference without it.
  for (const dtype of ['bf16', 'f16'] as const) {
    it(`main_w16 (${dtype}): master = reference, store = master rounded to nearest even, bit for bit`, async () => {
      const ctx = await testGpu();
      const kernels = await testKernels();
      const pool = new BufferPool(ctx.device);
      const n = 517;
      const round = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
      const p0 = Float32Array.from(randomArray(n, 21), (x) => x * 0.5);
      const words = new Uint32Array(Math.ceil(n / 2));
      p0.forEach((x, i) => (words[i >> 1]! |= round(x) << (16 * (i & 1))));
      words[words.length - 1]! |= 0xabcd0000; // the odd tail's unused half
      const stored = pool.upload(words);
      for (const decay of [true, false]) {
        const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
        const bufs = { param: pool.upload(p0), grad: pool.upload(new Float32Array(n)), m: pool.upload(new Float32Array(n)), v: pool.upload(new Float32Array(n)) };
        const hyper = { lr: 0.003, weightDecay: 0.1 };
        for (let step = 1; step <= 3; step++) {
          const g = Float32Array.from(randomArray(n, 40 + step), (x) => x * 0.1);
          ctx.device.queue.writeBuffer(bufs.grad, 0, g);
          const enc = ctx.device.createCommandEncoder();
          await encodeAdamW(kernels, enc, bufs, { n, step, ...hyper }, undefined, undefined, { decay, store: { buffer: stored, dtype } });
          ctx.device.queue.submit([enc.finish()]);
          adamwReference(ref.p, g, ref.m, ref.v, step, hyper, 1, decay);
        }
        const master = new Float32Array(await readBuffer(ctx.device, bufs.param, n * 4));
        const err = maxAbsDiff(master, ref.p);
        const got = new Uint32Array(await readBuffer(ctx.device, stored, words.length * 4));
        let mismatches = 0;
        master.forEach((x, i) => ((got[i >> 1]! >>> (16 * (i & 1))) & 0xffff) !== round(x) && mismatches++);
        console.log(`AdamW main_w16 ${dtype} decay ${decay}: master vs reference max |Δ| ${err.toExponential(2)}; stored halves ≠ rounded master: ${mismatches}`);
        expect(err).toBeLessThanOrEqual(1e-6);
        expect(mismatches).toBe(0);
        expect(got[got.length - 1]! >>> 16).toBe(0xabcd);
        for (const b of Object.values(bufs)) pool.release(b);
      }
      pool.destroyAll();
    });
  }
});
