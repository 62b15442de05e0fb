import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeBiasGrad } from '../../../src/engine/ops/elementwise.ts';
import { biasGradRef } from '../../../src/engine/reference/elementwise.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// An f32 sum of ≤ 70 values in [-1, 1): ~1e-6.
const TOL = 1e-5;

describe('bias backward kernel against the CPU reference', () => {
  for (const [rows, cols] of [
    [1, 1],
    [70, 3],
    [5, 257],
  ] as const) {
    it(`rows=${rows} cols=${cols}, accumulated onto a nonzero dbias`, async () => {
      const { device, kernels, pool } = await harness();
      const dy = randomArray(rows * cols, rows + cols);
      const start = randomArray(cols, 5);
      const DB = pool.upload(start);
      const enc = device.createCommandEncoder();
      await encodeBiasGrad(kernels, enc, pool.upload(dy), DB, { rows, cols });
      device.queue.submit([enc.finish()]);
      const want = biasGradRef(dy, cols).map((v, c) => v + start[c]!);
      const err = maxAbsDiff(await read(DB, cols), want);
      console.log(`bias backward rows=${rows} cols=${cols} max|Δ|=${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL);
    });
  }
});
