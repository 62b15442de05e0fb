import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeSwigluBackward } from '../../../src/engine/ops/swiglu.ts';
import { swigluBackwardRef } from '../../../src/engine/reference/swiglu.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// A handful of f32 operations on O(1) values (|gate| up to 8, so |dgate| ≲ 1.1·|up|·|dout|): ~1e-7.
const TOL = 1e-5;

describe('swiglu backward kernel against the CPU reference', () => {
  for (const n of [1, 255, 257, 1000]) {
    it(`n=${n} (not a multiple of the 256-thread workgroup)`, async () => {
      const { device, kernels, pool } = await harness();
      const gate = randomArray(n, n).map((x) => 8 * x);
      const up = randomArray(n, n + 1);
      const dout = randomArray(n, n + 2);
      const DG = pool.alloc(n * 4);
      const DU = pool.alloc(n * 4);
      const enc = device.createCommandEncoder();
      await encodeSwigluBackward(kernels, enc, pool.upload(gate), pool.upload(up), pool.upload(dout), DG, DU, { n });
      device.queue.submit([enc.finish()]);
      const want = swigluBackwardRef(gate, up, dout);
      const eg = maxAbsDiff(await read(DG, n), want.dgate);
      const eu = maxAbsDiff(await read(DU, n), want.dup);
      console.log(`swiglu backward n=${n} max|Δdgate|=${eg.toExponential(2)} max|Δdup|=${eu.toExponential(2)}`);
      expect(eg).toBeLessThan(TOL);
      expect(eu).toBeLessThan(TOL);
    });
  }

  it('saturated gates give the limits, not NaN', async () => {
    const { device, kernels, pool } = await harness();
    const gate = Float32Array.from([-200, -90, 90, 200]);
    const one = new Float32Array(4).fill(1);
    const DG = pool.alloc(16);
    const DU = pool.alloc(16);
    const enc = device.createCommandEncoder();
    await encodeSwigluBackward(kernels, enc, pool.upload(gate), pool.upload(one), pool.upload(one), DG, DU, { n: 4 });
    device.queue.submit([enc.finish()]);
    expect([...(await read(DG, 4))].map((v) => Math.abs(v))).toEqual([0, 0, 1, 1]);
    expect([...(await read(DU, 4))].map((v) => Math.abs(v))).toEqual([0, 0, 90, 200]);
  });
});
