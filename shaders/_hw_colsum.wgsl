// Library (not a kernel): the column reduction of the hardware RMSNorm's dw pass (_hw_rmsnorm.wgsl dw_main) in
// core WGSL; its twin _hw_colsum_sg computes the same tree's last levels with subgroup operations (gpu/kernels.ts
// picks the twin as it does _hw_reduce's). Needs Q (_hw_q1/_hw_q4) and RowIds (_hw_reduce).
//
// The workgroup is DW_COLS × DW_SPLIT (DW_THREADS invocations): DW_SPLIT partials per column, at local indices
// y·DW_COLS + x. The tree folds them in half, level k = DW_SPLIT/2, …, 2, 1 adding the partial of y + k to that
// of y for every y < k, so the column's total ends at y = 0.
override DW_COLS: u32 = 16u;
const DW_THREADS = 256u;
override DW_SPLIT: u32 = DW_THREADS / DW_COLS; // derived: the host sets DW_COLS only
var<workgroup> red_q: array<Q, DW_THREADS>;

// The layout verdict for the dw workgroup (no subgroups here: 0); call once at the kernel's start, as row_layout.
fn col_layout(ids: RowIds) -> u32 {
  return subgroup_layout(ids, DW_THREADS);
}

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
