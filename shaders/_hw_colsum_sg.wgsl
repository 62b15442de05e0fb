// Library (not a kernel): the subgroup twin of _hw_colsum (same function, same bits), put in its place by
// gpu/kernels.ts on a device with `subgroups`.
//
// Level k of the fold (partial of y + k onto y, y < k) is, for those y, the butterfly of lanes y and y ^ k
// (y < k, so y ^ k = y + k, and the sum is in the same order); the lanes y ≥ k compute the mirror sum, which no
// later level reads. Its partners sit k·DW_COLS local indices apart, so where the subgroups are aligned runs of S
// consecutive indices (the verdict sg = S of subgroup_layout), the levels with k·DW_COLS < S are done with
// subgroupShuffleXor: the last log2(S / DW_COLS) levels, after the others in workgroup memory. With S ≤ DW_COLS,
// or sg = 0 (the layout is not that), the whole tree is in workgroup memory, as in _hw_colsum.

fn col_sum(ids: RowIds, sg: u32, v: Q) -> Q {
  let slot = ids.lid.y * DW_COLS + ids.lid.x;
  let span = min(sg / DW_COLS, DW_SPLIT); // levels k < span run in subgroups
  var r = v;
  if (span < DW_SPLIT) {
    red_q[slot] = v;
    workgroupBarrier();
    for (var k = DW_SPLIT / 2u; k > 0u && k >= span; k >>= 1u) {
      if (ids.lid.y < k) { red_q[slot] += red_q[slot + k * DW_COLS]; }
      workgroupBarrier();
    }
    r = red_q[slot];
  }
  for (var k = span / 2u; k > 0u; k >>= 1u) { r = r + subgroupShuffleXor(r, k * DW_COLS); }
  return r;
}
