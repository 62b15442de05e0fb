// RMSNorm backward, for the forward in rmsnorm.wgsl (y = w ⊙ x·r, r = rsqrt(mean(x²)+eps) per row).
// Layouts (row-major f32): x, dy, dx [rows, H]; w, dw [H]; rstd [rows] (saved by the forward's main_save_rstd).
//   dx = r·(dy ⊙ w) − x · r³ · Σ_c(dy ⊙ w ⊙ x) / H      (entry main: one invocation per row, as the forward, no
//                                                        barriers; ROWS_PER_WG rows per workgroup, set by ops/rmsnorm.ts)
//   dw += Σ_rows dy ⊙ x · r                             (entry dw: one thread per column, looping over rows)
// dw is a reduction over rows; WGSL has no float atomics, so it is a second pass in which each thread owns a
// column and sums its rows in order (deterministic, no scratch). It accumulates (+=) into dw so micro-batches add
// up; the caller clears dw once per step.

struct Params {
  rows: u32,
  H: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;

override ROWS_PER_WG: u32 = 16u;

@compute @workgroup_size(ROWS_PER_WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.H;
  var s = 0.0;
  for (var c = 0u; c < p.H; c++) { s = fma(dy[base + c] * w[c], x[base + c], s); }
  let r = rstd[row];
  let k = r * r * r * s / f32(p.H);
  for (var c = 0u; c < p.H; c++) {
    dx[base + c] = r * (dy[base + c] * w[c]) - x[base + c] * k;
  }
}

const WG_COL = 64u;

@compute @workgroup_size(WG_COL)
fn dw_main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = (wg.y * nwg.x + wg.x) * WG_COL + lid;
  if (c >= p.H) { return; }
  var s = 0.0;
  for (var row = 0u; row < p.rows; row++) {
    s = fma(dy[row * p.H + c] * x[row * p.H + c], rstd[row], s);
  }
  dw[c] += s;
}
