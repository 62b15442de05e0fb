// AdamW on the GPU against the float64 reference over 5 steps with changing gradients (n = 1000, not a multiple
// of the 256-thread workgroup): max |Δparam| ≤ 1e-6. The reference itself is checked against a hand-worked
// first step (bias correction makes step 1 move each weight by ≈ lr·sign(g)).
import { describe, expect, it } from 'vitest';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { adamwReference, encodeAdamW } from '../../../src/engine/train/adamw.ts';
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
});
