// SLERP of two flattened tensors, mergekit's algorithm (src/engine/merge/methods/slerp.ts is the CPU reference).
// Pass 1 (partial_dots): every invocation sums ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩ over a grid-stride run of vec4s into its own
//   slot of `partials` (no workgroup memory, no barriers: on SwiftShader a workgroup's invocations run as
//   4-wide SIMD groups switched at every barrier, and the old per-workgroup tree reduction — 9 barriers in each
//   of 3456 workgroups for a 576×1536 tensor — took 1.7 s where this pass takes milliseconds; on a GPU the
//   extra 16 bytes written per invocation are nothing next to the tensor reads).
// Pass 2 (final_dots): one workgroup sums the (≤ 65536) partials, then a tree in workgroup memory → dots[0..3].
//   Short f32 sums at every level keep the result close to the float64 CPU sum without atomics.
// The host reads dots back, decides colinear-vs-spherical and the coefficients exactly as the CPU path does, and
// pass 3 (combine) writes out = s0·a + s1·b a vec4 per invocation. Its grid folds into 2-D
// (index = wg.y·nwg.x·WG + gid.x). Buffers are bound whole and may be longer than n (they are reused across
// tensors); the tail vec4 is masked in pass 1, and whatever pass 3 writes past n is never read back.

struct Params {
  n: u32,
  // pass 2: number of partials
  count: u32,
  s0: f32,
  s1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
// (aa, bb, ab, 0) per invocation of pass 1
@group(0) @binding(3) var<storage, read_write> partials: array<vec4f>;

const WG = 64u;
const ONES = vec4f(1.0);

@compute @workgroup_size(WG)
fn partial_dots(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let threads = nwg.x * WG;
  let n4 = p.n / 4u;
  var aa = vec4f(0.0);
  var bb = vec4f(0.0);
  var ab = vec4f(0.0);
  // Adjacent invocations read adjacent vec4s: coalesced on a GPU, one cache line per SIMD group on a CPU.
  for (var i = gid.x; i < n4; i += threads) {
    let x = a[i];
    let y = b[i];
    aa = fma(x, x, aa);
    bb = fma(y, y, bb);
    ab = fma(x, y, ab);
  }
  let rem = p.n % 4u;
  if (gid.x == 0u && rem != 0u) {
    // select, not a multiply by 0: the lanes past n may hold anything, NaN included
    let keep = vec4u(0u, 1u, 2u, 3u) < vec4u(rem);
    let x = select(vec4f(0.0), a[n4], keep);
    let y = select(vec4f(0.0), b[n4], keep);
    aa = fma(x, x, aa);
    bb = fma(y, y, bb);
    ab = fma(x, y, ab);
  }
  partials[gid.x] = vec4f(dot(aa, ONES), dot(bb, ONES), dot(ab, ONES), 0.0);
}

@group(0) @binding(4) var<storage, read_write> dots: array<f32>;

const RWG = 256u;
var<workgroup> sums: array<vec4f, RWG>;

@compute @workgroup_size(RWG)
fn final_dots(@builtin(local_invocation_index) lid: u32) {
  var s = vec4f(0.0);
  for (var g = lid; g < p.count; g += RWG) {
    s += partials[g];
  }
  sums[lid] = s;
  workgroupBarrier();
  for (var k = RWG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      sums[lid] += sums[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    dots[0] = sums[0].x;
    dots[1] = sums[0].y;
    dots[2] = sums[0].z;
  }
}

@group(0) @binding(5) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= (p.n + 3u) / 4u) { return; }
  out[i] = p.s0 * a[i] + p.s1 * b[i];
}
