// RMSNorm as HF's LlamaRMSNorm computes it in fp32: y = w ⊙ (x · rsqrt(mean(x²) + eps)).
// Layouts (row-major f32): x [rows, H], w [H], y [rows, H]; rstd [rows] (main_save_rstd only, for backward).
// One invocation per row, ROWS_PER_WG rows per workgroup (ops/rmsnorm.ts sets it): a sequential sum of squares,
// then the scaled write. No workgroup memory and no barriers: on SwiftShader (where tests and benches run) a
// barrier switches every 4-lane coroutine of the workgroup, and the old one-workgroup-per-row tree reduction
// cost ~1 ms per row there (profiled, bench/train-profile.bench.ts) against microseconds of arithmetic. The op is
// memory-bound and a tiny share of a step on real GPUs too.
// Rows fold into a 2-D grid (row = (wg.y · num_workgroups.x + wg.x) · ROWS_PER_WG + lid) so many rows still dispatch.

override ROWS_PER_WG: u32 = 16u;

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

// Returns rsqrt(mean(x²)+eps) for `row` and writes y.
fn normalize_row(row: u32) -> f32 {
  let base = row * p.H;
  var s = 0.0;
  for (var c = 0u; c < p.H; c++) {
    let v = x[base + c];
    s = fma(v, v, s);
  }
  let r = inverseSqrt(s / f32(p.H) + p.eps);
  for (var c = 0u; c < p.H; c++) {
    // HF rounds x·r to the input dtype before the weight multiply; in f32 that is this order of operations.
    y[base + c] = w[c] * (x[base + c] * r);
  }
  return r;
}

@compute @workgroup_size(ROWS_PER_WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.rows) { return; }
  _ = normalize_row(row);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_save_rstd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.rows) { return; }
  rstd[row] = normalize_row(row);
}
