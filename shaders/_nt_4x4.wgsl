// The 4×4-block forward-form kernels' store (matmul_nt_4x4.wgsl, matmul_w16_nt_4x4.wgsl), with their GLU
// epilogue: see _nt_blocked.wgsl for GLU (B the packed [2F, K] gate|up weight, C [M, F] = act(gate) ⊙ up, p.N = F).
// Here a thread's 4 outputs accumulate their gate sums in one vec4 per row and their up sums (weight rows F
// further on) in another. Included through `// #include _nt_4x4`; the includer declares p and C and includes
// _gate_act.
override GLU: bool = false;

// Writes one row's outputs n0..n0+3 at C[at..at+4), masked to N: alpha·acc (+ beta·C; beta == 0 never reads C,
// which may hold garbage), or with GLU act(acc) ⊙ up.
fn store(at: u32, n0: u32, acc: vec4f, up: vec4f) {
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j >= p.N) { return; }
    if (GLU) {
      C[at + j] = act(acc[j]) * up[j];
      continue;
    }
    var v = p.alpha * acc[j];
    if (p.beta != 0.0) { v += p.beta * C[at + j]; }
    C[at + j] = v;
  }
}
