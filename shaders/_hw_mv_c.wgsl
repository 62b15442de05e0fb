// Library (not a kernel): the C output of the hardware family's mat-vecs (hw_matvec*.wgsl, and _matvec_norm's
// main_norm), binding 3, and their epilogue C = alpha·scale·(sum) + beta·C. This one writes f32; its twin
// _hw_mv_c_c16.wgsl writes f16 pairs (the `+c16` variants), so the kernel text is shared. The including kernel
// declares p (Params: M, N, alpha, beta) and includes _hw_rows (ROWS). beta == 0 never reads C (it may hold garbage,
// even NaN, from a reused buffer).
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

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
