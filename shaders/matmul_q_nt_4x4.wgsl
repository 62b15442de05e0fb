// matmul_nt_4x4.wgsl for a ggml block-quantised weight: C[M,N] = alpha · A · Wᵀ + beta · C, one 4×4 block of C
// per thread (4 rows of A × 4 outputs), W [N,K] Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K (QTYPE) laid out as _quant_blocks.wgsl
// documents and de-quantised in registers by wq4, K whole blocks. src/engine/ops/matmul-q.ts picks it for the
// shapes matmulUses4x4 names (decode, M ≤ 4), as for f32 and 16-bit weights; the reasoning is matmul_nt_4x4.wgsl's.
// No batch: weights are never batched.

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
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> Q: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

// #include _quant_blocks

@compute @workgroup_size(16, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // threads numbered over (row block, column block), column blocks fastest, as matmul_nt_4x4.wgsl
  let nb = (p.N + 3u) / 4u;
  let t = (wg.y * nwg.x + wg.x) * 16u + lid;
  if (t >= nb * ((p.M + 3u) / 4u)) { return; }
  let n0 = (t % nb) * 4u;
  let m0 = (t / nb) * 4u;
  let rows = min(4u, p.M - m0);
  let K4 = p.K / 4u;
  // weight rows of the 4 outputs, clamped to the last so edge loads stay in bounds (their sums are not stored)
  let last = p.N - 1u;
  let r1 = min(n0 + 1u, last);
  let r2 = min(n0 + 2u, last);
  let r3 = min(n0 + 3u, last);
  let ab = m0 * K4;
  // acc_m[j] = Σ_k A[m,k]·W[n0+j,k]
  var acc0 = vec4f(); var acc1 = vec4f(); var acc2 = vec4f(); var acc3 = vec4f();
  for (var k = 0u; k < K4; k++) {
    let w = mat4x4f(wq4(n0, 4u * k), wq4(r1, 4u * k), wq4(r2, 4u * k), wq4(r3, 4u * k));
    acc0 += A[ab + k] * w;
    if (rows > 1u) { acc1 += A[ab + K4 + k] * w; }
    if (rows > 2u) { acc2 += A[ab + 2u * K4 + k] * w; }
    if (rows > 3u) { acc3 += A[ab + 3u * K4 + k] * w; }
  }
  let cb = m0 * p.N + n0;
  store(cb, n0, acc0);
  if (rows > 1u) { store(cb + p.N, n0, acc1); }
  if (rows > 2u) { store(cb + 2u * p.N, n0, acc2); }
  if (rows > 3u) { store(cb + 3u * p.N, n0, acc3); }
}

// Writes one row's outputs n0..n0+3 at C[at..at+4), masked to N; beta == 0 never reads C (it may hold garbage).
fn store(at: u32, n0: u32, acc: vec4f) {
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j >= p.N) { return; }
    var v = p.alpha * acc[j];
    if (p.beta != 0.0) { v += p.beta * C[at + j]; }
    C[at + j] = v;
  }
}
