// Finite-difference gradient checks for the CPU references (the numerics contract: every backward is checked
// against finite differences of the CPU forward). Everything here is float64.
//
// The scalar probed is L = Σ r ⊙ f(inputs) for a fixed random r, so one check covers every output's
// contribution to every input gradient at once (the analytic side is the backward fed dy = r).

/** Deterministic float64 values in [-scale, scale) (mulberry32, as randomArray, but without the f32 rounding). */
export function random64(n: number, seed: number, scale = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Central differences (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h of L = Σ r ⊙ f(inputs) with respect to every element of
 * inputs[which]. With h = 1e-5 in float64 the truncation error is ~h²·|L'''| ≈ 1e-10 and the cancellation error
 * ~1e-16·|L|/h ≈ 1e-11·|L|, both far below the 1e-6 the tests allow.
 */
export function numericGrad(
  f: (inputs: Float64Array[]) => ArrayLike<number>,
  inputs: Float64Array[],
  r: ArrayLike<number>,
  which: number,
  h = 1e-5,
): Float64Array {
  const x = inputs[which]!;
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + h;
    const up = dot64(r, f(inputs));
    x[i] = keep - h;
    const down = dot64(r, f(inputs));
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max|a − b| / max(max|b|, floor): the error relative to the gradient's own scale, so zeros do not blow it up. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let err = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}
