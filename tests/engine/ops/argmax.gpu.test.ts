// Row-wise argmax on the GPU against the CPU sampler's argmax (first maximum), exactly: ties across the
// invocations' strides, the maximum in the last (partial) stride, negative rows, one column, many rows.
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_VARIANTS, randomArray } from '../../helpers/gpu.ts';
import { encodeArgmax } from '../../../src/engine/ops/argmax.ts';
import { argmax } from '../../../src/engine/model/score.ts';
import { harness, releaseAll } from './op-harness.ts';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import type { KernelFamily } from '../../../src/engine/kernel-family.ts';

afterAll(releaseAll);

async function gpuArgmax(family: KernelFamily, subgroups: boolean, logits: Float32Array, rows: number, vocab: number): Promise<number[]> {
  const { device, kernels, pool } = await harness(family, subgroups);
  const out = pool.alloc(rows * 4);
  const enc = device.createCommandEncoder();
  await encodeArgmax(kernels, enc, pool.upload(logits), out, { rows, vocab });
  device.queue.submit([enc.finish()]);
  return [...new Uint32Array(await readBuffer(device, out, rows * 4))];
}

// The hardware family adds vec4 rows (512, 49 152, 12: several rows a workgroup) beside the scalar ones.
describe.each(KERNEL_VARIANTS)('argmax ($name)', ({ family, subgroups }) => {
  for (const [rows, vocab] of [
    [1, 512],
    [3, 1],
    [5, 131],
    [2, 49_153],
    [2, 49_152],
    [70, 12],
  ] as const) {
    it(`${rows} × ${vocab}: the first maximum of every row, as the CPU`, async () => {
      const logits = randomArray(rows * vocab, rows * 7 + vocab);
      if (vocab > 2) {
        // row 0: a tie between a late and an early column (different invocations' strides): the early one wins
        logits[vocab - 1] = 5;
        logits[Math.min(70, vocab - 2)] = 5;
      }
      if (rows > 1 && vocab > 11) {
        // row 1: a tie inside one vec4 (columns 9 and 11, one lane's quad in the hardware family): 9 wins
        logits[vocab + 9] = 6;
        logits[vocab + 11] = 6;
      }
      if (rows > 2) for (let i = 0; i < vocab; i++) logits[2 * vocab + i] = -10 - i; // all negative, max at 0
      const want = Array.from({ length: rows }, (_, r) => argmax(logits, r * vocab, vocab));
      expect(await gpuArgmax(family, subgroups, logits, rows, vocab)).toEqual(want);
    });
  }

  it('row0 places a block of rows at its offset in out (a block of a batch\'s logits)', async () => {
    const { device, kernels, pool } = await harness(family, subgroups);
    const vocab = 37;
    const logits = randomArray(2 * vocab, 91);
    const out = pool.upload(Uint32Array.from([7, 7, 7, 7]));
    const enc = device.createCommandEncoder();
    await encodeArgmax(kernels, enc, pool.upload(logits), out, { rows: 2, vocab, row0: 1 });
    device.queue.submit([enc.finish()]);
    const want = [7, argmax(logits, 0, vocab), argmax(logits, vocab, vocab), 7];
    expect([...new Uint32Array(await readBuffer(device, out, 16))]).toEqual(want);
  });

  it('the maximum in the last partial stride, and a row of equal values (index 0)', async () => {
    const vocab = 200;
    const logits = new Float32Array(2 * vocab);
    logits[vocab - 1] = 1; // row 0: only the last column is positive
    expect(await gpuArgmax(family, subgroups, logits, 2, vocab)).toEqual([vocab - 1, 0]);
  });
});
