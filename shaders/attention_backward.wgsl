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




@compute @workgroup_size(WG)
fn prep(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid;
  if (row >= p.n_rows) { return; }
  var delta = 0.0;
  for (var d = 0u; d < p.D; d++) { delta = fma(dout[row * p.D + d], out[row * p.D + d], delta); }
  stats_out[2u * row] = lse[row];
  stats_out[2u * row + 1u] = delta;
}

// prep for the hardware family's backward of an f16-activation forward (ops/attention.ts actF16): out read as f16
// pairs (act-dtype.ts) at binding 20; the same sum in the same order (D even: the row is whole words).
@group(0) @binding(20) var<storage, read> out16: array<u32>;

@compute @workgroup_size(WG)
fn prep_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid;
  if (row >= p.n_rows) { return; }
  var delta = 0.0;
  for (var d = 0u; d < p.D; d += 2u) {
    let o = unpack2x16float(out16[(row * p.D + d) / 2u]);
    delta = fma(dout[row * p.D + d], o.x, delta);
    delta = fma(dout[row * p.D + d + 1u], o.y, delta);
  }
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
    let c = cap_slope(s * p.scale);
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
      let c = cap_slope(s * p.scale);
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
    let c = cap_slope(sd.x * p.scale);
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
      let c = cap_slope(sd.x * p.scale);
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

// dq and dkv for D ≤ 4·16 with their rows in named vec4 registers (folded to HEAD_DIM4 at pipeline creation), as
// attention.wgsl's main_named and for its reason; same operations in the same order as dq_main and dkv_main.
fn fma_in_order(a: vec4f, b: vec4f, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

@compute @workgroup_size(ROWS_PER_WG)
fn dq_named(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  let h = row % p.n_heads;
  let i = (row / p.n_heads) % p.T;
  let b = row / (p.n_heads * p.T);
  let kvh = h / (p.n_heads / p.n_kv);
  let kv_batch = b * p.S;
  let lse_i = stats[2u * row];
  let delta = stats[2u * row + 1u];
  let n_keys = min(p.S, p.past + i + 1u);
  let rb = row * HEAD_DIM4;
  var qn0 = vec4f(); var qn1 = vec4f(); var qn2 = vec4f(); var qn3 = vec4f(); var qn4 = vec4f(); var qn5 = vec4f(); var qn6 = vec4f(); var qn7 = vec4f(); var qn8 = vec4f(); var qn9 = vec4f(); var qn10 = vec4f(); var qn11 = vec4f(); var qn12 = vec4f(); var qn13 = vec4f(); var qn14 = vec4f(); var qn15 = vec4f();
  var dn0 = vec4f(); var dn1 = vec4f(); var dn2 = vec4f(); var dn3 = vec4f(); var dn4 = vec4f(); var dn5 = vec4f(); var dn6 = vec4f(); var dn7 = vec4f(); var dn8 = vec4f(); var dn9 = vec4f(); var dn10 = vec4f(); var dn11 = vec4f(); var dn12 = vec4f(); var dn13 = vec4f(); var dn14 = vec4f(); var dn15 = vec4f();
  var an0 = vec4f(); var an1 = vec4f(); var an2 = vec4f(); var an3 = vec4f(); var an4 = vec4f(); var an5 = vec4f(); var an6 = vec4f(); var an7 = vec4f(); var an8 = vec4f(); var an9 = vec4f(); var an10 = vec4f(); var an11 = vec4f(); var an12 = vec4f(); var an13 = vec4f(); var an14 = vec4f(); var an15 = vec4f();
  qn0 = q4[rb + 0u]; dn0 = dout4[rb + 0u];
  if (HEAD_DIM4 > 1u) { qn1 = q4[rb + 1u]; dn1 = dout4[rb + 1u]; }
  if (HEAD_DIM4 > 2u) { qn2 = q4[rb + 2u]; dn2 = dout4[rb + 2u]; }
  if (HEAD_DIM4 > 3u) { qn3 = q4[rb + 3u]; dn3 = dout4[rb + 3u]; }
  if (HEAD_DIM4 > 4u) { qn4 = q4[rb + 4u]; dn4 = dout4[rb + 4u]; }
  if (HEAD_DIM4 > 5u) { qn5 = q4[rb + 5u]; dn5 = dout4[rb + 5u]; }
  if (HEAD_DIM4 > 6u) { qn6 = q4[rb + 6u]; dn6 = dout4[rb + 6u]; }
  if (HEAD_DIM4 > 7u) { qn7 = q4[rb + 7u]; dn7 = dout4[rb + 7u]; }
  if (HEAD_DIM4 > 8u) { qn8 = q4[rb + 8u]; dn8 = dout4[rb + 8u]; }
  if (HEAD_DIM4 > 9u) { qn9 = q4[rb + 9u]; dn9 = dout4[rb + 9u]; }
  if (HEAD_DIM4 > 10u) { qn10 = q4[rb + 10u]; dn10 = dout4[rb + 10u]; }
  if (HEAD_DIM4 > 11u) { qn11 = q4[rb + 11u]; dn11 = dout4[rb + 11u]; }
  if (HEAD_DIM4 > 12u) { qn12 = q4[rb + 12u]; dn12 = dout4[rb + 12u]; }
  if (HEAD_DIM4 > 13u) { qn13 = q4[rb + 13u]; dn13 = dout4[rb + 13u]; }
  if (HEAD_DIM4 > 14u) { qn14 = q4[rb + 14u]; dn14 = dout4[rb + 14u]; }
  if (HEAD_DIM4 > 15u) { qn15 = q4[rb + 15u]; dn15 = dout4[rb + 15u]; }
  for (var j = window_start(kv_batch, n_keys); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let kb = ((kv_batch + j) * p.n_kv + kvh) * HEAD_DIM4;
    var s = 0.0;
    var dp = 0.0;
    s = fma_in_order(qn0, k4[kb + 0u], s); dp = fma_in_order(dn0, v4[kb + 0u], dp);
    if (HEAD_DIM4 > 1u) { s = fma_in_order(qn1, k4[kb + 1u], s); dp = fma_in_order(dn1, v4[kb + 1u], dp); }
    if (HEAD_DIM4 > 2u) { s = fma_in_order(qn2, k4[kb + 2u], s); dp = fma_in_order(dn2, v4[kb + 2u], dp); }
    if (HEAD_DIM4 > 3u) { s = fma_in_order(qn3, k4[kb + 3u], s); dp = fma_in_order(dn3, v4[kb + 3u], dp); }
    if (HEAD_DIM4 > 4u) { s = fma_in_order(qn4, k4[kb + 4u], s); dp = fma_in_order(dn4, v4[kb + 4u], dp); }
    if (HEAD_DIM4 > 5u) { s = fma_in_order(qn5, k4[kb + 5u], s); dp = fma_in_order(dn5, v4[kb + 5u], dp); }
    if (HEAD_DIM4 > 6u) { s = fma_in_order(qn6, k4[kb + 6u], s); dp = fma_in_order(dn6, v4[kb + 6u], dp); }
    if (HEAD_DIM4 > 7u) { s = fma_in_order(qn7, k4[kb + 7u], s); dp = fma_in_order(dn7, v4[kb + 7u], dp); }
    if (HEAD_DIM4 > 8u) { s = fma_in_order(qn8, k4[kb + 8u], s); dp = fma_in_order(dn8, v4[kb + 8u], dp); }
    if (HEAD_DIM4 > 9u) { s = fma_in_order(qn9, k4[kb + 9u], s); dp = fma_in_order(dn9, v4[kb + 9u], dp); }
    if (HEAD_DIM4 > 10u) { s = fma_in_order(qn10, k4[kb + 10u], s); dp = fma_in_order(dn10, v4[kb + 10u], dp); }
    if (HEAD_DIM4 > 11u) { s = fma_in_order(qn11, k4[kb + 11u], s); dp = fma_in_order(dn11, v4[kb + 11u], dp); }
    if (HEAD_DIM4 > 12u) { s = fma_in_order(qn12, k4[kb + 12u], s); dp = fma_in_order(dn12, v4[kb + 12u], dp); }
    if (HEAD_DIM4 > 13u) { s = fma_in_order(qn13, k4[kb + 13u], s); dp = fma_in_order(dn13, v4[kb + 13u], dp); }
    if (HEAD_DIM4 > 14u) { s = fma_in_order(qn14, k4[kb + 14u], s); dp = fma_in_order(dn14, v4[kb + 14u], dp); }
    if (HEAD_DIM4 > 15u) { s = fma_in_order(qn15, k4[kb + 15u], s); dp = fma_in_order(dn15, v4[kb + 15u], dp); }
    let c = cap_slope(s * p.scale);
    let g = vec4f(exp(c.x - lse_i) * (dp - delta) * c.y);
    an0 = fma(g, k4[kb + 0u], an0);
    if (HEAD_DIM4 > 1u) { an1 = fma(g, k4[kb + 1u], an1); }
    if (HEAD_DIM4 > 2u) { an2 = fma(g, k4[kb + 2u], an2); }
    if (HEAD_DIM4 > 3u) { an3 = fma(g, k4[kb + 3u], an3); }
    if (HEAD_DIM4 > 4u) { an4 = fma(g, k4[kb + 4u], an4); }
    if (HEAD_DIM4 > 5u) { an5 = fma(g, k4[kb + 5u], an5); }
    if (HEAD_DIM4 > 6u) { an6 = fma(g, k4[kb + 6u], an6); }
    if (HEAD_DIM4 > 7u) { an7 = fma(g, k4[kb + 7u], an7); }
    if (HEAD_DIM4 > 8u) { an8 = fma(g, k4[kb + 8u], an8); }
    if (HEAD_DIM4 > 9u) { an9 = fma(g, k4[kb + 9u], an9); }
    if (HEAD_DIM4 > 10u) { an10 = fma(g, k4[kb + 10u], an10); }
    if (HEAD_DIM4 > 11u) { an11 = fma(g, k4[kb + 11u], an11); }
    if (HEAD_DIM4 > 12u) { an12 = fma(g, k4[kb + 12u], an12); }
    if (HEAD_DIM4 > 13u) { an13 = fma(g, k4[kb + 13u], an13); }
    if (HEAD_DIM4 > 14u) { an14 = fma(g, k4[kb + 14u], an14); }
    if (HEAD_DIM4 > 15u) { an15 = fma(g, k4[kb + 15u], an15); }
  }
  dq4[rb + 0u] = an0 * p.scale;
  if (HEAD_DIM4 > 1u) { dq4[rb + 1u] = an1 * p.scale; }
  if (HEAD_DIM4 > 2u) { dq4[rb + 2u] = an2 * p.scale; }
  if (HEAD_DIM4 > 3u) { dq4[rb + 3u] = an3 * p.scale; }
  if (HEAD_DIM4 > 4u) { dq4[rb + 4u] = an4 * p.scale; }
  if (HEAD_DIM4 > 5u) { dq4[rb + 5u] = an5 * p.scale; }
  if (HEAD_DIM4 > 6u) { dq4[rb + 6u] = an6 * p.scale; }
  if (HEAD_DIM4 > 7u) { dq4[rb + 7u] = an7 * p.scale; }
  if (HEAD_DIM4 > 8u) { dq4[rb + 8u] = an8 * p.scale; }
  if (HEAD_DIM4 > 9u) { dq4[rb + 9u] = an9 * p.scale; }
  if (HEAD_DIM4 > 10u) { dq4[rb + 10u] = an10 * p.scale; }
  if (HEAD_DIM4 > 11u) { dq4[rb + 11u] = an11 * p.scale; }
  if (HEAD_DIM4 > 12u) { dq4[rb + 12u] = an12 * p.scale; }
  if (HEAD_DIM4 > 13u) { dq4[rb + 13u] = an13 * p.scale; }
  if (HEAD_DIM4 > 14u) { dq4[rb + 14u] = an14 * p.scale; }
  if (HEAD_DIM4 > 15u) { dq4[rb + 15u] = an15 * p.scale; }
}

@compute @workgroup_size(ROWS_PER_WG)
fn dkv_named(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  let n_batch = p.n_rows / (p.T * p.n_heads);
  if (idx >= n_batch * p.S * p.n_kv) { return; }
  let g = idx % p.n_kv;
  let j = (idx / p.n_kv) % p.S;
  let b = idx / (p.n_kv * p.S);
  let group = p.n_heads / p.n_kv;
  let kb = idx * HEAD_DIM4;
  var key_kept = true;
  if (USE_MASK) { key_kept = mask[b * p.S + j] != 0u; }
  var i0 = select(0u, j - p.past, j > p.past);
  if (!key_kept) { i0 = p.T; }
  var in_window = 0u;
  if (WINDOW > 0u && key_kept) {
    for (var s = j; s < p.past + i0; s++) { if (key_real(b * p.S + s)) { in_window++; } }
  }
  var kn0 = vec4f(); var kn1 = vec4f(); var kn2 = vec4f(); var kn3 = vec4f(); var kn4 = vec4f(); var kn5 = vec4f(); var kn6 = vec4f(); var kn7 = vec4f(); var kn8 = vec4f(); var kn9 = vec4f(); var kn10 = vec4f(); var kn11 = vec4f(); var kn12 = vec4f(); var kn13 = vec4f(); var kn14 = vec4f(); var kn15 = vec4f();
  var vn0 = vec4f(); var vn1 = vec4f(); var vn2 = vec4f(); var vn3 = vec4f(); var vn4 = vec4f(); var vn5 = vec4f(); var vn6 = vec4f(); var vn7 = vec4f(); var vn8 = vec4f(); var vn9 = vec4f(); var vn10 = vec4f(); var vn11 = vec4f(); var vn12 = vec4f(); var vn13 = vec4f(); var vn14 = vec4f(); var vn15 = vec4f();
  var ak0 = vec4f(); var ak1 = vec4f(); var ak2 = vec4f(); var ak3 = vec4f(); var ak4 = vec4f(); var ak5 = vec4f(); var ak6 = vec4f(); var ak7 = vec4f(); var ak8 = vec4f(); var ak9 = vec4f(); var ak10 = vec4f(); var ak11 = vec4f(); var ak12 = vec4f(); var ak13 = vec4f(); var ak14 = vec4f(); var ak15 = vec4f();
  var av0 = vec4f(); var av1 = vec4f(); var av2 = vec4f(); var av3 = vec4f(); var av4 = vec4f(); var av5 = vec4f(); var av6 = vec4f(); var av7 = vec4f(); var av8 = vec4f(); var av9 = vec4f(); var av10 = vec4f(); var av11 = vec4f(); var av12 = vec4f(); var av13 = vec4f(); var av14 = vec4f(); var av15 = vec4f();
  kn0 = k4[kb + 0u]; vn0 = v4[kb + 0u];
  if (HEAD_DIM4 > 1u) { kn1 = k4[kb + 1u]; vn1 = v4[kb + 1u]; }
  if (HEAD_DIM4 > 2u) { kn2 = k4[kb + 2u]; vn2 = v4[kb + 2u]; }
  if (HEAD_DIM4 > 3u) { kn3 = k4[kb + 3u]; vn3 = v4[kb + 3u]; }
  if (HEAD_DIM4 > 4u) { kn4 = k4[kb + 4u]; vn4 = v4[kb + 4u]; }
  if (HEAD_DIM4 > 5u) { kn5 = k4[kb + 5u]; vn5 = v4[kb + 5u]; }
  if (HEAD_DIM4 > 6u) { kn6 = k4[kb + 6u]; vn6 = v4[kb + 6u]; }
  if (HEAD_DIM4 > 7u) { kn7 = k4[kb + 7u]; vn7 = v4[kb + 7u]; }
  if (HEAD_DIM4 > 8u) { kn8 = k4[kb + 8u]; vn8 = v4[kb + 8u]; }
  if (HEAD_DIM4 > 9u) { kn9 = k4[kb + 9u]; vn9 = v4[kb + 9u]; }
  if (HEAD_DIM4 > 10u) { kn10 = k4[kb + 10u]; vn10 = v4[kb + 10u]; }
  if (HEAD_DIM4 > 11u) { kn11 = k4[kb + 11u]; vn11 = v4[kb + 11u]; }
  if (HEAD_DIM4 > 12u) { kn12 = k4[kb + 12u]; vn12 = v4[kb + 12u]; }
  if (HEAD_DIM4 > 13u) { kn13 = k4[kb + 13u]; vn13 = v4[kb + 13u]; }
  if (HEAD_DIM4 > 14u) { kn14 = k4[kb + 14u]; vn14 = v4[kb + 14u]; }
  if (HEAD_DIM4 > 15u) { kn15 = k4[kb + 15u]; vn15 = v4[kb + 15u]; }
  for (var i = i0; i < p.T; i++) {
    if (WINDOW > 0u) {
      if (key_real(b * p.S + p.past + i)) { in_window++; }
      if (in_window > WINDOW) { break; }
    }
    for (var hh = 0u; hh < group; hh++) {
      let row = (b * p.T + i) * p.n_heads + g * group + hh;
      let rb = row * HEAD_DIM4;
      var qq0 = vec4f(); var qq1 = vec4f(); var qq2 = vec4f(); var qq3 = vec4f(); var qq4 = vec4f(); var qq5 = vec4f(); var qq6 = vec4f(); var qq7 = vec4f(); var qq8 = vec4f(); var qq9 = vec4f(); var qq10 = vec4f(); var qq11 = vec4f(); var qq12 = vec4f(); var qq13 = vec4f(); var qq14 = vec4f(); var qq15 = vec4f();
      var dd0 = vec4f(); var dd1 = vec4f(); var dd2 = vec4f(); var dd3 = vec4f(); var dd4 = vec4f(); var dd5 = vec4f(); var dd6 = vec4f(); var dd7 = vec4f(); var dd8 = vec4f(); var dd9 = vec4f(); var dd10 = vec4f(); var dd11 = vec4f(); var dd12 = vec4f(); var dd13 = vec4f(); var dd14 = vec4f(); var dd15 = vec4f();
      qq0 = q4[rb + 0u]; dd0 = dout4[rb + 0u];
      if (HEAD_DIM4 > 1u) { qq1 = q4[rb + 1u]; dd1 = dout4[rb + 1u]; }
      if (HEAD_DIM4 > 2u) { qq2 = q4[rb + 2u]; dd2 = dout4[rb + 2u]; }
      if (HEAD_DIM4 > 3u) { qq3 = q4[rb + 3u]; dd3 = dout4[rb + 3u]; }
      if (HEAD_DIM4 > 4u) { qq4 = q4[rb + 4u]; dd4 = dout4[rb + 4u]; }
      if (HEAD_DIM4 > 5u) { qq5 = q4[rb + 5u]; dd5 = dout4[rb + 5u]; }
      if (HEAD_DIM4 > 6u) { qq6 = q4[rb + 6u]; dd6 = dout4[rb + 6u]; }
      if (HEAD_DIM4 > 7u) { qq7 = q4[rb + 7u]; dd7 = dout4[rb + 7u]; }
      if (HEAD_DIM4 > 8u) { qq8 = q4[rb + 8u]; dd8 = dout4[rb + 8u]; }
      if (HEAD_DIM4 > 9u) { qq9 = q4[rb + 9u]; dd9 = dout4[rb + 9u]; }
      if (HEAD_DIM4 > 10u) { qq10 = q4[rb + 10u]; dd10 = dout4[rb + 10u]; }
      if (HEAD_DIM4 > 11u) { qq11 = q4[rb + 11u]; dd11 = dout4[rb + 11u]; }
      if (HEAD_DIM4 > 12u) { qq12 = q4[rb + 12u]; dd12 = dout4[rb + 12u]; }
      if (HEAD_DIM4 > 13u) { qq13 = q4[rb + 13u]; dd13 = dout4[rb + 13u]; }
      if (HEAD_DIM4 > 14u) { qq14 = q4[rb + 14u]; dd14 = dout4[rb + 14u]; }
      if (HEAD_DIM4 > 15u) { qq15 = q4[rb + 15u]; dd15 = dout4[rb + 15u]; }
      var s = 0.0;
      var dp = 0.0;
      s = fma_in_order(qq0, kn0, s); dp = fma_in_order(dd0, vn0, dp);
      if (HEAD_DIM4 > 1u) { s = fma_in_order(qq1, kn1, s); dp = fma_in_order(dd1, vn1, dp); }
      if (HEAD_DIM4 > 2u) { s = fma_in_order(qq2, kn2, s); dp = fma_in_order(dd2, vn2, dp); }
      if (HEAD_DIM4 > 3u) { s = fma_in_order(qq3, kn3, s); dp = fma_in_order(dd3, vn3, dp); }
      if (HEAD_DIM4 > 4u) { s = fma_in_order(qq4, kn4, s); dp = fma_in_order(dd4, vn4, dp); }
      if (HEAD_DIM4 > 5u) { s = fma_in_order(qq5, kn5, s); dp = fma_in_order(dd5, vn5, dp); }
      if (HEAD_DIM4 > 6u) { s = fma_in_order(qq6, kn6, s); dp = fma_in_order(dd6, vn6, dp); }
      if (HEAD_DIM4 > 7u) { s = fma_in_order(qq7, kn7, s); dp = fma_in_order(dd7, vn7, dp); }
      if (HEAD_DIM4 > 8u) { s = fma_in_order(qq8, kn8, s); dp = fma_in_order(dd8, vn8, dp); }
      if (HEAD_DIM4 > 9u) { s = fma_in_order(qq9, kn9, s); dp = fma_in_order(dd9, vn9, dp); }
      if (HEAD_DIM4 > 10u) { s = fma_in_order(qq10, kn10, s); dp = fma_in_order(dd10, vn10, dp); }
      if (HEAD_DIM4 > 11u) { s = fma_in_order(qq11, kn11, s); dp = fma_in_order(dd11, vn11, dp); }
      if (HEAD_DIM4 > 12u) { s = fma_in_order(qq12, kn12, s); dp = fma_in_order(dd12, vn12, dp); }
      if (HEAD_DIM4 > 13u) { s = fma_in_order(qq13, kn13, s); dp = fma_in_order(dd13, vn13, dp); }
      if (HEAD_DIM4 > 14u) { s = fma_in_order(qq14, kn14, s); dp = fma_in_order(dd14, vn14, dp); }
      if (HEAD_DIM4 > 15u) { s = fma_in_order(qq15, kn15, s); dp = fma_in_order(dd15, vn15, dp); }
      let c = cap_slope(s * p.scale);
      let pj = exp(c.x - stats[2u * row]);
      let gj = vec4f(pj * (dp - stats[2u * row + 1u]) * c.y);
      ak0 = fma(gj, qq0, ak0); av0 = fma(vec4f(pj), dd0, av0);
      if (HEAD_DIM4 > 1u) { ak1 = fma(gj, qq1, ak1); av1 = fma(vec4f(pj), dd1, av1); }
      if (HEAD_DIM4 > 2u) { ak2 = fma(gj, qq2, ak2); av2 = fma(vec4f(pj), dd2, av2); }
      if (HEAD_DIM4 > 3u) { ak3 = fma(gj, qq3, ak3); av3 = fma(vec4f(pj), dd3, av3); }
      if (HEAD_DIM4 > 4u) { ak4 = fma(gj, qq4, ak4); av4 = fma(vec4f(pj), dd4, av4); }
      if (HEAD_DIM4 > 5u) { ak5 = fma(gj, qq5, ak5); av5 = fma(vec4f(pj), dd5, av5); }
      if (HEAD_DIM4 > 6u) { ak6 = fma(gj, qq6, ak6); av6 = fma(vec4f(pj), dd6, av6); }
      if (HEAD_DIM4 > 7u) { ak7 = fma(gj, qq7, ak7); av7 = fma(vec4f(pj), dd7, av7); }
      if (HEAD_DIM4 > 8u) { ak8 = fma(gj, qq8, ak8); av8 = fma(vec4f(pj), dd8, av8); }
      if (HEAD_DIM4 > 9u) { ak9 = fma(gj, qq9, ak9); av9 = fma(vec4f(pj), dd9, av9); }
      if (HEAD_DIM4 > 10u) { ak10 = fma(gj, qq10, ak10); av10 = fma(vec4f(pj), dd10, av10); }
      if (HEAD_DIM4 > 11u) { ak11 = fma(gj, qq11, ak11); av11 = fma(vec4f(pj), dd11, av11); }
      if (HEAD_DIM4 > 12u) { ak12 = fma(gj, qq12, ak12); av12 = fma(vec4f(pj), dd12, av12); }
      if (HEAD_DIM4 > 13u) { ak13 = fma(gj, qq13, ak13); av13 = fma(vec4f(pj), dd13, av13); }
      if (HEAD_DIM4 > 14u) { ak14 = fma(gj, qq14, ak14); av14 = fma(vec4f(pj), dd14, av14); }
      if (HEAD_DIM4 > 15u) { ak15 = fma(gj, qq15, ak15); av15 = fma(vec4f(pj), dd15, av15); }
    }
  }
  dk4[kb + 0u] = ak0 * p.scale; dv4[kb + 0u] = av0;
  if (HEAD_DIM4 > 1u) { dk4[kb + 1u] = ak1 * p.scale; dv4[kb + 1u] = av1; }
  if (HEAD_DIM4 > 2u) { dk4[kb + 2u] = ak2 * p.scale; dv4[kb + 2u] = av2; }
  if (HEAD_DIM4 > 3u) { dk4[kb + 3u] = ak3 * p.scale; dv4[kb + 3u] = av3; }
  if (HEAD_DIM4 > 4u) { dk4[kb + 4u] = ak4 * p.scale; dv4[kb + 4u] = av4; }
  if (HEAD_DIM4 > 5u) { dk4[kb + 5u] = ak5 * p.scale; dv4[kb + 5u] = av5; }
  if (HEAD_DIM4 > 6u) { dk4[kb + 6u] = ak6 * p.scale; dv4[kb + 6u] = av6; }
  if (HEAD_DIM4 > 7u) { dk4[kb + 7u] = ak7 * p.scale; dv4[kb + 7u] = av7; }
  if (HEAD_DIM4 > 8u) { dk4[kb + 8u] = ak8 * p.scale; dv4[kb + 8u] = av8; }
  if (HEAD_DIM4 > 9u) { dk4[kb + 9u] = ak9 * p.scale; dv4[kb + 9u] = av9; }
  if (HEAD_DIM4 > 10u) { dk4[kb + 10u] = ak10 * p.scale; dv4[kb + 10u] = av10; }
  if (HEAD_DIM4 > 11u) { dk4[kb + 11u] = ak11 * p.scale; dv4[kb + 11u] = av11; }
  if (HEAD_DIM4 > 12u) { dk4[kb + 12u] = ak12 * p.scale; dv4[kb + 12u] = av12; }
  if (HEAD_DIM4 > 13u) { dk4[kb + 13u] = ak13 * p.scale; dv4[kb + 13u] = av13; }
  if (HEAD_DIM4 > 14u) { dk4[kb + 14u] = ak14 * p.scale; dv4[kb + 14u] = av14; }
  if (HEAD_DIM4 > 15u) { dk4[kb + 15u] = ak15 * p.scale; dv4[kb + 15u] = av15; }
}

// #include _attention_keys
