// Temperature / top-k / top-p sampling on the GPU, so a sampled decode step reads back a token id (and, when
// asked, its log-prob) instead of a row of logits. The CPU reference is ops/sample.ts `sampleReference`; both
// implement the same rule in integer arithmetic, so they pick the same token for the same logits and the same
// draw on every adapter (see ops/sample.ts for why the rule is integer and how it relates to transformers').
//
// Layouts: logits f32 [rows, V] row-major (rows row0 … row0+rows−1 of the step); draws u32 [all rows] (U, the
// draw u = U / 2³²); tables u32 [3·256] (Q31 2^(−j/2⁸), 2^(−j/2¹⁶), 2^(−j/2²⁴)); weights u32 [all rows, V]
// scratch; out u32 [2·outRows]: out[r] = token id, out[outRows + r] = its log-prob's f32 bits (flag 2).
//
// The rule, per row (one workgroup per row):
//   key(x)   the logit's order-preserving u32 (−0 → +0, NaN → 0: below −∞, never kept)
//   m        the largest logit (max of keys: exact, any order)
//   top-k    τk = the k-th largest key; tokens with key < τk get weight 0 (ties with the k-th kept, as HF)
//   weight   w = 2^((x − m)·scale) in Q31 fixed point, scale = f32(log2 e / temperature): x − m and ·scale are
//            single correctly rounded f32 operations (nothing a compiler can fuse into an fma), then scaled
//            by 2²⁴ (exact) and floored to an integer exponent q; 2^(−q/2²⁴) comes from three 256-entry tables
//            multiplied in 32×32→64-bit integer arithmetic. Sums of weights are u64 (two u32 words) and exact,
//            so the order of a reduction never changes a sum: a GPU tree and the CPU loop agree to the bit.
//   top-p    thr = ⌊Z·P / 2³²⌋ with Z the kept mass and P = ⌊(1 − top_p)·2³²⌋; τp = the largest key with
//            mass(key < τp) ≤ thr, i.e. the key of the first token (ascending) whose cumulative mass exceeds
//            thr: HF's "drop cumulative ≤ 1 − p, keep at least one" with the whole tie group at the boundary
//            kept (torch.sort's order among ties is unspecified, so HF has no fixed rule there)
//   draw     goal = ⌊U·Zk / 2³²⌋ (Zk the mass left); the token is the first, in index order, whose inclusive
//            cumulative kept mass exceeds goal: the CPU sampler's `u < cum` walk, exactly.
// top-k and top-p select their threshold by radix selection over the keys, 4 bits a pass (8 passes each, 16-bin
// histograms in workgroup atomics), not by sorting the row. WG is an override: ops/sample.ts runs short rows
// with WG = 1 (on SwiftShader every barrier switches each 4-lane coroutine of the workgroup, and one lane walking
// a short row is cheaper than the barriers) and long rows with a full workgroup.

struct Params {
  rows: u32,
  V: u32,
  /** 0 or ≥ V: off */
  topK: u32,
  /** ⌊(1 − top_p)·2³²⌋, read when flags & 1 */
  keepP: u32,
  /** f32(log2(e) / temperature) */
  scale: f32,
  /** 1: top-p on, 2: write log-probs */
  flags: u32,
  /** this dispatch's first row in draws / weights / out (logits arrive in row blocks) */
  row0: u32,
  /** rows of out's id section (the log-probs follow it) */
  outRows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> draws: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<u32>;
@group(0) @binding(4) var<storage, read_write> weights: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<u32>;

override WG: u32 = 64u;

var<workgroup> maxKey: atomic<u32>;
var<workgroup> cnt: array<atomic<u32>, 16>;
// u64 sums split into three u32 atomics: bits 0–15, 16–31 and 32–63 of each addend (no carries to lose)
var<workgroup> massLo: array<atomic<u32>, 16>;
var<workgroup> massMid: array<atomic<u32>, 16>;
var<workgroup> massHi: array<atomic<u32>, 16>;
var<workgroup> selKey: u32;
var<workgroup> selMass: vec2u;
var<workgroup> total: vec2u;
var<workgroup> part: array<vec2u, WG>;
var<workgroup> partS: array<f32, WG>;
var<workgroup> picked: u32;

fn key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; } // NaN
  if ((b & 0x7fffffffu) == 0u) { return 0x80000000u; } // ±0 → +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn unkey(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// a·b as (lo, hi)
fn mul_wide(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2u((mid << 16u) | (ll & 0xffffu), ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u));
}

fn add64(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.x + b.x;
  return vec2u(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2u, b: vec2u) -> vec2u {
  return vec2u(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn le64(a: vec2u, b: vec2u) -> bool {
  return a.y < b.y || (a.y == b.y && a.x <= b.x);
}

fn lt64(a: vec2u, b: vec2u) -> bool {
  return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// ⌊a·b / 2³²⌋ for a u64, b u32 (the result fits u64 when a < 2⁶⁴)
fn mul_frac(a: vec2u, b: u32) -> vec2u {
  return add64(mul_wide(a.y, b), vec2u(mul_wide(a.x, b).y, 0u));
}

// ⌊a·b / 2³¹⌋ for Q31 a, b ≤ 2³¹
fn q31(a: u32, b: u32) -> u32 {
  let w = mul_wide(a, b);
  return (w.y << 1u) | (w.x >> 31u);
}

// Q31 weight of a logit x ≤ m that top-k kept
fn weight(x: f32, m: f32) -> u32 {
  let e = (x - m) * p.scale;
  let y = min(e * -16777216.0, 1073741824.0);
  let q = u32(floor(y));
  let n = q >> 24u;
  if (n >= 32u) { return 0u; }
  let f = q & 0xffffffu;
  let w = q31(q31(tables[f >> 16u], tables[256u + ((f >> 8u) & 255u)]), tables[512u + (f & 255u)]);
  return w >> n;
}

// adds a u64 to a 16-bin mass histogram bin (or the total, bin 0)
fn add_mass(bin: u32, v: vec2u) {
  atomicAdd(&massLo[bin], v.x & 0xffffu);
  atomicAdd(&massMid[bin], v.x >> 16u);
  atomicAdd(&massHi[bin], v.y);
}

// reads and clears a bin of the mass histogram (thread 0, between barriers)
fn take_mass(bin: u32) -> vec2u {
  let lo = atomicExchange(&massLo[bin], 0u);
  let mid = atomicExchange(&massMid[bin], 0u);
  let hi = atomicExchange(&massHi[bin], 0u);
  return add64(vec2u(lo, hi), vec2u(mid << 16u, mid >> 16u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let r = wg.y * nwg.x + wg.x; // uniform: the whole workgroup returns or none of it
  if (r >= p.rows) { return; }
  let V = p.V;
  let base = r * V;
  let row = p.row0 + r;
  let wbase = row * V;

  // the largest logit
  var mk = 0u;
  for (var i = t; i < V; i += WG) { mk = max(mk, key(logits[base + i])); }
  atomicMax(&maxKey, mk);
  workgroupBarrier();
  let m = unkey(atomicLoad(&maxKey));

  // top-k: τk = the k-th largest key, by radix selection from the top bits down
  var tauK = 1u; // key 0 (NaN) is never kept
  if (p.topK > 0u && p.topK < V) {
    if (t == 0u) { selKey = 0u; selMass = vec2u(0u); }
    workgroupBarrier();
    for (var shift = 28i; shift >= 0i; shift -= 4i) {
      let s = u32(shift);
      let hi = ~((2u << (s + 3u)) - 1u); // bits above this digit (0 for the top digit)
      let pre = selKey;
      for (var i = t; i < V; i += WG) {
        let k = key(logits[base + i]);
        if ((k & hi) == (pre & hi)) { atomicAdd(&cnt[(k >> s) & 15u], 1u); }
      }
      workgroupBarrier();
      if (t == 0u) {
        // the highest digit whose bin brings the count of keys ≥ it to k; selMass.x counts keys above the prefix
        var above = selMass.x;
        var d = 0u;
        for (var b = 15i; b >= 0i; b--) {
          let c = atomicLoad(&cnt[b]);
          if (above + c >= p.topK) { d = u32(b); break; }
          above += c;
        }
        for (var b = 0u; b < 16u; b++) { atomicStore(&cnt[b], 0u); }
        selKey = pre | (d << s);
        selMass.x = above;
      }
      workgroupBarrier();
    }
    tauK = max(selKey, 1u);
  }

  // weights (kept by top-k), their total Z, and Σ exp(x − m) for the log-prob
  var z = vec2u(0u);
  var sumExp = 0.0;
  let wantLp = (p.flags & 2u) != 0u;
  for (var i = t; i < V; i += WG) {
    let x = logits[base + i];
    var w = 0u;
    if (key(x) >= tauK) { w = weight(x, m); }
    weights[wbase + i] = w;
    z = add64(z, vec2u(w, 0u));
    if (wantLp && key(x) != 0u) { sumExp += exp(x - m); }
  }
  add_mass(0u, z);
  workgroupBarrier();
  if (t == 0u) { total = take_mass(0u); }
  workgroupBarrier();

  // top-p: τp = the largest key with mass(key < τp) ≤ thr, radix selection again (mass histograms)
  var tauP = 0u;
  var zk = total;
  if ((p.flags & 1u) != 0u) {
    let thr = mul_frac(total, p.keepP);
    if (t == 0u) { selKey = 0u; selMass = vec2u(0u); }
    workgroupBarrier();
    for (var shift = 28i; shift >= 0i; shift -= 4i) {
      let s = u32(shift);
      let hi = ~((2u << (s + 3u)) - 1u);
      let pre = selKey;
      for (var i = t; i < V; i += WG) {
        let k = key(logits[base + i]);
        let w = weights[wbase + i];
        if (w != 0u && (k & hi) == (pre & hi)) { add_mass((k >> s) & 15u, vec2u(w, 0u)); }
      }
      workgroupBarrier();
      if (t == 0u) {
        // selMass = the mass below the prefix; the highest digit d with selMass + mass(bins < d) ≤ thr (the sum
        // only grows with d, so the scan stops at the first digit that fails)
        var bins: array<vec2u, 16>;
        for (var b = 0u; b < 16u; b++) { bins[b] = take_mass(b); }
        var at = selMass;
        var d = 0u;
        var dAt = at;
        for (var b = 1u; b < 16u; b++) {
          at = add64(at, bins[b - 1u]);
          if (!le64(at, thr)) { break; }
          d = b;
          dAt = at;
        }
        selKey = pre | (d << s);
        selMass = dAt;
      }
      workgroupBarrier();
    }
    tauP = selKey;
    zk = sub64(total, selMass);
  }

  // the draw: each thread owns a contiguous slice of the row, so thread order is index order; the thread whose
  // slice holds the goal walks it
  let goal = mul_frac(zk, draws[row]);
  let chunk = (V + WG - 1u) / WG;
  let lo = min(t * chunk, V);
  let hi = min(lo + chunk, V);
  var own = vec2u(0u);
  for (var i = lo; i < hi; i++) {
    if (key(logits[base + i]) >= tauP) { own = add64(own, vec2u(weights[wbase + i], 0u)); }
  }
  part[t] = own;
  partS[t] = sumExp;
  if (t == 0u) { picked = 0xffffffffu; }
  workgroupBarrier();
  var acc = vec2u(0u);
  for (var u = 0u; u < t; u++) { acc = add64(acc, part[u]); }
  if (le64(acc, goal) && lt64(goal, add64(acc, own))) {
    for (var i = lo; i < hi; i++) {
      if (key(logits[base + i]) >= tauP) {
        acc = add64(acc, vec2u(weights[wbase + i], 0u));
        if (lt64(goal, acc)) {
          picked = i;
          break;
        }
      }
    }
  }
  workgroupBarrier();
  if (t == 0u) {
    let tok = picked;
    out[row] = tok;
    if (wantLp) {
      // the model's log-prob of the token (temperature 1, no warpers), as scoring computes it: f32, not exact
      var s = 0.0;
      for (var u = 0u; u < WG; u++) { s += partS[u]; }
      out[p.outRows + row] = bitcast<u32>((logits[base + tok] - m) - log(s));
    }
  }
}
