// The hardware family's attention forward (src/engine/ops/attention-hw.ts picks the shape and the entry): causal
// GQA attention with the software kernel's semantics (attention.wgsl: key mask, sliding WINDOW counted in real
// keys, SOFTCAP, scale, a sliding layer's ring of KV slots, lse for the backward, zeros for a row that sees no
// key). Layouts (row-major f32): q, out [B, T, n_heads, D]; k, v [B, S (or ring), n_kv, D]; mask u32 [B, S]. The
// +f16 variant reads k, v as f16 pairs (_kv_load_f16), the +a16 variant q and out (_hw_attention_io_a16, f16
// activations, act-dtype.ts); tags combine (hw_attention+a16+f16).
//
// What it follows:
// - FlashAttention-2 (Dao 2023, "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning"):
//   a workgroup owns a block of query rows and walks the keys in tiles staged in var<workgroup> memory, with an
//   online softmax (running max m, sum l, and an unnormalised f32 accumulator rescaled by exp(m_old − m_new) once
//   per tile, divided by l only at the end); the parallelism is over query blocks × heads, not over keys;
// - GQA packing as in llama.cpp's flash-attention shaders and FlashInfer: a workgroup's rows are (query, q-head)
//   pairs of ONE kv-head's group, flattened as f = i·group + hh, so every K/V tile staged is shared by all the
//   group's heads (BR rows of (T·group) per workgroup; grid x = row blocks, y = kv-head, z = batch row);
// - flash-decoding (Dao, Haziza, Massa, Sizov 2023, "Flash-Decoding for long-context inference"; llama.cpp's
//   split_k flash-attn on Vulkan): for 1–4 query rows there are too few row blocks to fill a GPU, so the key
//   range is cut into SPLITS slices, one workgroup each (grid x = row block · SPLITS + slice), each writing its
//   partial (m, l, acc) (entry `split`); `reduce` then combines the slices in slice order (deterministic):
//   M = max m_s, L = Σ l_s·e^(m_s − M), out = Σ acc_s·e^(m_s − M) / L. The slices are cut from each workgroup's
//   visible range at run time (p.past is rewritten in place between decode steps), whole tiles each.
//
// Inside a workgroup: BR rows × TPR lanes (64 threads, fewer for a 1–2-row decode). Lane c of a row owns the head
// dims d = c + TPR·e (e < DL = ⌈D/TPR⌉; in the +a16 variant pairs of dims, lane_dim, so that a lane stores whole
// f16 words): its slice of q and of the output accumulator live in registers
// (HEAD_DIM is fixed at pipeline creation, so the loops have constant trip counts), and neighbouring lanes read
// neighbouring words of the tiles (conflict-free, and coalesced global loads of q and out). Per tile of BC keys:
//   1. every thread stages K and V elements (consecutive threads, consecutive addresses of a key's row; vec4s
//      when D % 4 == 0);
//   2. each lane forms partial dots of its dims with the BC keys → part[row][key][lane];
//   3. lane c sums the TPR partials of keys c, c + TPR, … (lane order: fixed), applies scale, soft-cap and the
//      visibility rule (causal, window, mask; invisible = NEG) → sc[row][key];
//   4. every lane of the row reads the row's BC scores (a broadcast), updates m, l and its accumulator dims.
// Four barriers a tile; no thread returns early (rows past the end compute on a clamped row and write nothing).
// Core WGSL only: no shader-f16 (f16 storage is unpacked to f32), no subgroups. The tile sizes are override constants chosen by ops/attention-hw.ts so
// that ks, vs, part and sc fit in 16 KB of workgroup memory.

override USE_MASK: bool = false;
override WINDOW: u32 = 0u;
override SOFTCAP: f32 = 0.0;
override HEAD_DIM: u32 = 64u;
override BR: u32 = 16u;   // rows (query, q-head) per workgroup
override TPR: u32 = 4u;   // lanes per row
override BC: u32 = 16u;   // keys per tile
override SPLITS: u32 = 1u; // key slices per row block (flash-decoding); 1 for the plain forward
// D % 4 == 0 (every real model): k and v are staged through vec4 views (bindings 8, 9: the same buffers), a quarter
// of the load instructions. The scalar views stay bound either way (layout 'auto' is reflected before the branch
// is pruned).
override KV_VEC4: bool = false;

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
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
// flash-decoding partials: (m, l) [n_rows, SPLITS, 2], then acc [n_rows, SPLITS, D]
@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
// k4, v4 at bindings 8, 9 and their readers key4, val4 (f32, or f16 in the +f16 variant)
// #include _kv_load
// q, out at bindings 1, 4, their accessors q_el, out_put and PAIR (f32, or f16 activations in the +a16 variant)
// #include _hw_attention_io

const MAX_DL = 64u; // dims per lane: D ≤ 256 with TPR ≥ 4
const NEG = -1e30;  // "no score": finite, so exp(NEG − NEG) is 1, never NaN
override DL: u32 = (HEAD_DIM + PAIR * TPR - 1u) / (PAIR * TPR) * PAIR;

// Lane c's e-th head dim (e < DL; ≥ HEAD_DIM: none): runs of PAIR consecutive dims, TPR·PAIR apart.
fn lane_dim(c: u32, e: u32) -> u32 {
  return PAIR * (c + TPR * (e / PAIR)) + e % PAIR;
}

var<workgroup> ks: array<f32, BC * HEAD_DIM>;
var<workgroup> vs: array<f32, BC * HEAD_DIM>;
var<workgroup> part: array<f32, BR * BC * TPR>;
var<workgroup> sc: array<f32, BR * BC>;
var<workgroup> key_range: vec3u; // the slice's keys [x, y), and z: the block's first query's window start

// One thread's state after run(): its row, and that row's m, l and accumulator dims.
var<private> qr: array<f32, MAX_DL>;
var<private> acc: array<f32, MAX_DL>;
var<private> m: f32;
var<private> l: f32;
var<private> row: u32;
var<private> row_live: bool;



// The row of k and v (in units of n_kv·D) holding batch b's slot j: j mod ring in a sliding layer's ring.
fn kv_row(b: u32, j: u32) -> u32 {
  if (WINDOW > 0u && p.ring > 0u) { return b * p.ring + j % p.ring; }
  return b * p.S + j;
}


// Attends this thread's row over its workgroup's slice of keys (all of them when SPLITS = 1), leaving the state in
// the private variables above. Called from uniform control flow: every thread reaches every barrier.
fn run(wg: vec3u, lid: u32) {
  let r = lid / TPR;
  let c = lid % TPR;
  let group = p.n_heads / p.n_kv;
  let rows_kv = p.T * group;
  let slice = wg.x % SPLITS;
  let f0 = (wg.x / SPLITS) * BR;
  let kvh = wg.y;
  let b = wg.z;
  let kv_batch = b * p.S;
  row_live = f0 + r < rows_kv;
  let f = min(f0 + r, rows_kv - 1u);
  let i = f / group;
  row = (b * p.T + i) * p.n_heads + kvh * group + f % group;
  let n_keys = min(p.S, p.past + i + 1u);

  // the workgroup's keys: from the first query's window start to the last query's causal limit, then its slice
  if (lid == 0u) {
    let lo = window_start(kv_batch, min(p.S, p.past + f0 / group + 1u));
    let hi = min(p.S, p.past + min(p.T - 1u, (f0 + BR - 1u) / group) + 1u);
    let per = ((hi - lo + SPLITS - 1u) / SPLITS + BC - 1u) / BC * BC;
    let s_lo = min(hi, lo + slice * per);
    key_range = vec3u(s_lo, min(hi, s_lo + per), lo);
  }
  let range = workgroupUniformLoad(&key_range);
  // this row's window start; rows of the block's first query (every row of a decode step) reuse the block's, so
  // a masked window is scanned once a workgroup, not once a thread
  var first = range.z;
  if (i != f0 / group) { first = window_start(kv_batch, n_keys); }

  let q_at = row * HEAD_DIM;
  for (var e = 0u; e < DL; e++) {
    let d = lane_dim(c, e);
    qr[e] = select(0.0, q_el(q_at + min(d, HEAD_DIM - 1u)), d < HEAD_DIM);
    acc[e] = 0.0;
  }
  m = NEG;
  l = 0.0;

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    // 1. stage the tile's keys and values (0 past the slice's end): vec4 loads when D % 4 == 0
    if (KV_VEC4) {
      let D4 = HEAD_DIM / 4u;
      for (var idx = lid; idx < BC * D4; idx += BR * TPR) {
        let key = j0 + idx / D4;
        var kx = vec4f();
        var vx = vec4f();
        if (key < range.y) {
          let at = (kv_row(b, key) * p.n_kv + kvh) * D4 + idx % D4;
          kx = key4(at);
          vx = val4(at);
        }
        for (var t = 0u; t < 4u; t++) {
          ks[4u * idx + t] = kx[t];
          vs[4u * idx + t] = vx[t];
        }
      }
    } else {
      for (var idx = lid; idx < BC * HEAD_DIM; idx += BR * TPR) {
        let key = j0 + idx / HEAD_DIM;
        var kx = 0.0;
        var vx = 0.0;
        if (key < range.y) {
          let at = (kv_row(b, key) * p.n_kv + kvh) * HEAD_DIM + idx % HEAD_DIM;
          kx = k[at];
          vx = v[at];
        }
        ks[idx] = kx;
        vs[idx] = vx;
      }
    }
    workgroupBarrier();
    // 2. partial dots over this lane's dims
    for (var j = 0u; j < BC; j++) {
      var dot = 0.0;
      for (var e = 0u; e < DL; e++) {
        let d = lane_dim(c, e);
        if (d < HEAD_DIM) { dot = fma(qr[e], ks[j * HEAD_DIM + d], dot); }
      }
      part[(r * BC + j) * TPR + c] = dot;
    }
    workgroupBarrier();
    // 3. whole scores, in lane order, with the visibility rule
    for (var j = c; j < BC; j += TPR) {
      var dot = 0.0;
      for (var t = 0u; t < TPR; t++) { dot += part[(r * BC + j) * TPR + t]; }
      let key = j0 + j;
      let seen = key < range.y && key >= first && key < n_keys && key_real(kv_batch + min(key, p.S - 1u));
      sc[r * BC + j] = select(NEG, cap(dot * p.scale), seen);
    }
    workgroupBarrier();
    // 4. online softmax over the tile (FlashAttention-2: rescale once per tile, normalise at the end)
    var mt = NEG;
    for (var j = 0u; j < BC; j++) { mt = max(mt, sc[r * BC + j]); }
    let m_new = max(m, mt);
    let alpha = exp(m - m_new);
    l *= alpha;
    for (var e = 0u; e < DL; e++) { acc[e] *= alpha; }
    for (var j = 0u; j < BC; j++) {
      let s = sc[r * BC + j];
      let pj = select(0.0, exp(s - m_new), s > NEG);
      l += pj;
      for (var e = 0u; e < DL; e++) {
        let d = lane_dim(c, e);
        if (d < HEAD_DIM) { acc[e] = fma(pj, vs[j * HEAD_DIM + d], acc[e]); }
      }
    }
    m = m_new;
    workgroupBarrier(); // the next tile overwrites ks, vs
  }
}

fn write_out(lid: u32) {
  let c = lid % TPR;
  for (var e = 0u; e < DL; e += PAIR) {
    let d = lane_dim(c, e);
    if (d < HEAD_DIM) {
      let o = vec2f(acc[e], acc[min(e + 1u, DL - 1u)]);
      out_put(row * HEAD_DIM + d, select(vec2f(0.0), o / l, l > 0.0));
    }
  }
}

@compute @workgroup_size(BR * TPR)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  run(wg, lid);
  if (row_live) { write_out(lid); }
}

@compute @workgroup_size(BR * TPR)
fn main_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  run(wg, lid);
  if (row_live) {
    write_out(lid);
    if (lid % TPR == 0u) { lse[row] = select(NEG, m + log(l), l > 0.0); }
  }
}

// flash-decoding, pass 1: this slice's (m, l) and unnormalised accumulator
@compute @workgroup_size(BR * TPR)
fn split(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  run(wg, lid);
  if (!row_live) { return; }
  let at = row * SPLITS + wg.x % SPLITS;
  let c = lid % TPR;
  if (c == 0u) {
    partial[2u * at] = m;
    partial[2u * at + 1u] = l;
  }
  let acc_at = 2u * p.n_rows * SPLITS + at * HEAD_DIM;
  for (var e = 0u; e < DL; e++) {
    let d = lane_dim(c, e);
    if (d < HEAD_DIM) { partial[acc_at + d] = acc[e]; }
  }
}

// flash-decoding, pass 2: one thread per PAIR elements (row, dims), the slices combined in slice order.
const REDUCE_WG = 64u;

// Output element idx: (its value, the row's log Σ exp: NEG where no slice saw a key).
fn combine_el(idx: u32) -> vec2f {
  let r = idx / HEAD_DIM;
  let d = idx % HEAD_DIM;
  var mx = NEG;
  for (var s = 0u; s < SPLITS; s++) { mx = max(mx, partial[2u * (r * SPLITS + s)]); }
  var sum = 0.0;
  var o = 0.0;
  let acc_at = 2u * p.n_rows * SPLITS + r * SPLITS * HEAD_DIM + d;
  for (var s = 0u; s < SPLITS; s++) {
    let w = exp(partial[2u * (r * SPLITS + s)] - mx); // an empty slice has l = 0 and acc = 0
    sum = fma(partial[2u * (r * SPLITS + s) + 1u], w, sum);
    o = fma(partial[acc_at + s * HEAD_DIM], w, o);
  }
  return vec2f(select(0.0, o / sum, sum > 0.0), select(NEG, mx + log(sum), sum > 0.0));
}

// Writes elements idx..idx+PAIR−1 (one row's: HEAD_DIM is a multiple of PAIR) and returns the row's log Σ exp.
fn combine(idx: u32) -> f32 {
  let a = combine_el(idx);
  var b = a;
  if (PAIR == 2u) { b = combine_el(idx + 1u); }
  out_put(idx, vec2f(a.x, b.x));
  return a.y;
}

@compute @workgroup_size(REDUCE_WG)
fn reduce(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ((wg.y * nwg.x + wg.x) * REDUCE_WG + lid) * PAIR;
  if (idx >= p.n_rows * HEAD_DIM) { return; }
  _ = combine(idx);
}

@compute @workgroup_size(REDUCE_WG)
fn reduce_save_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ((wg.y * nwg.x + wg.x) * REDUCE_WG + lid) * PAIR;
  if (idx >= p.n_rows * HEAD_DIM) { return; }
  let lse_row = combine(idx);
  if (idx % HEAD_DIM == 0u) { lse[idx / HEAD_DIM] = lse_row; }
}

// #include _attention_keys
