// GeGLU (Gemma 3's MLP: gelu_pytorch_tanh(gate) ⊙ up) — swiglu.wgsl with GELU_TANH — against the float64
// reference, forward (separate and packed gate|up) and backward, the reference's derivative against central
// finite differences of its own forward, and saturated gates giving the limits.
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeSwiglu, encodeSwigluBackward, encodeSwigluPacked } from '../../../src/engine/ops/swiglu.ts';
import { gegluBackwardRef, gegluRef, geluTanh } from '../../../src/engine/reference/swiglu.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// A few f32 operations on O(1) values (|gate| ≤ 8): ~1e-7; tanh in f32 adds a few ulps.
const TOL = 1e-5;
const act = 'gelu_tanh' as const;

describe('GeGLU (tanh GELU) kernels against the CPU reference', () => {
  it('the reference derivative matches central differences of the reference forward (max rel 1e-8)', () => {
    const gate = randomArray(200, 3).map((x) => 8 * x);
    const up = randomArray(200, 4);
    const dout = randomArray(200, 5);
    const { dgate, dup } = gegluBackwardRef(gate, up, dout);
    const h = 1e-5;
    let worst = 0;
    for (let i = 0; i < gate.length; i++) {
      const fd = (dout[i]! * up[i]! * (geluTanh(gate[i]! + h) - geluTanh(gate[i]! - h))) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - dgate[i]!) / Math.max(1, Math.abs(fd)));
      expect(dup[i]).toBeCloseTo(dout[i]! * geluTanh(gate[i]!), 12);
    }
    console.log(`geglu reference derivative vs FD: max rel err ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-8);
  });

  for (const n of [1, 257, 1000]) {
    it(`forward (separate and packed) and backward, n=${n}`, async () => {
      const { device, kernels, pool } = await harness();
      const gate = randomArray(n, n).map((x) => 8 * x);
      const up = randomArray(n, n + 1);
      const dout = randomArray(n, n + 2);
      const F = n; // packed: one row of [gate | up]
      const gu = new Float32Array(2 * F);
      gu.set(gate, 0);
      gu.set(up, F);
      const out = pool.alloc(n * 4);
      const outPacked = pool.alloc(n * 4);
      const DG = pool.alloc(n * 4);
      const DU = pool.alloc(n * 4);
      const enc = device.createCommandEncoder();
      const [G, U] = [pool.upload(gate), pool.upload(up)];
      await encodeSwiglu(kernels, enc, G, U, out, { n, act });
      await encodeSwigluPacked(kernels, enc, pool.upload(gu), outPacked, { rows: 1, F, act });
      await encodeSwigluBackward(kernels, enc, G, U, pool.upload(dout), DG, DU, { n, act });
      device.queue.submit([enc.finish()]);
      const want = gegluRef(gate, up);
      const back = gegluBackwardRef(gate, up, dout);
      const errs = [
        maxAbsDiff(await read(out, n), want),
        maxAbsDiff(await read(outPacked, n), want),
        maxAbsDiff(await read(DG, n), back.dgate),
        maxAbsDiff(await read(DU, n), back.dup),
      ];
      console.log(`geglu n=${n} max|Δ| out/packed/dgate/dup ${errs.map((e) => e.toExponential(2)).join(' ')}`);
      for (const e of errs) expect(e).toBeLessThan(TOL);
    });
  }

  it('saturated gates give the limits (gelu(g) → g or 0, gelu′ → 1 or 0), not NaN', async () => {
    const { device, kernels, pool } = await harness();
    const gate = Float32Array.from([-200, -30, 30, 200]);
    const one = new Float32Array(4).fill(1);
    const out = pool.alloc(16);
    const DG = pool.alloc(16);
    const DU = pool.alloc(16);
    const enc = device.createCommandEncoder();
    await encodeSwiglu(kernels, enc, pool.upload(gate), pool.upload(one), out, { n: 4, act });
    await encodeSwigluBackward(kernels, enc, pool.upload(gate), pool.upload(one), pool.upload(one), DG, DU, { n: 4, act });
    device.queue.submit([enc.finish()]);
    expect([...(await read(out, 4))].map((v) => Math.abs(v))).toEqual([0, 0, 30, 200]);
    expect([...(await read(DG, 4))].map((v) => Math.abs(v))).toEqual([0, 0, 1, 1]);
  });
});
