// Log-softmax over the vocabulary, per row, and the target log-prob gather that scoring and the training
// objectives use. Layouts (row-major): logits f32 [rows, V]; logp f32 [rows, V] (main);
// targets u32 [rows], picked f32 [rows] (gather: picked[t] = logp[t, targets[t]], 0 when targets[t] ≥ V,
// which is how an ignored position (HF's −100, wrapped to u32) comes out).
// One workgroup per row, two passes over the row in f32: the max, then Σ exp(x − max); log-softmax is
// (x − max) − log Σ, the order torch uses. gather never writes the [rows, V] matrix.
//
// Backward of the weighted NLL L = −Σ_t w[t]·logp[t, targets[t]] (weights f32 [rows]); every objective
// (CPT, SFT, DPO, ORPO) reduces to such per-token weights, so this is the one loss backward:
//   dlogits[t, :] = w[t]·(softmax(logits[t, :]) − onehot(targets[t])),   a zero row when targets[t] ≥ V.
// `backward` writes dlogits f32 [rows, V]; `backward_inplace` overwrites the logits bound as logp (binding 2)
// with their gradient, so a large-vocabulary step never holds a second [rows, V] matrix. Both are safe in place
// per row because each workgroup finishes its row's reductions (barriers) before it writes.
//
// Every entry has a `_rows` twin for short rows (ops/logsoftmax.ts picks it when V ≤ ROW_THREAD_MAX_VOCAB): one
// invocation per row, ROWS_PER_WG rows per workgroup, sequential sums, no workgroup memory and no barriers. On
// SwiftShader a barrier switches every 4-lane coroutine of the workgroup, and the tree reductions above cost
// ~5 ms per row at V = 384 (bench/train-profile.bench.ts), far more than the row's arithmetic. Long rows keep the
// workgroup reduction (one thread walking 49 152 logits would leave a real GPU idle).

struct Params {
  rows: u32,
  V: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> logp: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<u32>;
@group(0) @binding(4) var<storage, read_write> picked: array<f32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

fn reduce(lid: u32, x: f32, is_max: bool) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), is_max);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// (max, log Σ exp(x − max)) of one row; every thread of the workgroup must call it.
fn row_stats(base: u32, lid: u32) -> vec2f {
  var m = -3.4028234663852886e38;
  for (var c = lid; c < p.V; c += WG) { m = max(m, logits[base + c]); }
  m = reduce(lid, m, true);
  var s = 0.0;
  for (var c = lid; c < p.V; c += WG) { s += exp(logits[base + c] - m); }
  s = reduce(lid, s, false);
  return vec2f(m, log(s));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let st = row_stats(base, lid);
  for (var c = lid; c < p.V; c += WG) { logp[base + c] = (logits[base + c] - st.x) - st.y; }
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let st = row_stats(base, lid);
  if (lid == 0u) {
    let t = targets[row];
    var v = 0.0;
    if (t < p.V) { v = (logits[base + t] - st.x) - st.y; }
    picked[row] = v;
  }
}

// With SOFTCAP = c > 0 the logits were soft-capped (y = c·tanh(z/c), elementwise.wgsl softcap_inplace), and the
// gradient flows on to the raw z: dz = dy·(1 − (y/c)²), from the capped y this kernel reads anyway.
override SOFTCAP: f32 = 0.0;

// A scored row whose target log-prob is not finite (its logit or the row's log-sum-exp is ±∞ or NaN) gets a NaN
// at its target, so that the gradient norm, and with it AdamW (which skips on a non-finite norm), sees every
// non-finite loss: the trainer queues the update before it reads the loss (train/trainer.ts). A target logit of
// −∞ among finite ones would otherwise give a finite gradient. Tested on bits, not with float compares or
// arithmetic, which a compiler may fold on the assumption that no value is ∞ or NaN (WGSL allows it; SwiftShader
// does it).
fn not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

fn poisoned() -> f32 {
  return bitcast<f32>(0x7fc00000u | (p.V & 0u)); // a runtime NaN: a constant one is a shader-creation error
}

fn cap_slope(y: f32) -> f32 {
  if (SOFTCAP > 0.0) {
    let r = y / SOFTCAP;
    return 1.0 - r * r;
  }
  return 1.0;
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let t = targets[row];
  if (t >= p.V) {
    for (var c = lid; c < p.V; c += WG) { dlogits[base + c] = 0.0; }
    return;
  }
  let st = row_stats(base, lid);
  let w = weights[row];
  let shift = st.x + st.y; // log Σ exp(x), so softmax = exp(x − shift)
  for (var c = lid; c < p.V; c += WG) {
    let y = logits[base + c];
    let d = w * (exp(y - shift) - select(0.0, 1.0, c == t)) * cap_slope(y);
    dlogits[base + c] = select(d, poisoned(), c == t && (not_finite(y) || not_finite(shift)));
  }
}

// row_stats over the read_write view (WGSL cannot pass either storage view to one helper).
fn row_stats_inplace(base: u32, lid: u32) -> vec2f {
  var m = -3.4028234663852886e38;
  for (var c = lid; c < p.V; c += WG) { m = max(m, logp[base + c]); }
  m = reduce(lid, m, true);
  var s = 0.0;
  for (var c = lid; c < p.V; c += WG) { s += exp(logp[base + c] - m); }
  s = reduce(lid, s, false);
  return vec2f(m, log(s));
}

@compute @workgroup_size(WG)
fn backward_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let t = targets[row];
  if (t >= p.V) {
    for (var c = lid; c < p.V; c += WG) { logp[base + c] = 0.0; }
    return;
  }
  let st = row_stats_inplace(base, lid);
  let w = weights[row];
  let shift = st.x + st.y;
  for (var c = lid; c < p.V; c += WG) {
    let y = logp[base + c];
    let d = w * (exp(y - shift) - select(0.0, 1.0, c == t)) * cap_slope(y);
    logp[base + c] = select(d, poisoned(), c == t && (not_finite(y) || not_finite(shift)));
  }
}

// ---- one invocation per row (short rows) ----
override ROWS_PER_WG: u32 = 16u;

fn row_index(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
}

// (max, log Σ exp(x − max)) of one row, by one invocation; _inplace reads the read_write view (logp), since an
// entry point may only touch the bindings it is given.
fn row_stats_1(base: u32) -> vec2f {
  var m = -3.4028234663852886e38;
  for (var c = 0u; c < p.V; c++) { m = max(m, logits[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.V; c++) { s += exp(logits[base + c] - m); }
  return vec2f(m, log(s));
}
fn row_stats_1_inplace(base: u32) -> vec2f {
  var m = -3.4028234663852886e38;
  for (var c = 0u; c < p.V; c++) { m = max(m, logp[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.V; c++) { s += exp(logp[base + c] - m); }
  return vec2f(m, log(s));
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let st = row_stats_1(base);
  for (var c = 0u; c < p.V; c++) { logp[base + c] = (logits[base + c] - st.x) - st.y; }
}

@compute @workgroup_size(ROWS_PER_WG)
fn gather_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let st = row_stats_1(base);
  let t = targets[row];
  var v = 0.0;
  if (t < p.V) { v = (logits[base + t] - st.x) - st.y; }
  picked[row] = v;
}

@compute @workgroup_size(ROWS_PER_WG)
fn backward_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let t = targets[row];
  if (t >= p.V) {
    for (var c = 0u; c < p.V; c++) { dlogits[base + c] = 0.0; }
    return;
  }
  let st = row_stats_1(base);
  let w = weights[row];
  let shift = st.x + st.y;
  for (var c = 0u; c < p.V; c++) {
    let y = logits[base + c];
    let d = w * (exp(y - shift) - select(0.0, 1.0, c == t)) * cap_slope(y);
    dlogits[base + c] = select(d, poisoned(), c == t && (not_finite(y) || not_finite(shift)));
  }
}

@compute @workgroup_size(ROWS_PER_WG)
fn backward_inplace_rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let t = targets[row];
  if (t >= p.V) {
    for (var c = 0u; c < p.V; c++) { logp[base + c] = 0.0; }
    return;
  }
  let st = row_stats_1_inplace(base);
  let w = weights[row];
  let shift = st.x + st.y;
  for (var c = 0u; c < p.V; c++) {
    let y = logp[base + c];
    let d = w * (exp(y - shift) - select(0.0, 1.0, c == t)) * cap_slope(y);
    logp[base + c] = select(d, poisoned(), c == t && (not_finite(y) || not_finite(shift)));
  }
}
