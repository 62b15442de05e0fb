// C[M,N] = alpha · op(A) · op(B) + beta · C, all f32, row-major: the general kernel (any M, N, K, any layout).
// op(A) is A[M,K], or A stored as [K,M] when TRANS_A; op(B) is B[K,N], or B stored as [N,K] when TRANS_B.
// The forward pass (A plain, TRANS_B, K % 4 == 0) has a faster sibling, matmul_nt.wgsl; this kernel serves the
// backward pass's plain (dx = dy·W) and TRANS_A (dW = dyᵀ·x) forms and any K.
//
// Shaped for SwiftShader (WebGPU on the CPU, where tests and benches run), and still a sound GPU layout: a
// workgroup's invocations run as 4-wide SIMD lanes, so every load from a storage or workgroup array is a
// per-lane gather, barriers switch coroutines, and an array indexed in a loop lives in memory. So: no workgroup
// memory (the CPU caches do that job), each thread keeps a 16×16 block of C as sixteen named mat4x4f
// accumulators (scalar-replaced into registers; an indexed array would be gathered), and each k step does 32
// loads for 256 multiply-adds. Rows and columns past the edge are clamped on load (no per-element branch) and
// masked on store; a thread wholly outside C returns at once (no barriers, so that is allowed).
// Measured at 128×576×1536 A·Bᵀ: ~1.7 GFLOP/s, against ~0.1 for the 32×32 shared-memory tiling it replaced.
// ROW_BLOCKS and COL_BLOCKS (1-4, chosen from M and N by ops/matmul.ts) trim a thread's block to 4·ROW_BLOCKS ×
// 4·COL_BLOCKS, so the skinny products of LoRA's backward (N or M = the rank, e.g. 8) do not compute clamped
// copies of their few rows or columns; the overrides fold the unused blocks away at pipeline creation.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ROW_BLOCKS: u32 = 4u;
override COL_BLOCKS: u32 = 4u;
struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch_stride_a: u32,
  batch_stride_b: u32,
  batch_stride_c: u32,
  alpha: f32,
  beta: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// Offsets of 4 consecutive rows of op(A) (or columns of op(B)) at k = 0, clamped to the last one.
fn lines4(first: u32, last: u32, stride: u32, base: u32) -> vec4u {
  return base + min(vec4u(first) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * stride;
}
fn ld4(X: ptr<storage, array<f32>, read>, o: vec4u) -> vec4f {
  return vec4f((*X)[o.x], (*X)[o.y], (*X)[o.z], (*X)[o.w]);
}
// outer(a, b)[j][i] = a[i]·b[j]: column j of a C block is column n+j.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a * b.x, a * b.y, a * b.z, a * b.w);
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = (wg.y * 8u + lid.y) * 4u * ROW_BLOCKS;
  let n0 = (wg.x * 8u + lid.x) * 4u * COL_BLOCKS;
  if (m0 >= p.M || n0 >= p.N) { return; }
  // Element (m, k) of op(A) is at m·a_line + k·a_step; element (k, n) of op(B) at n·b_line + k·b_step.
  let a_line = select(p.K, 1u, TRANS_A);
  let a_step = select(1u, p.M, TRANS_A);
  let b_line = select(1u, p.K, TRANS_B);
  let b_step = select(p.N, 1u, TRANS_B);
  let ab = wg.z * p.batch_stride_a;
  let bb = wg.z * p.batch_stride_b;
  let ra0 = lines4(m0, p.M - 1u, a_line, ab);
  let ra1 = lines4(m0 + 4u, p.M - 1u, a_line, ab);
  let ra2 = lines4(m0 + 8u, p.M - 1u, a_line, ab);
  let ra3 = lines4(m0 + 12u, p.M - 1u, a_line, ab);
  let rb0 = lines4(n0, p.N - 1u, b_line, bb);
  let rb1 = lines4(n0 + 4u, p.N - 1u, b_line, bb);
  let rb2 = lines4(n0 + 8u, p.N - 1u, b_line, bb);
  let rb3 = lines4(n0 + 12u, p.N - 1u, b_line, bb);
  var c00 = mat4x4f(); var c01 = mat4x4f(); var c02 = mat4x4f(); var c03 = mat4x4f();
  var c10 = mat4x4f(); var c11 = mat4x4f(); var c12 = mat4x4f(); var c13 = mat4x4f();
  var c20 = mat4x4f(); var c21 = mat4x4f(); var c22 = mat4x4f(); var c23 = mat4x4f();
  var c30 = mat4x4f(); var c31 = mat4x4f(); var c32 = mat4x4f(); var c33 = mat4x4f();
  for (var k = 0u; k < p.K; k++) {
    let ka = vec4u(k * a_step);
    let kb = vec4u(k * b_step);
    let a0 = ld4(&A, ra0 + ka);
    let b0 = ld4(&B, rb0 + kb);
    var a1 = vec4f(); var a2 = vec4f(); var a3 = vec4f();
    var b1 = vec4f(); var b2 = vec4f(); var b3 = vec4f();
    if (ROW_BLOCKS > 1u) { a1 = ld4(&A, ra1 + ka); }
    if (ROW_BLOCKS > 2u) { a2 = ld4(&A, ra2 + ka); }
    if (ROW_BLOCKS > 3u) { a3 = ld4(&A, ra3 + ka); }
    if (COL_BLOCKS > 1u) { b1 = ld4(&B, rb1 + kb); }
    if (COL_BLOCKS > 2u) { b2 = ld4(&B, rb2 + kb); }
    if (COL_BLOCKS > 3u) { b3 = ld4(&B, rb3 + kb); }
    c00 += outer(a0, b0);
    if (COL_BLOCKS > 1u) { c01 += outer(a0, b1); }
    if (COL_BLOCKS > 2u) { c02 += outer(a0, b2); }
    if (COL_BLOCKS > 3u) { c03 += outer(a0, b3); }
    if (ROW_BLOCKS > 1u) {
      c10 += outer(a1, b0);
      if (COL_BLOCKS > 1u) { c11 += outer(a1, b1); }
      if (COL_BLOCKS > 2u) { c12 += outer(a1, b2); }
      if (COL_BLOCKS > 3u) { c13 += outer(a1, b3); }
    }
    if (ROW_BLOCKS > 2u) {
      c20 += outer(a2, b0);
      if (COL_BLOCKS > 1u) { c21 += outer(a2, b1); }
      if (COL_BLOCKS > 2u) { c22 += outer(a2, b2); }
      if (COL_BLOCKS > 3u) { c23 += outer(a2, b3); }
    }
    if (ROW_BLOCKS > 3u) {
      c30 += outer(a3, b0);
      if (COL_BLOCKS > 1u) { c31 += outer(a3, b1); }
      if (COL_BLOCKS > 2u) { c32 += outer(a3, b2); }
      if (COL_BLOCKS > 3u) { c33 += outer(a3, b3); }
    }
  }
  let cb = wg.z * p.batch_stride_c;
  store(cb, m0, n0, c00, c01, c02, c03);
  if (ROW_BLOCKS > 1u) { store(cb, m0 + 4u, n0, c10, c11, c12, c13); }
  if (ROW_BLOCKS > 2u) { store(cb, m0 + 8u, n0, c20, c21, c22, c23); }
  if (ROW_BLOCKS > 3u) { store(cb, m0 + 12u, n0, c30, c31, c32, c33); }
}

// Writes 4 rows × 4·COL_BLOCKS columns from up to four 4×4 blocks, masked to the matrix; beta == 0 never reads C (it may hold
// garbage, even NaN, from a reused buffer).
fn store(base: u32, m: u32, n: u32, q0: mat4x4f, q1: mat4x4f, q2: mat4x4f, q3: mat4x4f) {
  let q = array<mat4x4f, 4>(q0, q1, q2, q3);
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= p.M) { return; }
    for (var j = 0u; j < 4u * COL_BLOCKS; j++) {
      if (n + j >= p.N) { break; }
      let at = base + (m + i) * p.N + n + j;
      var v = p.alpha * q[j / 4u][j % 4u][i];
      if (p.beta != 0.0) { v += p.beta * C[at]; }
      C[at] = v;
    }
  }
}
