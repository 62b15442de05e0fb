import { afterAll, describe, expect, it } from 'vitest';
import { randomArray } from '../../helpers/gpu.ts';
import { encodeAdd, encodeAddInPlace, encodeBiasAdd } from '../../../src/engine/ops/elementwise.ts';
import { addRef, biasAddRef } from '../../../src/engine/reference/elementwise.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// One f32 addition per element: the GPU result must be the f32 rounding of the exact sum, bit for bit.
const asF32 = (x: Float64Array) => [...x].map(Math.fround);

describe('elementwise adds', () => {
  const n = 7 * 45; // not a multiple of 256

  it('add: out = a + b', async () => {
    const { device, kernels, pool } = await harness();
    const a = randomArray(n, 1);
    const b = randomArray(n, 2);
    const out = pool.alloc(n * 4);
    const enc = device.createCommandEncoder();
    await encodeAdd(kernels, enc, pool.upload(a), pool.upload(b), out, { n });
    device.queue.submit([enc.finish()]);
    expect([...(await read(out, n))]).toEqual(asF32(addRef(a, b)));
  });

  it('add in place: the residual stream', async () => {
    const { device, kernels, pool } = await harness();
    const a = randomArray(n, 3);
    const b = randomArray(n, 4);
    const acc = pool.upload(a);
    const enc = device.createCommandEncoder();
    await encodeAddInPlace(kernels, enc, acc, pool.upload(b), { n });
    device.queue.submit([enc.finish()]);
    expect([...(await read(acc, n))]).toEqual(asF32(addRef(a, b)));
  });

  it('bias add broadcasts over rows (Qwen2 q/k/v biases)', async () => {
    const { device, kernels, pool } = await harness();
    const rows = 9;
    const cols = 40;
    const x = randomArray(rows * cols, 5);
    const bias = randomArray(cols, 6);
    const acc = pool.upload(x);
    const enc = device.createCommandEncoder();
    await encodeBiasAdd(kernels, enc, acc, pool.upload(bias), { rows, cols });
    device.queue.submit([enc.finish()]);
    expect([...(await read(acc, rows * cols))]).toEqual(asF32(biasAddRef(x, bias, cols)));
  });
});
