// Library (not a kernel): the hardware family's log-softmax, target log-prob and cross-entropy backward, the body
// of hw_logsoftmax.wgsl (vec4 loads, V % 4 == 0) and hw_logsoftmax_x1.wgsl (scalar, any V). Same contract as
// logsoftmax.wgsl (the software family's; read its header for the loss and the ignored-target rule); the shape
// differs: LANES invocations per row (_hw_rows), each keeping a running (max, Σ exp) over its part of the row
// (online softmax: the row is read once for its statistics, not twice), combined by a fixed-order tree.
// Layouts (row-major, as arrays of Q: V/QW per row): logits, logp, dlogits [rows, V] f32; targets u32 [rows];
// picked, weights f32 [rows].

struct Params {
  rows: u32,
  V: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<Q>;
@group(0) @binding(2) var<storage, read_write> logp: array<Q>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read_write> picked: array<f32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<Q>;

// A lane's running (max, Σ exp(x − max)) after one more Q of logits.
fn online_step(st: vec2f, v: Q) -> vec2f {
  let m = max(st.x, hmax(v));
  return vec2f(m, st.y * exp(st.x - m) + hsum(exp(v - Q(m))));
}

const START = vec2f(-3.4028234663852886e38, 0.0); // (max, Σ) before any logit, as the software family starts

@compute @workgroup_size(LANES, ROWS)
fn main(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var st = START;
  if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) { st = online_step(st, logits[base + q]); }
  }
  st = row_max_sum(ids, sg, st);
  let lse = log(st.y);
  if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) { logp[base + q] = (logits[base + q] - Q(st.x)) - Q(lse); }
  }
}

@compute @workgroup_size(LANES, ROWS)
fn gather(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var st = START;
  if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) { st = online_step(st, logits[base + q]); }
  }
  st = row_max_sum(ids, sg, st);
  if (valid && ids.lid.x == 0u) {
    let t = targets[row];
    var v = 0.0;
    if (t < p.V) { v = (comp(logits[base + t / QW], t % QW) - st.x) - log(st.y); }
    picked[row] = v;
  }
}

// With SOFTCAP = c > 0 the logits were soft-capped (y = c·tanh(z/c)); the gradient flows on to the raw z:
// dz = dy·(1 − (y/c)²), from the capped y this kernel reads anyway.
override SOFTCAP: f32 = 0.0;

// The non-finite rule of logsoftmax.wgsl: a scored row whose target log-prob is not finite gets a NaN at its
// target, tested on bits (a compiler may fold float compares on the assumption that no value is ∞ or NaN).
fn not_finite(v: Q) -> QB {
  return (bitcast<QU>(v) & QU(0x7f800000u)) == QU(0x7f800000u);
}

fn poisoned() -> Q {
  return Q(bitcast<f32>(0x7fc00000u | (p.V & 0u))); // a runtime NaN: a constant one is a shader-creation error
}

fn cap_slope(y: Q) -> Q {
  if (SOFTCAP > 0.0) {
    let r = y / SOFTCAP;
    return Q(1.0) - r * r;
  }
  return Q(1.0);
}

// The gradient of one Q of logits y at Q index q of the row, target t, weight wt, shift = log Σ exp(row).
fn grad_q(y: Q, q: u32, t: u32, wt: f32, shift: f32) -> Q {
  let hit = (QU(q * QW) + Q_OFFSETS) == QU(t);
  let d = wt * (exp(y - Q(shift)) - select(Q(0.0), Q(1.0), hit)) * cap_slope(y);
  return select(d, poisoned(), hit & (not_finite(y) | not_finite(Q(shift))));
}

// An ignored row (target ≥ V) loads nothing and writes zeros; its lanes still join the reduction's barriers.
@compute @workgroup_size(LANES, ROWS)
fn backward(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var t = p.V;
  if (valid) { t = targets[row]; }
  let scored = valid && t < p.V;
  var st = START;
  if (scored) {
    for (var q = ids.lid.x; q < nq; q += LANES) { st = online_step(st, logits[base + q]); }
  }
  st = row_max_sum(ids, sg, st);
  if (scored) {
    let wt = weights[row];
    let shift = st.x + log(st.y);
    for (var q = ids.lid.x; q < nq; q += LANES) { dlogits[base + q] = grad_q(logits[base + q], q, t, wt, shift); }
  } else if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) { dlogits[base + q] = Q(0.0); }
  }
}

// backward over the read_write view (logits bound as logp, overwritten by their gradient): safe in place, since
// the row's statistics are complete (barriers) before any lane writes.
@compute @workgroup_size(LANES, ROWS)
fn backward_inplace(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var t = p.V;
  if (valid) { t = targets[row]; }
  let scored = valid && t < p.V;
  var st = START;
  if (scored) {
    for (var q = ids.lid.x; q < nq; q += LANES) { st = online_step(st, logp[base + q]); }
  }
  st = row_max_sum(ids, sg, st);
  if (scored) {
    let wt = weights[row];
    let shift = st.x + log(st.y);
    for (var q = ids.lid.x; q < nq; q += LANES) { logp[base + q] = grad_q(logp[base + q], q, t, wt, shift); }
  } else if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) { logp[base + q] = Q(0.0); }
  }
}
