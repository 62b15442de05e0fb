// C[M,N] = alpha · A · Wᵀ + beta · C with W a ggml block-quantised weight [N,K] (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K or Q6_K: QTYPE,
// laid out as _quant_blocks.wgsl documents), A [M,K] and C f32 row-major, K whole blocks: the forward y = x·Wᵀ of a
// model that keeps its GGUF types on the GPU. matmul_w16_nt.wgsl with one change: each quad of 4 weights along K
// is de-quantised in registers by wq4 (exactly ggml's values) instead of decoded from 16 bits. See matmul_nt.wgsl
// for the blocking. No batch: weights are never batched.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kw: u32, // W's row length (= K)
  d_off: u32, // the scale table's first word in Q
  unused: u32,
  alpha: f32,
  beta: f32,
}
override ROW_GROUPS: u32 = 4u;
// 4-column groups per thread (1-8, chosen from N): narrow outputs (o/down of a small model, N = 64) keep every
// thread of a 4-lane SIMD group busy instead of leaving lanes past N idle.
override COL_GROUPS: u32 = 8u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// vec4 offsets of 4 consecutive rows, clamped to the last row so edge loads stay in bounds without a branch.
fn rows4(first: u32, last: u32, k4: u32, base: u32) -> vec4u {
  return base + min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * k4;
}

// The 4×4 block of rows r at vec4 step k: column i holds row i's 4 values along K.
fn blk(r: vec4u, k: u32) -> mat4x4f {
  return mat4x4f(A[r.x + k], A[r.y + k], A[r.z + k], A[r.w + k]);
}

// #include _quant_blocks

// Weights [4k, 4k+4) of the 4 W rows r (clamped row indices): column i holds row r[i]'s quad.
fn blkq(r: vec4u, k: u32) -> mat4x4f {
  return mat4x4f(wq4(r.x, 4u * k), wq4(r.y, 4u * k), wq4(r.z, 4u * k), wq4(r.w, 4u * k));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = (wg.y * 8u + lid.y) * 4u * ROW_GROUPS;
  let n0 = (wg.x * 8u + lid.x) * 4u * COL_GROUPS;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let K4 = p.K / 4u;
  let ra0 = rows4(m0, p.M - 1u, K4, 0u);
  let ra1 = rows4(m0 + 4u, p.M - 1u, K4, 0u);
  let ra2 = rows4(m0 + 8u, p.M - 1u, K4, 0u);
  let ra3 = rows4(m0 + 12u, p.M - 1u, K4, 0u);
  let rb0 = min(vec4u(n0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb1 = min(vec4u(n0 + 4u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb2 = min(vec4u(n0 + 8u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb3 = min(vec4u(n0 + 12u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb4 = min(vec4u(n0 + 16u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb5 = min(vec4u(n0 + 20u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb6 = min(vec4u(n0 + 24u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let rb7 = min(vec4u(n0 + 28u) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c04 = mat4x4f(); var c05 = mat4x4f(); var c06 = mat4x4f(); var c07 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c14 = mat4x4f(); var c15 = mat4x4f(); var c16 = mat4x4f(); var c17 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c24 = mat4x4f(); var c25 = mat4x4f(); var c26 = mat4x4f(); var c27 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  var c34 = mat4x4f(); var c35 = mat4x4f(); var c36 = mat4x4f(); var c37 = mat4x4f();
  // c(g)(h) is the 4×4 block at rows m0 + 4g, columns n0 + 4h; c[j][i] = C[row i][column j].
  for (var k = 0u; k < K4; k++) {
    let b0 = blkq(rb0, k);
    var b1 = mat4x4f(); var b2 = mat4x4f(); var b3 = mat4x4f(); var b4 = mat4x4f(); var b5 = mat4x4f(); var b6 = mat4x4f(); var b7 = mat4x4f();
    if (COL_GROUPS > 1u) { b1 = blkq(rb1, k); }
    if (COL_GROUPS > 2u) { b2 = blkq(rb2, k); }
    if (COL_GROUPS > 3u) { b3 = blkq(rb3, k); }
    if (COL_GROUPS > 4u) { b4 = blkq(rb4, k); }
    if (COL_GROUPS > 5u) { b5 = blkq(rb5, k); }
    if (COL_GROUPS > 6u) { b6 = blkq(rb6, k); }
    if (COL_GROUPS > 7u) { b7 = blkq(rb7, k); }
    let a0 = transpose(blk(ra0, k));
    c00 += a0 * b0; if (COL_GROUPS > 1u) { c01 += a0 * b1; } if (COL_GROUPS > 2u) { c02 += a0 * b2; } if (COL_GROUPS > 3u) { c03 += a0 * b3; }
    if (COL_GROUPS > 4u) { c04 += a0 * b4; } if (COL_GROUPS > 5u) { c05 += a0 * b5; } if (COL_GROUPS > 6u) { c06 += a0 * b6; } if (COL_GROUPS > 7u) { c07 += a0 * b7; }
    if (ROW_GROUPS > 1u) {
      let a1 = transpose(blk(ra1, k));
      c10 += a1 * b0; if (COL_GROUPS > 1u) { c11 += a1 * b1; } if (COL_GROUPS > 2u) { c12 += a1 * b2; } if (COL_GROUPS > 3u) { c13 += a1 * b3; }
      if (COL_GROUPS > 4u) { c14 += a1 * b4; } if (COL_GROUPS > 5u) { c15 += a1 * b5; } if (COL_GROUPS > 6u) { c16 += a1 * b6; } if (COL_GROUPS > 7u) { c17 += a1 * b7; }
    }
    if (ROW_GROUPS > 2u) {
      let a2 = transpose(blk(ra2, k));
      c20 += a2 * b0; if (COL_GROUPS > 1u) { c21 += a2 * b1; } if (COL_GROUPS > 2u) { c22 += a2 * b2; } if (COL_GROUPS > 3u) { c23 += a2 * b3; }
      if (COL_GROUPS > 4u) { c24 += a2 * b4; } if (COL_GROUPS > 5u) { c25 += a2 * b5; } if (COL_GROUPS > 6u) { c26 += a2 * b6; } if (COL_GROUPS > 7u) { c27 += a2 * b7; }
    }
    if (ROW_GROUPS > 3u) {
      let a3 = transpose(blk(ra3, k));
      c30 += a3 * b0; if (COL_GROUPS > 1u) { c31 += a3 * b1; } if (COL_GROUPS > 2u) { c32 += a3 * b2; } if (COL_GROUPS > 3u) { c33 += a3 * b3; }
      if (COL_GROUPS > 4u) { c34 += a3 * b4; } if (COL_GROUPS > 5u) { c35 += a3 * b5; } if (COL_GROUPS > 6u) { c36 += a3 * b6; } if (COL_GROUPS > 7u) { c37 += a3 * b7; }
    }
  }
  store(0u, m0, n0, c00, c01, c02, c03, c04, c05, c06, c07);
  if (ROW_GROUPS > 1u) { store(0u, m0 + 4u, n0, c10, c11, c12, c13, c14, c15, c16, c17); }
  if (ROW_GROUPS > 2u) { store(0u, m0 + 8u, n0, c20, c21, c22, c23, c24, c25, c26, c27); }
  if (ROW_GROUPS > 3u) { store(0u, m0 + 12u, n0, c30, c31, c32, c33, c34, c35, c36, c37); }
}

// Writes 4 rows × 4·COL_GROUPS columns, masked to C; beta == 0 never reads C (it may hold garbage, even NaN, from a reused
// buffer).
fn store(base: u32, m: u32, n: u32, q0: mat4x4f, q1: mat4x4f, q2: mat4x4f, q3: mat4x4f, q4: mat4x4f, q5: mat4x4f, q6: mat4x4f, q7: mat4x4f) {
  let q = array<mat4x4f, 8>(q0, q1, q2, q3, q4, q5, q6, q7);
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    for (var j = 0u; j < 4u * COL_GROUPS; j++) {
      if (n + j >= p.N) { break; }
      let at = base + (m + i) * p.N + n + j;
      var v = p.alpha * q[j / 4u][j % 4u][i];
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
