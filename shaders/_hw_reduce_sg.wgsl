// Library (not a kernel): the subgroup twin of _hw_reduce (same functions, same results bit for bit), which
// gpu/kernels.ts puts in its place, with `enable subgroups;` at the top, when the device has `subgroups`.
//
// The tree of _hw_rows over a row's LANES lanes: its levels below B = min(LANES, subgroup size) as a butterfly of
// subgroupShuffleXor (level s: every lane adds the partial of lane ^ s, so all lanes of an aligned block of B
// end with the block's sum, the same bits in each since the combines are symmetric), the levels from B up in
// workgroup memory. With LANES ≤ the subgroup size a row's sum needs no tree in workgroup memory, only the one
// barrier of the layout verdict below, which a kernel takes once at its start (row_layout) and hands to each of
// its reductions. Any subgroup size works (WebGPU allows 4–128; nothing assumes 32), and the result does not
// depend on it.
//
// The butterfly needs the lanes of an aligned block to sit in one subgroup at subgroup_invocation_id ≡ lane
// (mod B). That holds where subgroups are runs of consecutive local_invocation_index, as drivers lay them out in
// practice, but WebGPU does not promise it (gpuweb discussions of the subgroups feature). So a kernel first checks
// it (subgroup_layout, once per workgroup) and where any subgroup of the workgroup is laid out otherwise, the
// workgroup takes the core tree: same bits, no subgroup operation.

struct RowIds {
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) lidx: u32,
  @builtin(subgroup_size) sg_size: u32,
  @builtin(subgroup_invocation_id) sg_id: u32,
}

// The workgroup's verdict: scattered is set by any invocation whose subgroup is not a run of consecutive indices
// (zero-initialised, as WGSL's workgroup variables are), size = the subgroup size by invocation 0. Read back through
// workgroupUniformLoad, since the uniformity analysis counts an entry point's built-in struct as one value (so
// subgroup_size inside RowIds does not count as uniform).
struct SgState {
  scattered: u32,
  size: u32,
}
var<workgroup> sg_state: SgState;

// The subgroup size S for a workgroup of n invocations when each subgroup is the aligned run base..base+m of
// local indices, base a multiple of S and m = min(S, invocations left), so sg_id = lidx − base: then lanes
// lidx and lidx ^ s (s < S) share a subgroup. 0 where any subgroup is laid out otherwise. It takes a barrier
// (workgroupUniformLoad): call it once per kernel invocation, from every invocation, in uniform control flow, and
// pass the result to every reduction (the result is uniform, so the reductions may branch on it).
fn subgroup_layout(ids: RowIds, n: u32) -> u32 {
  let base = ids.lidx - ids.sg_id; // wraps when sg_id > lidx; the checks below then fail
  let first = subgroupBroadcastFirst(base);
  let count = subgroupAdd(1u);
  let mine = ids.sg_id == ids.lidx % ids.sg_size && base == first && base < n && count == min(ids.sg_size, n - min(base, n));
  if (!subgroupAll(mine)) { sg_state.scattered = 1u; }
  if (ids.lidx == 0u) { sg_state.size = ids.sg_size; }
  let st = workgroupUniformLoad(&sg_state);
  return select(st.size, 0u, st.scattered != 0u);
}

// The verdict for the row kernels' LANES × ROWS workgroup.
fn row_layout(ids: RowIds) -> u32 {
  return subgroup_layout(ids, LANES * ROWS);
}

// Each reduction below: B = min(LANES, sg) levels by butterfly, the rest in workgroup memory; sg = 0: all of them
// in workgroup memory, as _hw_reduce.

fn row_sum(ids: RowIds, sg: u32, v: f32) -> f32 {
  let seg = ids.lid.y * LANES;
  let b = min(LANES, sg);
  if (b == 0u) { return tree_sum(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = r + subgroupShuffleXor(r, s); }
  if (b == LANES) { return r; }
  return tree_sum(seg, ids.lid.x, r, b);
}

fn row_max_sum(ids: RowIds, sg: u32, v: vec2f) -> vec2f {
  let seg = ids.lid.y * LANES;
  let b = min(LANES, sg);
  if (b == 0u) { return tree_max_sum(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = combine_max_sum(r, subgroupShuffleXor(r, s)); }
  if (b == LANES) { return r; }
  return tree_max_sum(seg, ids.lid.x, r, b);
}

fn row_argmax(ids: RowIds, sg: u32, v: vec2u) -> vec2u {
  let seg = ids.lid.y * LANES;
  let b = min(LANES, sg);
  if (b == 0u) { return tree_argmax(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = combine_argmax(r, subgroupShuffleXor(r, s)); }
  if (b == LANES) { return r; }
  return tree_argmax(seg, ids.lid.x, r, b);
}

fn row_sum4(ids: RowIds, sg: u32, v: vec4f) -> vec4f {
  let seg = ids.lid.y * LANES;
  let b = min(LANES, sg);
  if (b == 0u) { return tree_sum4(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = r + subgroupShuffleXor(r, s); }
  if (b == LANES) { return r; }
  return tree_sum4(seg, ids.lid.x, r, b);
}
