// SLERP of two flattened tensors, mergekit's algorithm (src/engine/merge/methods/slerp.ts is the CPU reference).
// Pass 1 (partial_dots): each workgroup sums ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩ over a grid-stride slice in f32, then a tree
//   reduction in workgroup memory → partials[3·wg + k].
// Pass 2 (final_dots): one workgroup reduces the partials → dots[0..3]. Two levels keep every sum short, so f32
//   accumulation stays close to the float64 CPU sum without atomics.
// The host reads dots back, decides colinear-vs-spherical and the coefficients exactly as the CPU path does, and
// pass 3 (combine) writes out = s0·a + s1·b elementwise. The combine grid folds into 2-D (index = wg.y·nwg.x·WG + gid.x).

struct Params {
  n: u32,
  // pass 1: elements each thread strides over = groups · WG; pass 2: number of partial triples
  stride_or_count: u32,
  s0: f32,
  s1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const WG = 256u;
var<workgroup> saa: array<f32, WG>;
var<workgroup> sbb: array<f32, WG>;
var<workgroup> sab: array<f32, WG>;

fn reduce_and_store(lid: u32, slot: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      saa[lid] += saa[lid + s];
      sbb[lid] += sbb[lid + s];
      sab[lid] += sab[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[3u * slot] = saa[0];
    partials[3u * slot + 1u] = sbb[0];
    partials[3u * slot + 2u] = sab[0];
  }
}

@compute @workgroup_size(WG)
fn partial_dots(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wg.x;
  var aa = 0.0;
  var bb = 0.0;
  var ab = 0.0;
  // the host keeps this grid 1-D (at most MAX_PARTIALS groups), so group·WG + lid with stride groups·WG covers each i once
  for (var i = group * WG + lid; i < p.n; i += p.stride_or_count) {
    let x = a[i];
    let y = b[i];
    aa = fma(x, x, aa);
    bb = fma(y, y, bb);
    ab = fma(x, y, ab);
  }
  saa[lid] = aa;
  sbb[lid] = bb;
  sab[lid] = ab;
  reduce_and_store(lid, group);
}

@group(0) @binding(4) var<storage, read_write> dots: array<f32>;

@compute @workgroup_size(WG)
fn final_dots(@builtin(local_invocation_index) lid: u32) {
  var aa = 0.0;
  var bb = 0.0;
  var ab = 0.0;
  for (var g = lid; g < p.stride_or_count; g += WG) {
    aa += partials[3u * g];
    bb += partials[3u * g + 1u];
    ab += partials[3u * g + 2u];
  }
  saa[lid] = aa;
  sbb[lid] = bb;
  sab[lid] = ab;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      saa[lid] += saa[lid + s];
      sbb[lid] += sbb[lid + s];
      sab[lid] += sab[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    dots[0] = saa[0];
    dots[1] = sbb[0];
    dots[2] = sab[0];
  }
}

@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.n) { return; }
  out[i] = p.s0 * a[i] + p.s1 * b[i];
}
