// What LoRA training reads when an f16-activation forward (act-dtype.ts: two halves a u32 word) saved its
// activations, on the hardware family: RMSNorm's backward (dx and dw) over an f16 x (hw_rmsnorm+x16, the vec2 file
// for an even width not a multiple of 4), the unpacked SwiGLU/GeGLU forward and backward over f16 gate and up
// (swiglu.wgsl main_f16, backward_f16), the attention backward over the forward's f16 q, out and dense f16 k, v
// (hw_attention_backward+a16+f16, attention_backward.wgsl prep_f16), and the column split of an f16 gate|up or
// q|k|v as words (columns.wgsl). Inputs are f16 values exactly (rounded on the CPU, or the f16 out the GPU forward
// wrote), so each f32 gradient is held to the f32 path's tolerance against the float64 reference on those inputs;
// an f16 output to one f16 ulp relative plus that tolerance (f16-act.ts f16Error); the split bit for bit.
import { afterAll, describe, expect, it } from 'vitest';
import { HW_VARIANTS, maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../../../src/engine/ops/rmsnorm.ts';
import { encodeSwiglu, encodeSwigluBackward, type GateAct } from '../../../src/engine/ops/swiglu.ts';
import { encodeAttention, encodeAttentionBackward, type AttentionArgs } from '../../../src/engine/ops/attention.ts';
import { encodePackColumns, encodeSplitColumns } from '../../../src/engine/ops/columns.ts';
import { rmsNormBackwardRef } from '../../../src/engine/reference/rmsnorm.ts';
import { gegluBackwardRef, gegluRef, swigluBackwardRef, swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { attentionBackwardRef } from '../../../src/engine/reference/attention.ts';
import { f16Words, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { f16Error, RATIO_BOUND, readF16, readWords } from './f16-act.ts';

afterAll(releaseAll);

// Bounds about twice the worst measured on SwiftShader and lavapipe (printed below), all within the f32 paths'
// tolerances (rmsnorm-backward 1e-6 / 4e-6, swiglu-backward and geglu 1e-5, attention-hw's backward 3e-6): the f16
// inputs cost the f32 gradients nothing beyond the rounding of the inputs themselves.
const NORM_DX_TOL = 2e-7; // measured ≤ 1.04e-7 (lavapipe, hidden 576)
const NORM_DW_TOL = 1.5e-6; // measured ≤ 8.2e-7 (40 rows)
const SWIGLU_TOL = 1e-5; // the f32 path's, for the f16 out (f16Error adds one f16 ulp)
const SWIGLU_GRAD_TOL = 2.5e-6; // measured ≤ 1.23e-6 (GeGLU dgate, |gate| ≤ 8)
const ATTN_GRAD_TOL = 2.5e-6; // measured ≤ 1.24e-6 (dv, GQA 6:2 causal)

describe.each(HW_VARIANTS)('rmsnorm backward over an f16 x against the float64 reference ($name)', (v) => {
  // a Qwen3 q norm (rows = tokens·heads, hidden = head_dim 16 and 128), an even width not a multiple of 4 (the vec2
  // file), a model-wide row
  const cases = [
    { rows: 17, hidden: 16 },
    { rows: 7, hidden: 30 },
    { rows: 40, hidden: 128 },
    { rows: 3, hidden: 576 },
  ];
  it.each(cases)('rows=$rows hidden=$hidden (dx, and dw accumulated)', async ({ rows, hidden }) => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const seed = rows * 31 + hidden;
    const x = roundToF16(randomArray(rows * hidden, seed).map((e) => 3 * e));
    const w = randomArray(hidden, seed + 1);
    const dy = randomArray(rows * hidden, seed + 2);
    const dw0 = randomArray(hidden, seed + 3);
    const X = pool.upload(f16Words(x));
    const W = pool.upload(w);
    const R = pool.alloc(rows * 4);
    const DX = pool.alloc(rows * hidden * 4);
    const DW = pool.upload(dw0);
    const enc = device.createCommandEncoder();
    // rstd from the f16 forward, as in training
    await encodeRmsNorm(kernels, enc, X, W, pool.alloc(rows * hidden * 2), { rows, hidden, eps: 1e-6, xF16: true, yF16: true }, R);
    await encodeRmsNormBackward(kernels, enc, X, W, R, pool.upload(dy), DX, { rows, hidden, xF16: true }, DW);
    device.queue.submit([enc.finish()]);
    const want = rmsNormBackwardRef(x, w, dy, rows, hidden, 1e-6);
    const errX = maxAbsDiff(await read(DX, rows * hidden), want.dx);
    const errW = maxAbsDiff(await read(DW, hidden), want.dw.map((d, c) => d + dw0[c]!));
    console.log(`rmsnorm backward x16 (${v.name}) rows=${rows} hidden=${hidden}: max|Δdx| ${errX.toExponential(2)} max|Δdw| ${errW.toExponential(2)}`);
    expect(errX).toBeLessThan(NORM_DX_TOL);
    expect(errW).toBeLessThan(NORM_DW_TOL);
  });

  it('refuses an odd hidden size, and the software family refuses xF16', async () => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const b = () => pool.alloc(256);
    await expect(encodeRmsNormBackward(kernels, device.createCommandEncoder(), b(), b(), b(), b(), b(), { rows: 1, hidden: 7, xF16: true })).rejects.toThrow(/even hidden size.*got 7/);
    const sw = await harness('software');
    await expect(encodeRmsNormBackward(sw.kernels, device.createCommandEncoder(), b(), b(), b(), b(), b(), { rows: 1, hidden: 8, xF16: true })).rejects.toThrow(/hardware kernel family only/);
  });
});

describe('SwiGLU / GeGLU over f16 gate and up (forward and backward) against the float64 reference', () => {
  // n: one word, more than one 256-invocation workgroup of words; |gate| up to 8 plus the saturated ends
  const cases: Array<{ n: number; act: GateAct }> = [
    { n: 2, act: 'silu' },
    { n: 1030, act: 'silu' },
    { n: 2, act: 'gelu_tanh' },
    { n: 1030, act: 'gelu_tanh' },
  ];
  it.each(cases)('n=$n act=$act', async ({ n, act }) => {
    const { device, kernels, pool } = await harness('hardware');
    const gate = roundToF16(randomArray(n, n).map((e) => 8 * e));
    if (n > 2) [gate[0], gate[1]] = [-100, 100];
    const up = roundToF16(randomArray(n, n + 1));
    const dout = randomArray(n, n + 2);
    const G = pool.upload(f16Words(gate));
    const U = pool.upload(f16Words(up));
    const OUT = pool.alloc(n * 2);
    const DG = pool.alloc(n * 4);
    const DU = pool.alloc(n * 4);
    const enc = device.createCommandEncoder();
    await encodeSwiglu(kernels, enc, G, U, OUT, { n, act, f16: true });
    await encodeSwigluBackward(kernels, enc, G, U, pool.upload(dout), DG, DU, { n, act, f16: true });
    device.queue.submit([enc.finish()]);
    const fwd = f16Error(await readF16(OUT, n), act === 'silu' ? swigluRef(gate, up) : gegluRef(gate, up), SWIGLU_TOL);
    const want = act === 'silu' ? swigluBackwardRef(gate, up, dout) : gegluBackwardRef(gate, up, dout);
    const eg = maxAbsDiff(await read(DG, n), want.dgate);
    const eu = maxAbsDiff(await read(DU, n), want.dup);
    console.log(`${act} f16 n=${n}: out ratio ${fwd.ratio.toFixed(3)} rel ${fwd.rel.toExponential(2)}; max|Δdgate| ${eg.toExponential(2)} max|Δdup| ${eu.toExponential(2)}`);
    expect(fwd.ratio).toBeLessThanOrEqual(RATIO_BOUND);
    expect(eg).toBeLessThan(SWIGLU_GRAD_TOL);
    expect(eu).toBeLessThan(SWIGLU_GRAD_TOL);
  });

  it('refuses an odd n, and the software family refuses f16', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const b = () => pool.alloc(256);
    await expect(encodeSwiglu(kernels, device.createCommandEncoder(), b(), b(), b(), { n: 7, f16: true })).rejects.toThrow(/even element count.*got 7/);
    await expect(encodeSwigluBackward(kernels, device.createCommandEncoder(), b(), b(), b(), b(), b(), { n: 7, f16: true })).rejects.toThrow(/even element count.*got 7/);
    const sw = await harness('software');
    await expect(encodeSwiglu(sw.kernels, device.createCommandEncoder(), b(), b(), b(), { n: 8, f16: true })).rejects.toThrow(/hardware kernel family only/);
    await expect(encodeSwigluBackward(sw.kernels, device.createCommandEncoder(), b(), b(), b(), b(), b(), { n: 8, f16: true })).rejects.toThrow(/hardware kernel family only/);
  });
});

function holes(B: number, S: number, gaps: Array<[number, number, number]>): Uint32Array {
  const m = new Uint32Array(B * S).fill(1);
  for (const [b, from, to] of gaps) m.fill(0, b * S + from, b * S + to);
  return m;
}

/**
 * The f16 forward (q, out f16 pairs; k, v f16 when kvF16) with lse, then the backward over what it saved; the
 * reference is the float64 backward on the f16 q, k, v, its Δ = dOut·out taken over the f16 out the GPU wrote.
 */
async function checkAttentionBackward(args: AttentionArgs, seed: number, mask?: Uint32Array) {
  const { device, kernels, pool } = await harness('hardware');
  const B = args.batch ?? 1;
  const D = args.headDim;
  const q = roundToF16(randomArray(B * args.T * args.nHeads * D, seed).map((x) => 3 * x));
  const kv = (s: number) => {
    const x = randomArray(B * args.S * args.nKv * D, s);
    return args.kvF16 ? roundToF16(x) : x;
  };
  const k = kv(seed + 1);
  const v = kv(seed + 2);
  const dOut = randomArray(q.length, seed + 3);
  const rows = B * args.T * args.nHeads;
  const bufs = {
    q: pool.upload(f16Words(q)),
    k: pool.upload(args.kvF16 ? f16Words(k) : k),
    v: pool.upload(args.kvF16 ? f16Words(v) : v),
    out: pool.alloc(q.length * 2),
    lse: pool.alloc(rows * 4),
    dOut: pool.upload(dOut),
    dq: pool.alloc(q.length * 4),
    dk: pool.alloc(k.length * 4),
    dv: pool.alloc(v.length * 4),
    stats: pool.alloc(rows * 8),
    ...(mask ? { keyMask: pool.upload(mask) } : {}),
  };
  const enc = device.createCommandEncoder();
  await encodeAttention(kernels, enc, bufs.q, bufs.k, bufs.v, bufs.out, args, bufs.keyMask, bufs.lse);
  await encodeAttentionBackward(kernels, enc, bufs, args);
  device.queue.submit([enc.finish()]);
  const out = await readF16(bufs.out, q.length);
  const delta = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) delta[r] = delta[r]! + dOut[r * D + d]! * out[r * D + d]!;
  const want = attentionBackwardRef(q, k, v, dOut, args, mask, delta);
  const errs = [
    maxAbsDiff(await read(bufs.dq, q.length), want.dq),
    maxAbsDiff(await read(bufs.dk, k.length), want.dk),
    maxAbsDiff(await read(bufs.dv, v.length), want.dv),
  ];
  console.log(`hw attention backward f16 ${JSON.stringify(args)}${mask ? ' masked' : ''}: max|Δ| dq/dk/dv ${errs.map((e) => e.toExponential(2)).join(' ')}`);
  for (const e of errs) expect(e).toBeLessThan(ATTN_GRAD_TOL);
}

describe('hardware attention backward over an f16 forward’s saved q, out, k, v against the float64 reference', () => {
  it('causal GQA 6:2, head_dim 16, batch 2, a padded stretch in each row', () =>
    checkAttentionBackward({ batch: 2, T: 21, S: 21, nHeads: 6, nKv: 2, headDim: 16, actF16: true, kvF16: true }, 41, holes(2, 21, [[0, 3, 6], [1, 15, 21]])));

  it('sliding window over a mask, soft-capped, past > 0', () =>
    checkAttentionBackward(
      { batch: 2, T: 13, S: 19, nHeads: 6, nKv: 2, headDim: 16, window: 5, softcap: 2, actF16: true, kvF16: true },
      42,
      holes(2, 19, [[0, 4, 8], [1, 10, 12]]),
    ));

  it('head_dim 128, MHA (8-row blocks × 8 lanes)', () => checkAttentionBackward({ T: 9, S: 9, nHeads: 2, nKv: 2, headDim: 128, actF16: true, kvF16: true }, 43));

  it('f16 q and out over f32 k, v (actF16 alone)', () => checkAttentionBackward({ T: 11, S: 11, nHeads: 6, nKv: 2, headDim: 16, actF16: true }, 44));

  it('the software family refuses f16 activations in the backward', async () => {
    const { device, kernels, pool } = await harness('software');
    const b = () => pool.alloc(1024);
    const bufs = { q: b(), k: b(), v: b(), out: b(), lse: b(), dOut: b(), dq: b(), dk: b(), dv: b(), stats: b() };
    await expect(encodeAttentionBackward(kernels, device.createCommandEncoder(), bufs, { T: 2, S: 2, nHeads: 1, nKv: 1, headDim: 4, actF16: true })).rejects.toThrow(/hardware kernel family only/);
  });
});

describe('column blocks of f16 activations, moved as words', () => {
  it('splits gate|up and q|k|v bit for bit (any word, f32 denormal or NaN bit patterns included), and packs back', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const rows = 5;
    for (const widths of [
      [6, 6],
      [12, 4, 4],
    ] as const) {
      const W = widths.reduce((a, b) => a + b, 0);
      const words = new Uint32Array((rows * W) / 2).map((_, i) => (Math.imul(i + 1, 2654435761) ^ (i << 7)) >>> 0);
      words[0] = 0x00003c00; // f16 (1, 0): an f32 denormal
      words[1] = 0x7fc01234; // an f32 NaN with a payload
      const packed = pool.upload(words);
      const parts = widths.map((w) => pool.alloc((rows * w) / 2 * 4 + 16));
      const back = pool.alloc(words.byteLength);
      const enc = device.createCommandEncoder();
      await encodeSplitColumns(kernels, enc, packed, parts, { rows, widths, f16: true });
      await encodePackColumns(kernels, enc, parts, back, { rows, widths, f16: true });
      device.queue.submit([enc.finish()]);
      let at = 0;
      for (let p = 0; p < widths.length; p++) {
        const hw = widths[p]! / 2;
        const want = new Uint32Array(rows * hw);
        for (let r = 0; r < rows; r++) want.set(words.subarray(r * (W / 2) + at, r * (W / 2) + at + hw), r * hw);
        expect(await readWords(parts[p]!, rows * hw)).toEqual(want);
        at += hw;
      }
      expect(await readWords(back, words.length)).toEqual(words);
    }
  });

  it('f32 blocks (any widths) are moved as words too: bit for bit', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const rows = 3;
    const widths = [5, 3] as const;
    const words = new Uint32Array(rows * 8).map((_, i) => (Math.imul(i + 7, 2246822519) ^ 0x00400001) >>> 0);
    words[2] = 0x00000001; // the smallest f32 denormal
    words[3] = 0xffc0beef; // a negative NaN with a payload
    const parts = [pool.alloc(rows * 5 * 4), pool.alloc(rows * 3 * 4)];
    const enc = device.createCommandEncoder();
    await encodeSplitColumns(kernels, enc, pool.upload(words), parts, { rows, widths });
    device.queue.submit([enc.finish()]);
    const a = new Uint32Array(rows * 5);
    const b = new Uint32Array(rows * 3);
    for (let r = 0; r < rows; r++) {
      a.set(words.subarray(r * 8, r * 8 + 5), r * 5);
      b.set(words.subarray(r * 8 + 5, r * 8 + 8), r * 3);
    }
    expect(await readWords(parts[0]!, rows * 5)).toEqual(a);
    expect(await readWords(parts[1]!, rows * 3)).toEqual(b);
  });

  it('refuses an odd width', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const b = () => pool.alloc(256);
    await expect(encodeSplitColumns(kernels, device.createCommandEncoder(), b(), [b(), b()], { rows: 2, widths: [3, 5], f16: true })).rejects.toThrow(/even widths.*got 3, 5/);
  });
});
