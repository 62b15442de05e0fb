// Backward of attention.wgsl (causal, GQA, optional key padding mask), flash-style: the probabilities are
// recomputed from q, k and the forward's saved lse, so no T×S matrix is ever stored.
// Layouts (row-major f32, as the forward): q, out, dout, dq [B, T, n_heads, D]; k, v, dk, dv [B, S, n_kv, D];
// mask u32 [B, S]; lse [B, T, n_heads] (attention.wgsl main_save_lse); stats [B, T, n_heads, 2] scratch.
// With s_j = scale·q·k_j, P_j = exp(s_j − lse) over the keys query i sees (the forward's rule):
//   Δ = dout·out = Σ_j P_j (dout·v_j)        dS_j = P_j (dout·v_j − Δ)
//   dq_i = scale Σ_j dS_j k_j      dk_j = scale Σ_(i,h) dS q_i      dv_j = Σ_(i,h) P dout_i
// dk and dv sum over every query and every q-head sharing the kv-head. Three passes, none with float atomics:
//   prep  one thread per (b, i, h): stats = (lse, Δ)  (packed so that dkv stays within 8 storage bindings)
//   dq    one workgroup per (query i, head h, batch b), keys streamed in blocks of BK, as the forward
//   dkv   one workgroup per (key j, kv-head g, batch b), streaming the (query, q-head) pairs that see key j;
//         each workgroup owns its dk/dv row, so the sums over queries and heads need no atomics.
// A masked key, or a query row that sees no key, contributes nothing (its P is never formed).

override USE_MASK: bool = false;

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

const WG = 64u;
const BK = WG;
const MAX_D = 256u;
const PER_THREAD = MAX_D / WG;

var<workgroup> xs: array<f32, MAX_D>; // dq: the q row; dkv: the k row
var<workgroup> ys: array<f32, MAX_D>; // dq: the dout row; dkv: the v row
var<workgroup> ps: array<f32, WG>;    // dkv: P per pair of the block
var<workgroup> ds: array<f32, WG>;    // dS per key (dq) or pair (dkv) of the block
var<workgroup> rows: array<u32, WG>;  // dkv: (b, i, h) row index per pair of the block

@compute @workgroup_size(WG)
fn prep(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid;
  if (row >= p.n_rows) { return; }
  var delta = 0.0;
  for (var d = 0u; d < p.D; d++) { delta = fma(dout[row * p.D + d], out[row * p.D + d], delta); }
  stats_out[2u * row] = lse[row];
  stats_out[2u * row + 1u] = delta;
}

@compute @workgroup_size(WG)
fn dq_main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wg.x;
  let h = wg.y;
  let b = wg.z;
  let D = p.D;
  let kvh = h / (p.n_heads / p.n_kv);
  let row = (b * p.T + i) * p.n_heads + h;
  let q_at = row * D;
  let kv_batch = b * p.S;
  for (var d = lid; d < D; d += WG) {
    xs[d] = q[q_at + d];
    ys[d] = dout[q_at + d];
  }
  workgroupBarrier();
  let lse_i = stats[2u * row];
  let delta = stats[2u * row + 1u];
  let n_keys = min(p.S, p.past + i + 1u);
  var acc: array<f32, PER_THREAD>;

  for (var k0 = 0u; k0 < n_keys; k0 += BK) {
    let j = k0 + lid;
    var keep = j < n_keys;
    if (USE_MASK && keep) { keep = mask[kv_batch + j] != 0u; }
    var g = 0.0;
    if (keep) {
      let k_at = ((kv_batch + j) * p.n_kv + kvh) * D;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < D; d++) {
        s = fma(xs[d], k[k_at + d], s); // the forward's order, so P matches its lse
        dp = fma(ys[d], v[k_at + d], dp);
      }
      g = exp(s * p.scale - lse_i) * (dp - delta);
    }
    ds[lid] = g;
    workgroupBarrier();
    let n_blk = min(BK, n_keys - k0);
    for (var r = 0u; r < PER_THREAD; r++) {
      let d = lid + r * WG;
      if (d >= D) { break; }
      var a = acc[r];
      for (var jj = 0u; jj < n_blk; jj++) {
        a = fma(ds[jj], k[((kv_batch + k0 + jj) * p.n_kv + kvh) * D + d], a);
      }
      acc[r] = a;
    }
    workgroupBarrier(); // ds is rewritten by the next block
  }

  for (var r = 0u; r < PER_THREAD; r++) {
    let d = lid + r * WG;
    if (d >= D) { break; }
    dq[q_at + d] = acc[r] * p.scale;
  }
}

@compute @workgroup_size(WG)
fn dkv_main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wg.x;
  let g = wg.y;
  let b = wg.z;
  let D = p.D;
  let group = p.n_heads / p.n_kv;
  let kv_at = ((b * p.S + j) * p.n_kv + g) * D;
  for (var d = lid; d < D; d += WG) {
    xs[d] = k[kv_at + d];
    ys[d] = v[kv_at + d];
  }
  workgroupBarrier();
  var key_kept = true;
  if (USE_MASK) { key_kept = mask[b * p.S + j] != 0u; }
  // query i (absolute position past + i) sees key j iff past + i ≥ j
  let i0 = select(0u, j - p.past, j > p.past);
  var n_pairs = 0u;
  if (i0 < p.T) { n_pairs = (p.T - i0) * group; }
  var acc_k: array<f32, PER_THREAD>;
  var acc_v: array<f32, PER_THREAD>;

  for (var n0 = 0u; n0 < n_pairs; n0 += WG) {
    let n = n0 + lid;
    var row = 0u;
    var pj = 0.0;
    var gj = 0.0;
    if (n < n_pairs) {
      row = (b * p.T + i0 + n / group) * p.n_heads + g * group + n % group;
      if (key_kept) {
        let at = row * D;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < D; d++) {
          s = fma(q[at + d], xs[d], s);
          dp = fma(dout[at + d], ys[d], dp);
        }
        pj = exp(s * p.scale - stats[2u * row]);
        gj = pj * (dp - stats[2u * row + 1u]);
      }
    }
    ps[lid] = pj;
    ds[lid] = gj;
    rows[lid] = row;
    workgroupBarrier();
    let n_blk = min(WG, n_pairs - n0);
    for (var r = 0u; r < PER_THREAD; r++) {
      let d = lid + r * WG;
      if (d >= D) { break; }
      var ak = acc_k[r];
      var av = acc_v[r];
      for (var nn = 0u; nn < n_blk; nn++) {
        let at = rows[nn] * D + d;
        ak = fma(ds[nn], q[at], ak);
        av = fma(ps[nn], dout[at], av);
      }
      acc_k[r] = ak;
      acc_v[r] = av;
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < PER_THREAD; r++) {
    let d = lid + r * WG;
    if (d >= D) { break; }
    dk[kv_at + d] = acc_k[r] * p.scale;
    dv[kv_at + d] = acc_v[r];
  }
}
