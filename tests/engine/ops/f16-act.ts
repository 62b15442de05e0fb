// What the f16-activation op tests share (act-dtype.ts): reading an f16 buffer back, and the error measure. An f16
// output is round(f32 result) where the f32 result is the f32 path's (within its tolerance `tol` of the float64
// reference), and WGSL lets pack2x16float round either way: so each element must be within one f16 ulp relative
// (2^-10·|want|) plus `tol` of the reference. `ratio` is the worst element's |got − want| over that bound (≤ 1 to
// pass), `rel` the worst relative error among elements with |want| ≥ 1e-2 (≈ 2^-11 = 4.9e-4 when rounding to
// nearest). SwiftShader and lavapipe round to nearest: every case measures ratio ≤ 0.49, so the tests assert
// RATIO_BOUND, not the 1 WGSL would allow a GPU that rounds the other way.
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { f16WordsToF32 } from '../../../src/engine/act-dtype.ts';
import { harness } from './op-harness.ts';

export const F16_ULP = 2 ** -10;
export const RATIO_BOUND = 0.55;

/** `count` (even) f16 values of `buf`, decoded to f32. */
export async function readF16(buf: GPUBuffer, count: number): Promise<Float32Array> {
  const { device } = await harness();
  return f16WordsToF32(new Uint32Array(await readBuffer(device, buf, count * 2)));
}

export async function readWords(buf: GPUBuffer, count: number): Promise<Uint32Array> {
  const { device } = await harness();
  return new Uint32Array(await readBuffer(device, buf, count * 4));
}

export function f16Error(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): { ratio: number; rel: number } {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  let ratio = 0;
  let rel = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (Number.isNaN(d)) return { ratio: Infinity, rel: Infinity };
    ratio = Math.max(ratio, d / (F16_ULP * Math.abs(want[i]!) + tol));
    if (Math.abs(want[i]!) >= 1e-2) rel = Math.max(rel, d / Math.abs(want[i]!));
  }
  return { ratio, rel };
}
