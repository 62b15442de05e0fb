/** CPU reference for shaders/swiglu.wgsl (float64): out = silu(gate) ⊙ up. */
export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const out = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
  return out;
}
