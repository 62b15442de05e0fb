// Library (not a kernel): the C output of the hardware family's matmuls and mat-vecs (hw_matmul*.wgsl,
// hw_matvec*.wgsl), binding 3, and their epilogues C = alpha·(product) + beta·C: store_row for the tiled kernels'
// 4×4 blocks, store_mv for the mat-vec's outputs. This one writes f32; its twin _hw_c_c16.wgsl writes f16 pairs
// (the `+c16` variants). The including kernel declares p (Params: M, N, alpha, beta) and, for store_mv, includes
// _hw_rows (ROWS). beta == 0 never reads C (it may hold garbage, even NaN, from a reused buffer).
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

// The mat-vec's store: C[base + m·N + n] = alpha·scale[m]·sum[m] (+ beta·C) for m < M, by lane 0 of output n's
// row (the only lane that holds the reduced sum). Every invocation calls it (the f16 twin has a barrier).
fn store_mv(lid: vec3u, n: u32, base: u32, scale: vec4f, sum: vec4f) {
  if (lid.x == 0u && n < p.N) {
    for (var m = 0u; m < p.M; m++) {
      let at = base + n + m * p.N;
      var x = p.alpha * scale[m] * sum[m];
      if (p.beta != 0.0) { x += p.beta * C[at]; }
      C[at] = x;
    }
  }
}
