// Library (not a kernel): the hardware family's RMSNorm forward and backward, the body of hw_rmsnorm.wgsl (vec4
// loads, H % 4 == 0) and hw_rmsnorm_x1.wgsl (scalar, any H). Same math and contract as rmsnorm.wgsl and
// rmsnorm_backward.wgsl (the software family's); what differs is the shape: LANES invocations per row (_hw_rows),
// not one, so a row's sums are fixed-order tree reductions (_hw_reduce: workgroup memory, or subgroups).
// Layouts (row-major f32, as arrays of Q: H/QW per row): x, y, dy, dx [rows, H]; w, dw [H]; rstd [rows]. x and y
// may be f16 activations instead (the +x16, +y16 twins of _hw_rmsnorm_x / _hw_rmsnorm_y; H even, not _hw_q1): x16
// serves every entry that reads x (main, backward, dw_main: the backward of an f16-activation forward, whose dy,
// dx, w, dw, rstd stay f32).
//   main:            y = w ⊙ (x·r), r = rsqrt(mean(x²) + eps)          (main_save_rstd also writes rstd = r)
//   backward:        dx = r·(dy ⊙ w) − x·r³·Σ_c(dy ⊙ w ⊙ x)/H
//   dw_main:         dw += Σ_rows dy ⊙ x·r   (accumulates: micro-batches add up; the caller clears it per step)

struct Params {
  rows: u32,
  H: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<Q>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<Q>;
@group(0) @binding(6) var<storage, read_write> dx: array<Q>;
@group(0) @binding(7) var<storage, read_write> dw: array<Q>;
// x (binding 1) and y (binding 3) with their accessors x_at, y_put: _hw_rmsnorm_x, _hw_rmsnorm_y (f32), or their
// +x16 / +y16 twins (f16 activations, act-dtype.ts). The kernels' text is the same for all four.

// Writes y for `row` (when valid) and returns its r; every invocation of the workgroup must call it.
fn normalize_row(ids: RowIds, sg: u32, row: u32, valid: bool) -> f32 {
  let lane = ids.lid.x;
  let nq = p.H / QW;
  let base = row * nq;
  var ss = 0.0;
  if (valid) {
    for (var q = lane; q < nq; q += LANES) {
      let v = x_at(base + q);
      ss += hsum(v * v);
    }
  }
  let r = inverseSqrt(row_sum(ids, sg, ss) / f32(p.H) + p.eps);
  if (valid) {
    // HF rounds x·r to the input dtype before the weight multiply; in f32 that is this order of operations.
    for (var q = lane; q < nq; q += LANES) { y_put(base + q, w[q] * (x_at(base + q) * r)); }
  }
  return r;
}

@compute @workgroup_size(LANES, ROWS)
fn main(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  _ = normalize_row(ids, sg, row, row < p.rows);
}

@compute @workgroup_size(LANES, ROWS)
fn main_save_rstd(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let r = normalize_row(ids, sg, row, valid);
  if (valid && ids.lid.x == 0u) { rstd[row] = r; }
}

@compute @workgroup_size(LANES, ROWS)
fn backward(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let lane = ids.lid.x;
  let nq = p.H / QW;
  let base = row * nq;
  var s = 0.0;
  if (valid) {
    for (var q = lane; q < nq; q += LANES) { s += hsum(dy[base + q] * w[q] * x_at(base + q)); }
  }
  let tot = row_sum(ids, sg, s);
  if (valid) {
    let r = rstd[row];
    let k = r * r * r * tot / f32(p.H);
    for (var q = lane; q < nq; q += LANES) {
      dx[base + q] = r * (dy[base + q] * w[q]) - x_at(base + q) * k;
    }
  }
}

// dw: a workgroup owns DW_COLS consecutive Qs of columns; its DW_SPLIT invocations per column sum every
// DW_SPLIT-th row in order, then col_sum (_hw_colsum: a fixed tree over the DW_SPLIT partials, in workgroup
// memory or partly with subgroups; deterministic, no float atomics, one dispatch). Each row's DW_COLS Qs are
// contiguous, so the loads coalesce; a narrower column block (ops/rows-hw.ts hwDwCols) gives a narrow hidden size
// more workgroups.
override DW_COLS: u32 = 16u;
const DW_THREADS = 256u;
override DW_SPLIT: u32 = DW_THREADS / DW_COLS; // derived: the host sets DW_COLS only
var<workgroup> red_q: array<Q, DW_THREADS>; // col_sum's tree (both twins)

// The layout verdict for the dw workgroup (0 in core WGSL); taken once, at the kernel's start, as row_layout.
fn col_layout(ids: RowIds) -> u32 {
  return subgroup_layout(ids, DW_THREADS);
}

@compute @workgroup_size(DW_COLS, DW_SPLIT)
fn dw_main(ids: RowIds) {
  let sg = col_layout(ids);
  let nq = p.H / QW;
  let c = (ids.wg.y * ids.nwg.x + ids.wg.x) * DW_COLS + ids.lid.x;
  var s = Q(0.0);
  if (c < nq) {
    for (var row = ids.lid.y; row < p.rows; row += DW_SPLIT) { s += dy[row * nq + c] * x_at(row * nq + c) * rstd[row]; }
  }
  let tot = col_sum(ids, sg, s);
  if (ids.lid.y == 0u && c < nq) { dw[c] += tot; }
}
