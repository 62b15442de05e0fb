import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeSwiglu } from '../../../src/engine/ops/swiglu.ts';
import { swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// |out| ≲ |gate|·|up| ≤ 12·1: f32 exp and one division, ~1e-6 relative.
const TOL = 1e-5;

describe('swiglu kernel against the CPU reference', () => {
  it('T·I not a multiple of the 256-thread workgroup, gate spanning the saturated ends', async () => {
    const { device, kernels, pool } = await harness();
    const n = 13 * 37;
    const gate = randomArray(n, 1).map((x) => 12 * x);
    gate[0] = -100; // exp(100) overflows f32: must give −0, not NaN
    gate[1] = 100;
    const up = randomArray(n, 2);
    const out = pool.alloc(n * 4);
    const enc = device.createCommandEncoder();
    await encodeSwiglu(kernels, enc, pool.upload(gate), pool.upload(up), out, { n });
    device.queue.submit([enc.finish()]);
    const got = await read(out, n);
    const err = maxAbsDiff(got, swigluRef(gate, up));
    console.log(`swiglu n=${n} max|Δ|=${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    expect(Number.isNaN(got[0])).toBe(false);
  });
});
