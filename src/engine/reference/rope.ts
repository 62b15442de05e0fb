/**
 * CPU reference for shaders/rope.wgsl: rotate_half RoPE on x [rows, heads, D] with positions [rows].
 * The angle is rounded to f32 as HF computes it (pos · inv_freq in fp32); cos/sin and the rotation are float64.
 */
export function ropeRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  rows: number,
  heads: number,
  D: number,
): Float64Array {
  return rotate(x, positions, invFreq, rows, heads, D, 1);
}

/**
 * CPU reference for the rope.wgsl `backward` entry: the rotation is orthogonal, so the gradient of the input is
 * the output gradient rotated by −θ (same positions, same f32-rounded angles as the forward).
 */
export function ropeBackwardRef(
  dy: ArrayLike<number>,
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  rows: number,
  heads: number,
  D: number,
): Float64Array {
  return rotate(dy, positions, invFreq, rows, heads, D, -1);
}

/** Rotates each (j, j + D/2) pair by sign·θ, θ = f32(pos · inv_freq[j]). */
function rotate(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  rows: number,
  heads: number,
  D: number,
  sign: 1 | -1,
): Float64Array {
  const out = Float64Array.from(x);
  const half = D / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * D;
      for (let j = 0; j < half; j++) {
        const theta = Math.fround(positions[r]! * invFreq[j]!);
        const c = Math.cos(theta);
        const s = sign * Math.sin(theta);
        const x1 = x[base + j]!;
        const x2 = x[base + j + half]!;
        out[base + j] = x1 * c - x2 * s;
        out[base + j + half] = x2 * c + x1 * s;
      }
    }
  }
  return out;
}
