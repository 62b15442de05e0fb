// Library (not a kernel): the layout and reductions the hardware family's row kernels share (hw_rmsnorm*.wgsl,
// hw_logsoftmax*.wgsl, hw_argmax*.wgsl, and the mat-vec hw_matvec*.wgsl, whose rows are weight rows, include it
// through `// #include _hw_rows`, before _hw_reduce, which defines RowIds and the row_* reductions on top of the
// trees here).
//
// A workgroup of LANES × ROWS invocations covers ROWS rows, LANES invocations per row (LANES a power of 2;
// ops/rows-hw.ts picks LANES for the row's width and ROWS so a workgroup has 64–256 invocations). The lanes of a
// row stride over it in Q-sized steps, neighbours reading neighbouring 16 (or 4) bytes, so every load is
// coalesced; each lane folds its elements in order, then the LANES partials are reduced as one fixed binary tree
// over the lane index: level s (s = 1, 2, 4, …, LANES/2) combines the partial of lane i with that of lane i + s
// for every i that is a multiple of 2s. The subgroup variant (_hw_reduce_sg) computes the same tree's lower
// levels with subgroupShuffleXor butterflies and the rest here; every combine below is commutative bit for bit
// (a + b = b + a in IEEE arithmetic), so both variants, and every subgroup size, give the same bits on every run.
// Rows past the last one still join every barrier (a barrier must be reached by the whole workgroup), with no
// elements to load.

override LANES: u32 = 64u;
override ROWS: u32 = 1u;

var<workgroup> red_s: array<f32, LANES * ROWS>;
var<workgroup> red_p: array<vec2f, LANES * ROWS>;
var<workgroup> red_u: array<vec2u, LANES * ROWS>;
var<workgroup> red_4: array<vec4f, LANES * ROWS>;

// The row this invocation works on (may be ≥ the row count: check before loading).
fn row_of(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * ROWS + lid.y;
}

// Two online-softmax pairs (max m, Σ exp(x − m)) as one (Milakov & Gimelshein 2018): m = max(m₁, m₂),
// s = s₁·exp(m₁ − m) + s₂·exp(m₂ − m). Symmetric in its arguments, bit for bit.
fn combine_max_sum(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// Two argmax candidates (value bits, index; index NONE: no element) as one: the larger value, on a tie the
// smaller index, so the first maximum of the row whatever the tree. Symmetric in its arguments.
const NONE = 0xffffffffu;
fn combine_argmax(a: vec2u, b: vec2u) -> vec2u {
  if (b.y == NONE) { return a; }
  if (a.y == NONE) { return b; }
  let va = bitcast<f32>(a.x);
  let vb = bitcast<f32>(b.x);
  if (vb > va) { return b; }
  if (va > vb) { return a; }
  return select(b, a, a.y < b.y);
}

// The tree's levels s = first, 2·first, …, LANES/2 over the partials `v` (each already the sum of its lane's
// aligned block of `first` lanes), in workgroup memory slots [seg, seg + LANES). Every invocation must call these.
fn tree_sum(seg: u32, lane: u32, v: f32, first: u32) -> f32 {
  red_s[seg + lane] = v;
  workgroupBarrier();
  for (var s = first; s < LANES; s <<= 1u) {
    if ((lane & (2u * s - 1u)) == 0u) { red_s[seg + lane] = red_s[seg + lane] + red_s[seg + lane + s]; }
    workgroupBarrier();
  }
  let r = red_s[seg];
  workgroupBarrier();
  return r;
}

fn tree_max_sum(seg: u32, lane: u32, v: vec2f, first: u32) -> vec2f {
  red_p[seg + lane] = v;
  workgroupBarrier();
  for (var s = first; s < LANES; s <<= 1u) {
    if ((lane & (2u * s - 1u)) == 0u) { red_p[seg + lane] = combine_max_sum(red_p[seg + lane], red_p[seg + lane + s]); }
    workgroupBarrier();
  }
  let r = red_p[seg];
  workgroupBarrier();
  return r;
}

fn tree_argmax(seg: u32, lane: u32, v: vec2u, first: u32) -> vec2u {
  red_u[seg + lane] = v;
  workgroupBarrier();
  for (var s = first; s < LANES; s <<= 1u) {
    if ((lane & (2u * s - 1u)) == 0u) { red_u[seg + lane] = combine_argmax(red_u[seg + lane], red_u[seg + lane + s]); }
    workgroupBarrier();
  }
  let r = red_u[seg];
  workgroupBarrier();
  return r;
}

fn tree_sum4(seg: u32, lane: u32, v: vec4f, first: u32) -> vec4f {
  red_4[seg + lane] = v;
  workgroupBarrier();
  for (var s = first; s < LANES; s <<= 1u) {
    if ((lane & (2u * s - 1u)) == 0u) { red_4[seg + lane] = red_4[seg + lane] + red_4[seg + lane + s]; }
    workgroupBarrier();
  }
  let r = red_4[seg];
  workgroupBarrier();
  return r;
}
