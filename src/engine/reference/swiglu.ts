/** CPU reference for shaders/swiglu.wgsl (float64): out = silu(gate) ⊙ up. */
export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const out = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
  return out;
}

/**
 * CPU reference for the swiglu.wgsl `backward` entry (float64), with σ = sigmoid(gate):
 *   dgate = dout ⊙ up ⊙ σ·(1 + gate·(1 − σ))        dup = dout ⊙ silu(gate)
 */
export function swigluBackwardRef(
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  dout: ArrayLike<number>,
): { dgate: Float64Array; dup: Float64Array } {
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    const sig = 1 / (1 + Math.exp(-g));
    dgate[i] = dout[i]! * up[i]! * sig * (1 + g * (1 - sig));
    dup[i] = dout[i]! * g * sig;
  }
  return { dgate, dup };
}
