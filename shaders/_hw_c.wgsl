// Library (not a kernel): the C output of the hardware family's tiled matmuls (hw_matmul*.wgsl), binding 3, and
// their epilogue C = alpha·(product) + beta·C, store_row for a thread's 4×4 block (the mat-vec's is _hw_mv_c).
// This one writes f32; its twin _hw_c_c16.wgsl writes f16 pairs (the `+c16` variants), so the kernel text is shared.
// The including kernel declares p (Params: M, N, alpha, beta). beta == 0 never reads C (it may hold garbage, even
// NaN, from a reused buffer).
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// Writes C[m, n..n+4) masked to the matrix.
fn store_row(base: u32, m: u32, n: u32, v: vec4f) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j >= p.N) { return; }
    let at = base + m * p.N + n + j;
    var x = p.alpha * v[j];
    if (p.beta != 0.0) { x += p.beta * C[at]; }
    C[at] = x;
  }
}
