// Rotary position embedding, HF's non-interleaved "rotate_half" form, applied in place to q or k; entry
// `backward` applies the inverse rotation in place to dq or dk.
// Layouts (row-major): x f32 [rows, n_heads, D] where rows = batch·T (any batch folds into rows);
// pos u32 [rows] (absolute position of each row: padding offsets and KV-cache offsets come from here);
// inv_freq f32 [D/2] (computed on the CPU, see src/engine/ops/rope.ts). Pairs are (j, j + D/2):
//   x'[j]     = x[j]·cos θ − x[j+D/2]·sin θ
//   x'[j+D/2] = x[j+D/2]·cos θ + x[j]·sin θ,      θ = f32(pos · inv_freq[j])   (as HF, all f32)
// One thread per pair. θ reaches ~pos (inv_freq[0] = 1). WGSL's built-in sin/cos promise only 2^-11 absolute
// error, and only inside [−π, π] (SwiftShader really is ~2e-4 off), which would put RoPE visibly apart from
// HF. So sin/cos are computed here: θ is reduced mod 2π (Cody–Waite, three-part 2π whose leading parts are
// short enough that k·C1, k·C2 are exact for k < 2^16, i.e. positions up to ~400k), then to a quadrant
// |r| ≤ π/4, and evaluated with Cephes' sinf/cosf minimax polynomials (~1e-7).

struct Params {
  rows: u32,
  n_heads: u32,
  D: u32,
  n_kv: u32,  // main_qk / backward_qk / split_qkv: heads of k (and v)
  T: u32,     // split_qkv: tokens per batch row (rows = batch·T)
  S: u32,     // split_qkv: slots per batch row of the k, v destinations (a KV cache's capacity; T when dense)
  past: u32,  // split_qkv: slot of this call's first token in the destinations (0 when dense)
  ring: u32,  // split_qkv with RING: a sliding layer's ring of KV slots per batch row (kv-cache.ts)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;
// main_qk / backward_qk: q at binding 1 and k here, rotated by one dispatch (the same angles: one pos row each)
@group(0) @binding(4) var<storage, read_write> xk: array<f32>;
// split_qkv: the fused q|k|v projection [rows, (n_heads + 2·n_kv)·D] in, q [rows, n_heads, D] and k, v (dense, or
// a KV cache's [batch, S, n_kv, D] slots past..) out, RoPE applied to q and k on the way when ROPE is set.
override ROPE: bool = true;
// split_qkv into a sliding layer's ring (kv-cache.ts): batch b's slot s goes to row b·ring + s mod ring, not b·S + s
override RING: bool = false;
// qkv and q_out are bound as words: f32 bits (bitcast, exact), or with ACT_F16 f16 activations (act-dtype.ts: two
// halves a word, the lower index in the low half), the hardware family's f16 forward: qkv read as f16 pairs (the
// bias, if any, still an f32 add after decoding) and q written as f16 pairs, two adjacent rotation pairs an
// invocation so that each owns whole words (as split_qkv_f16 does for k); D % 4 == 0. k and v are independent of
// it: split_qkv writes them f32, split_qkv_f16 f16 (a cache's, or dense ones of an f16-activation forward).
override ACT_F16: bool = false;
@group(0) @binding(5) var<storage, read> qkv: array<u32>;
@group(0) @binding(6) var<storage, read_write> q_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> k_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_out: array<f32>;
// split_qkv with BIAS (Qwen2's q/k/v biases): the fused bias [(n_heads + 2·n_kv)·D] added to each value as it is
// read, before RoPE, as the projection's own bias add would (the same f32 add, so the same bits), one dispatch fewer.
override BIAS: bool = false;
@group(0) @binding(9) var<storage, read> qkv_bias: array<f32>;

// Column c of the fused projection's row `row`, with its bias when BIAS is set.
fn qkv_at(row: u32, c: u32, W: u32) -> f32 {
  let i = row * W + c;
  var x: f32;
  if (ACT_F16) {
    let h = unpack2x16float(qkv[i / 2u]);
    x = select(h.x, h.y, (i & 1u) == 1u);
  } else {
    x = bitcast<f32>(qkv[i]);
  }
  if (BIAS) { return x + qkv_bias[c]; }
  return x;
}

const WG = 64u;
const INV_TWO_PI = 0.15915494309189535;
const C1 = 6.28125;                 // 8 significant bits
const C2 = 0.00193023681640625;     // 8 significant bits
const C3 = 5.070363386039389e-06;   // rest of 2π, rounded to f32

const TWO_OVER_PI = 0.6366197723675814;
const P1 = 1.5703125;                    // π/2 in three parts (Cephes' DP1..DP3, doubled)
const P2 = 4.837512969970703125e-4;
const P3 = 7.54978995489188216e-8;

// (sin θ, cos θ) to ~f32 accuracy for |θ| < 2^16·2π.
fn sincos(a: f32) -> vec2f {
  let k = round(a * INV_TWO_PI);
  let t = ((a - k * C1) - k * C2) - k * C3;            // [−π, π]
  let q = round(t * TWO_OVER_PI);                      // −2..2
  let r = ((t - q * P1) - q * P2) - q * P3;            // [−π/4, π/4]
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch ((i32(q) + 4) % 4) {
    case 1: { return vec2f(c, -s); }
    case 2: { return vec2f(-s, -c); }
    case 3: { return vec2f(-c, s); }
    default: { return vec2f(s, c); }
  }
}

// Pair i (< rows·heads·D/2) of a [rows, heads, D] tensor: the offset of its first element, and (sin, cos) of its
// angle with the sign applied.
struct Pair {
  at: u32,
  half: u32,
  s: f32,
  c: f32,
}

fn pair_of(i: u32, heads: u32, sign: f32) -> Pair {
  let half = p.D / 2u;
  let j = i % half;
  let rh = i / half; // row · heads + head
  let row = rh / heads;
  let sc = sincos(f32(pos[row]) * inv_freq[j]);
  return Pair(rh * p.D + j, half, sign * sc.x, sc.y);
}

// Rotates pair i of x by +θ (sign 1: the forward) or −θ (sign −1: the backward, the transpose of an orthogonal map).
fn rotate(i: u32, sign: f32) {
  if (i >= p.rows * p.n_heads * (p.D / 2u)) { return; }
  let q = pair_of(i, p.n_heads, sign);
  let x1 = x[q.at];
  let x2 = x[q.at + q.half];
  x[q.at] = x1 * q.c - x2 * q.s;
  x[q.at + q.half] = x2 * q.c + x1 * q.s;
}

// q's pairs first, then k's: one dispatch for both tensors of an attention layer.
fn rotate_qk(i: u32, sign: f32) {
  let nq = p.rows * p.n_heads * (p.D / 2u);
  if (i < nq) {
    rotate(i, sign);
    return;
  }
  let ik = i - nq;
  if (ik >= p.rows * p.n_kv * (p.D / 2u)) { return; }
  let k = pair_of(ik, p.n_kv, sign);
  let x1 = xk[k.at];
  let x2 = xk[k.at + k.half];
  xk[k.at] = x1 * k.c - x2 * k.s;
  xk[k.at + k.half] = x2 * k.c + x1 * k.s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  rotate((wg.y * nwg.x + wg.x) * WG + lid, 1.0);
}

// Backward, in place on the gradient: dx = R(−θ)·dy, the same positions and angles as the forward.
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  rotate((wg.y * nwg.x + wg.x) * WG + lid, -1.0);
}

@compute @workgroup_size(WG)
fn main_qk(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  rotate_qk((wg.y * nwg.x + wg.x) * WG + lid, 1.0);
}

@compute @workgroup_size(WG)
fn backward_qk(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  rotate_qk((wg.y * nwg.x + wg.x) * WG + lid, -1.0);
}

// main_qk_f16: main_qk over f16 activations (act-dtype.ts: two halves a u32 word, the lower index in the low
// half): q [rows, n_heads, D] and k [rows, n_kv, D] as f16 pairs at bindings 14 and 15, rotated in place (the
// unfused path of an f16-activation forward: LoRA on q/k/v, Qwen3's q/k norms). An invocation takes two adjacent
// rotation pairs, (j, j + D/2) and (j + 1, j + 1 + D/2) for even j (D % 4 == 0), so it owns the two words they
// touch; the angles and the rotation are rotate()'s, in f32, the results clamped to f16's range.
@group(0) @binding(14) var<storage, read_write> q16: array<u32>;
@group(0) @binding(15) var<storage, read_write> k16_qk: array<u32>;

// The words holding elements (j, j + 1) and (j + D/2, j + 1 + D/2) of a row's head, rotated by +θ.
fn rotate_words(lo: u32, hi: u32, row: u32, j: u32) -> vec2u {
  let x1 = unpack2x16float(lo);
  let x2 = unpack2x16float(hi);
  let a = sincos(f32(pos[row]) * inv_freq[j]);
  let b = sincos(f32(pos[row]) * inv_freq[j + 1u]);
  let sn = vec2f(a.x, b.x);
  let cs = vec2f(a.y, b.y);
  let r1 = x1 * cs - x2 * sn;
  let r2 = x2 * cs + x1 * sn;
  return vec2u(to_f16_pair(r1.x, r1.y), to_f16_pair(r2.x, r2.y));
}

@compute @workgroup_size(WG)
fn main_qk_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  let quads = p.D / 4u; // pairs of pairs a head
  let nq = p.rows * p.n_heads * quads;
  let isK = i >= nq;
  let e = select(i, i - nq, isK);
  let heads = select(p.n_heads, p.n_kv, isK);
  if (e >= p.rows * heads * quads) { return; }
  let j = 2u * (e % quads);
  let rh = e / quads; // row · heads + head
  let at = (rh * p.D + j) / 2u; // in words
  let off = p.D / 4u;           // words from element j to j + D/2
  if (isK) {
    let r = rotate_words(k16_qk[at], k16_qk[at + off], rh / heads, j);
    k16_qk[at] = r.x;
    k16_qk[at + off] = r.y;
  } else {
    let r = rotate_words(q16[at], q16[at + off], rh / heads, j);
    q16[at] = r.x;
    q16[at + off] = r.y;
  }
}

// One invocation per q pair, then per k pair, then per v element. Each rotated element gets exactly rotate()'s
// arithmetic (the same sincos of the same f32 angle), so split + rope equals projection + encodeRope bit for bit.
// The k, v destination row of projection row `row` (batch row / T, slot past + row % T).
fn kv_dest_row(row: u32) -> u32 {
  let slot = p.past + row % p.T;
  if (RING) { return (row / p.T) * p.ring + slot % p.ring; }
  return (row / p.T) * p.S + slot;
}

// The pair (column col, col + D/2) of the fused projection's row `row`, with its bias, rotated by pair j's angle
// when ROPE: what split_qkv and split_qkv_f16 write, one function so both write the same f32 values.
fn split_pair(row: u32, col: u32, j: u32, W: u32) -> vec2f {
  let x1 = qkv_at(row, col, W);
  let x2 = qkv_at(row, col + p.D / 2u, W);
  if (ROPE) {
    let sc = sincos(f32(pos[row]) * inv_freq[j]);
    return vec2f(x1 * sc.y - x2 * sc.x, x2 * sc.y + x1 * sc.x);
  }
  return vec2f(x1, x2);
}

// q's share of the split's invocations: a rotation pair each, or with ACT_F16 two adjacent pairs (two f16 words).
fn q_work() -> u32 {
  if (ACT_F16) { return p.rows * p.n_heads * (p.D / 4u); }
  return p.rows * p.n_heads * (p.D / 2u);
}

// q's invocation i (< q_work()) of the split: q [rows, n_heads, D], f32 or f16 pairs.
fn split_q(i: u32, W: u32) {
  let half = p.D / 2u;
  if (ACT_F16) {
    let quads = half / 2u; // pairs of pairs a head
    let j = 2u * (i % quads);
    let rh = i / quads; // row · n_heads + head
    let col = (rh % p.n_heads) * p.D + j;
    let row = rh / p.n_heads;
    let a = split_pair(row, col, j, W);
    let b = split_pair(row, col + 1u, j + 1u, W);
    let at = (rh * p.D + j) / 2u; // in words
    q_out[at] = to_f16_pair(a.x, b.x);
    q_out[at + half / 2u] = to_f16_pair(a.y, b.y);
    return;
  }
  let j = i % half;
  let rh = i / half; // row · n_heads + head
  let r = split_pair(rh / p.n_heads, (rh % p.n_heads) * p.D + j, j, W);
  q_out[rh * p.D + j] = bitcast<u32>(r.x);
  q_out[rh * p.D + j + half] = bitcast<u32>(r.y);
}

@compute @workgroup_size(WG)
fn split_qkv(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  let half = p.D / 2u;
  let W = (p.n_heads + 2u * p.n_kv) * p.D;
  let nq = q_work();
  let nk = p.rows * p.n_kv * half;
  let nv = p.rows * p.n_kv * p.D;
  if (i >= nq + nk + nv) { return; }
  if (i < nq) {
    split_q(i, W);
    return;
  }
  if (i >= nq + nk) {
    let e = i - nq - nk;
    let row = e / (p.n_kv * p.D);
    let c = e % (p.n_kv * p.D);
    let drow = kv_dest_row(row);
    v_out[drow * p.n_kv * p.D + c] = qkv_at(row, (p.n_heads + p.n_kv) * p.D + c, W);
    return;
  }
  let pi = i - nq;
  let j = pi % half;
  let rh = pi / half; // row · n_kv + head
  let row = rh / p.n_kv;
  let head = rh % p.n_kv;
  let r = split_pair(row, p.n_heads * p.D + head * p.D + j, j, W);
  let at = (kv_dest_row(row) * p.n_kv + head) * p.D + j;
  k_out[at] = r.x;
  k_out[at + half] = r.y;
}

// store_kv_f16: a run's keys and values, dense f32 [rows, n_kv·D] at bindings 10 and 11 (split_qkv's or the
// projections' output, RoPE applied), written into a KV cache stored as f16 (kv-cache.ts kvDtype 'f16') at split_qkv's
// destination rows: the same uniform block (past, S, ring) and kv_dest_row. Two elements a u32 word, the lower
// index in the low half (pack2x16float; _kv_load_f16.wgsl reads them back). One invocation per word of k and the
// same word of v. Values beyond f16's range are clamped to ±65504 (pack2x16float leaves them undefined).
@group(0) @binding(10) var<storage, read> k_in: array<f32>;
@group(0) @binding(11) var<storage, read> v_in: array<f32>;
@group(0) @binding(12) var<storage, read_write> k16: array<u32>;
@group(0) @binding(13) var<storage, read_write> v16: array<u32>;

const F16_MAX = 65504.0;

fn to_f16_pair(a: f32, b: f32) -> u32 {
  return pack2x16float(clamp(vec2f(a, b), vec2f(-F16_MAX), vec2f(F16_MAX)));
}

@compute @workgroup_size(WG)
fn store_kv_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = (wg.y * nwg.x + wg.x) * WG + lid;
  let words = p.n_kv * p.D / 2u; // a row's words
  if (w >= p.rows * words) { return; }
  let row = w / words;
  let c = w % words;
  let at = row * 2u * words + 2u * c;
  let dest = kv_dest_row(row) * words + c;
  k16[dest] = to_f16_pair(k_in[at], k_in[at + 1u]);
  v16[dest] = to_f16_pair(v_in[at], v_in[at + 1u]);
}

// split_qkv_f16: split_qkv into an f16 KV cache (k16, v16 at bindings 12 and 13, as store_kv_f16 writes them), so
// no dense f32 k, v is made and stored again. A word holds two adjacent elements, which split_qkv gives to two
// invocations (one rotation pair each), so here one invocation takes two adjacent pairs of k, (j, j + D/2) and
// (j + 1, j + 1 + D/2) for even j < D/2 (D % 4 == 0), and writes the two words they make; v, a word (two
// elements) an invocation; q as split_qkv (split_q). The values are split_pair's, so the words equal split_qkv then
// store_kv_f16 bit for bit.
@compute @workgroup_size(WG)
fn split_qkv_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  let half = p.D / 2u;
  let W = (p.n_heads + 2u * p.n_kv) * p.D;
  let words = p.n_kv * half; // a row's words of k (and of v)
  let nq = q_work();
  let nk = p.rows * words / 2u;
  let nv = p.rows * words;
  if (i >= nq + nk + nv) { return; }
  if (i < nq) {
    split_q(i, W);
    return;
  }
  if (i < nq + nk) {
    let e = i - nq;
    let quads = half / 2u; // pairs of pairs a head
    let j = 2u * (e % quads);
    let rh = e / quads; // row · n_kv + head
    let row = rh / p.n_kv;
    let head = rh % p.n_kv;
    let col = p.n_heads * p.D + head * p.D + j;
    let a = split_pair(row, col, j, W);
    let b = split_pair(row, col + 1u, j + 1u, W);
    let at = (kv_dest_row(row) * p.n_kv + head) * half + j / 2u; // in words
    k16[at] = to_f16_pair(a.x, b.x);
    k16[at + half / 2u] = to_f16_pair(a.y, b.y);
    return;
  }
  let e = i - nq - nk;
  let row = e / words;
  let c = 2u * (e % words);
  let src = (p.n_heads + p.n_kv) * p.D + c;
  v16[kv_dest_row(row) * words + c / 2u] = to_f16_pair(qkv_at(row, src, W), qkv_at(row, src + 1u, W));
}
