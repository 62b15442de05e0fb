// Library (not a kernel): the row reductions of the hardware family's row kernels in core WGSL, the whole tree of
// _hw_rows in workgroup memory. Its twin _hw_reduce_sg (the same functions with subgroup operations) replaces it
// when the device has `subgroups` (gpu/kernels.ts builds that variant). Entry points take their built-ins as one
// RowIds, so a kernel is written once for both.
//
// The contract both twins keep: a kernel takes the workgroup's subgroup layout verdict once, at its start
// (`let sg = row_layout(ids);`, every invocation, in uniform control flow), and hands it to each reduction it
// calls. Here there are no subgroups, so the verdict is 0 (the core tree) and costs nothing.

struct RowIds {
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
}

// The verdict for a workgroup of n invocations (the twin: the subgroup size where the subgroups are laid out as
// its reductions assume, else 0).
fn subgroup_layout(ids: RowIds, n: u32) -> u32 {
  return 0u;
}

// The verdict for the row kernels' LANES × ROWS workgroup.
fn row_layout(ids: RowIds) -> u32 {
  return subgroup_layout(ids, LANES * ROWS);
}

// Σ of v over the LANES lanes of the row (every lane gets it); every invocation must call it, sg from row_layout.
fn row_sum(ids: RowIds, sg: u32, v: f32) -> f32 {
  return tree_sum(ids.lid.y * LANES, ids.lid.x, v, 1u);
}

// The row's (max, Σ exp(x − max)) from each lane's running pair; every invocation must call it, sg from row_layout.
fn row_max_sum(ids: RowIds, sg: u32, v: vec2f) -> vec2f {
  return tree_max_sum(ids.lid.y * LANES, ids.lid.x, v, 1u);
}

// The row's first maximum (value bits, index) from each lane's candidate; every invocation must call it, sg from row_layout.
fn row_argmax(ids: RowIds, sg: u32, v: vec2u) -> vec2u {
  return tree_argmax(ids.lid.y * LANES, ids.lid.x, v, 1u);
}

// Σ of four sums at once (the mat-vec's M ≤ 4 rows of A against one weight row); every invocation must call it, sg from row_layout.
fn row_sum4(ids: RowIds, sg: u32, v: vec4f) -> vec4f {
  return tree_sum4(ids.lid.y * LANES, ids.lid.x, v, 1u);
}
