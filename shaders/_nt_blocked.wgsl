// The blocked forward-form kernels' edges (matmul_nt.wgsl, matmul_w16_nt.wgsl): which weight rows a thread's
// column groups read, and how its outputs are stored. Included through `// #include _nt_blocked`; the includer
// declares p (M, N, alpha, beta), C, ROW_GROUPS and COL_GROUPS, and includes _gate_act.
//
// GLU (inference's fused gate|up projection: model/linear.ts encodeGatedLinear): B is the packed [2F, K] weight,
// gate's F rows then up's, and C [M, F] receives act(x·gateᵀ) ⊙ (x·upᵀ), act being swiglu.wgsl's, so the result
// has the bits of the matmul and swiglu main_packed run apart. p.N is F; a thread's first COL_GROUPS/2 column
// groups read gate rows and the rest the up rows F further on, so each output's two sums meet in one thread and the
// [M, 2F] product is never stored. COL_GROUPS is even.
override GLU: bool = false;

// vec4 offsets of 4 consecutive rows, clamped to the last row so edge loads stay in bounds without a branch.
fn rows4(first: u32, last: u32, k4: u32, base: u32) -> vec4u {
  return base + min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * k4;
}

// Outputs per thread along N: 4·COL_GROUPS sums, or half as many outputs with GLU (each pairs two sums).
fn thread_cols() -> u32 {
  return select(4u * COL_GROUPS, 2u * COL_GROUPS, GLU);
}

// The weight rows of column group h of a thread whose outputs start at n0.
fn group_rows(n0: u32, h: u32, k4: u32, base: u32) -> vec4u {
  if (GLU && h >= COL_GROUPS / 2u) { return rows4(p.N + n0 + 4u * (h - COL_GROUPS / 2u), 2u * p.N - 1u, k4, base); }
  return rows4(n0 + 4u * h, p.N - 1u, k4, base);
}

// Writes 4 rows of a thread's outputs, masked to C: alpha·sum (+ beta·C; beta == 0 never reads C, which may hold
// garbage, even NaN, from a reused buffer), or with GLU act(gate sum) ⊙ up sum.
fn store(base: u32, m: u32, n: u32, q0: mat4x4f, q1: mat4x4f, q2: mat4x4f, q3: mat4x4f, q4: mat4x4f, q5: mat4x4f, q6: mat4x4f, q7: mat4x4f) {
  let q = array<mat4x4f, 8>(q0, q1, q2, q3, q4, q5, q6, q7);
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    for (var j = 0u; j < thread_cols(); j++) {
      if (n + j >= p.N) { break; }
      let at = base + (m + i) * p.N + n + j;
      if (GLU) {
        C[at] = act(q[j / 4u][j % 4u][i]) * q[COL_GROUPS / 2u + j / 4u][j % 4u][i];
        continue;
      }
      var v = p.alpha * q[j / 4u][j % 4u][i];
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
