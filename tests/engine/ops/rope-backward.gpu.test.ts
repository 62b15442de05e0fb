import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeRope, encodeRopeBackward, ropeInvFreq } from '../../../src/engine/ops/rope.ts';
import { ropeBackwardRef } from '../../../src/engine/reference/rope.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// The same sin/cos as the forward (see rope.gpu.test.ts): ≤ ~1e-6 at positions up to 6e4 for |dy| < 1.
const TOL = 3e-6;

describe('rope backward kernel against the CPU reference', () => {
  async function check(rows: number, heads: number, D: number, positions: Uint32Array, inv: Float32Array, seed: number) {
    const { device, kernels, pool } = await harness();
    const dy = randomArray(rows * heads * D, seed);
    const G = pool.upload(dy);
    const P = pool.upload(positions);
    const I = pool.upload(inv);
    const enc = device.createCommandEncoder();
    await encodeRopeBackward(kernels, enc, G, P, I, { rows, heads, headDim: D });
    device.queue.submit([enc.finish()]);
    const err = maxAbsDiff(await read(G, dy.length), ropeBackwardRef(dy, positions, inv, rows, heads, D));
    console.log(`rope backward rows=${rows} heads=${heads} D=${D} max|Δ|=${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    // forward after backward is the identity (R(θ)·R(−θ)), up to the same rounding
    const enc2 = device.createCommandEncoder();
    await encodeRope(kernels, enc2, G, P, I, { rows, heads, headDim: D });
    device.queue.submit([enc2.finish()]);
    expect(maxAbsDiff(await read(G, dy.length), dy)).toBeLessThan(TOL);
  }

  it('positions 0..T-1, D/2 odd, heads not a power of two', async () => {
    const inv = ropeInvFreq({ hidden_size: 30, num_attention_heads: 3, rope_theta: 10000 });
    await check(13, 3, 10, Uint32Array.from({ length: 13 }, (_, i) => i), inv, 1);
  });

  it('arbitrary positions up to 60000, llama3 frequencies', async () => {
    const inv = ropeInvFreq({
      hidden_size: 64,
      num_attention_heads: 2,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    const pos = Uint32Array.from([0, 1, 7, 511, 4095, 8191, 12345, 31999, 40000, 59999, 3]);
    await check(pos.length, 5, 32, pos, inv, 2);
  });
});
