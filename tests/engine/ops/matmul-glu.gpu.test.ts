// The GLU epilogue of the software family's forward-form matmuls (shaders/_nt_blocked.wgsl, _nt_4x4.wgsl): for a
// packed [2F, K] gate|up weight, C [M, F] = act(A·gateᵀ) ⊙ (A·upᵀ) in one dispatch. Checked against a float64
// reference (matmulRef + swigluRef / gegluRef on the same weights, rounded through bf16/f16 where the weight is
// 16-bit) and, bit for bit, against the unfused pair it replaces (the matmul's [M, 2F] output, then swiglu
// main_packed), at shapes that take the 4×4 kernel (M ≤ 4) and the blocked one (every COL_GROUPS pairing).
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeMatmul, gluColGroups, matmulUses4x4, type MatmulArgs } from '../../../src/engine/ops/matmul.ts';
import { encodeMatmulW16 } from '../../../src/engine/ops/matmul-w16.ts';
import { encodeSwigluPacked, type GateAct } from '../../../src/engine/ops/swiglu.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { gegluRef, swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// f32 accumulation over K ≤ 96 terms of |a·w| ≤ 1, then the activation and one product: as the matmul's 3e-5
// (measured on SwiftShader: up to ~2e-6)
const TOL = 3e-5;

type Dtype = 'f32' | 'bf16' | 'f16';
const codec = { bf16: { encode: f32ToBf16Bits, decode: bf16BitsToF32 }, f16: { encode: f32ToF16Bits, decode: f16BitsToF32 } };

async function check(M: number, F: number, K: number, dtype: Dtype, act: GateAct, seed: number) {
  const { device, kernels, pool } = await harness('software');
  const a = randomArray(M * K, seed);
  const w = randomArray(2 * F * K, seed + 1);
  const c16 = dtype === 'f32' ? null : codec[dtype];
  const bits = c16 ? Uint16Array.from(w, c16.encode) : null;
  const wUsed = c16 && bits ? Float64Array.from(bits, c16.decode) : Float64Array.from(w);
  const A = pool.upload(a);
  const W = bits ? pool.upload(bits) : pool.upload(w);
  const fused = pool.alloc(M * F * 4, 'glu');
  const packed = pool.alloc(M * 2 * F * 4, 'gu');
  const apart = pool.alloc(M * F * 4, 'act');
  const product = async (enc: GPUCommandEncoder, c: GPUBuffer, args: MatmulArgs) =>
    dtype === 'f32' ? encodeMatmul(kernels, enc, A, W, c, args) : encodeMatmulW16(kernels, enc, A, W, c, { ...args, dtype });
  const enc = device.createCommandEncoder();
  await product(enc, fused, { M, N: F, K, transB: true, glu: act });
  await product(enc, packed, { M, N: 2 * F, K, transB: true });
  await encodeSwigluPacked(kernels, enc, packed, apart, { rows: M, F, act });
  device.queue.submit([enc.finish()]);
  const got = await read(fused, M * F);
  const unfused = await read(apart, M * F);
  const gu = matmulRef(a, wUsed, { M, N: 2 * F, K, transB: true });
  const gate = new Float64Array(M * F);
  const up = new Float64Array(M * F);
  for (let m = 0; m < M; m++) {
    gate.set(gu.subarray(m * 2 * F, m * 2 * F + F), m * F);
    up.set(gu.subarray(m * 2 * F + F, (m + 1) * 2 * F), m * F);
  }
  const want = act === 'silu' ? swigluRef(gate, up) : gegluRef(gate, up);
  const err = maxAbsDiff(got, want);
  const kernel = matmulUses4x4({ M, N: F, K, transB: true }) ? '4×4' : `blocked, COL_GROUPS ${gluColGroups(F)}`;
  console.log(`GLU ${dtype} ${act} M=${M} F=${F} K=${K} (${kernel}): max|Δ| vs f64 ${err.toExponential(2)}, vs unfused ${maxAbsDiff(got, unfused)}`);
  expect(err).toBeLessThanOrEqual(TOL);
  expect(maxAbsDiff(got, unfused)).toBe(0);
  for (const b of [A, W, fused, packed, apart]) pool.release(b);
}

describe('matmul GLU epilogue (software family)', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 172, 64], // decode: the 4×4 kernel, stories260K's MLP
    [3, 44, 32],
    [37, 172, 64], // blocked: COL_GROUPS 6, a ragged last row group and column block
    [70, 20, 24], // blocked: COL_GROUPS 2
    [130, 300, 96], // blocked: COL_GROUPS 8
  ];
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    it(`${dtype}: SwiGLU and GeGLU = float64 reference, and bit for bit the matmul + swiglu it replaces`, async () => {
      let seed = 1;
      for (const [M, F, K] of shapes) for (const act of ['silu', 'gelu_tanh'] as const) await check(M, F, K, dtype, act, (seed += 7));
    });
  }

  it('is refused where no kernel has it: the hardware family, a batched or accumulating product', async () => {
    const { device, pool } = await harness('software');
    const hw = await harness('hardware');
    const buf = pool.alloc(4 * 64 * 4, 'x');
    const enc = device.createCommandEncoder();
    await expect(encodeMatmul(hw.kernels, enc, buf, buf, buf, { M: 4, N: 4, K: 8, transB: true, glu: 'silu' })).rejects.toThrow(/no GLU epilogue.*hardware family/);
    const sw = (await harness('software')).kernels;
    await expect(encodeMatmul(sw, enc, buf, buf, buf, { M: 4, N: 4, K: 8, transB: true, beta: 1, glu: 'silu' })).rejects.toThrow(/no GLU epilogue/);
    await expect(encodeMatmul(sw, enc, buf, buf, buf, { M: 4, N: 4, K: 8, transB: false, glu: 'silu' })).rejects.toThrow(/no GLU epilogue/);
    enc.finish();
    pool.release(buf);
  });
});
