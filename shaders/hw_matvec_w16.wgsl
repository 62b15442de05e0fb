// C[M,N] = alpha · A · Bᵀ + beta · C for M ≤ 4 rows of A with B a 16-bit weight [N,K] (BF16 or F16, IS_F16,
// packed as matmul_w16.wgsl documents and bound as vec4<u32>s of 8 elements): the sibling of hw_matvec.wgsl,
// whose header explains the layout; only the weight load differs. A quad of 4 weights is one 8-byte half of a
// vec4<u32> (A_VEC: K % 4 == 0), so two neighbouring lanes read the halves of one 16 bytes and a warp still
// reads one contiguous run; decoded exactly in registers (bf16 → bits << 16, f16 → unpack2x16float).
//
// Decode is bound by reading the weight once, so the layout serves that read (as llama.cpp's mul_mat_vec
// kernels and the CUDA "one warp per row" GEMV do): a workgroup of LANES × ROWS threads computes ROWS outputs
// n; the LANES threads of one n stride over its weight row in vec4s, neighbours reading neighbouring 16 bytes
// (coalesced), and accumulate all M rows of A at once (one vec4 accumulator, component m), so each weight is
// loaded once for every row. The LANES partial sums are then reduced by _hw_rows' fixed tree (in
// workgroup memory, or with subgroups where the device has them: _hw_reduce / _hw_reduce_sg). The grid is
// 1-D over workgroups (folded into y past 65535, as grid1d in dispatch.ts does), batch in z.
// A_VEC: K and both batch strides are multiples of 4 (whole vec4 loads); otherwise quads are gathered
// element by element, 0 past K. A and C: _hw_a, _hw_mv_c, f32 or f16 pairs in +a16 / +c16 (as hw_matvec.wgsl).

override IS_F16: bool = false;
override A_VEC: bool = false;
// #include _hw_rows
// #include _hw_reduce

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
// #include _hw_a
@group(0) @binding(2) var<storage, read> B: array<vec4u>;
// #include _hw_mv_c

// Elements [k, k+4) at element offset e of a row of length K (k < K), 0 past K.
fn quad_a(e: u32, k: u32) -> vec4f {
  if (A_VEC) { return a_quad(e >> 2u); }
  var q = vec4f();
  for (var j = 0u; j < 4u; j++) {
    if (k + j < p.K) { q[j] = a_elem(e + j); }
  }
  return q;
}
fn decode2(word: u32) -> vec2f {
  if (IS_F16) { return unpack2x16float(word); }
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}
fn quad_b(e: u32, k: u32) -> vec4f {
  if (A_VEC) {
    let w = B[e >> 3u];
    let pair = select(w.xy, w.zw, (e & 4u) != 0u);
    return vec4f(decode2(pair.x), decode2(pair.y));
  }
  var q = vec4f();
  for (var j = 0u; j < 4u; j++) {
    if (k + j < p.K) {
      let word = (e + j) >> 1u;
      q[j] = decode2(B[word >> 2u][word & 3u])[(e + j) & 1u];
    }
  }
  return q;
}

@compute @workgroup_size(LANES, ROWS, 1)
fn main(ids: RowIds) {
  let sg = row_layout(ids);
  let n = row_of(ids.wg, ids.nwg, ids.lid);
  let wg = ids.wg;
  let lid = ids.lid;
  let base_a = wg.z * p.batch_stride_a;
  var acc = vec4f(); // acc[m] = Σ_k A[m,k]·B[n,k]
  if (n < p.N) {
    let row_b = wg.z * p.batch_stride_b + n * p.K;
    for (var k = lid.x * 4u; k < p.K; k += LANES * 4u) {
      let w = quad_b(row_b + k, k);
      acc.x += dot(quad_a(base_a + k, k), w);
      if (p.M > 1u) { acc.y += dot(quad_a(base_a + p.K + k, k), w); }
      if (p.M > 2u) { acc.z += dot(quad_a(base_a + 2u * p.K + k, k), w); }
      if (p.M > 3u) { acc.w += dot(quad_a(base_a + 3u * p.K + k, k), w); }
    }
  }
  let sum = row_sum4(ids, sg, acc);
  store_mv(lid, n, wg.z * p.batch_stride_c, vec4f(1.0), sum);
}


// the entry with the RMSNorm before this product folded in (decode's q|k|v and gate|up)
// #include _matvec_norm
