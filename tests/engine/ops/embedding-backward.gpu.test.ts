import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { embeddingGradIndex, encodeEmbeddingBackward } from '../../../src/engine/ops/embedding-backward.ts';
import { embeddingBackwardRef } from '../../../src/engine/reference/embedding.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// Each element is an f32 sum of ≤ ~60 values in [-1, 1): ~1e-6.
const TOL = 1e-5;

function ids(n: number, vocab: number, seed: number): Uint32Array {
  // skewed so a few rows take many tokens (as common tokens do) and most rows none
  return Uint32Array.from(randomArray(n, seed), (x) => Math.floor(x * x * vocab) % vocab);
}

describe('embedding backward kernel against the CPU reference', () => {
  it('groups ids on the host: stable, distinct rows increasing, bad ids refused', () => {
    const idx = embeddingGradIndex([4, 1, 4, 0, 1, 4], 5);
    expect([...idx.rows]).toEqual([0, 1, 4]);
    expect([...idx.offsets]).toEqual([0, 1, 3, 6]);
    expect([...idx.order]).toEqual([3, 1, 4, 0, 2, 5]);
    expect(() => embeddingGradIndex([0, 5], 5)).toThrow(/token id 5 at position 1/);
  });

  for (const [n, vocab, hidden] of [
    [1, 3, 1],
    [37, 50, 7],
    [130, 300, 33],
  ] as const) {
    it(`N=${n} V=${vocab} H=${hidden}: full dTable, untouched rows keep their value`, async () => {
      const { device, kernels, pool } = await harness();
      const tok = ids(n, vocab, n + vocab);
      const dOut = randomArray(n * hidden, hidden);
      const start = randomArray(vocab * hidden, 3); // nonzero: rows no token used must come back unchanged
      const idx = embeddingGradIndex(tok, vocab);
      const DT = pool.upload(start);
      const enc = device.createCommandEncoder();
      await encodeEmbeddingBackward(
        kernels,
        enc,
        pool.upload(dOut),
        { rows: pool.upload(idx.rows), offsets: pool.upload(idx.offsets), order: pool.upload(idx.order) },
        DT,
        { unique: idx.rows.length, hidden, vocab },
      );
      device.queue.submit([enc.finish()]);
      const want = embeddingBackwardRef(dOut, tok, vocab, hidden).map((v, i) => v + start[i]!);
      const err = maxAbsDiff(await read(DT, vocab * hidden), want);
      console.log(`embedding backward N=${n} V=${vocab} H=${hidden} (${idx.rows.length} rows hit) max|Δ|=${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL);
    });
  }

  it("Gemma 3's scale: every row's sum times the gather's scale (here √80 in f32), into a split table", async () => {
    const { device, kernels, pool } = await harness();
    const vocab = 30;
    const hidden = 6;
    const split = 17;
    const scale = Math.fround(Math.sqrt(80));
    const tok = ids(50, vocab, 21);
    const dOut = randomArray(50 * hidden, 22);
    const idx = embeddingGradIndex(tok, vocab);
    const index = { rows: pool.upload(idx.rows), offsets: pool.upload(idx.offsets), order: pool.upload(idx.order) };
    const D = pool.upload(dOut);
    const lo = pool.upload(new Float32Array(split * hidden));
    const hi = pool.upload(new Float32Array((vocab - split) * hidden));
    const enc = device.createCommandEncoder();
    await encodeEmbeddingBackward(kernels, enc, D, index, lo, { unique: idx.rows.length, hidden, vocab: split, scale });
    await encodeEmbeddingBackward(kernels, enc, D, index, hi, { unique: idx.rows.length, hidden, vocab: vocab - split, rowStart: split, scale });
    device.queue.submit([enc.finish()]);
    const got = new Float32Array(vocab * hidden);
    got.set(await read(lo, split * hidden));
    got.set(await read(hi, (vocab - split) * hidden), split * hidden);
    const err = maxAbsDiff(got, embeddingBackwardRef(dOut, tok, vocab, hidden, scale));
    console.log(`embedding backward × ${scale}: max|Δ|=${err.toExponential(2)}`);
    // sums of ≤ ~20 values × 8.9: measured 2e-6
    expect(err).toBeLessThan(2 * TOL);
  });

  it('a table split into two row chunks: each call writes only its own rows', async () => {
    const { device, kernels, pool } = await harness();
    const vocab = 40;
    const hidden = 5;
    const split = 23;
    const tok = ids(60, vocab, 9);
    const dOut = randomArray(60 * hidden, 10);
    const idx = embeddingGradIndex(tok, vocab);
    const index = { rows: pool.upload(idx.rows), offsets: pool.upload(idx.offsets), order: pool.upload(idx.order) };
    const D = pool.upload(dOut);
    const lo = pool.upload(new Float32Array(split * hidden));
    const hi = pool.upload(new Float32Array((vocab - split) * hidden));
    const enc = device.createCommandEncoder();
    await encodeEmbeddingBackward(kernels, enc, D, index, lo, { unique: idx.rows.length, hidden, vocab: split });
    await encodeEmbeddingBackward(kernels, enc, D, index, hi, { unique: idx.rows.length, hidden, vocab: vocab - split, rowStart: split });
    device.queue.submit([enc.finish()]);
    const got = new Float32Array(vocab * hidden);
    got.set(await read(lo, split * hidden));
    got.set(await read(hi, (vocab - split) * hidden), split * hidden);
    expect(maxAbsDiff(got, embeddingBackwardRef(dOut, tok, vocab, hidden))).toBeLessThan(TOL);
  });
});
