import { afterAll, describe, expect, it } from 'vitest';
import { randomArray } from '../../helpers/gpu.ts';
import { encodeEmbedding, validateTokenIds } from '../../../src/engine/ops/embedding.ts';
import { embeddingRef } from '../../../src/engine/reference/embedding.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

const V = 291;
const H = 24;

async function gather(ids: Uint32Array, hostIds?: ArrayLike<number>) {
  const { device, kernels, pool } = await harness();
  const table = randomArray(V * H, 3);
  const out = pool.alloc(ids.length * H * 4);
  const enc = device.createCommandEncoder();
  await encodeEmbedding(kernels, enc, pool.upload(table), pool.upload(ids), out, { count: ids.length, vocab: V, hidden: H, hostIds });
  device.queue.submit([enc.finish()]);
  return { got: await read(out, ids.length * H), want: embeddingRef(table, ids, V, H) };
}

describe('embedding gather', () => {
  it('copies rows exactly (first, last, repeated ids)', async () => {
    const ids = Uint32Array.from([0, V - 1, 5, 5, 17, 200, 1]);
    const { got, want } = await gather(ids, ids);
    expect([...got]).toEqual([...want].map(Math.fround));
  });

  it('writes zero rows for ids ≥ V when the caller skipped validation', async () => {
    const ids = Uint32Array.from([3, V, 0xffffffff, 4]);
    const { got, want } = await gather(ids);
    expect([...got]).toEqual([...want].map(Math.fround));
    expect(got.subarray(H, 3 * H).every((x) => x === 0)).toBe(true);
  });

  for (const [dtype, encode, decode] of [
    ['bf16', f32ToBf16Bits, bf16BitsToF32],
    ['f16', f32ToF16Bits, f16BitsToF32],
  ] as const) {
    it(`reads a ${dtype} table (odd H, so rows straddle u32 words) exactly`, async () => {
      const { device, kernels, pool } = await harness();
      const h = 7;
      const bits = Uint16Array.from(randomArray(V * h, 9), encode);
      const ids = Uint32Array.from([0, 1, 2, V - 1, 150, V + 1]);
      const out = pool.alloc(ids.length * h * 4);
      const enc = device.createCommandEncoder();
      await encodeEmbedding(kernels, enc, pool.upload(bits), pool.upload(ids), out, { count: ids.length, vocab: V, hidden: h, dtype });
      device.queue.submit([enc.finish()]);
      const want = embeddingRef(Float64Array.from(bits, decode), ids, V, h);
      expect([...(await read(out, ids.length * h))]).toEqual([...want]);
    });
  }

  it('throws a clear error for bad host ids before encoding anything', async () => {
    const ids = Uint32Array.from([1, 2, V + 4]);
    await expect(gather(ids, ids)).rejects.toThrow(`token id ${V + 4} at position 2 is outside the model's vocabulary (0..${V - 1})`);
    expect(() => validateTokenIds([0, -1], V)).toThrow(/token id -1 at position 1/);
    expect(() => validateTokenIds([1.5], V)).toThrow(/token id 1.5/);
  });
});
