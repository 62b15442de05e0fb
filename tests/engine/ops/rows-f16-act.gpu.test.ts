// The hardware family's row kernels with f16 activations (act-dtype.ts: two halves a u32 word): RMSNorm writing
// y (and reading x) as f16 (hw_rmsnorm+x16/+y16, and hw_rmsnorm_x2 for an even width that is not a multiple of
// 4), the packed SwiGLU/GeGLU (swiglu.wgsl main_packed_f16) and split_qkv reading qkv and writing q as f16
// (rope.wgsl ACT_F16), and RoPE on f16 q, k in place (main_qk_f16). Inputs are f16 values exactly (rounded on the CPU), so the kernels see the reference's
// inputs; each output is checked against the float64 reference within one f16 ulp relative plus the f32 path's
// tolerance (f16-act.ts f16Error), and split_qkv's k and v against the f32-activation path, bit for bit.
import { afterAll, describe, expect, it } from 'vitest';
import { randomArray, HW_VARIANTS } from '../../helpers/gpu.ts';
import { encodeRmsNorm } from '../../../src/engine/ops/rmsnorm.ts';
import { encodeSwigluPacked, type GateAct } from '../../../src/engine/ops/swiglu.ts';
import { encodeRopeQK, encodeSplitQkv, ropeInvFreq, type SplitQkvArgs } from '../../../src/engine/ops/rope.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { gegluRef, swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { ropeRef } from '../../../src/engine/reference/rope.ts';
import { f16Words, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { f16Error, RATIO_BOUND, readF16, readWords } from './f16-act.ts';

afterAll(releaseAll);

// the f32 paths' tolerances (rmsnorm.gpu.test.ts, swiglu.gpu.test.ts, rope.gpu.test.ts)
const NORM_TOL = 1e-6;
const SWIGLU_TOL = 1e-5;
const ROPE_TOL = 3e-6;

describe.each(HW_VARIANTS)('rmsnorm with f16 activations against the CPU reference ($name)', (v) => {
  // odd row counts; 72 and 576 (vec4), 18 and 30 (even, not a multiple of 4: the vec2 file), a head-wide q norm
  // (Qwen3: x and y f16, rows = tokens·heads), one row wider than 256 lanes' worth of words
  const cases = [
    { rows: 3, hidden: 72, xF16: false, yF16: true },
    { rows: 5, hidden: 18, xF16: false, yF16: true },
    { rows: 1, hidden: 576, xF16: false, yF16: true },
    { rows: 17, hidden: 16, xF16: true, yF16: true },
    { rows: 7, hidden: 30, xF16: true, yF16: false },
    { rows: 2, hidden: 1030, xF16: true, yF16: true },
  ];
  it.each(cases)('rows=$rows hidden=$hidden xF16=$xF16 yF16=$yF16', async ({ rows, hidden, xF16, yF16 }) => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const x32 = randomArray(rows * hidden, rows * 13 + hidden).map((e) => 3 * e);
    const x = xF16 ? roundToF16(x32) : x32;
    const w = randomArray(hidden, hidden + 1);
    const Y = pool.alloc(rows * hidden * 4);
    const R = pool.alloc(rows * 4);
    const enc = device.createCommandEncoder();
    await encodeRmsNorm(kernels, enc, pool.upload(xF16 ? f16Words(x) : x), pool.upload(w), Y, { rows, hidden, eps: 1e-5, xF16, yF16 }, R);
    device.queue.submit([enc.finish()]);
    const want = rmsNormRef(x, w, rows, hidden, 1e-5);
    const got = yF16 ? await readF16(Y, rows * hidden) : await read(Y, rows * hidden);
    const err = f16Error(got, want.y, NORM_TOL);
    const rstd = f16Error(await read(R, rows), want.rstd, NORM_TOL);
    console.log(`rmsnorm f16 (${v.name}) rows=${rows} hidden=${hidden} x${xF16 ? 16 : 32} y${yF16 ? 16 : 32}: y ratio ${err.ratio.toFixed(3)} rel ${err.rel.toExponential(2)}, rstd rel ${rstd.rel.toExponential(2)}`);
    expect(err.ratio).toBeLessThanOrEqual(RATIO_BOUND);
    // an f32 y (xF16 only) and rstd keep the f32 path's accuracy: only the rounding of the input differs
    if (!yF16) expect(err.rel).toBeLessThan(NORM_TOL);
    expect(rstd.rel).toBeLessThan(NORM_TOL);
  });

  it('refuses an odd hidden size, and the software family refuses f16 activations', async () => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const b = () => pool.alloc(256);
    await expect(encodeRmsNorm(kernels, device.createCommandEncoder(), b(), b(), b(), { rows: 1, hidden: 7, eps: 1e-6, yF16: true })).rejects.toThrow(/even hidden size.*got 7/);
    const sw = await harness('software');
    await expect(encodeRmsNorm(sw.kernels, device.createCommandEncoder(), b(), b(), b(), { rows: 1, hidden: 8, eps: 1e-6, yF16: true })).rejects.toThrow(/hardware kernel family only/);
  });
});

describe('packed SwiGLU / GeGLU with f16 activations against the CPU reference', () => {
  // rows × F: odd rows, F not a multiple of 4, a gate spanning the saturated ends (exp overflow: −0, not NaN)
  const cases: Array<{ rows: number; F: number; act: GateAct }> = [
    { rows: 3, F: 72, act: 'silu' },
    { rows: 5, F: 18, act: 'silu' },
    { rows: 7, F: 46, act: 'gelu_tanh' },
  ];
  it.each(cases)('rows=$rows F=$F act=$act', async ({ rows, F, act }) => {
    const { device, kernels, pool } = await harness('hardware');
    const gu = roundToF16(randomArray(rows * 2 * F, rows * F).map((e, i) => (i % (2 * F) < F ? 12 * e : e)));
    gu[0] = -100;
    gu[1] = 100;
    const gate = new Float32Array(rows * F);
    const up = new Float32Array(rows * F);
    for (let r = 0; r < rows; r++) {
      gate.set(gu.subarray(r * 2 * F, r * 2 * F + F), r * F);
      up.set(gu.subarray(r * 2 * F + F, (r + 1) * 2 * F), r * F);
    }
    const out = pool.alloc(rows * F * 2);
    const enc = device.createCommandEncoder();
    await encodeSwigluPacked(kernels, enc, pool.upload(f16Words(gu)), out, { rows, F, act, f16: true });
    device.queue.submit([enc.finish()]);
    const got = await readF16(out, rows * F);
    const err = f16Error(got, act === 'silu' ? swigluRef(gate, up) : gegluRef(gate, up), SWIGLU_TOL);
    console.log(`swiglu packed f16 rows=${rows} F=${F} ${act}: ratio ${err.ratio.toFixed(3)} rel ${err.rel.toExponential(2)}`);
    expect(err.ratio).toBeLessThanOrEqual(RATIO_BOUND);
  });

  it('refuses an odd F', async () => {
    const { device, kernels, pool } = await harness('hardware');
    await expect(encodeSwigluPacked(kernels, device.createCommandEncoder(), pool.alloc(256), pool.alloc(256), { rows: 1, F: 5, f16: true })).rejects.toThrow(/even intermediate size F.*got 5/);
  });
});

describe('split_qkv with f16 activations (qkv in, q out as f16 pairs)', () => {
  // a batch of 2 rows of 3 tokens, GQA 6/2, D 16; k, v dense f32, dense f16 (an f16-activation forward's), and
  // into an f16 or f32 cache at slots 4.. of 9; with RoPE and a bias, and without RoPE
  const [batch, T, heads, kvHeads, D] = [2, 3, 6, 2, 16];
  const rows = batch * T;
  const W = (heads + 2 * kvHeads) * D;
  const cases = [
    { name: 'RoPE and a bias, dense f32 k, v', rope: true, bias: true, kvF16: false, S: T, past: 0 },
    { name: 'RoPE, dense f16 k, v', rope: true, bias: false, kvF16: true, S: T, past: 0 },
    { name: 'RoPE and a bias, into an f16 cache at slot 4 of 9', rope: true, bias: true, kvF16: true, S: 9, past: 4 },
    { name: 'no RoPE, into an f32 cache at slot 4 of 9', rope: false, bias: false, kvF16: false, S: 9, past: 4 },
  ];
  it.each(cases)('$name: q within an f16 ulp of the float64 rotation, k and v as the f32-activation path, bit for bit', async ({ rope, bias: withBias, kvF16, S, past }) => {
    const { device, kernels, pool } = await harness('hardware');
    const qkv = roundToF16(randomArray(rows * W, 71).map((e) => 4 * e));
    const bias = withBias ? randomArray(W, 72) : new Float32Array(W);
    const positions = Uint32Array.from({ length: rows }, (_, i) => i * 389 + 5);
    const invData = ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 });
    const [pos, inv] = [pool.upload(positions), pool.upload(invData)];
    const biasBuf = withBias ? pool.upload(bias) : null;
    const kvBytes = batch * S * kvHeads * D * (kvF16 ? 2 : 4);
    const [q16, q32] = [pool.alloc(rows * heads * D * 2), pool.alloc(rows * heads * D * 4)];
    const [k1, v1, k2, v2] = [0, 1, 2, 3].map(() => pool.alloc(kvBytes));
    const args: SplitQkvArgs = { rows, heads, kvHeads, headDim: D, T, S, past, rope, kvF16 };
    const enc = device.createCommandEncoder();
    for (const b of [k1!, v1!, k2!, v2!]) enc.clearBuffer(b);
    await encodeSplitQkv(kernels, enc, pool.upload(f16Words(qkv)), pos, inv, q16, k1!, v1!, { ...args, actF16: true }, undefined, biasBuf);
    await encodeSplitQkv(kernels, enc, pool.upload(qkv), pos, inv, q32, k2!, v2!, args, undefined, biasBuf);
    device.queue.submit([enc.finish()]);
    // q: the rotation of q's part + bias (f32 adds, as the kernel's), in float64
    const qPart = new Float32Array(rows * heads * D);
    for (let r = 0; r < rows; r++) for (let c = 0; c < heads * D; c++) qPart[r * heads * D + c] = Math.fround(qkv[r * W + c]! + bias[c]!);
    const want = rope ? ropeRef(qPart, positions, invData, rows, heads, D) : qPart;
    const err = f16Error(await readF16(q16, rows * heads * D), want, ROPE_TOL);
    const n = kvBytes / 4;
    const [gk1, gv1, gk2, gv2] = await Promise.all([k1!, v1!, k2!, v2!].map((b) => readWords(b, n)));
    expect([...gk1!]).toEqual([...gk2!]);
    expect([...gv1!]).toEqual([...gv2!]);
    expect(gk1!.filter((w) => w !== 0).length).toBeGreaterThan(n / (S / T) / 2); // the run's slots were written
    console.log(`split_qkv actF16 (${rope ? 'RoPE' : 'no RoPE'}${withBias ? ', bias' : ''}, k/v ${kvF16 ? 'f16' : 'f32'} S=${S} past=${past}): q ratio ${err.ratio.toFixed(3)} rel ${err.rel.toExponential(2)}; ${2 * n} k, v words equal the f32 path's`);
    expect(err.ratio).toBeLessThanOrEqual(RATIO_BOUND);
  });

  it('refuses a head dim that is not a multiple of 4', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const b = () => pool.alloc(4096);
    await expect(encodeSplitQkv(kernels, device.createCommandEncoder(), b(), b(), b(), b(), b(), b(), { rows: 1, heads: 1, kvHeads: 1, headDim: 6, actF16: true })).rejects.toThrow(
      /f16 activations need headDim % 4 == 0, got 6/,
    );
  });
});

describe('RoPE on f16 q and k in place (rope.wgsl main_qk_f16)', () => {
  it('5 rows, GQA 6/2, D 16 and 8: within an f16 ulp of the float64 rotation', async () => {
    const { device, kernels, pool } = await harness('hardware');
    for (const [rows, heads, kvHeads, D] of [
      [5, 6, 2, 16],
      [3, 2, 1, 8],
    ] as const) {
      const q = roundToF16(randomArray(rows * heads * D, D + 1).map((e) => 4 * e));
      const k = roundToF16(randomArray(rows * kvHeads * D, D + 2).map((e) => 4 * e));
      const positions = Uint32Array.from({ length: rows }, (_, i) => i * 997 + 3);
      const invData = ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 });
      const [Q, K] = [pool.upload(f16Words(q)), pool.upload(f16Words(k))];
      const enc = device.createCommandEncoder();
      await encodeRopeQK(kernels, enc, Q, K, pool.upload(positions), pool.upload(invData), { rows, heads, kvHeads, headDim: D, f16: true });
      device.queue.submit([enc.finish()]);
      const eq = f16Error(await readF16(Q, q.length), ropeRef(q, positions, invData, rows, heads, D), ROPE_TOL);
      const ek = f16Error(await readF16(K, k.length), ropeRef(k, positions, invData, rows, kvHeads, D), ROPE_TOL);
      console.log(`rope qk f16 rows=${rows} ${heads}/${kvHeads} D=${D}: q ratio ${eq.ratio.toFixed(3)} rel ${eq.rel.toExponential(2)}, k ratio ${ek.ratio.toFixed(3)} rel ${ek.rel.toExponential(2)}`);
      expect(Math.max(eq.ratio, ek.ratio)).toBeLessThanOrEqual(RATIO_BOUND);
    }
  });
});
