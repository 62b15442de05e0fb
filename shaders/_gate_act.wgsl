// The gate activation of a gated MLP, shared by swiglu.wgsl and the forward-form matmuls' GLU epilogue
// (_nt_glu.wgsl), so that both give the same bits. Included through `// #include _gate_act` (gpu/kernels.ts).
//
// With GELU_TANH (Gemma 3's GeGLU, gelu_pytorch_tanh) the gate's activation is the tanh-approximate GELU
//   a(g) = ½g(1 + tanh(u)), u = √(2/π)(g + 0.044715g³),  a'(g) = ½(1 + tanh u) + ½g(1 − tanh²u)·√(2/π)(1 + 3·0.044715g²)
// and out = a(gate) ⊙ up, dgate = dout ⊙ up ⊙ a'(gate), dup = dout ⊙ a(gate). tanh's argument is clamped to ±10,
// where tanh is ±1 in f32 already, so a large |g| gives the exact limits (g or 0) and never inf/inf.
override GELU_TANH: bool = false;

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_C = 0.044715;

fn gelu_tanh_t(g: f32) -> f32 {
  return tanh(clamp(SQRT_2_OVER_PI * (g + GELU_C * g * g * g), -10.0, 10.0));
}

// The gate's activation: silu(g) = g / (1 + exp(−g)), or the tanh GELU.
fn act(g: f32) -> f32 {
  if (GELU_TANH) { return 0.5 * g * (1.0 + gelu_tanh_t(g)); }
  // exp(−g) overflows to +inf for g < −88; g / inf = −0, which is silu's limit, so no guard is needed.
  return g / (1.0 + exp(-g));
}
