/**
 * SLERP exactly as mergekit's `slerp()` (merge_methods/slerp.py): the angle comes from the whole tensors,
 * flattened and normalised (Frobenius norm, left as is when the norm ≤ eps); the spherical coefficients are then
 * applied to the ORIGINAL tensors, so norms are not preserved. |dot| > 0.9995 falls back to plain linear
 * interpolation, and dot is NOT clamped before arccos (values past ±1 are caught by that branch).
 *
 * Precision: mergekit runs numpy float32. We accumulate the three dot products in float64 (more exact than
 * numpy's float32 pairwise sum; the two differ in the last bits only) and round dot to float32; the final
 * combine is float32 per element (each product and the sum rounded to f32), as numpy's `s0*v0 + s1*v1` is.
 */
import type { MergeMethod } from './types.ts';
import { num } from './types.ts';

export const DOT_THRESHOLD = 0.9995;
export const SLERP_EPS = 1e-8;

export interface SlerpCoefficients {
  s0: number;
  s1: number;
  /** true when the tensors were (anti)colinear and plain LERP was used */
  linear: boolean;
  dot: number;
}

/** ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩ in float64. */
export function dots(a: Float32Array, b: Float32Array): [number, number, number] {
  let aa = 0;
  let bb = 0;
  let ab = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    aa += x * x;
    bb += y * y;
    ab += x * y;
  }
  return [aa, bb, ab];
}

/**
 * The coefficients from the three dot products (shared by the CPU path and the GPU kernel, which reads back
 * its reduction and calls this, so both decide the colinear branch identically).
 */
export function slerpCoefficients(t: number, aa: number, bb: number, ab: number): SlerpCoefficients {
  const na = Math.fround(Math.sqrt(aa));
  const nb = Math.fround(Math.sqrt(bb));
  // normalize(v): divide by ||v|| only when it exceeds eps
  const da = na > SLERP_EPS ? na : 1;
  const db = nb > SLERP_EPS ? nb : 1;
  const dot = Math.fround(ab / (da * db));
  if (Math.abs(dot) > DOT_THRESHOLD) return { s0: 1 - t, s1: t, linear: true, dot };
  const theta0 = Math.acos(dot); // NaN for |dot| > 1 is impossible here: the branch above caught it
  const sin0 = Math.sin(theta0);
  const thetaT = theta0 * t;
  return { s0: Math.sin(theta0 - thetaT) / sin0, s1: Math.sin(thetaT) / sin0, linear: false, dot };
}

/** out = s0·a + s1·b with float32 rounding per product and per sum. */
export function combine(s0: number, s1: number, a: Float32Array, b: Float32Array, out = new Float32Array(a.length)): Float32Array {
  const c0 = Math.fround(s0);
  const c1 = Math.fround(s1);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround(c0 * a[i]!) + Math.fround(c1 * b[i]!);
  return out;
}

/** slerp(t, v0, v1): t = 0 gives v0, t = 1 gives v1. */
export function slerp(t: number, v0: Float32Array, v1: Float32Array): Float32Array {
  if (v0.length !== v1.length) throw new RangeError(`slerp: tensors of ${v0.length} and ${v1.length} elements`);
  const [aa, bb, ab] = dots(v0, v1);
  const c = slerpCoefficients(t, aa, bb, ab);
  return combine(c.s0, c.s1, v0, v1);
}

export const slerpMethod: MergeMethod = {
  name: 'slerp',
  description: 'spherical interpolation between the base model (t = 0) and one other model (t = 1)',
  params: [{ name: 't' }],
  modelParams: [],
  requiresBase: true,
  maxModels: 2,
  merge({ name, tensors, baseIndex, params }) {
    // mergekit's SlerpTask: one input passes through; v0 is always the base model.
    if (tensors.length === 1) return Float32Array.from(tensors[0]!);
    if (tensors.length !== 2) throw new RangeError(`slerp merges exactly 2 models, got ${tensors.length} for ${name}`);
    if (baseIndex < 0) throw new RangeError(`slerp needs base_model to be one of the two models (${name})`);
    return slerp(num(params.t, 't'), tensors[baseIndex]!, tensors[1 - baseIndex]!);
  },
};
