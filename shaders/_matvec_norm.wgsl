// Library (not a kernel): the mat-vec with the RMSNorm before it folded in, the `main_norm` entry of
// hw_matvec.wgsl and hw_matvec_w16.wgsl, included at their end through `// #include _matvec_norm` (gpu/kernels.ts
// expands it). The including shader declares p (Params), quad_a and quad_b (its weight decoding) and includes
// _hw_a (A), _hw_mv_c (C, store_mv), _hw_rows and _hw_reduce; this file adds binding 4 (the norm weight G) and the
// entry. A here is the raw f32 residual stream (matmul-hw.ts refuses aF16); in the +c16 variant C is f16 pairs.
// ---- main_norm: the RMSNorm before this projection folded in (decode's input and post-attention norms) ----
// C[m,n] = alpha · r_m · Σ_k (A[m,k]·G[k])·B[n,k] + beta · C, r_m = rsqrt(mean_k A[m,k]² + NORM_EPS): the norm's
// scale factors out of the dot product, so the un-normed rows are read once, for both sums, and no normed copy is
// written or read back. Each workgroup reduces its rows' sums of squares alongside its dot products: the scale is
// computed once per row per workgroup, from values it loads anyway. G [K] is the norm weight; K % 4 == 0
// (matmul-hw.ts hwFusesNorm), so G is read as whole quads.
@group(0) @binding(4) var<storage, read> G: array<vec4f>;
override NORM_EPS: f32 = 1e-5;

@compute @workgroup_size(LANES, ROWS, 1)
fn main_norm(ids: RowIds) {
  let sg = row_layout(ids); // once for both reductions below
  let n = row_of(ids.wg, ids.nwg, ids.lid);
  let wg = ids.wg;
  let lid = ids.lid;
  let base_a = wg.z * p.batch_stride_a;
  var acc = vec4f(); // acc[m] = Σ_k A[m,k]·G[k]·B[n,k]
  var ss = vec4f(); // ss[m] = Σ_k A[m,k]²
  // rows past N still sum squares (their lanes join the reduction), reading the last weight row
  let row_b = wg.z * p.batch_stride_b + min(n, p.N - 1u) * p.K;
  for (var k = lid.x * 4u; k < p.K; k += LANES * 4u) {
    let w = quad_b(row_b + k, k);
    let g = G[k >> 2u];
    let a0 = quad_a(base_a + k, k);
    ss.x += dot(a0, a0);
    acc.x += dot(a0 * g, w);
    if (p.M > 1u) { let a = quad_a(base_a + p.K + k, k); ss.y += dot(a, a); acc.y += dot(a * g, w); }
    if (p.M > 2u) { let a = quad_a(base_a + 2u * p.K + k, k); ss.z += dot(a, a); acc.z += dot(a * g, w); }
    if (p.M > 3u) { let a = quad_a(base_a + 3u * p.K + k, k); ss.w += dot(a, a); acc.w += dot(a * g, w); }
  }
  let sum = row_sum4(ids, sg, acc);
  let ssum = row_sum4(ids, sg, ss);
  store_mv(lid, n, wg.z * p.batch_stride_c, inverseSqrt(ssum / f32(p.K) + vec4f(NORM_EPS)), sum);
}
