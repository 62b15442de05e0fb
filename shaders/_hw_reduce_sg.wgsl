// Library (not a kernel): the subgroup twin of _hw_reduce (same functions, same results bit for bit), which
// gpu/kernels.ts puts in its place, with `enable subgroups;` at the top, when the device has `subgroups`.
//
// The tree of _hw_rows over a row's LANES lanes: its levels below B = min(LANES, subgroup size) as a butterfly of
// subgroupShuffleXor (level s: every lane adds the partial of lane ^ s, so all lanes of an aligned block of B
// end with the block's sum, the same bits in each since the combines are symmetric), the levels from B up in
// workgroup memory. With LANES ≤ the subgroup size a row's sum needs no tree in workgroup memory, only the one
// barrier of the layout verdict below (taken again by every reduction of a kernel: it could be taken once). Any
// subgroup size works (WebGPU allows 4–128; nothing assumes 32), and the result does not depend on it.
//
// The butterfly needs the lanes of an aligned block to sit in one subgroup at subgroup_invocation_id ≡ lane
// (mod B). That holds where subgroups are runs of consecutive local_invocation_index, as drivers lay them out in
// practice, but WebGPU does not promise it (gpuweb discussions of the subgroups feature). So each call first
// checks it (subgroup_block) and where any subgroup of the workgroup is laid out otherwise, the workgroup takes
// the core tree: same bits, no subgroup operation.

struct RowIds {
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) lidx: u32,
  @builtin(subgroup_size) sg_size: u32,
  @builtin(subgroup_invocation_id) sg_id: u32,
}

// The workgroup's verdict: scattered is set by any invocation whose subgroup is not a run of consecutive indices
// (zero-initialised, as WGSL's workgroup variables are), block = B by invocation 0. Read back through
// workgroupUniformLoad, since the uniformity analysis counts an entry point's built-in struct as one value (so
// subgroup_size inside RowIds does not count as uniform).
struct SgState {
  scattered: u32,
  block: u32,
}
var<workgroup> sg_state: SgState;

// B for the whole workgroup when each subgroup is the aligned run base..base+n of local indices, base a multiple
// of the subgroup size and n = min(subgroup size, invocations left), so sg_id = lidx − base; 0 where any is not.
fn subgroup_block(ids: RowIds) -> u32 {
  let base = ids.lidx - ids.sg_id; // wraps when sg_id > lidx; the checks below then fail
  let first = subgroupBroadcastFirst(base);
  let count = subgroupAdd(1u);
  let n = LANES * ROWS;
  let mine = ids.sg_id == ids.lidx % ids.sg_size && base == first && base < n && count == min(ids.sg_size, n - min(base, n));
  if (!subgroupAll(mine)) { sg_state.scattered = 1u; }
  if (ids.lidx == 0u) { sg_state.block = min(LANES, ids.sg_size); }
  let st = workgroupUniformLoad(&sg_state);
  return select(st.block, 0u, st.scattered != 0u);
}

fn row_sum(ids: RowIds, v: f32) -> f32 {
  let seg = ids.lid.y * LANES;
  let b = subgroup_block(ids);
  if (b == 0u) { return tree_sum(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = r + subgroupShuffleXor(r, s); }
  if (b == LANES) { return r; }
  return tree_sum(seg, ids.lid.x, r, b);
}

fn row_max_sum(ids: RowIds, v: vec2f) -> vec2f {
  let seg = ids.lid.y * LANES;
  let b = subgroup_block(ids);
  if (b == 0u) { return tree_max_sum(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = combine_max_sum(r, subgroupShuffleXor(r, s)); }
  if (b == LANES) { return r; }
  return tree_max_sum(seg, ids.lid.x, r, b);
}

fn row_argmax(ids: RowIds, v: vec2u) -> vec2u {
  let seg = ids.lid.y * LANES;
  let b = subgroup_block(ids);
  if (b == 0u) { return tree_argmax(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = combine_argmax(r, subgroupShuffleXor(r, s)); }
  if (b == LANES) { return r; }
  return tree_argmax(seg, ids.lid.x, r, b);
}

fn row_sum4(ids: RowIds, v: vec4f) -> vec4f {
  let seg = ids.lid.y * LANES;
  let b = subgroup_block(ids);
  if (b == 0u) { return tree_sum4(seg, ids.lid.x, v, 1u); }
  var r = v;
  for (var s = 1u; s < b; s <<= 1u) { r = r + subgroupShuffleXor(r, s); }
  if (b == LANES) { return r; }
  return tree_sum4(seg, ids.lid.x, r, b);
}
