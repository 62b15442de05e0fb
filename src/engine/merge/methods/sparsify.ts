/**
 * mergekit's sparsification of task vectors (sparsify.py), float32:
 * - magnitude: keep the k = ⌊density·numel⌋ largest |δ| (TIES' trim)
 * - random: keep each element with probability density (DARE's drop)
 * - magnitude_outliers: drop the γ·numel largest and then the smallest, keeping density·numel (breadcrumbs)
 * each optionally rescaled so the L1 norm of the kept part equals the original's (mergekit ≥ v0.0.6;
 * earlier releases divided by density instead).
 */

/** masked · (‖δ‖₁ / ‖masked‖₁), unless either norm is below 1e-7 (mergekit's rescaled_masked_tensor). */
export function rescaleL1(delta: Float32Array, masked: Float32Array): Float32Array {
  let before = 0;
  let after = 0;
  for (let i = 0; i < delta.length; i++) {
    before += Math.abs(delta[i]!);
    after += Math.abs(masked[i]!);
  }
  before = Math.fround(before);
  after = Math.fround(after);
  if (before < 1e-7 || after < 1e-7) return masked;
  const s = Math.fround(before / after);
  for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! * s;
  return masked;
}

/** Indices sorted by |δ| ascending; ties by index, so results are deterministic (torch's order is unspecified). */
function byMagnitude(delta: Float32Array): Uint32Array {
  const idx = new Uint32Array(delta.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => Math.abs(delta[a]!) - Math.abs(delta[b]!) || a - b);
}

function keep(delta: Float32Array, indices: ArrayLike<number>, rescale: boolean): Float32Array {
  const out = new Float32Array(delta.length);
  for (let j = 0; j < indices.length; j++) out[indices[j]!] = delta[indices[j]!]!;
  return rescale ? rescaleL1(delta, out) : out;
}

export function magnitude(delta: Float32Array, density: number, rescale: boolean): Float32Array {
  if (density >= 1) return delta;
  const k = Math.trunc(density * delta.length);
  if (k <= 0) throw new RangeError(`density ${density} keeps no element of a ${delta.length}-element tensor`);
  const order = byMagnitude(delta);
  return keep(delta, order.subarray(order.length - k), rescale);
}

export function magnitudeOutliers(delta: Float32Array, density: number, rescale: boolean, gamma: number): Float32Array {
  if (density >= 1) return delta;
  const n = delta.length;
  const target = Math.trunc(density * n);
  let nTop = Math.trunc(gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  const order = byMagnitude(delta);
  // mergekit keeps indices[n_bot:-n_top]; in Python `-0` is 0, so with n_top = 0 that slice is EMPTY and the
  // whole task vector is dropped. We reproduce that (a pasted config must give the same model).
  const end = nTop === 0 ? 0 : n - nTop;
  return keep(delta, order.subarray(nBot, Math.max(nBot, end)), rescale);
}

export function bernoulli(delta: Float32Array, density: number, rescale: boolean, random: () => number): Float32Array {
  if (density >= 1) return delta;
  const out = new Float32Array(delta.length);
  for (let i = 0; i < delta.length; i++) if (random() < density) out[i] = delta[i]!;
  return rescale ? rescaleL1(delta, out) : out;
}
