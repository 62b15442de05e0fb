// The hardware family's attention backward (ops/attention-hw.ts): the gradients of hw_attention.wgsl's forward,
// with attention_backward.wgsl's contract (same buffers and layouts; stats = (lse, Δ = dout·out) per row from its
// `prep` entry, which both families share; dq, dk, dv overwritten; soft-cap slope, window, mask; no ring: training
// keeps all S slots). q, k, v may be the saved f16 activations of an f16 forward (file tags +a16: q, +f16: k and
// v; the libraries _hw_attention_bwd_q / _kv and their twins; `prep_f16` of attention_backward.wgsl reads the f16
// out); dout, lse, stats and every gradient stay f32, and so does the arithmetic. With s = scale·q·k, P = exp(cap(s) − lse) over the keys a query sees:
//   dS = P (dout·v − Δ)·cap'(s)      dq = scale Σ_keys dS k      dk = scale Σ_rows dS q      dv = Σ_rows P dout
//
// FlashAttention-2's backward (Dao 2023, §3.2; Algorithm 2), split into its two parallel halves as FA2's
// Triton/CUDA kernels do for determinism (no float atomics anywhere):
// - `dkv`: a workgroup per (block of BR keys, kv-head, batch row), K and V of its keys held in registers, walking
//   the (query, q-head) rows of the kv-head's whole GQA group that can see the block in tiles of BC rows staged
//   in var<workgroup> memory (q, dout, and the rows' lse, Δ and window start); each workgroup owns its keys' dk,
//   dv rows, so the sums over queries and heads are plain register accumulations in a fixed order. Causality
//   bounds the walk (rows before the block's first key's query are skipped; under a window, rows whose window
//   starts after the block end it), so the causal work is not spread over every key as the software kernel's is;
//   with a window and a mask, the staged rows' window starts are walked forward query by query (window_advance),
//   not rescanned;
// - `dq`: a workgroup per (row block of one kv-head's group, kv-head, batch row), as the forward, walking the keys
//   in tiles staged in workgroup memory and accumulating dS·k.
// Inside a workgroup, the forward's layout (hw_attention.wgsl): BR rows (keys for dkv, query rows for dq) × TPR
// lanes, lane c owning head dims d = c + TPR·e; the dots of a tile are partial per lane, summed across the row's
// lanes in lane order through workgroup memory, then every lane reads the row's BC values (a broadcast).

override USE_MASK: bool = false;
override WINDOW: u32 = 0u;
override SOFTCAP: f32 = 0.0;
override HEAD_DIM: u32 = 64u;
override BR: u32 = 16u;
override TPR: u32 = 4u;
override BC: u32 = 8u;

struct Params {
  T: u32,
  S: u32,
  n_heads: u32,
  n_kv: u32,
  D: u32,
  past: u32,
  scale: f32,
  n_rows: u32,
  ring: u32, // unused: the backward never runs over a ring
}

@group(0) @binding(0) var<uniform> p: Params;
// q (binding 1), k and v (2, 3), read through q_at, k_at, v_at: f32, or f16 pairs in the +a16 (q) and +f16 (k, v)
// twins, the saved activations of an f16-activation forward (ops/attention.ts AttentionArgs.actF16, kvF16)
// #include _hw_attention_bwd_q
// #include _hw_attention_bwd_kv
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(9) var<storage, read> stats: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> dk: array<f32>;
@group(0) @binding(12) var<storage, read_write> dv: array<f32>;

const MAX_DL = 64u;
override DL: u32 = (HEAD_DIM + TPR - 1u) / TPR;

// tiles: the BC staged rows (keys for dq, query rows for dkv) of two tensors, and the per-pair values
var<workgroup> ta: array<f32, BC * HEAD_DIM>;
var<workgroup> tb: array<f32, BC * HEAD_DIM>;
var<workgroup> part_s: array<f32, BR * BC * TPR>;
var<workgroup> part_d: array<f32, BR * BC * TPR>;
var<workgroup> pp: array<f32, BR * BC>;
var<workgroup> ds: array<f32, BR * BC>;
// dkv: the staged rows' lse, Δ, first visible slot, causal limit and global row
var<workgroup> row_lse: array<f32, BC>;
var<workgroup> row_delta: array<f32, BC>;
var<workgroup> row_first: array<u32, BC>;
var<workgroup> row_keys: array<u32, BC>;
var<workgroup> span: vec3u; // the rows or keys to walk [x, y); dq: z = the block's first query's window start

var<private> ra: array<f32, MAX_DL>; // dq: q; dkv: k
var<private> rb: array<f32, MAX_DL>; // dq: dout; dkv: v
var<private> acc_a: array<f32, MAX_DL>; // dq: dq; dkv: dk
var<private> acc_b: array<f32, MAX_DL>; // dkv: dv




// window_start for a masked window, with the number of real keys in [start, n_keys) (W once there are W).
fn window_count(kv_batch: u32, n_keys: u32) -> vec2u {
  var seen = 0u;
  var j = n_keys;
  while (j > 0u) {
    j--;
    if (mask[kv_batch + j] != 0u) {
      seen++;
      if (seen == WINDOW) { return vec2u(j, seen); }
    }
  }
  return vec2u(0u, seen);
}

// dkv's thread 0 walks the queries in order and keeps the current query's masked window start incrementally
// (amortised O(1) a query) instead of scanning the mask back W real keys for every staged row: query i's window
// gains slot past + i when that is real, and once it holds more than W real keys its oldest one leaves.
var<private> win_query: u32;
var<private> win_start: u32;
var<private> win_count: u32;

fn window_advance(kv_batch: u32, i: u32) {
  while (win_query < i) {
    win_query++;
    let slot = p.past + win_query;
    if (slot < p.S && mask[kv_batch + slot] != 0u) {
      win_count++;
      if (win_count > WINDOW) {
        while (mask[kv_batch + win_start] == 0u) { win_start++; } // the oldest real key (start may sit on a hole while unfilled)
        win_start++;
        while (mask[kv_batch + win_start] == 0u) { win_start++; }
        win_count = WINDOW;
      }
    }
  }
}

// The global row of (batch b, kv-head kvh)'s flattened group row f = i·group + hh.
fn group_row(b: u32, kvh: u32, f: u32) -> u32 {
  let group = p.n_heads / p.n_kv;
  return (b * p.T + f / group) * p.n_heads + kvh * group + f % group;
}

// Partial dots of this lane's dims of ra and rb with the BC staged rows of ta and tb, into part_s and part_d.
fn partial_dots(r: u32, c: u32) {
  for (var j = 0u; j < BC; j++) {
    var s = 0.0;
    var dp = 0.0;
    for (var e = 0u; e < DL; e++) {
      let d = c + TPR * e;
      if (d < HEAD_DIM) {
        s = fma(ra[e], ta[j * HEAD_DIM + d], s);
        dp = fma(rb[e], tb[j * HEAD_DIM + d], dp);
      }
    }
    part_s[(r * BC + j) * TPR + c] = s;
    part_d[(r * BC + j) * TPR + c] = dp;
  }
}

// The whole (s, dp) of pair (r, j), summed over the row's lanes in lane order.
fn whole_dots(r: u32, j: u32) -> vec2f {
  var s = 0.0;
  var dp = 0.0;
  for (var t = 0u; t < TPR; t++) {
    s += part_s[(r * BC + j) * TPR + t];
    dp += part_d[(r * BC + j) * TPR + t];
  }
  return vec2f(s, dp);
}

@compute @workgroup_size(BR * TPR)
fn dq_main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = lid / TPR;
  let c = lid % TPR;
  let group = p.n_heads / p.n_kv;
  let rows_kv = p.T * group;
  let f0 = wg.x * BR;
  let kvh = wg.y;
  let b = wg.z;
  let kv_batch = b * p.S;
  let live = f0 + r < rows_kv;
  let f = min(f0 + r, rows_kv - 1u);
  let i = f / group;
  let row = group_row(b, kvh, f);
  let n_keys = min(p.S, p.past + i + 1u);
  let lse_i = stats[2u * row];
  let delta = stats[2u * row + 1u];
  if (lid == 0u) {
    let lo = window_start(kv_batch, min(p.S, p.past + f0 / group + 1u));
    let hi = min(p.S, p.past + min(p.T - 1u, (f0 + BR - 1u) / group) + 1u);
    span = vec3u(lo, hi, lo);
  }
  let range = workgroupUniformLoad(&span);
  // rows of the block's first query reuse its window start (hw_attention.wgsl does the same)
  var first = range.z;
  if (i != f0 / group) { first = window_start(kv_batch, n_keys); }
  for (var e = 0u; e < DL; e++) {
    let d = min(c + TPR * e, HEAD_DIM - 1u);
    ra[e] = q_at(row * HEAD_DIM + d);
    rb[e] = dout[row * HEAD_DIM + d];
    acc_a[e] = 0.0;
  }
  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    for (var idx = lid; idx < BC * HEAD_DIM; idx += BR * TPR) {
      let key = j0 + idx / HEAD_DIM;
      var kx = 0.0;
      var vx = 0.0;
      if (key < range.y) {
        let at = ((kv_batch + key) * p.n_kv + kvh) * HEAD_DIM + idx % HEAD_DIM;
        kx = k_at(at);
        vx = v_at(at);
      }
      ta[idx] = kx;
      tb[idx] = vx;
    }
    workgroupBarrier();
    partial_dots(r, c);
    workgroupBarrier();
    for (var j = c; j < BC; j += TPR) {
      let key = j0 + j;
      let w = whole_dots(r, j);
      let cs = cap_slope(w.x * p.scale);
      let seen = key < range.y && key >= first && key < n_keys && key_real(kv_batch + min(key, p.S - 1u));
      ds[r * BC + j] = select(0.0, exp(cs.x - lse_i) * (w.y - delta) * cs.y, seen);
    }
    workgroupBarrier();
    for (var j = 0u; j < BC; j++) {
      let g = ds[r * BC + j];
      for (var e = 0u; e < DL; e++) {
        let d = c + TPR * e;
        if (d < HEAD_DIM) { acc_a[e] = fma(g, ta[j * HEAD_DIM + d], acc_a[e]); }
      }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var e = 0u; e < DL; e++) {
      let d = c + TPR * e;
      if (d < HEAD_DIM) { dq[row * HEAD_DIM + d] = acc_a[e] * p.scale; }
    }
  }
}

@compute @workgroup_size(BR * TPR)
fn dkv_main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = lid / TPR;
  let c = lid % TPR;
  let group = p.n_heads / p.n_kv;
  let j_lo = wg.x * BR;
  let kvh = wg.y;
  let b = wg.z;
  let kv_batch = b * p.S;
  let j = j_lo + r;
  let live = j < p.S;
  let jj = min(j, p.S - 1u);
  let kept = live && key_real(kv_batch + jj);
  let kv_at = ((kv_batch + jj) * p.n_kv + kvh) * HEAD_DIM;
  for (var e = 0u; e < DL; e++) {
    let d = min(c + TPR * e, HEAD_DIM - 1u);
    ra[e] = k_at(kv_at + d);
    rb[e] = v_at(kv_at + d);
    acc_a[e] = 0.0;
    acc_b[e] = 0.0;
  }
  // the group rows that may see a key of the block: from the first query at or after its first key to the first
  // query whose window starts past its last key (window starts only move forward as the query does)
  if (lid == 0u) {
    let i_lo = select(0u, j_lo - p.past, j_lo > p.past);
    var i_hi = p.T;
    if (WINDOW > 0u) {
      let last = min(p.S, j_lo + BR) - 1u;
      var lo = i_lo;
      while (lo < i_hi) {
        let mid = (lo + i_hi) / 2u;
        if (window_start(kv_batch, min(p.S, p.past + mid + 1u)) > last) { i_hi = mid; } else { lo = mid + 1u; }
      }
    }
    span = vec3u(min(i_lo, p.T) * group, max(i_hi, min(i_lo, p.T)) * group, 0u);
    if (WINDOW > 0u && USE_MASK && i_lo < p.T) {
      win_query = i_lo;
      let w = window_count(kv_batch, min(p.S, p.past + i_lo + 1u));
      win_start = w.x;
      win_count = w.y;
    }
  }
  let range = workgroupUniformLoad(&span);
  for (var f0 = range.x; f0 < range.y; f0 += BC) {
    for (var idx = lid; idx < BC * HEAD_DIM; idx += BR * TPR) {
      let f = f0 + idx / HEAD_DIM;
      var qx = 0.0;
      var dx = 0.0;
      if (f < range.y) {
        let at = group_row(b, kvh, f) * HEAD_DIM + idx % HEAD_DIM;
        qx = q_at(at);
        dx = dout[at];
      }
      ta[idx] = qx;
      tb[idx] = dx;
    }
    if (lid < BC) {
      let f = min(f0 + lid, range.y - 1u);
      let row = group_row(b, kvh, f);
      let n_keys = min(p.S, p.past + f / group + 1u);
      row_lse[lid] = stats[2u * row];
      row_delta[lid] = stats[2u * row + 1u];
      if (!(WINDOW > 0u && USE_MASK)) { row_first[lid] = window_start(kv_batch, n_keys); } // closed form
      row_keys[lid] = select(0u, n_keys, f0 + lid < range.y); // a row past the span sees nothing
    }
    if (WINDOW > 0u && USE_MASK && lid == 0u) {
      for (var t = 0u; t < BC; t++) {
        window_advance(kv_batch, min(f0 + t, range.y - 1u) / group);
        row_first[t] = win_start;
      }
    }
    workgroupBarrier();
    partial_dots(r, c);
    workgroupBarrier();
    for (var t = c; t < BC; t += TPR) {
      let w = whole_dots(r, t);
      let cs = cap_slope(w.x * p.scale);
      let seen = kept && j >= row_first[t] && j < row_keys[t];
      let pj = exp(cs.x - row_lse[t]);
      pp[r * BC + t] = select(0.0, pj, seen);
      ds[r * BC + t] = select(0.0, pj * (w.y - row_delta[t]) * cs.y, seen);
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      let pv = pp[r * BC + t];
      let g = ds[r * BC + t];
      for (var e = 0u; e < DL; e++) {
        let d = c + TPR * e;
        if (d < HEAD_DIM) {
          acc_a[e] = fma(g, ta[t * HEAD_DIM + d], acc_a[e]);
          acc_b[e] = fma(pv, tb[t * HEAD_DIM + d], acc_b[e]);
        }
      }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var e = 0u; e < DL; e++) {
      let d = c + TPR * e;
      if (d < HEAD_DIM) {
        dk[kv_at + d] = acc_a[e] * p.scale;
        dv[kv_at + d] = acc_b[e];
      }
    }
  }
}

// #include _attention_keys
