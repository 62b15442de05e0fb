// C[M,N] = alpha · A · W + beta · C with W a ggml block-quantised weight stored [K,N] (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K or Q6_K:
// QTYPE, laid out as _quant_blocks.wgsl documents, N whole blocks), A [M,K] and C f32 row-major: the backward
// through a frozen quantised weight, dX = dY·W (W [out, in] as GGUF stores it: K = out, N = in).
// matmul_w16.wgsl's blocking (16×16 of C per thread in named mat4x4f accumulators, no workgroup memory; see
// matmul.wgsl for why), with the plain-B case only: at step k a thread needs W[k, n0 .. n0+16), four quads along
// one stored row, which wq4 de-quantises in registers. Any M and K; N % 4 == 0 (whole blocks), so a quad is wholly
// in or out of C. No batch: weights are never batched.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  kw: u32, // W's row length (= N)
  d_off: u32, // the scale table's first word in Q
  unused: u32,
  alpha: f32,
  beta: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// #include _quant_blocks

// Offsets of 4 consecutive rows of A at k = 0, clamped to the last one.
fn rows4(first: u32) -> vec4u {
  return min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u)) * p.K;
}
fn ld4(o: vec4u) -> vec4f {
  return vec4f(A[o.x], A[o.y], A[o.z], A[o.w]);
}

// outer(a, b)[j][i] = a[i]·b[j]: column j of a C block is column n+j.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a * b.x, a * b.y, a * b.z, a * b.w);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = (wg.y * 8u + lid.y) * 16u;
  let n0 = (wg.x * 8u + lid.x) * 16u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let ra0 = rows4(m0); let ra1 = rows4(m0 + 4u); let ra2 = rows4(m0 + 8u); let ra3 = rows4(m0 + 12u);
  // quads of W's row past N are clamped to its last quad (their sums are not stored)
  let last = p.N - 4u;
  let n1 = min(n0 + 4u, last); let n2 = min(n0 + 8u, last); let n3 = min(n0 + 12u, last);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  for (var k = 0u; k < p.K; k++) {
    let ka = vec4u(k);
    let a0 = ld4(ra0 + ka); let a1 = ld4(ra1 + ka); let a2 = ld4(ra2 + ka); let a3 = ld4(ra3 + ka);
    let b0 = wq4(k, n0); let b1 = wq4(k, n1); let b2 = wq4(k, n2); let b3 = wq4(k, n3);
    c00 += outer(a0, b0); c01 += outer(a0, b1); c02 += outer(a0, b2); c03 += outer(a0, b3);
    c10 += outer(a1, b0); c11 += outer(a1, b1); c12 += outer(a1, b2); c13 += outer(a1, b3);
    c20 += outer(a2, b0); c21 += outer(a2, b1); c22 += outer(a2, b2); c23 += outer(a2, b3);
    c30 += outer(a3, b0); c31 += outer(a3, b1); c32 += outer(a3, b2); c33 += outer(a3, b3);
  }
  store(m0, n0, c00, c01, c02, c03);
  store(m0 + 4u, n0, c10, c11, c12, c13);
  store(m0 + 8u, n0, c20, c21, c22, c23);
  store(m0 + 12u, n0, c30, c31, c32, c33);
}

// Writes 4 rows × 16 columns from four 4×4 blocks, masked to the matrix; beta == 0 never reads C (it may hold
// garbage, even NaN, from a reused buffer).
fn store(m: u32, n: u32, q0: mat4x4f, q1: mat4x4f, q2: mat4x4f, q3: mat4x4f) {
  let q = array<mat4x4f, 4>(q0, q1, q2, q3);
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    for (var j = 0u; j < 16u; j++) {
      if (n + j >= p.N) { break; }
      let at = (m + i) * p.N + n + j;
      var v = p.alpha * q[j / 4u][j % 4u][i];
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
