// Causal scaled-dot-product attention with GQA and an optional key padding mask, flash-style (online softmax).
// Layouts (row-major f32, one batch after another):
//   q, out [B, T, n_heads, D]     k, v [B, S, n_kv, D]     mask u32 [B, S] (1 = keep, 0 = padding)
// Query i (0 ≤ i < T) sits at absolute position past + i and sees keys 0..min(S−1, past+i): past = S − T for a
// KV cache holding earlier tokens, 0 for a plain forward. q-head h reads kv-head h / (n_heads / n_kv) (HF
// repeat_kv). Scores are (q·k)·scale, as HF's eager attention.
//
// One invocation per (batch b, query i, head h) row, row = (b·T + i)·n_heads + h, ROWS_PER_WG rows per workgroup
// (ops/attention.ts sets it; the grid folds into 2-D). The invocation walks its visible keys one by one with an
// online softmax: running max m, sum l and the output accumulator acc[D] rescaled by exp(m_old − m_new). Memory is
// O(D) per invocation, never T×S. No workgroup memory and no barriers: the earlier one-workgroup-per-row layout
// reduced every key block with barrier trees, and on SwiftShader (tests, benches) a barrier switches every 4-lane
// coroutine of the workgroup: ~2.8 s per call at B=4, T=128 against a few ms of arithmetic
// (bench/train-profile.bench.ts). A query whose visible keys are all masked (a padding row) outputs zeros, not NaN.
// The score is fma(q_d, k_d, ·) over d in order, then ·scale: attention_backward.wgsl recomputes it the same way.
// With WINDOW = W > 0 (a sliding-window layer: Mistral, Qwen2/3 with use_sliding_window, Gemma 3's local layers)
// a query sees only the W most recent real keys up to and including its own slot: keys at slots j ≤ past+i whose
// slots j..past+i hold at most W unmasked keys (without a mask: past+i−W < j, transformers' sliding mask). Counting
// real keys rather than slots keeps the window right across padding holes in a KV cache (a row decodes as if alone).
// attention_backward.wgsl applies the same rule.
// A sliding layer's KV cache may be a ring (kv-cache.ts): with WINDOW > 0 and p.ring = R > 0, k and v hold R slots a
// batch row, [B, R, n_kv, D], and slot j (the mask's and the causal rule's index, 0..S−1) lives at row j mod R. The
// cache keeps R ≥ the window's span plus the run's tokens, so no key a query sees has been overwritten. Full layers
// (WINDOW = 0) ignore p.ring: the same uniform block serves both.
// Entries main_vec4 / main_vec4_save_lse do the same for D % 4 == 0 through vec4 views of q, k, v and out
// (bindings 7-10; ops/attention.ts binds the same buffers there), one invocation per QB consecutive queries of a
// head, sharing each key's loads (see attend_vec4): on SwiftShader each load is a per-lane gather, and a 5-shot
// MMLU batch on stories260K spent ~80% of its time in the scalar entry's loads. Same operations per query in the
// same order as the scalar entry, so both give the same bits.
// Entry main_save_lse also writes lse f32 [B, T, n_heads] = m + log l (log Σ exp(score) over the visible keys;
// −1e30 for a row that sees none), which attention_backward.wgsl needs to recompute the probabilities.

override USE_MASK: bool = false;
override WINDOW: u32 = 0u;
// SOFTCAP = c > 0: scores are soft-capped, s ← c·tanh(s / c) after the scale (Gemma's attn_logit_softcapping);
// tanh's argument is clamped to ±10, where tanh is ±1 in f32 already.
override SOFTCAP: f32 = 0.0;
override ROWS_PER_WG: u32 = 16u;

// The vec4 entries' D / 4 and queries per invocation, fixed at pipeline creation (a model has one head dim):
// loops of known length let the compiler keep qr and acc in registers instead of indexing private memory.
override HEAD_DIM4: u32 = 1u;
override QB: u32 = 4u; // 1..MAX_QB

struct Params {
  T: u32,
  S: u32,
  n_heads: u32,
  n_kv: u32,
  D: u32,
  past: u32,
  scale: f32,
  n_rows: u32, // B·T·n_heads
  ring: u32,   // a sliding layer's ring of KV slots per batch row, 0 when k, v hold all S slots
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

@group(0) @binding(7) var<storage, read> q4: array<vec4f>;
// k4, v4 at bindings 8, 9 and their readers key4, val4 (f32, or f16 in the +f16 variant)
// #include _kv_load
@group(0) @binding(10) var<storage, read_write> out4: array<vec4f>;

const MAX_D = 256u;
const MAX_QB = 4u;
const MAX_QD4 = 256u; // MAX_QB · MAX_D / 4
const NEG = -1e30; // "no score": finite, so exp(NEG − NEG) stays 1 and never NaN


// The row of k and v (in units of n_kv·D) that holds batch b's slot j: j mod ring in a sliding layer's ring.
fn kv_row(b: u32, j: u32) -> u32 {
  if (WINDOW > 0u && p.ring > 0u) { return b * p.ring + j % p.ring; }
  return b * p.S + j;
}


// Attends one row and writes out; returns its log Σ exp(score), NEG if nothing is visible.
fn attend(row: u32) -> f32 {
  let h = row % p.n_heads;
  let i = (row / p.n_heads) % p.T;
  let b = row / (p.n_heads * p.T);
  let D = p.D;
  let kvh = h / (p.n_heads / p.n_kv);
  let q_at = row * D;
  let kv_batch = b * p.S;
  let n_keys = min(p.S, p.past + i + 1u);
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, MAX_D>;
  for (var j = window_start(kv_batch, n_keys); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let k_at = (kv_row(b, j) * p.n_kv + kvh) * D;
    var dot = 0.0;
    for (var d = 0u; d < D; d++) { dot = fma(q[q_at + d], k[k_at + d], dot); }
    let s = cap(dot * p.scale);
    let m_new = max(m, s);
    let alpha = exp(m - m_new);
    let pj = exp(s - m_new);
    l = l * alpha + pj;
    m = m_new;
    for (var d = 0u; d < D; d++) { acc[d] = fma(pj, v[k_at + d], acc[d] * alpha); }
  }
  for (var d = 0u; d < D; d++) { out[q_at + d] = select(0.0, acc[d] / l, l > 0.0); }
  return select(NEG, m + log(l), l > 0.0);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  _ = attend(row);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  lse[row] = attend(row);
}

// The vec4 entries' work: QB consecutive queries i0..i0+QB−1 of one (batch, head), walking the keys the last
// of them sees. Each key's k and v rows are loaded once for all QB queries (QB = 4 for a forward of T ≥ 4 rows,
// 1 for a decode step), and every load is a vec4. A key that query t must not see (past its causal limit, before
// its window, or masked) leaves its state exactly as it was: score NEG, so m is unchanged, alpha = exp(0) = 1 and p = 0, and
// acc·1 + 0·v = acc — the same bits as skipping it, as the scalar entry does.
// Writes out for each valid query and returns their log Σ exp(score) (NEG where nothing is visible).
fn attend_vec4(block: u32) -> array<f32, MAX_QB> {
  let TB = (p.T + QB - 1u) / QB;
  let h = block % p.n_heads;
  let i0 = ((block / p.n_heads) % TB) * QB;
  let b = block / (p.n_heads * TB);
  let D4 = HEAD_DIM4;
  let kvh = h / (p.n_heads / p.n_kv);
  let kv_batch = b * p.S;
  let n_keys = min(p.S, p.past + min(i0 + QB, p.T)); // keys the block's last valid query sees
  // each query's first key under the window (0 without one): the block walks from the first query's
  var first: array<u32, MAX_QB>;
  for (var t = 0u; t < QB; t++) { first[t] = window_start(kv_batch, min(p.S, p.past + i0 + t + 1u)); }
  var qr: array<vec4f, MAX_QD4>;
  var acc: array<vec4f, MAX_QD4>;
  var m: array<f32, MAX_QB>;
  var l: array<f32, MAX_QB>;
  for (var t = 0u; t < QB; t++) {
    m[t] = NEG;
    l[t] = 0.0;
    let row = ((b * p.T + min(i0 + t, p.T - 1u)) * p.n_heads + h) * D4;
    for (var d = 0u; d < D4; d++) { qr[t * D4 + d] = q4[row + d]; }
  }
  for (var j = first[0]; j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let k_at = (kv_row(b, j) * p.n_kv + kvh) * D4;
    for (var t = 0u; t < QB; t++) {
      let seen = j >= first[t] && j <= p.past + i0 + t;
      var dot = 0.0;
      for (var d = 0u; d < D4; d++) {
        let qd = qr[t * D4 + d];
        let kd = key4(k_at + d);
        dot = fma(qd.x, kd.x, dot);
        dot = fma(qd.y, kd.y, dot);
        dot = fma(qd.z, kd.z, dot);
        dot = fma(qd.w, kd.w, dot);
      }
      let s = select(NEG, cap(dot * p.scale), seen);
      let m_new = max(m[t], s);
      let alpha = exp(m[t] - m_new);
      let pj = select(0.0, exp(s - m_new), seen);
      l[t] = l[t] * alpha + pj;
      m[t] = m_new;
      for (var d = 0u; d < D4; d++) { acc[t * D4 + d] = fma(vec4f(pj), val4(k_at + d), acc[t * D4 + d] * alpha); }
    }
  }
  var lses: array<f32, MAX_QB>;
  for (var t = 0u; t < QB; t++) {
    if (i0 + t >= p.T) { break; }
    let row = (b * p.T + i0 + t) * p.n_heads + h;
    for (var d = 0u; d < D4; d++) { out4[row * D4 + d] = select(vec4f(), acc[t * D4 + d] / l[t], l[t] > 0.0); }
    lses[t] = select(NEG, m[t] + log(l[t]), l[t] > 0.0);
  }
  return lses;
}

// The (batch, head) row of query t of a block, and whether that query exists (the last block may be short).
fn block_row(block: u32, t: u32) -> vec2u {
  let TB = (p.T + QB - 1u) / QB;
  let i = ((block / p.n_heads) % TB) * QB + t;
  let b = block / (p.n_heads * TB);
  return vec2u((b * p.T + i) * p.n_heads + block % p.n_heads, u32(i < p.T));
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_vec4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let block = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (block >= (p.n_rows / p.T) * ((p.T + QB - 1u) / QB)) { return; }
  _ = attend_vec4(block);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_vec4_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let block = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (block >= (p.n_rows / p.T) * ((p.T + QB - 1u) / QB)) { return; }
  let lses = attend_vec4(block);
  for (var t = 0u; t < QB; t++) {
    let r = block_row(block, t);
    if (r.y == 1u) { lse[r.x] = lses[t]; }
  }
}

// The vec4 entries for D ≤ 4·16 (every model Alloy loads but Gemma 3's 256-wide heads): one query per
// invocation, its q and output accumulator in 16 named vec4 registers each, the unused ones folded away by
// HEAD_DIM4 at pipeline creation. Named values are what SwiftShader keeps in registers; the indexed arrays of
// attend_vec4 live in memory, and their per-lane loads and stores cost more than the keys' own (profiled: a
// 5-shot MMLU batch spent three quarters of its time in attention). Same operations in the same order as
// attend(), so the same bits.
fn dot_in_order(q: vec4f, k: vec4f, acc: f32) -> f32 {
  return fma(q.w, k.w, fma(q.z, k.z, fma(q.y, k.y, fma(q.x, k.x, acc))));
}

fn attend_named(row: u32) -> f32 {
  let h = row % p.n_heads;
  let i = (row / p.n_heads) % p.T;
  let b = row / (p.n_heads * p.T);
  let kvh = h / (p.n_heads / p.n_kv);
  let kv_batch = b * p.S;
  let n_keys = min(p.S, p.past + i + 1u);
  let qb = row * HEAD_DIM4;
  var qr0 = vec4f(); var qr1 = vec4f(); var qr2 = vec4f(); var qr3 = vec4f(); var qr4 = vec4f(); var qr5 = vec4f(); var qr6 = vec4f(); var qr7 = vec4f(); var qr8 = vec4f(); var qr9 = vec4f(); var qr10 = vec4f(); var qr11 = vec4f(); var qr12 = vec4f(); var qr13 = vec4f(); var qr14 = vec4f(); var qr15 = vec4f();
  qr0 = q4[qb + 0u];
  if (HEAD_DIM4 > 1u) { qr1 = q4[qb + 1u]; }
  if (HEAD_DIM4 > 2u) { qr2 = q4[qb + 2u]; }
  if (HEAD_DIM4 > 3u) { qr3 = q4[qb + 3u]; }
  if (HEAD_DIM4 > 4u) { qr4 = q4[qb + 4u]; }
  if (HEAD_DIM4 > 5u) { qr5 = q4[qb + 5u]; }
  if (HEAD_DIM4 > 6u) { qr6 = q4[qb + 6u]; }
  if (HEAD_DIM4 > 7u) { qr7 = q4[qb + 7u]; }
  if (HEAD_DIM4 > 8u) { qr8 = q4[qb + 8u]; }
  if (HEAD_DIM4 > 9u) { qr9 = q4[qb + 9u]; }
  if (HEAD_DIM4 > 10u) { qr10 = q4[qb + 10u]; }
  if (HEAD_DIM4 > 11u) { qr11 = q4[qb + 11u]; }
  if (HEAD_DIM4 > 12u) { qr12 = q4[qb + 12u]; }
  if (HEAD_DIM4 > 13u) { qr13 = q4[qb + 13u]; }
  if (HEAD_DIM4 > 14u) { qr14 = q4[qb + 14u]; }
  if (HEAD_DIM4 > 15u) { qr15 = q4[qb + 15u]; }
  var a0 = vec4f(); var a1 = vec4f(); var a2 = vec4f(); var a3 = vec4f(); var a4 = vec4f(); var a5 = vec4f(); var a6 = vec4f(); var a7 = vec4f(); var a8 = vec4f(); var a9 = vec4f(); var a10 = vec4f(); var a11 = vec4f(); var a12 = vec4f(); var a13 = vec4f(); var a14 = vec4f(); var a15 = vec4f();
  var m = NEG;
  var l = 0.0;
  for (var j = window_start(kv_batch, n_keys); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let kb = (kv_row(b, j) * p.n_kv + kvh) * HEAD_DIM4;
    var dot = 0.0;
    dot = dot_in_order(qr0, key4(kb + 0u), dot);
    if (HEAD_DIM4 > 1u) { dot = dot_in_order(qr1, key4(kb + 1u), dot); }
    if (HEAD_DIM4 > 2u) { dot = dot_in_order(qr2, key4(kb + 2u), dot); }
    if (HEAD_DIM4 > 3u) { dot = dot_in_order(qr3, key4(kb + 3u), dot); }
    if (HEAD_DIM4 > 4u) { dot = dot_in_order(qr4, key4(kb + 4u), dot); }
    if (HEAD_DIM4 > 5u) { dot = dot_in_order(qr5, key4(kb + 5u), dot); }
    if (HEAD_DIM4 > 6u) { dot = dot_in_order(qr6, key4(kb + 6u), dot); }
    if (HEAD_DIM4 > 7u) { dot = dot_in_order(qr7, key4(kb + 7u), dot); }
    if (HEAD_DIM4 > 8u) { dot = dot_in_order(qr8, key4(kb + 8u), dot); }
    if (HEAD_DIM4 > 9u) { dot = dot_in_order(qr9, key4(kb + 9u), dot); }
    if (HEAD_DIM4 > 10u) { dot = dot_in_order(qr10, key4(kb + 10u), dot); }
    if (HEAD_DIM4 > 11u) { dot = dot_in_order(qr11, key4(kb + 11u), dot); }
    if (HEAD_DIM4 > 12u) { dot = dot_in_order(qr12, key4(kb + 12u), dot); }
    if (HEAD_DIM4 > 13u) { dot = dot_in_order(qr13, key4(kb + 13u), dot); }
    if (HEAD_DIM4 > 14u) { dot = dot_in_order(qr14, key4(kb + 14u), dot); }
    if (HEAD_DIM4 > 15u) { dot = dot_in_order(qr15, key4(kb + 15u), dot); }
    let s = cap(dot * p.scale);
    let m_new = max(m, s);
    let alpha = exp(m - m_new);
    let pj = exp(s - m_new);
    l = l * alpha + pj;
    m = m_new;
    a0 = fma(vec4f(pj), val4(kb + 0u), a0 * alpha);
    if (HEAD_DIM4 > 1u) { a1 = fma(vec4f(pj), val4(kb + 1u), a1 * alpha); }
    if (HEAD_DIM4 > 2u) { a2 = fma(vec4f(pj), val4(kb + 2u), a2 * alpha); }
    if (HEAD_DIM4 > 3u) { a3 = fma(vec4f(pj), val4(kb + 3u), a3 * alpha); }
    if (HEAD_DIM4 > 4u) { a4 = fma(vec4f(pj), val4(kb + 4u), a4 * alpha); }
    if (HEAD_DIM4 > 5u) { a5 = fma(vec4f(pj), val4(kb + 5u), a5 * alpha); }
    if (HEAD_DIM4 > 6u) { a6 = fma(vec4f(pj), val4(kb + 6u), a6 * alpha); }
    if (HEAD_DIM4 > 7u) { a7 = fma(vec4f(pj), val4(kb + 7u), a7 * alpha); }
    if (HEAD_DIM4 > 8u) { a8 = fma(vec4f(pj), val4(kb + 8u), a8 * alpha); }
    if (HEAD_DIM4 > 9u) { a9 = fma(vec4f(pj), val4(kb + 9u), a9 * alpha); }
    if (HEAD_DIM4 > 10u) { a10 = fma(vec4f(pj), val4(kb + 10u), a10 * alpha); }
    if (HEAD_DIM4 > 11u) { a11 = fma(vec4f(pj), val4(kb + 11u), a11 * alpha); }
    if (HEAD_DIM4 > 12u) { a12 = fma(vec4f(pj), val4(kb + 12u), a12 * alpha); }
    if (HEAD_DIM4 > 13u) { a13 = fma(vec4f(pj), val4(kb + 13u), a13 * alpha); }
    if (HEAD_DIM4 > 14u) { a14 = fma(vec4f(pj), val4(kb + 14u), a14 * alpha); }
    if (HEAD_DIM4 > 15u) { a15 = fma(vec4f(pj), val4(kb + 15u), a15 * alpha); }
  }
  out4[qb + 0u] = select(vec4f(), a0 / l, l > 0.0);
  if (HEAD_DIM4 > 1u) { out4[qb + 1u] = select(vec4f(), a1 / l, l > 0.0); }
  if (HEAD_DIM4 > 2u) { out4[qb + 2u] = select(vec4f(), a2 / l, l > 0.0); }
  if (HEAD_DIM4 > 3u) { out4[qb + 3u] = select(vec4f(), a3 / l, l > 0.0); }
  if (HEAD_DIM4 > 4u) { out4[qb + 4u] = select(vec4f(), a4 / l, l > 0.0); }
  if (HEAD_DIM4 > 5u) { out4[qb + 5u] = select(vec4f(), a5 / l, l > 0.0); }
  if (HEAD_DIM4 > 6u) { out4[qb + 6u] = select(vec4f(), a6 / l, l > 0.0); }
  if (HEAD_DIM4 > 7u) { out4[qb + 7u] = select(vec4f(), a7 / l, l > 0.0); }
  if (HEAD_DIM4 > 8u) { out4[qb + 8u] = select(vec4f(), a8 / l, l > 0.0); }
  if (HEAD_DIM4 > 9u) { out4[qb + 9u] = select(vec4f(), a9 / l, l > 0.0); }
  if (HEAD_DIM4 > 10u) { out4[qb + 10u] = select(vec4f(), a10 / l, l > 0.0); }
  if (HEAD_DIM4 > 11u) { out4[qb + 11u] = select(vec4f(), a11 / l, l > 0.0); }
  if (HEAD_DIM4 > 12u) { out4[qb + 12u] = select(vec4f(), a12 / l, l > 0.0); }
  if (HEAD_DIM4 > 13u) { out4[qb + 13u] = select(vec4f(), a13 / l, l > 0.0); }
  if (HEAD_DIM4 > 14u) { out4[qb + 14u] = select(vec4f(), a14 / l, l > 0.0); }
  if (HEAD_DIM4 > 15u) { out4[qb + 15u] = select(vec4f(), a15 / l, l > 0.0); }
  return select(NEG, m + log(l), l > 0.0);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_named(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  _ = attend_named(row);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_named_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (row >= p.n_rows) { return; }
  lse[row] = attend_named(row);
}

// main_named for four consecutive queries of a head at once (T ≥ 2): each key's k and v are loaded once for all
// four. A key a query must not see (past its own slot, before its window) is a no-op for it: score NEG, alpha = 1,
// p = 0, which leaves m, l and the accumulator bit for bit as skipping the key would, so the results are attend()'s.
// The queries past T in the last block repeat the last one and are not stored.
fn attend_named4(block: u32) -> vec4f {
  let TB = (p.T + 3u) / 4u;
  let h = block % p.n_heads;
  let i0 = ((block / p.n_heads) % TB) * 4u;
  let b = block / (p.n_heads * TB);
  let kvh = h / (p.n_heads / p.n_kv);
  let kv_batch = b * p.S;
  let qi0 = i0;
  let last0 = p.past + qi0;
  let first0 = window_start(kv_batch, min(p.S, last0 + 1u));
  let r0 = ((b * p.T + qi0) * p.n_heads + h) * HEAD_DIM4;
  var m0 = NEG;
  var l0 = 0.0;
  let qi1 = min(i0 + 1u, p.T - 1u);
  let last1 = p.past + qi1;
  let first1 = window_start(kv_batch, min(p.S, last1 + 1u));
  let r1 = ((b * p.T + qi1) * p.n_heads + h) * HEAD_DIM4;
  var m1 = NEG;
  var l1 = 0.0;
  let qi2 = min(i0 + 2u, p.T - 1u);
  let last2 = p.past + qi2;
  let first2 = window_start(kv_batch, min(p.S, last2 + 1u));
  let r2 = ((b * p.T + qi2) * p.n_heads + h) * HEAD_DIM4;
  var m2 = NEG;
  var l2 = 0.0;
  let qi3 = min(i0 + 3u, p.T - 1u);
  let last3 = p.past + qi3;
  let first3 = window_start(kv_batch, min(p.S, last3 + 1u));
  let r3 = ((b * p.T + qi3) * p.n_heads + h) * HEAD_DIM4;
  var m3 = NEG;
  var l3 = 0.0;
  let n_keys = min(p.S, last3 + 1u);
  var q0_0 = vec4f(); var q0_1 = vec4f(); var q0_2 = vec4f(); var q0_3 = vec4f(); var q0_4 = vec4f(); var q0_5 = vec4f(); var q0_6 = vec4f(); var q0_7 = vec4f(); var q0_8 = vec4f(); var q0_9 = vec4f(); var q0_10 = vec4f(); var q0_11 = vec4f(); var q0_12 = vec4f(); var q0_13 = vec4f(); var q0_14 = vec4f(); var q0_15 = vec4f();
  var q1_0 = vec4f(); var q1_1 = vec4f(); var q1_2 = vec4f(); var q1_3 = vec4f(); var q1_4 = vec4f(); var q1_5 = vec4f(); var q1_6 = vec4f(); var q1_7 = vec4f(); var q1_8 = vec4f(); var q1_9 = vec4f(); var q1_10 = vec4f(); var q1_11 = vec4f(); var q1_12 = vec4f(); var q1_13 = vec4f(); var q1_14 = vec4f(); var q1_15 = vec4f();
  var q2_0 = vec4f(); var q2_1 = vec4f(); var q2_2 = vec4f(); var q2_3 = vec4f(); var q2_4 = vec4f(); var q2_5 = vec4f(); var q2_6 = vec4f(); var q2_7 = vec4f(); var q2_8 = vec4f(); var q2_9 = vec4f(); var q2_10 = vec4f(); var q2_11 = vec4f(); var q2_12 = vec4f(); var q2_13 = vec4f(); var q2_14 = vec4f(); var q2_15 = vec4f();
  var q3_0 = vec4f(); var q3_1 = vec4f(); var q3_2 = vec4f(); var q3_3 = vec4f(); var q3_4 = vec4f(); var q3_5 = vec4f(); var q3_6 = vec4f(); var q3_7 = vec4f(); var q3_8 = vec4f(); var q3_9 = vec4f(); var q3_10 = vec4f(); var q3_11 = vec4f(); var q3_12 = vec4f(); var q3_13 = vec4f(); var q3_14 = vec4f(); var q3_15 = vec4f();
  var a0_0 = vec4f(); var a0_1 = vec4f(); var a0_2 = vec4f(); var a0_3 = vec4f(); var a0_4 = vec4f(); var a0_5 = vec4f(); var a0_6 = vec4f(); var a0_7 = vec4f(); var a0_8 = vec4f(); var a0_9 = vec4f(); var a0_10 = vec4f(); var a0_11 = vec4f(); var a0_12 = vec4f(); var a0_13 = vec4f(); var a0_14 = vec4f(); var a0_15 = vec4f();
  var a1_0 = vec4f(); var a1_1 = vec4f(); var a1_2 = vec4f(); var a1_3 = vec4f(); var a1_4 = vec4f(); var a1_5 = vec4f(); var a1_6 = vec4f(); var a1_7 = vec4f(); var a1_8 = vec4f(); var a1_9 = vec4f(); var a1_10 = vec4f(); var a1_11 = vec4f(); var a1_12 = vec4f(); var a1_13 = vec4f(); var a1_14 = vec4f(); var a1_15 = vec4f();
  var a2_0 = vec4f(); var a2_1 = vec4f(); var a2_2 = vec4f(); var a2_3 = vec4f(); var a2_4 = vec4f(); var a2_5 = vec4f(); var a2_6 = vec4f(); var a2_7 = vec4f(); var a2_8 = vec4f(); var a2_9 = vec4f(); var a2_10 = vec4f(); var a2_11 = vec4f(); var a2_12 = vec4f(); var a2_13 = vec4f(); var a2_14 = vec4f(); var a2_15 = vec4f();
  var a3_0 = vec4f(); var a3_1 = vec4f(); var a3_2 = vec4f(); var a3_3 = vec4f(); var a3_4 = vec4f(); var a3_5 = vec4f(); var a3_6 = vec4f(); var a3_7 = vec4f(); var a3_8 = vec4f(); var a3_9 = vec4f(); var a3_10 = vec4f(); var a3_11 = vec4f(); var a3_12 = vec4f(); var a3_13 = vec4f(); var a3_14 = vec4f(); var a3_15 = vec4f();
  q0_0 = q4[r0 + 0u]; q1_0 = q4[r1 + 0u]; q2_0 = q4[r2 + 0u]; q3_0 = q4[r3 + 0u];
  if (HEAD_DIM4 > 1u) { q0_1 = q4[r0 + 1u]; q1_1 = q4[r1 + 1u]; q2_1 = q4[r2 + 1u]; q3_1 = q4[r3 + 1u]; }
  if (HEAD_DIM4 > 2u) { q0_2 = q4[r0 + 2u]; q1_2 = q4[r1 + 2u]; q2_2 = q4[r2 + 2u]; q3_2 = q4[r3 + 2u]; }
  if (HEAD_DIM4 > 3u) { q0_3 = q4[r0 + 3u]; q1_3 = q4[r1 + 3u]; q2_3 = q4[r2 + 3u]; q3_3 = q4[r3 + 3u]; }
  if (HEAD_DIM4 > 4u) { q0_4 = q4[r0 + 4u]; q1_4 = q4[r1 + 4u]; q2_4 = q4[r2 + 4u]; q3_4 = q4[r3 + 4u]; }
  if (HEAD_DIM4 > 5u) { q0_5 = q4[r0 + 5u]; q1_5 = q4[r1 + 5u]; q2_5 = q4[r2 + 5u]; q3_5 = q4[r3 + 5u]; }
  if (HEAD_DIM4 > 6u) { q0_6 = q4[r0 + 6u]; q1_6 = q4[r1 + 6u]; q2_6 = q4[r2 + 6u]; q3_6 = q4[r3 + 6u]; }
  if (HEAD_DIM4 > 7u) { q0_7 = q4[r0 + 7u]; q1_7 = q4[r1 + 7u]; q2_7 = q4[r2 + 7u]; q3_7 = q4[r3 + 7u]; }
  if (HEAD_DIM4 > 8u) { q0_8 = q4[r0 + 8u]; q1_8 = q4[r1 + 8u]; q2_8 = q4[r2 + 8u]; q3_8 = q4[r3 + 8u]; }
  if (HEAD_DIM4 > 9u) { q0_9 = q4[r0 + 9u]; q1_9 = q4[r1 + 9u]; q2_9 = q4[r2 + 9u]; q3_9 = q4[r3 + 9u]; }
  if (HEAD_DIM4 > 10u) { q0_10 = q4[r0 + 10u]; q1_10 = q4[r1 + 10u]; q2_10 = q4[r2 + 10u]; q3_10 = q4[r3 + 10u]; }
  if (HEAD_DIM4 > 11u) { q0_11 = q4[r0 + 11u]; q1_11 = q4[r1 + 11u]; q2_11 = q4[r2 + 11u]; q3_11 = q4[r3 + 11u]; }
  if (HEAD_DIM4 > 12u) { q0_12 = q4[r0 + 12u]; q1_12 = q4[r1 + 12u]; q2_12 = q4[r2 + 12u]; q3_12 = q4[r3 + 12u]; }
  if (HEAD_DIM4 > 13u) { q0_13 = q4[r0 + 13u]; q1_13 = q4[r1 + 13u]; q2_13 = q4[r2 + 13u]; q3_13 = q4[r3 + 13u]; }
  if (HEAD_DIM4 > 14u) { q0_14 = q4[r0 + 14u]; q1_14 = q4[r1 + 14u]; q2_14 = q4[r2 + 14u]; q3_14 = q4[r3 + 14u]; }
  if (HEAD_DIM4 > 15u) { q0_15 = q4[r0 + 15u]; q1_15 = q4[r1 + 15u]; q2_15 = q4[r2 + 15u]; q3_15 = q4[r3 + 15u]; }
  for (var j = min(min(first0, first1), min(first2, first3)); j < n_keys; j++) {
    if (USE_MASK && mask[kv_batch + j] == 0u) { continue; }
    let kb = (kv_row(b, j) * p.n_kv + kvh) * HEAD_DIM4;
    var d0 = 0.0;
    var d1 = 0.0;
    var d2 = 0.0;
    var d3 = 0.0;
    let k0 = key4(kb + 0u); d0 = dot_in_order(q0_0, k0, d0); d1 = dot_in_order(q1_0, k0, d1); d2 = dot_in_order(q2_0, k0, d2); d3 = dot_in_order(q3_0, k0, d3);
    if (HEAD_DIM4 > 1u) { let k1 = key4(kb + 1u); d0 = dot_in_order(q0_1, k1, d0); d1 = dot_in_order(q1_1, k1, d1); d2 = dot_in_order(q2_1, k1, d2); d3 = dot_in_order(q3_1, k1, d3); }
    if (HEAD_DIM4 > 2u) { let k2 = key4(kb + 2u); d0 = dot_in_order(q0_2, k2, d0); d1 = dot_in_order(q1_2, k2, d1); d2 = dot_in_order(q2_2, k2, d2); d3 = dot_in_order(q3_2, k2, d3); }
    if (HEAD_DIM4 > 3u) { let k3 = key4(kb + 3u); d0 = dot_in_order(q0_3, k3, d0); d1 = dot_in_order(q1_3, k3, d1); d2 = dot_in_order(q2_3, k3, d2); d3 = dot_in_order(q3_3, k3, d3); }
    if (HEAD_DIM4 > 4u) { let k4 = key4(kb + 4u); d0 = dot_in_order(q0_4, k4, d0); d1 = dot_in_order(q1_4, k4, d1); d2 = dot_in_order(q2_4, k4, d2); d3 = dot_in_order(q3_4, k4, d3); }
    if (HEAD_DIM4 > 5u) { let k5 = key4(kb + 5u); d0 = dot_in_order(q0_5, k5, d0); d1 = dot_in_order(q1_5, k5, d1); d2 = dot_in_order(q2_5, k5, d2); d3 = dot_in_order(q3_5, k5, d3); }
    if (HEAD_DIM4 > 6u) { let k6 = key4(kb + 6u); d0 = dot_in_order(q0_6, k6, d0); d1 = dot_in_order(q1_6, k6, d1); d2 = dot_in_order(q2_6, k6, d2); d3 = dot_in_order(q3_6, k6, d3); }
    if (HEAD_DIM4 > 7u) { let k7 = key4(kb + 7u); d0 = dot_in_order(q0_7, k7, d0); d1 = dot_in_order(q1_7, k7, d1); d2 = dot_in_order(q2_7, k7, d2); d3 = dot_in_order(q3_7, k7, d3); }
    if (HEAD_DIM4 > 8u) { let k8 = key4(kb + 8u); d0 = dot_in_order(q0_8, k8, d0); d1 = dot_in_order(q1_8, k8, d1); d2 = dot_in_order(q2_8, k8, d2); d3 = dot_in_order(q3_8, k8, d3); }
    if (HEAD_DIM4 > 9u) { let k9 = key4(kb + 9u); d0 = dot_in_order(q0_9, k9, d0); d1 = dot_in_order(q1_9, k9, d1); d2 = dot_in_order(q2_9, k9, d2); d3 = dot_in_order(q3_9, k9, d3); }
    if (HEAD_DIM4 > 10u) { let k10 = key4(kb + 10u); d0 = dot_in_order(q0_10, k10, d0); d1 = dot_in_order(q1_10, k10, d1); d2 = dot_in_order(q2_10, k10, d2); d3 = dot_in_order(q3_10, k10, d3); }
    if (HEAD_DIM4 > 11u) { let k11 = key4(kb + 11u); d0 = dot_in_order(q0_11, k11, d0); d1 = dot_in_order(q1_11, k11, d1); d2 = dot_in_order(q2_11, k11, d2); d3 = dot_in_order(q3_11, k11, d3); }
    if (HEAD_DIM4 > 12u) { let k12 = key4(kb + 12u); d0 = dot_in_order(q0_12, k12, d0); d1 = dot_in_order(q1_12, k12, d1); d2 = dot_in_order(q2_12, k12, d2); d3 = dot_in_order(q3_12, k12, d3); }
    if (HEAD_DIM4 > 13u) { let k13 = key4(kb + 13u); d0 = dot_in_order(q0_13, k13, d0); d1 = dot_in_order(q1_13, k13, d1); d2 = dot_in_order(q2_13, k13, d2); d3 = dot_in_order(q3_13, k13, d3); }
    if (HEAD_DIM4 > 14u) { let k14 = key4(kb + 14u); d0 = dot_in_order(q0_14, k14, d0); d1 = dot_in_order(q1_14, k14, d1); d2 = dot_in_order(q2_14, k14, d2); d3 = dot_in_order(q3_14, k14, d3); }
    if (HEAD_DIM4 > 15u) { let k15 = key4(kb + 15u); d0 = dot_in_order(q0_15, k15, d0); d1 = dot_in_order(q1_15, k15, d1); d2 = dot_in_order(q2_15, k15, d2); d3 = dot_in_order(q3_15, k15, d3); }
    let seen0 = j >= first0 && j <= last0;
    let s0 = select(NEG, cap(d0 * p.scale), seen0);
    let mn0 = max(m0, s0);
    let al0 = exp(m0 - mn0);
    let p0 = select(0.0, exp(s0 - mn0), seen0);
    l0 = l0 * al0 + p0;
    m0 = mn0;
    let seen1 = j >= first1 && j <= last1;
    let s1 = select(NEG, cap(d1 * p.scale), seen1);
    let mn1 = max(m1, s1);
    let al1 = exp(m1 - mn1);
    let p1 = select(0.0, exp(s1 - mn1), seen1);
    l1 = l1 * al1 + p1;
    m1 = mn1;
    let seen2 = j >= first2 && j <= last2;
    let s2 = select(NEG, cap(d2 * p.scale), seen2);
    let mn2 = max(m2, s2);
    let al2 = exp(m2 - mn2);
    let p2 = select(0.0, exp(s2 - mn2), seen2);
    l2 = l2 * al2 + p2;
    m2 = mn2;
    let seen3 = j >= first3 && j <= last3;
    let s3 = select(NEG, cap(d3 * p.scale), seen3);
    let mn3 = max(m3, s3);
    let al3 = exp(m3 - mn3);
    let p3 = select(0.0, exp(s3 - mn3), seen3);
    l3 = l3 * al3 + p3;
    m3 = mn3;
    let v0 = val4(kb + 0u); a0_0 = fma(vec4f(p0), v0, a0_0 * al0); a1_0 = fma(vec4f(p1), v0, a1_0 * al1); a2_0 = fma(vec4f(p2), v0, a2_0 * al2); a3_0 = fma(vec4f(p3), v0, a3_0 * al3);
    if (HEAD_DIM4 > 1u) { let v1 = val4(kb + 1u); a0_1 = fma(vec4f(p0), v1, a0_1 * al0); a1_1 = fma(vec4f(p1), v1, a1_1 * al1); a2_1 = fma(vec4f(p2), v1, a2_1 * al2); a3_1 = fma(vec4f(p3), v1, a3_1 * al3); }
    if (HEAD_DIM4 > 2u) { let v2 = val4(kb + 2u); a0_2 = fma(vec4f(p0), v2, a0_2 * al0); a1_2 = fma(vec4f(p1), v2, a1_2 * al1); a2_2 = fma(vec4f(p2), v2, a2_2 * al2); a3_2 = fma(vec4f(p3), v2, a3_2 * al3); }
    if (HEAD_DIM4 > 3u) { let v3 = val4(kb + 3u); a0_3 = fma(vec4f(p0), v3, a0_3 * al0); a1_3 = fma(vec4f(p1), v3, a1_3 * al1); a2_3 = fma(vec4f(p2), v3, a2_3 * al2); a3_3 = fma(vec4f(p3), v3, a3_3 * al3); }
    if (HEAD_DIM4 > 4u) { let v4 = val4(kb + 4u); a0_4 = fma(vec4f(p0), v4, a0_4 * al0); a1_4 = fma(vec4f(p1), v4, a1_4 * al1); a2_4 = fma(vec4f(p2), v4, a2_4 * al2); a3_4 = fma(vec4f(p3), v4, a3_4 * al3); }
    if (HEAD_DIM4 > 5u) { let v5 = val4(kb + 5u); a0_5 = fma(vec4f(p0), v5, a0_5 * al0); a1_5 = fma(vec4f(p1), v5, a1_5 * al1); a2_5 = fma(vec4f(p2), v5, a2_5 * al2); a3_5 = fma(vec4f(p3), v5, a3_5 * al3); }
    if (HEAD_DIM4 > 6u) { let v6 = val4(kb + 6u); a0_6 = fma(vec4f(p0), v6, a0_6 * al0); a1_6 = fma(vec4f(p1), v6, a1_6 * al1); a2_6 = fma(vec4f(p2), v6, a2_6 * al2); a3_6 = fma(vec4f(p3), v6, a3_6 * al3); }
    if (HEAD_DIM4 > 7u) { let v7 = val4(kb + 7u); a0_7 = fma(vec4f(p0), v7, a0_7 * al0); a1_7 = fma(vec4f(p1), v7, a1_7 * al1); a2_7 = fma(vec4f(p2), v7, a2_7 * al2); a3_7 = fma(vec4f(p3), v7, a3_7 * al3); }
    if (HEAD_DIM4 > 8u) { let v8 = val4(kb + 8u); a0_8 = fma(vec4f(p0), v8, a0_8 * al0); a1_8 = fma(vec4f(p1), v8, a1_8 * al1); a2_8 = fma(vec4f(p2), v8, a2_8 * al2); a3_8 = fma(vec4f(p3), v8, a3_8 * al3); }
    if (HEAD_DIM4 > 9u) { let v9 = val4(kb + 9u); a0_9 = fma(vec4f(p0), v9, a0_9 * al0); a1_9 = fma(vec4f(p1), v9, a1_9 * al1); a2_9 = fma(vec4f(p2), v9, a2_9 * al2); a3_9 = fma(vec4f(p3), v9, a3_9 * al3); }
    if (HEAD_DIM4 > 10u) { let v10 = val4(kb + 10u); a0_10 = fma(vec4f(p0), v10, a0_10 * al0); a1_10 = fma(vec4f(p1), v10, a1_10 * al1); a2_10 = fma(vec4f(p2), v10, a2_10 * al2); a3_10 = fma(vec4f(p3), v10, a3_10 * al3); }
    if (HEAD_DIM4 > 11u) { let v11 = val4(kb + 11u); a0_11 = fma(vec4f(p0), v11, a0_11 * al0); a1_11 = fma(vec4f(p1), v11, a1_11 * al1); a2_11 = fma(vec4f(p2), v11, a2_11 * al2); a3_11 = fma(vec4f(p3), v11, a3_11 * al3); }
    if (HEAD_DIM4 > 12u) { let v12 = val4(kb + 12u); a0_12 = fma(vec4f(p0), v12, a0_12 * al0); a1_12 = fma(vec4f(p1), v12, a1_12 * al1); a2_12 = fma(vec4f(p2), v12, a2_12 * al2); a3_12 = fma(vec4f(p3), v12, a3_12 * al3); }
    if (HEAD_DIM4 > 13u) { let v13 = val4(kb + 13u); a0_13 = fma(vec4f(p0), v13, a0_13 * al0); a1_13 = fma(vec4f(p1), v13, a1_13 * al1); a2_13 = fma(vec4f(p2), v13, a2_13 * al2); a3_13 = fma(vec4f(p3), v13, a3_13 * al3); }
    if (HEAD_DIM4 > 14u) { let v14 = val4(kb + 14u); a0_14 = fma(vec4f(p0), v14, a0_14 * al0); a1_14 = fma(vec4f(p1), v14, a1_14 * al1); a2_14 = fma(vec4f(p2), v14, a2_14 * al2); a3_14 = fma(vec4f(p3), v14, a3_14 * al3); }
    if (HEAD_DIM4 > 15u) { let v15 = val4(kb + 15u); a0_15 = fma(vec4f(p0), v15, a0_15 * al0); a1_15 = fma(vec4f(p1), v15, a1_15 * al1); a2_15 = fma(vec4f(p2), v15, a2_15 * al2); a3_15 = fma(vec4f(p3), v15, a3_15 * al3); }
  }
  if (i0 + 0u < p.T) {
    out4[r0 + 0u] = select(vec4f(), a0_0 / l0, l0 > 0.0);
    if (HEAD_DIM4 > 1u) { out4[r0 + 1u] = select(vec4f(), a0_1 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 2u) { out4[r0 + 2u] = select(vec4f(), a0_2 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 3u) { out4[r0 + 3u] = select(vec4f(), a0_3 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 4u) { out4[r0 + 4u] = select(vec4f(), a0_4 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 5u) { out4[r0 + 5u] = select(vec4f(), a0_5 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 6u) { out4[r0 + 6u] = select(vec4f(), a0_6 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 7u) { out4[r0 + 7u] = select(vec4f(), a0_7 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 8u) { out4[r0 + 8u] = select(vec4f(), a0_8 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 9u) { out4[r0 + 9u] = select(vec4f(), a0_9 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 10u) { out4[r0 + 10u] = select(vec4f(), a0_10 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 11u) { out4[r0 + 11u] = select(vec4f(), a0_11 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 12u) { out4[r0 + 12u] = select(vec4f(), a0_12 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 13u) { out4[r0 + 13u] = select(vec4f(), a0_13 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 14u) { out4[r0 + 14u] = select(vec4f(), a0_14 / l0, l0 > 0.0); }
    if (HEAD_DIM4 > 15u) { out4[r0 + 15u] = select(vec4f(), a0_15 / l0, l0 > 0.0); }
  }
  if (i0 + 1u < p.T) {
    out4[r1 + 0u] = select(vec4f(), a1_0 / l1, l1 > 0.0);
    if (HEAD_DIM4 > 1u) { out4[r1 + 1u] = select(vec4f(), a1_1 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 2u) { out4[r1 + 2u] = select(vec4f(), a1_2 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 3u) { out4[r1 + 3u] = select(vec4f(), a1_3 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 4u) { out4[r1 + 4u] = select(vec4f(), a1_4 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 5u) { out4[r1 + 5u] = select(vec4f(), a1_5 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 6u) { out4[r1 + 6u] = select(vec4f(), a1_6 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 7u) { out4[r1 + 7u] = select(vec4f(), a1_7 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 8u) { out4[r1 + 8u] = select(vec4f(), a1_8 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 9u) { out4[r1 + 9u] = select(vec4f(), a1_9 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 10u) { out4[r1 + 10u] = select(vec4f(), a1_10 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 11u) { out4[r1 + 11u] = select(vec4f(), a1_11 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 12u) { out4[r1 + 12u] = select(vec4f(), a1_12 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 13u) { out4[r1 + 13u] = select(vec4f(), a1_13 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 14u) { out4[r1 + 14u] = select(vec4f(), a1_14 / l1, l1 > 0.0); }
    if (HEAD_DIM4 > 15u) { out4[r1 + 15u] = select(vec4f(), a1_15 / l1, l1 > 0.0); }
  }
  if (i0 + 2u < p.T) {
    out4[r2 + 0u] = select(vec4f(), a2_0 / l2, l2 > 0.0);
    if (HEAD_DIM4 > 1u) { out4[r2 + 1u] = select(vec4f(), a2_1 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 2u) { out4[r2 + 2u] = select(vec4f(), a2_2 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 3u) { out4[r2 + 3u] = select(vec4f(), a2_3 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 4u) { out4[r2 + 4u] = select(vec4f(), a2_4 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 5u) { out4[r2 + 5u] = select(vec4f(), a2_5 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 6u) { out4[r2 + 6u] = select(vec4f(), a2_6 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 7u) { out4[r2 + 7u] = select(vec4f(), a2_7 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 8u) { out4[r2 + 8u] = select(vec4f(), a2_8 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 9u) { out4[r2 + 9u] = select(vec4f(), a2_9 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 10u) { out4[r2 + 10u] = select(vec4f(), a2_10 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 11u) { out4[r2 + 11u] = select(vec4f(), a2_11 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 12u) { out4[r2 + 12u] = select(vec4f(), a2_12 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 13u) { out4[r2 + 13u] = select(vec4f(), a2_13 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 14u) { out4[r2 + 14u] = select(vec4f(), a2_14 / l2, l2 > 0.0); }
    if (HEAD_DIM4 > 15u) { out4[r2 + 15u] = select(vec4f(), a2_15 / l2, l2 > 0.0); }
  }
  if (i0 + 3u < p.T) {
    out4[r3 + 0u] = select(vec4f(), a3_0 / l3, l3 > 0.0);
    if (HEAD_DIM4 > 1u) { out4[r3 + 1u] = select(vec4f(), a3_1 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 2u) { out4[r3 + 2u] = select(vec4f(), a3_2 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 3u) { out4[r3 + 3u] = select(vec4f(), a3_3 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 4u) { out4[r3 + 4u] = select(vec4f(), a3_4 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 5u) { out4[r3 + 5u] = select(vec4f(), a3_5 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 6u) { out4[r3 + 6u] = select(vec4f(), a3_6 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 7u) { out4[r3 + 7u] = select(vec4f(), a3_7 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 8u) { out4[r3 + 8u] = select(vec4f(), a3_8 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 9u) { out4[r3 + 9u] = select(vec4f(), a3_9 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 10u) { out4[r3 + 10u] = select(vec4f(), a3_10 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 11u) { out4[r3 + 11u] = select(vec4f(), a3_11 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 12u) { out4[r3 + 12u] = select(vec4f(), a3_12 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 13u) { out4[r3 + 13u] = select(vec4f(), a3_13 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 14u) { out4[r3 + 14u] = select(vec4f(), a3_14 / l3, l3 > 0.0); }
    if (HEAD_DIM4 > 15u) { out4[r3 + 15u] = select(vec4f(), a3_15 / l3, l3 > 0.0); }
  }
  return vec4f(select(NEG, m0 + log(l0), l0 > 0.0), select(NEG, m1 + log(l1), l1 > 0.0), select(NEG, m2 + log(l2), l2 > 0.0), select(NEG, m3 + log(l3), l3 > 0.0));
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_named4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let block = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (block >= (p.n_rows / p.T) * ((p.T + 3u) / 4u)) { return; }
  _ = attend_named4(block);
}

@compute @workgroup_size(ROWS_PER_WG)
fn main_named4_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let block = (wg.y * nwg.x + wg.x) * ROWS_PER_WG + lid;
  if (block >= (p.n_rows / p.T) * ((p.T + 3u) / 4u)) { return; }
  let lses = attend_named4(block);
  let TB = (p.T + 3u) / 4u;
  let i0 = ((block / p.n_heads) % TB) * 4u;
  let row0 = ((block / (p.n_heads * TB)) * p.T + i0) * p.n_heads + block % p.n_heads;
  for (var t = 0u; t < 4u; t++) {
    if (i0 + t < p.T) { lse[row0 + t * p.n_heads] = lses[t]; }
  }
}

// #include _attention_keys
