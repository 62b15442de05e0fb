// float32 → ggml block types, following ggml's reference quantisers (quantize_row_*_ref in ggml-quants.c, which is
// what llama-quantize runs without an importance matrix) operation for operation in float32: Math.fround after every
// operation, sums in the same order, ggml's nearest_int (round half to even) and C's truncating (int8_t) casts. So a
// file written here holds the bytes llama.cpp would write for the same float32 values. Block layouts: dequant.ts.
//
// Q8_0, Q4_0, Q5_0: one f16 scale per 32 values, d = absmax/127 (Q8_0) or max/−8, max/−16 (the signed value of
// largest magnitude, so it lands on the quant level −8/−16 exactly). Q4_1, Q5_1: a scale and a min per 32 values.
// Q4_K: each 32-value sub-block gets its own scale and min by make_qkx2_quants (a search over 21 candidate scales
// minimising the |x|-weighted squared error of x ≈ scale·q − min), then the 8 scales and 8 mins are themselves
// quantised to 6 bits against f16 super-block scales, and the values re-quantised with the stored scales.
// Q5_K: as Q4_K with 31 levels. Q6_K: each 16-value sub-block's scale by make_qx_quants (19 candidates,
// x²-weighted), scales to int8 against an f16 super-block scale, values re-quantised to −32…31. Q3_K: each
// 16-value sub-block's scale by make_q3_quants (levels moved one at a time while the x²-weighted fit improves),
// scales to 6 bits against an f16 super-block scale, values re-quantised to −4…3.
import { f16BitsToF32, f32ToF16Bits } from '../safetensors/dtypes.ts';
import { QK_K, scaleMinK4 } from './dequant.ts';

const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);

/** ggml's nearest_int: float32 → nearest integer, ties to even (it adds 1.5·2²³ in float32). */
export function nearestInt(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** ggml's fp32 → fp16 → fp32 (round to nearest even). */
function viaHalf(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

function check(x: Float32Array, qk: number, type: string): number {
  if (x.length % qk !== 0) throw new RangeError(`${type} needs a multiple of ${qk} elements, got ${x.length}`);
  return x.length / qk;
}

export function quantizeQ8_0(x: Float32Array): Uint8Array<ArrayBuffer> {
  const nb = check(x, 32, 'Q8_0');
  const out = new Uint8Array(nb * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[base + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    const o = b * 34;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < 32; j++) {
      const v = f(x[base + j]! * id);
      view.setInt8(o + 2 + j, Math.sign(v) * Math.floor(Math.abs(v) + 0.5)); // roundf: half away from zero
    }
  }
  return out;
}

/** Q4_0 / Q5_0: the signed absmax maps to −2^(bits−1); q = min(qmax, trunc(x/d + 2^(bits−1) + ½)). */
function quantizeSymmetric(x: Float32Array, bits: 4 | 5): Uint8Array<ArrayBuffer> {
  const type = bits === 4 ? 'Q4_0' : 'Q5_0';
  const nb = check(x, 32, type);
  const bytes = bits === 4 ? 18 : 22;
  const half = 1 << (bits - 1);
  const qmax = (1 << bits) - 1;
  const out = new Uint8Array(nb * bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * 32;
    const max = signedAbsMax(x.subarray(base, base + 32));
    const d = f(max / -half);
    const id = d !== 0 ? f(1 / d) : 0;
    const o = b * bytes;
    view.setUint16(o, f32ToF16Bits(d), true);
    const q = (v: number) => Math.min(qmax, Math.trunc(f(f(v * id) + (half + 0.5))));
    packLevels(out, view, x, base, q, o + (bits === 4 ? 2 : 6), bits === 5 ? o + 2 : null);
  }
  return out;
}

/**
 * A 32-value block's levels q(x) as Q4_0/Q4_1/Q5_0/Q5_1 store them: value j's low nibble in byte qs + j (j < 16)
 * or its high nibble in byte qs + j − 16, and for the 5-bit types the fifth bits as a little-endian u32 at qhAt.
 */
function packLevels(out: Uint8Array, view: DataView, x: Float32Array, base: number, q: (v: number) => number, qs: number, qhAt: number | null): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = q(x[base + j]!);
    const c = q(x[base + 16 + j]!);
    out[qs + j] = (a & 0xf) | ((c & 0xf) << 4);
    qh |= ((a >> 4) & 1) << j;
    qh |= ((c >> 4) & 1) << (j + 16);
  }
  if (qhAt !== null) view.setUint32(qhAt, qh >>> 0, true);
}

export const quantizeQ4_0 = (x: Float32Array) => quantizeSymmetric(x, 4);
export const quantizeQ5_0 = (x: Float32Array) => quantizeSymmetric(x, 5);

/** Q4_1 / Q5_1: d = (max − min)/(2^bits − 1), m = min; q = trunc((x − min)/d + ½) (Q4_1 capped at 15). */
function quantizeAffine(x: Float32Array, bits: 4 | 5): Uint8Array<ArrayBuffer> {
  const type = bits === 4 ? 'Q4_1' : 'Q5_1';
  const nb = check(x, 32, type);
  const bytes = bits === 4 ? 20 : 24;
  const out = new Uint8Array(nb * bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * 32;
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 32; j++) {
      const v = x[base + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / ((1 << bits) - 1));
    const id = d !== 0 ? f(1 / d) : 0;
    const o = b * bytes;
    view.setUint16(o, f32ToF16Bits(d), true);
    view.setUint16(o + 2, f32ToF16Bits(min), true);
    // ggml: MIN(15, (int8_t)(…)) for Q4_1, a plain (uint8_t) cast for Q5_1 (its top level is reached exactly)
    const q = (v: number) => {
      const t = Math.trunc(f(f(f(v - min) * id) + 0.5));
      return bits === 4 ? Math.min(15, t) : t & 0xff;
    };
    packLevels(out, view, x, base, q, o + (bits === 4 ? 4 : 8), bits === 5 ? o + 4 : null);
  }
  return out;
}

export const quantizeQ4_1 = (x: Float32Array) => quantizeAffine(x, 4);
export const quantizeQ5_1 = (x: Float32Array) => quantizeAffine(x, 5);

/**
 * make_qkx2_quants: levels L[i] ∈ [0, nmax] with x ≈ scale·L − min (min ≥ 0 returned), searching iscale over
 * (nmax + rmin + rdelta·k)/(max − min), k = 0…nstep, for the least w-weighted squared error (fitting scale and min
 * by weighted least squares for each candidate's levels).
 */
export function makeQkx2Quants(
  x: Float32Array, w: Float32Array, nmax: number, L: Uint8Array, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number,
): { scale: number; min: number } {
  const n = x.length;
  let min = x[0]!;
  let max = x[0]!;
  let sumW = w[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < n; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    sumW = f(sumW + w[i]!);
    sumX = f(sumX + f(w[i]! * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return { scale: 0, min: -min };
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[i]! - min)))));
    L[i] = l;
    const diff = f(f(f(scale * l) + min) - x[i]!);
    best = f(best + f(w[i]! * f(diff * diff)));
  }
  if (nstep < 1) return { scale, min: -min };
  for (let is = 0; is <= nstep; is++) {
    // min is the best fit so far (ggml updates it in the loop), so the candidate grid moves with it
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[i]! - min)))));
      Laux[i] = l;
      const wl = f(w[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let cur = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[i]!);
        cur = f(cur + f(w[i]! * f(diff * diff)));
      }
      if (cur < best) {
        L.set(Laux.subarray(0, n));
        best = cur;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return { scale, min: -min };
}

/** The value of largest magnitude (its sign kept; the first of equals), as ggml's make_q*_quants find it. */
function signedAbsMax(x: Float32Array): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < x.length; i++) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) {
      amax = ax;
      max = x[i]!;
    }
  }
  return max;
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights: signed levels L[i] + nmax, L ∈ [−nmax, nmax−1],
 * scale searched over −(nmax + 0.1·k)/max, k = −9…9, for the best x²-weighted least-squares fit.
 */
export function makeQxQuants(x: Float32Array, nmax: number, L: Int8Array): number {
  const n = x.length;
  const max = signedAbsMax(x);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const level = (iscale: number, v: number) => Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
  const sums = (iscale: number): [number, number] => {
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = level(iscale, x[i]!);
      const w = f(x[i]! * x[i]!);
      sumlx = f(sumlx + f(f(w * x[i]!) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let iscale = f(-nmax / max);
  for (let i = 0; i < n; i++) L[i] = level(iscale, x[i]!) + nmax;
  let [sumlx, suml2] = sums(iscale);
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[i] = level(iscale, x[i]!) + nmax;
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Q4_K and Q5_K (quantize_row_q4_K_ref / quantize_row_q5_K_ref): per 32 values a scale and min from
 * make_qkx2_quants (Q4_K: 15 levels, candidates (15 − 1 + 0.1k), k ≤ 20; Q5_K: 31 levels, (31 − 0.5 + 0.1k),
 * k ≤ 15), weights √(mean x²) + |x|; the 8 scales and 8 mins to 6 bits against f16 super-block scales; then every
 * value re-quantised with the stored scale and min.
 */
function quantizeK4(x: Float32Array, bits: 4 | 5): Uint8Array<ArrayBuffer> {
  const type = bits === 4 ? 'Q4_K' : 'Q5_K';
  const bytes = bits === 4 ? 144 : 176;
  const nmax = (1 << bits) - 1;
  const nb = check(x, QK_K, type);
  const out = new Uint8Array(nb * bytes);
  const view = new DataView(out.buffer);
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(32);
  const w = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let b = 0; b < nb; b++) {
    const xb = x.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * bytes;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const xs = xb.subarray(32 * j, 32 * j + 32);
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(xs[l]! * xs[l]!));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) w[l] = f(avX + Math.abs(xs[l]!));
      const r = bits === 4
        ? makeQkx2Quants(xs, w, 15, L.subarray(32 * j, 32 * j + 32), Laux, -1, f(0.1), 20)
        : makeQkx2Quants(xs, w, 31, L.subarray(32 * j, 32 * j + 32), Laux, -0.5, f(0.1), 15);
      scales[j] = r.scale;
      mins[j] = r.min;
      if (r.scale > maxScale) maxScale = r.scale;
      if (r.min > maxMin) maxMin = r.min;
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const sc = o + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[sc + j - 4]! |= (ls >> 4) << 6;
        out[sc + j]! |= (lm >> 4) << 6;
      }
    }
    view.setUint16(o, f32ToF16Bits(f(maxScale / 63)), true);
    view.setUint16(o + 2, f32ToF16Bits(f(maxMin / 63)), true);
    const d = viaHalf(f(maxScale / 63));
    const dmin = viaHalf(f(maxMin / 63));
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(out, sc, j);
      const dj = f(d * s);
      if (!dj) continue;
      const dm = f(dmin * m);
      for (let i = 0; i < 32; i++) L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(f(f(xb[32 * j + i]! + dm) / dj))));
    }
    const qs = o + (bits === 4 ? 16 : 48);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const lo = L[64 * c + l]!, hi = L[64 * c + 32 + l]!;
        out[qs + 32 * c + l] = (lo & 0xf) | ((hi & 0xf) << 4);
        if (bits === 5) out[o + 16 + l]! |= ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1));
      }
    }
  }
  return out;
}

export const quantizeQ4_K = (x: Float32Array) => quantizeK4(x, 4);
export const quantizeQ5_K = (x: Float32Array) => quantizeK4(x, 5);

/**
 * make_q3_quants with do_rmse: signed levels L ∈ [−nmax, nmax−1] (returned + nmax) from −nmax/max, then up to 5
 * passes moving single levels while the x²-weighted least-squares fit improves.
 */
function makeQ3Quants(x: Float32Array, nmax: number, L: Int8Array): number {
  const n = x.length;
  const max = signedAbsMax(x);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const clamp = (l: number) => Math.max(-nmax, Math.min(nmax - 1, l));
  const iscale = f(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(f(iscale * x[i]!)));
    L[i] = l;
    const w = f(x[i]! * x[i]!);
    sumlx = f(sumlx + f(f(w * x[i]!) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const w = f(x[i]! * x[i]!);
      let slx = f(sumlx - f(f(w * x[i]!) * L[i]!));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * L[i]!) * L[i]!));
        const nl = clamp(nearestInt(f(f(x[i]! * sl2) / slx)));
        if (nl !== L[i]) {
          slx = f(slx + f(f(w * x[i]!) * nl));
          sl2 = f(sl2 + f(f(w * nl) * nl));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[i] = L[i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/**
 * Q3_K (quantize_row_q3_K_ref): per 16 values a signed scale from make_q3_quants, the 16 scales to 6 bits against
 * an f16 super-block scale (the one of largest magnitude → −32), values re-quantised to −4…3, the high bit of
 * each level into hmask.
 */
export function quantizeQ3_K(x: Float32Array): Uint8Array<ArrayBuffer> {
  const nb = check(x, QK_K, 'Q3_K');
  const out = new Uint8Array(nb * 110);
  const view = new DataView(out.buffer);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const xb = x.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * 110;
    for (let j = 0; j < 16; j++) scales[j] = makeQ3Quants(xb.subarray(16 * j, 16 * j + 16), 4, L.subarray(16 * j, 16 * j + 16));
    const maxScale = signedAbsMax(scales);
    const sc = o + 96;
    if (maxScale) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, (nearestInt(f(iscale * scales[j]!)) << 24) >> 24)) + 32;
        if (j < 8) out[sc + j] = l & 0xf;
        else out[sc + j - 8]! |= (l & 0xf) << 4;
        out[sc + 8 + (j % 4)]! |= (l >> 4) << (2 * (j >> 2));
      }
      view.setUint16(o + 108, f32ToF16Bits(f(1 / iscale)), true);
    }
    const d = f16BitsToF32(view.getUint16(o + 108, true));
    for (let j = 0; j < 16; j++) {
      const lo = j < 8 ? out[sc + j]! & 0xf : out[sc + j - 8]! >> 4;
      const s = (lo | (((out[sc + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const dj = f(d * s);
      if (!dj) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(f(xb[16 * j + i]! / dj)))) + 4;
    }
    for (let j = 0; j < QK_K; j++) {
      if (L[j]! > 3) {
        out[o + (j % 32)]! |= 1 << (j >> 5);
        L[j] = L[j]! - 4;
      }
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const a = 128 * h + l;
        out[o + 32 + 32 * h + l] = L[a]! | (L[a + 32]! << 2) | (L[a + 64]! << 4) | (L[a + 96]! << 6);
      }
    }
  }
  return out;
}

export function quantizeQ6_K(x: Float32Array): Uint8Array<ArrayBuffer> {
  const nb = check(x, QK_K, 'Q6_K');
  const out = new Uint8Array(nb * 210);
  const view = new DataView(out.buffer);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const xb = x.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQxQuants(xb.subarray(16 * ib, 16 * ib + 16), 32, L.subarray(16 * ib, 16 * ib + 16));
      scales[ib] = s;
      if (Math.abs(s) > maxAbsScale) {
        maxAbsScale = Math.abs(s);
        maxScale = s;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // the block stays all zero bytes, d = +0
    const iscale = f(-128 / maxScale);
    view.setUint16(o + 208, f32ToF16Bits(f(1 / iscale)), true);
    const d = viaHalf(f(1 / iscale));
    for (let ib = 0; ib < 16; ib++) view.setInt8(o + 192 + ib, Math.min(127, nearestInt(f(iscale * scales[ib]!))));
    for (let j = 0; j < 16; j++) {
      const dj = f(d * view.getInt8(o + 192 + j));
      if (!dj) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(f(xb[16 * j + i]! / dj)))) + 32;
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h;
      const qh = o + 128 + 32 * h;
      const Lh = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[Lh + l]!, q2 = L[Lh + l + 32]!, q3 = L[Lh + l + 64]!, q4 = L[Lh + l + 96]!;
        out[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}
