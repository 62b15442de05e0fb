import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeRope, ropeInvFreq, type RopeConfig } from '../../../src/engine/ops/rope.ts';
import { ropeRef } from '../../../src/engine/reference/rope.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// |x| < 1; the angle is the same f32 on both sides, then the GPU's reduction mod 2π adds ≤ ~1e-6 rad at
// positions up to 6e4 and the polynomial sin/cos ~1e-7: ~1e-6 at most.
const TOL = 3e-6;

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('ropeInvFreq', () => {
  it('default: 1/theta^(2j/d)', () => {
    const inv = ropeInvFreq({ hidden_size: 64, num_attention_heads: 4, rope_theta: 10000 });
    expect(inv.length).toBe(8);
    expect(inv[0]).toBe(1);
    for (let j = 0; j < 8; j++) expect(relErr(inv[j]!, 1 / 10000 ** ((2 * j) / 16))).toBeLessThan(1e-6);
  });

  // Expected values worked by hand from the formula (float64): wavelen = 2π/inv; < 2048 kept; > 8192 divided by
  // factor; between, (1−s)·inv/factor + s·inv with s = (8192/wavelen − 1)/3.
  it('llama3 (Llama-3.1-8B: head_dim 128, theta 5e5, factor 8, low 1, high 4, original 8192)', () => {
    const cfg: RopeConfig = {
      hidden_size: 4096,
      num_attention_heads: 32,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    };
    const inv = ropeInvFreq(cfg);
    const want: Record<number, number> = {
      0: 1.0, // wavelen 6.28: high frequency, unchanged
      1: 0.8146172338565447,
      28: 0.0032114459947525913, // wavelen 1956 < 2048: unchanged
      29: 0.002166570763503359, // wavelen 2402: smoothed
      30: 0.0013718935677611381, // wavelen 2948: smoothed
      34: 0.00017850781276799638, // wavelen 6695: smoothed
      35: 9.556212353964683e-5, // wavelen 8219 > 8192: divided by 8
      63: 3.068925988914511e-7,
    };
    expect(inv.length).toBe(64);
    for (const [j, v] of Object.entries(want)) expect(relErr(inv[Number(j)]!, v), `j=${j}`).toBeLessThan(1e-6);
  });

  it('llama3 (Llama-3.2-1B: head_dim 64, factor 32; old "type" key)', () => {
    const inv = ropeInvFreq({
      hidden_size: 2048,
      num_attention_heads: 32,
      head_dim: 64,
      rope_theta: 500000,
      rope_scaling: { type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    const want: Record<number, number> = {
      0: 1.0,
      14: 0.0032114459947525913,
      15: 0.001290547928209264,
      16: 0.00042955679655936815,
      17: 9.70828780262767e-5,
      31: 9.418306725434909e-8,
    };
    for (const [j, v] of Object.entries(want)) expect(relErr(inv[Number(j)]!, v), `j=${j}`).toBeLessThan(1e-6);
  });

  it('rejects rope types it does not implement', () => {
    expect(() => ropeInvFreq({ hidden_size: 8, num_attention_heads: 1, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/);
  });
});

describe('rope kernel against the CPU reference', () => {
  async function check(rows: number, heads: number, D: number, positions: Uint32Array, inv: Float32Array, seed: number) {
    const { device, kernels, pool } = await harness();
    const x = randomArray(rows * heads * D, seed);
    const X = pool.upload(x);
    const enc = device.createCommandEncoder();
    await encodeRope(kernels, enc, X, pool.upload(positions), pool.upload(inv), { rows, heads, headDim: D });
    device.queue.submit([enc.finish()]);
    const err = maxAbsDiff(await read(X, x.length), ropeRef(x, positions, inv, rows, heads, D));
    console.log(`rope rows=${rows} heads=${heads} D=${D} max|Δ|=${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
  }

  it('positions 0..T-1, D/2 odd, heads not a power of two', async () => {
    const inv = ropeInvFreq({ hidden_size: 30, num_attention_heads: 3, rope_theta: 10000 });
    await check(13, 3, 10, Uint32Array.from({ length: 13 }, (_, i) => i), inv, 1);
  });

  it('arbitrary positions (padding, KV-cache offsets) up to 60000, llama3 frequencies', async () => {
    const inv = ropeInvFreq({
      hidden_size: 64,
      num_attention_heads: 2,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    const pos = Uint32Array.from([0, 1, 7, 511, 4095, 8191, 12345, 31999, 40000, 59999, 3, 3]);
    await check(pos.length, 5, 32, pos, inv, 2);
  });
});

describe('encodeRopeQK (q and k in one dispatch)', () => {
  // GQA shapes with a row count off the 64-pair workgroup; positions far apart, as after a KV-cache offset.
  for (const backward of [false, true]) {
    it(`${backward ? 'backward' : 'forward'}: equals encodeRope on q and on k, bit for bit`, async () => {
      const { device, kernels, pool } = await harness();
      const rows = 7;
      const heads = 6;
      const kvHeads = 2;
      const D = 16;
      const qData = randomArray(rows * heads * D, 71);
      const kData = randomArray(rows * kvHeads * D, 72);
      const pos = pool.upload(Uint32Array.from({ length: rows }, (_, i) => i * 977 + 3));
      const inv = pool.upload(ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 }));
      const [q1, k1, q2, k2] = [qData, kData, qData, kData].map((d) => pool.upload(d));
      const enc = device.createCommandEncoder();
      const { encodeRopeQK, encodeRopeBackward } = await import('../../../src/engine/ops/rope.ts');
      const one = backward ? encodeRopeBackward : encodeRope;
      await one(kernels, enc, q1!, pos, inv, { rows, heads, headDim: D });
      await one(kernels, enc, k1!, pos, inv, { rows, heads: kvHeads, headDim: D });
      await encodeRopeQK(kernels, enc, q2!, k2!, pos, inv, { rows, heads, kvHeads, headDim: D }, backward);
      device.queue.submit([enc.finish()]);
      const [a, b, c, d] = await Promise.all([read(q1!, qData.length), read(k1!, kData.length), read(q2!, qData.length), read(k2!, kData.length)]);
      expect(maxAbsDiff(a, qData)).toBeGreaterThan(0.1); // it rotated
      expect([...c]).toEqual([...a]);
      expect([...d]).toEqual([...b]);
    });
  }
});

describe('encodeSplitQkv (the fused q|k|v projection into q, k, v, rotated)', () => {
  // rows off the 64-thread workgroup, GQA, dense destinations; with a bias (Qwen2's) and without
  for (const withBias of [false, true]) {
    it(`${withBias ? 'with' : 'without'} the bias: q, k = rope(part + bias), v = part + bias, bit for bit as a bias add, a split and encodeRope`, async () => {
      const { device, kernels, pool } = await harness();
      const { encodeSplitQkv } = await import('../../../src/engine/ops/rope.ts');
      const [rows, heads, kvHeads, D] = [5, 6, 2, 8];
      const W = (heads + 2 * kvHeads) * D;
      const qkv = randomArray(rows * W, 81);
      const bias = withBias ? randomArray(W, 82) : new Float32Array(W);
      const positions = Uint32Array.from({ length: rows }, (_, i) => i * 613 + 2);
      const invData = ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 });
      // the expected parts, the bias added in f32 as the projection's bias add does
      const part = (from: number, width: number) => {
        const out = new Float32Array(rows * width);
        for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) out[r * width + c] = Math.fround(qkv[r * W + from + c]! + bias[from + c]!);
        return out;
      };
      const [qWant, kWant, vWant] = [part(0, heads * D), part(heads * D, kvHeads * D), part((heads + kvHeads) * D, kvHeads * D)];
      const pos = pool.upload(positions);
      const inv = pool.upload(invData);
      const [qRef, kRef] = [pool.upload(qWant), pool.upload(kWant)];
      const [q, k, v] = [heads, kvHeads, kvHeads].map((h) => pool.alloc(rows * h * D * 4, 'part'));
      const enc = device.createCommandEncoder();
      await encodeRope(kernels, enc, qRef, pos, inv, { rows, heads, headDim: D });
      await encodeRope(kernels, enc, kRef, pos, inv, { rows, heads: kvHeads, headDim: D });
      await encodeSplitQkv(kernels, enc, pool.upload(qkv), pos, inv, q!, k!, v!, { rows, heads, kvHeads, headDim: D }, undefined, withBias ? pool.upload(bias) : null);
      device.queue.submit([enc.finish()]);
      const [gq, gk, gv, rq, rk] = await Promise.all([read(q!, qWant.length), read(k!, kWant.length), read(v!, vWant.length), read(qRef, qWant.length), read(kRef, kWant.length)]);
      expect([...gq]).toEqual([...rq]);
      expect([...gk]).toEqual([...rk]);
      expect([...gv]).toEqual([...vWant]);
      const err = Math.max(maxAbsDiff(gq, ropeRef(qWant, positions, invData, rows, heads, D)), maxAbsDiff(gk, ropeRef(kWant, positions, invData, rows, kvHeads, D)));
      console.log(`split_qkv ${withBias ? 'with' : 'without'} bias: max|Δ| vs the float64 rotation ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL);
    });
  }
});
