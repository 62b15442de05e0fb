// RMSNorm as HF's LlamaRMSNorm computes it in fp32: y = w ⊙ (x · rsqrt(mean(x²) + eps)).
// Layouts (row-major f32): x [rows, H], w [H], y [rows, H]; rstd [rows] (main_save_rstd only, for backward).
// One workgroup per row: a strided sum of squares per thread, then a tree reduction in workgroup memory.
// Rows fold into a 2-D grid (row = wg.y · num_workgroups.x + wg.x) so more than 65535 rows still dispatch.

struct Params {
  rows: u32,
  H: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

const WG = 128u;
var<workgroup> partial: array<f32, WG>;

// Returns rsqrt(mean(x²)+eps) for `row` and writes y; every thread of the workgroup must call it.
fn normalize_row(row: u32, lid: u32) -> f32 {
  let base = row * p.H;
  var s = 0.0;
  for (var c = lid; c < p.H; c += WG) {
    let v = x[base + c];
    s = fma(v, v, s);
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(partial[0] / f32(p.H) + p.eps);
  for (var c = lid; c < p.H; c += WG) {
    // HF rounds x·r to the input dtype before the weight multiply; in f32 that is this order of operations.
    y[base + c] = w[c] * (x[base + c] * r);
  }
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  _ = normalize_row(row, lid);
}

@compute @workgroup_size(WG)
fn main_save_rstd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  let r = normalize_row(row, lid);
  if (lid == 0u) { rstd[row] = r; }
}
