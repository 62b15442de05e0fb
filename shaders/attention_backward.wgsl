// Backward of attention.wgsl (causal, GQA, optional key padding mask), flash-style: the probabilities are
// recomputed from q, k and the forward's saved lse, so no T×S matrix is ever stored.
// Layouts (row-major f32, as the forward): q, out, dout, dq [B, T, n_heads, D]; k, v, dk, dv [B, S, n_kv, D];
// mask u32 [B, S]; lse [B, T, n_heads] (attention.wgsl main_save_lse); stats [B, T, n_heads, 2] scratch.
// With s_j = scale·q·k_j, P_j = exp(s_j − lse) over the keys query i sees (the forward's rule):
//   Δ = dout·out = Σ_j P_j (dout·v_j)        dS_j = P_j (dout·v_j − Δ)
//   dq_i = scale Σ_j dS_j k_j      dk_j = scale Σ_(i,h) dS q_i      dv_j = Σ_(i,h) P dout_i
// dk and dv sum over every query and every q-head sharing the kv-head. Three passes, none with float atomics:
//   prep  one thread per (b, i, h): stats = (lse, Δ)  (packed so that dkv stays within 8 storage bindings)
//   dq    one invocation per (b, i, h) row, walking the keys it sees, as the forward
//   dkv   one invocation per (b, key j, kv-head g), walking the (query, q-head) pairs that see key j in order;
//         each invocation owns its dk/dv row, so the sums over queries and heads need no atomics.
// dq and dkv run ROWS_PER_WG invocations per workgroup (ops/attention.ts) with no workgroup memory and no barriers,
// for the reason given in attention.wgsl (barrier trees cost seconds per call on SwiftShader).
// A masked key, or a query row that sees no key, contributes nothing (its P is never formed).
// dq_vec4 and dkv_vec4 are dq and dkv for D % 4 == 0 through vec4 views of q, k, v, dout, dq, dk, dv (bindings
// 13-19; ops/attention.ts binds the same buffers there) with D/4 fixed at pipeline creation (HEAD_DIM4): the
// invocation's own rows are loaded once into registers and every other row read as vec4s, for the reason the
// forward's vec4 entries give. Same operations in the same order as the scalar entries, so the same bits.

override USE_MASK: bool = false;
// the sliding window (0: none), with attention.wgsl's rule: a query sees the WINDOW most recent real keys up to its slot
override WINDOW: u32 = 0u;
// attention.wgsl's soft-capping: P is recomputed from the capped score sc = c·tanh(s/c), and dS (with respect to
// sc) is multiplied by dsc/ds = 1 − (sc/c)² on its way to dq and dk.
override SOFTCAP: f32 = 0.0;

struct Params {
  T: u32,
  S: u32,
  n_heads: u32,
  n_kv: u32,
  D: u32,
  past: u32,
  scale: f32,
  n_rows: u32, // B·T·n_heads, for prep
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read> lse: array<f32>;
@group(0) @binding(8) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(9) var<storage, read> stats: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> dk: array<f32>;
@group(0) @binding(12) var<storage, read_write> dv: array<f32>;

@group(0) @binding(13) var<storage, read> q4: array<vec4f>;
@group(0) @binding(14) var<storage, read> k4: array<vec4f>;
@group(0) @binding(15) var<storage, read> v4: array<vec4f>;
@group(0) @binding(16) var<storage, read> dout4: array<vec4f>;
@group(0) @binding(17) var<storage, read_write> dq4: array<vec4f>;
@group(0) @binding(18) var<storage, read_write> dk4: array<vec4f>;
@group(0) @binding(19) var<storage, read_write> dv4: array<vec4f>;

override ROWS_PER_WG: u32 = 16u;
override HEAD_DIM4: u32 = 1u;
const WG = 64u; // prep's workgroup size
const MAX_D = 256u;

// (capped score, d capped / d raw) of a raw score s = scale·q·k
fn cap(s: f32) -> vec2f {
  if (SOFTCAP > 0.0) {
    let t = tanh(clamp(s / SOFTCAP, -10.0, 10.0));
    return vec2f(SOFTCAP * t, 1.0 - t * t);
  }
  return vec2f(s, 1.0);
}

fn key_real(at: u32) -> bool {
  if (USE_MASK) { return mask[at] != 0u; }
  return true;
}

// attention.wgsl's window_start: the first slot a query seeing slots 0..n_keys−1 attends to.
fn window_start(kv_batch: u32, n_keys: u32) -> u32 {
  if (WINDOW == 0u) { return 0u; }
  if (!USE_MASK) { return select(0u, n_keys - WINDOW, n_keys > WINDOW); }
  var seen = 0u;
  var j = n_keys;
  while (j > 0u) {
    j--;
    if (mask[kv_batch + j] != 0u) {
      seen++;
      if (seen == WINDOW) { return j; }
    }
  }
  return 0u;
}

@compute @workgroup_size(WG)
fn prep(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid;
  if (row >= p.n_rows) { return; }
  var delta = 0.0;
  for (var d = 0u; d < p.D; d++) { delta = fma(dout[row * p.D + d], out[row * p.D + d], delta); }
  stats_out[2u * row] = lse[row];
  stats_out[2u * row + 1u] = delta;
}

@compute @workgroup_size(ROWS_PER_WG)
fn dq_main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  let h = row % p.n_heads;
  let i = (row / p.n_heads) % p.T;
  let b = row / (p.n_heads * p.T);
  let D = p.D;
  let kvh = h / (p.n_heads / p.n_kv);
  let q_at = row * D;
  let kv_batch = b * p.S;
  let lse_i = stats[2u * row];
  let delta = stats[2u * row + 1u];
  let n_keys = min(p.S, p.past + i + 1u);
  var acc: array<f32, MAX_D>;
  for (var j = window_start(kv_batch, n_keys); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let k_at = ((kv_batch + j) * p.n_kv + kvh) * D;
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < D; d++) {
      s = fma(q[q_at + d], k[k_at + d], s); // the forward's order, so P matches its lse
      dp = fma(dout[q_at + d], v[k_at + d], dp);
    }
    let c = cap(s * p.scale);
    let g = exp(c.x - lse_i) * (dp - delta) * c.y;
    for (var d = 0u; d < D; d++) { acc[d] = fma(g, k[k_at + d], acc[d]); }
  }
  for (var d = 0u; d < D; d++) { dq[q_at + d] = acc[d] * p.scale; }
}

@compute @workgroup_size(ROWS_PER_WG)
fn dkv_main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // idx = (b·S + j)·n_kv + g; B = n_rows / (T·n_heads)
  let idx = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  let n_batch = p.n_rows / (p.T * p.n_heads);
  if (idx >= n_batch * p.S * p.n_kv) { return; }
  let g = idx % p.n_kv;
  let j = (idx / p.n_kv) % p.S;
  let b = idx / (p.n_kv * p.S);
  let D = p.D;
  let group = p.n_heads / p.n_kv;
  let kv_at = idx * D;
  var key_kept = true;
  if (USE_MASK) { key_kept = mask[b * p.S + j] != 0u; }
  // query i (absolute position past + i) sees key j iff past + i ≥ j
  var i0 = select(0u, j - p.past, j > p.past);
  if (!key_kept) { i0 = p.T; }
  // Under a window, query i sees key j while slots j..past+i hold at most WINDOW real keys: count them as i grows.
  var in_window = 0u;
  if (WINDOW > 0u && key_kept) {
    for (var s = j; s < p.past + i0; s++) { if (key_real(b * p.S + s)) { in_window++; } }
  }
  var acc_k: array<f32, MAX_D>;
  var acc_v: array<f32, MAX_D>;
  for (var i = i0; i < p.T; i++) {
    if (WINDOW > 0u) {
      if (key_real(b * p.S + p.past + i)) { in_window++; }
      if (in_window > WINDOW) { break; }
    }
    for (var hh = 0u; hh < group; hh++) {
      let row = (b * p.T + i) * p.n_heads + g * group + hh;
      let at = row * D;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < D; d++) {
        s = fma(q[at + d], k[kv_at + d], s);
        dp = fma(dout[at + d], v[kv_at + d], dp);
      }
      let c = cap(s * p.scale);
      let pj = exp(c.x - stats[2u * row]);
      let gj = pj * (dp - stats[2u * row + 1u]) * c.y;
      for (var d = 0u; d < D; d++) {
        acc_k[d] = fma(gj, q[at + d], acc_k[d]);
        acc_v[d] = fma(pj, dout[at + d], acc_v[d]);
      }
    }
  }
  for (var d = 0u; d < D; d++) {
    dk[kv_at + d] = acc_k[d] * p.scale;
    dv[kv_at + d] = acc_v[d];
  }
}

// s = q·k and dp = dout·v over D/4 quads, each an fma chain in d order (the scalar entries' order).
fn dots4(qa: ptr<function, array<vec4f, MAX_D / 4u>>, ka: u32, da: ptr<function, array<vec4f, MAX_D / 4u>>, va: u32) -> vec2f {
  var s = 0.0;
  var dp = 0.0;
  for (var d = 0u; d < HEAD_DIM4; d++) {
    let qd = (*qa)[d];
    let kd = k4[ka + d];
    let od = (*da)[d];
    let vd = v4[va + d];
    s = fma(qd.x, kd.x, s); s = fma(qd.y, kd.y, s); s = fma(qd.z, kd.z, s); s = fma(qd.w, kd.w, s);
    dp = fma(od.x, vd.x, dp); dp = fma(od.y, vd.y, dp); dp = fma(od.z, vd.z, dp); dp = fma(od.w, vd.w, dp);
  }
  return vec2f(s, dp);
}

@compute @workgroup_size(ROWS_PER_WG)
fn dq_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  let h = row % p.n_heads;
  let i = (row / p.n_heads) % p.T;
  let b = row / (p.n_heads * p.T);
  let D4 = HEAD_DIM4;
  let kvh = h / (p.n_heads / p.n_kv);
  let kv_batch = b * p.S;
  let lse_i = stats[2u * row];
  let delta = stats[2u * row + 1u];
  let n_keys = min(p.S, p.past + i + 1u);
  var qr: array<vec4f, MAX_D / 4u>;
  var dr: array<vec4f, MAX_D / 4u>;
  for (var d = 0u; d < D4; d++) {
    qr[d] = q4[row * D4 + d];
    dr[d] = dout4[row * D4 + d];
  }
  var acc: array<vec4f, MAX_D / 4u>;
  for (var j = window_start(kv_batch, n_keys); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let k_at = ((kv_batch + j) * p.n_kv + kvh) * D4;
    let sd = dots4(&qr, k_at, &dr, k_at);
    let c = cap(sd.x * p.scale);
    let g = exp(c.x - lse_i) * (sd.y - delta) * c.y;
    for (var d = 0u; d < D4; d++) { acc[d] = fma(vec4f(g), k4[k_at + d], acc[d]); }
  }
  for (var d = 0u; d < D4; d++) { dq4[row * D4 + d] = acc[d] * p.scale; }
}

@compute @workgroup_size(ROWS_PER_WG)
fn dkv_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  let n_batch = p.n_rows / (p.T * p.n_heads);
  if (idx >= n_batch * p.S * p.n_kv) { return; }
  let g = idx % p.n_kv;
  let j = (idx / p.n_kv) % p.S;
  let b = idx / (p.n_kv * p.S);
  let D4 = HEAD_DIM4;
  let group = p.n_heads / p.n_kv;
  let kv_at = idx * D4;
  var key_kept = true;
  if (USE_MASK) { key_kept = mask[b * p.S + j] != 0u; }
  var i0 = select(0u, j - p.past, j > p.past);
  if (!key_kept) { i0 = p.T; }
  var in_window = 0u;
  if (WINDOW > 0u && key_kept) {
    for (var s = j; s < p.past + i0; s++) { if (key_real(b * p.S + s)) { in_window++; } }
  }
  var acc_k: array<vec4f, MAX_D / 4u>;
  var acc_v: array<vec4f, MAX_D / 4u>;
  var qq: array<vec4f, MAX_D / 4u>;
  var dd: array<vec4f, MAX_D / 4u>;
  for (var i = i0; i < p.T; i++) {
    if (WINDOW > 0u) {
      if (key_real(b * p.S + p.past + i)) { in_window++; }
      if (in_window > WINDOW) { break; }
    }
    for (var hh = 0u; hh < group; hh++) {
      let row = (b * p.T + i) * p.n_heads + g * group + hh;
      for (var d = 0u; d < D4; d++) {
        qq[d] = q4[row * D4 + d];
        dd[d] = dout4[row * D4 + d];
      }
      let sd = dots4(&qq, kv_at, &dd, kv_at);
      let c = cap(sd.x * p.scale);
      let pj = exp(c.x - stats[2u * row]);
      let gj = pj * (sd.y - stats[2u * row + 1u]) * c.y;
      for (var d = 0u; d < D4; d++) {
        acc_k[d] = fma(vec4f(gj), qq[d], acc_k[d]);
        acc_v[d] = fma(vec4f(pj), dd[d], acc_v[d]);
      }
    }
  }
  for (var d = 0u; d < D4; d++) {
    dk4[kv_at + d] = acc_k[d] * p.scale;
    dv4[kv_at + d] = acc_v[d];
  }
}
