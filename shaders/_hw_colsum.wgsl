// Library (not a kernel): the column reduction of the hardware RMSNorm's dw pass (_hw_rmsnorm.wgsl dw_main) in
// core WGSL; its twin _hw_colsum_sg computes the same tree's last levels with subgroup operations (gpu/kernels.ts
// picks the twin as it does _hw_reduce's). Needs Q (_hw_q1/_hw_q4), RowIds (_hw_reduce), and from the includer
// DW_COLS, DW_SPLIT and the workgroup array red_q (_hw_rmsnorm.wgsl declares them, once for both twins).
//
// The workgroup is DW_COLS × DW_SPLIT (DW_THREADS invocations): DW_SPLIT partials per column, at local indices
// y·DW_COLS + x. The tree folds them in half, level k = DW_SPLIT/2, …, 2, 1 adding the partial of y + k to that
// of y for every y < k, so the column's total ends at y = 0.

// The column's Σ of the partials v (valid at lid.y == 0); every invocation must call it, sg from col_layout.
fn col_sum(ids: RowIds, sg: u32, v: Q) -> Q {
  let slot = ids.lid.y * DW_COLS + ids.lid.x;
  red_q[slot] = v;
  workgroupBarrier();
  for (var k = DW_SPLIT / 2u; k > 0u; k >>= 1u) {
    if (ids.lid.y < k) { red_q[slot] += red_q[slot + k * DW_COLS]; }
    workgroupBarrier();
  }
  return red_q[slot];
}
