// Causal scaled-dot-product attention with GQA and an optional key padding mask, flash-style (online softmax).
// Layouts (row-major f32, one batch after another):
//   q, out [B, T, n_heads, D]     k, v [B, S, n_kv, D]     mask u32 [B, S] (1 = keep, 0 = padding)
// Query i (0 ≤ i < T) sits at absolute position past + i and sees keys 0..min(S−1, past+i): past = S − T for a
// KV cache holding earlier tokens, 0 for a plain forward. q-head h reads kv-head h / (n_heads / n_kv) (HF
// repeat_kv). Scores are (q·k)·scale, as HF's eager attention.
//
// One workgroup per (query i, head h, batch b): grid (T, n_heads, B). Keys stream through in blocks of BK; each
// thread scores one key of the block, the workgroup reduces the block max and sum, and the running max m, sum l
// and the output accumulator (D spread over the threads) are rescaled by exp(m_old − m_new). Memory is O(BK + D)
// per workgroup, never T×S. A query whose visible keys are all masked (a padding row) outputs zeros, not NaN.
// Entry main_save_lse also writes lse f32 [B, T, n_heads] = m + log l (log Σ exp(score) over the visible keys;
// −1e30 for a row that sees none), which attention_backward.wgsl needs to recompute the probabilities.

override USE_MASK: bool = false;

struct Params {
  T: u32,
  S: u32,
  n_heads: u32,
  n_kv: u32,
  D: u32,
  past: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

const WG = 64u;
const BK = WG;                  // one key per thread per block
const MAX_D = 256u;
const PER_THREAD = MAX_D / WG;  // output dims per thread
const NEG = -1e30;              // "no score": finite, so exp(NEG − NEG) stays 1 and never NaN

var<workgroup> qs: array<f32, MAX_D>;
var<workgroup> ps: array<f32, BK>;
var<workgroup> red: array<f32, WG>;

fn reduce_max(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier(); // red is reused by the next reduction
  return r;
}

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// Attends one (query, head, batch) row and writes out; returns its log Σ exp(score), NEG if nothing is visible.
// Every thread of the workgroup must call it.
fn attend(wg: vec3u, lid: u32) -> f32 {
  let i = wg.x;
  let h = wg.y;
  let b = wg.z;
  let D = p.D;
  let kvh = h / (p.n_heads / p.n_kv);
  let q_at = ((b * p.T + i) * p.n_heads + h) * D;
  let kv_batch = b * p.S;

  for (var d = lid; d < D; d += WG) { qs[d] = q[q_at + d]; }
  workgroupBarrier();

  let n_keys = min(p.S, p.past + i + 1u);
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, PER_THREAD>;

  for (var k0 = 0u; k0 < n_keys; k0 += BK) {
    let j = k0 + lid;
    var s = NEG;
    var keep = j < n_keys;
    if (USE_MASK && keep) { keep = mask[kv_batch + j] != 0u; }
    if (keep) {
      let k_at = ((kv_batch + j) * p.n_kv + kvh) * D;
      var dot = 0.0;
      for (var d = 0u; d < D; d++) { dot = fma(qs[d], k[k_at + d], dot); }
      s = dot * p.scale;
    }
    let m_new = max(m, reduce_max(lid, s));
    let pj = select(0.0, exp(s - m_new), keep);
    ps[lid] = pj;
    let l_blk = reduce_sum(lid, pj); // its barriers also publish ps
    let alpha = exp(m - m_new);
    l = l * alpha + l_blk;
    m = m_new;

    let n_blk = min(BK, n_keys - k0);
    for (var r = 0u; r < PER_THREAD; r++) {
      let d = lid + r * WG;
      if (d >= D) { break; }
      var a = acc[r] * alpha;
      for (var jj = 0u; jj < n_blk; jj++) {
        a = fma(ps[jj], v[((kv_batch + k0 + jj) * p.n_kv + kvh) * D + d], a);
      }
      acc[r] = a;
    }
    workgroupBarrier(); // everyone is done with ps before the next block overwrites it
  }

  for (var r = 0u; r < PER_THREAD; r++) {
    let d = lid + r * WG;
    if (d >= D) { break; }
    out[q_at + d] = select(0.0, acc[r] / l, l > 0.0);
  }
  return select(NEG, m + log(l), l > 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = attend(wg, lid);
}

@compute @workgroup_size(WG)
fn main_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = attend(wg, lid);
  if (lid == 0u) { lse[(wg.z * p.T + wg.x) * p.n_heads + wg.y] = r; }
}
