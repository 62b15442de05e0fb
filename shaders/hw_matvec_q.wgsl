// C[M,N] = alpha · A · Wᵀ + beta · C for M ≤ 4 rows of A with W a ggml block-quantised weight [N,K] (Q8_0, Q4_0, Q5_0,
// Q4_K, Q5_K or Q6_K: QTYPE, laid out as _quant_blocks.wgsl documents, K whole blocks): the sibling of hw_matvec.wgsl
// (read its header for the layout: LANES threads per output striding over its weight row, the fixed-order tree
// reduction of _hw_rows (in workgroup memory, or with subgroups: _hw_reduce), the 1-D grid folded into y); only the weight load differs. Each lane de-quantises its quad of
// 4 weights in registers (wq4), so the packed weight is read once per decode step (a 4-bit weight moves an
// eighth of the f32 bytes). K is whole blocks, so every quad of A is a whole quad (a_quad). No batch. A and C: _hw_a,
// _hw_mv_c, f32 or f16 pairs in +a16 / +c16 (as hw_matvec.wgsl).

// #include _hw_rows
// #include _hw_reduce

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
// #include _hw_a
@group(0) @binding(2) var<storage, read> Q: array<u32>;
// #include _hw_mv_c

// #include _quant_blocks

@compute @workgroup_size(LANES, ROWS, 1)
fn main(ids: RowIds) {
  let sg = row_layout(ids);
  let n = row_of(ids.wg, ids.nwg, ids.lid);
  let lid = ids.lid;
  let K4 = p.K / 4u;
  var acc = vec4f(); // acc[m] = Σ_k A[m,k]·W[n,k]
  if (n < p.N) {
    for (var k = lid.x; k < K4; k += LANES) {
      let w = wq4(n, 4u * k);
      acc.x += dot(a_quad(k), w);
      if (p.M > 1u) { acc.y += dot(a_quad(K4 + k), w); }
      if (p.M > 2u) { acc.z += dot(a_quad(2u * K4 + k), w); }
      if (p.M > 3u) { acc.w += dot(a_quad(3u * K4 + k), w); }
    }
  }
  let sum = row_sum4(ids, sg, acc);
  store_mv(lid, n, 0u, vec4f(1.0), sum);
}
