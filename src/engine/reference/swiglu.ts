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

/** transformers' gelu_pytorch_tanh (float64): ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** CPU reference for swiglu.wgsl with GELU_TANH (Gemma's GeGLU): out = gelu_tanh(gate) ⊙ up. */
export function gegluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: gate.length }, (_, i) => geluTanh(gate[i]!) * up[i]!);
}

/**
 * The GeGLU backward (float64), with u = √(2/π)(g + 0.044715g³) and t = tanh u:
 *   gelu'(g) = ½(1 + t) + ½g(1 − t²)·√(2/π)(1 + 3·0.044715g²)
 *   dgate = dout ⊙ up ⊙ gelu'(gate)        dup = dout ⊙ gelu(gate)
 */
export function gegluBackwardRef(
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  dout: ArrayLike<number>,
): { dgate: Float64Array; dup: Float64Array } {
  const c = Math.sqrt(2 / Math.PI);
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    const t = Math.tanh(c * (g + 0.044715 * g ** 3));
    const da = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * c * (1 + 3 * 0.044715 * g * g);
    dgate[i] = dout[i]! * up[i]! * da;
    dup[i] = dout[i]! * geluTanh(g);
  }
  return { dgate, dup };
}
