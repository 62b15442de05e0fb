// Library (not a kernel): the layout and reductions the hardware family's row kernels share (hw_rmsnorm*.wgsl,
// hw_logsoftmax*.wgsl include it through `// #include _hw_rows`, after one of _hw_q4 / _hw_q1, which define the
// element type Q they load and its helpers).
//
// A workgroup of LANES × ROWS invocations covers ROWS rows, LANES invocations per row (LANES a power of 2;
// ops/rows-hw.ts picks LANES for the row's width and ROWS so a workgroup has 64–256 invocations). The lanes of a
// row stride over it in Q-sized steps, neighbours reading neighbouring 16 (or 4) bytes, so every load is
// coalesced; each lane sums its elements in order, then the LANES partial sums are reduced as a tree in
// workgroup memory, always pairing slot i with i + s for s = LANES/2, …, 1: the same shape, so the same bits, on
// every run (the shape of the standard shared-memory reduction: CUDA's reduction samples, llm.c's layernorm
// kernels before their warp-shuffle versions). Rows past the last one still join every barrier (a barrier must be
// reached by the whole workgroup), with no elements to load.

override LANES: u32 = 64u;
override ROWS: u32 = 1u;

var<workgroup> red_a: array<f32, LANES * ROWS>;
var<workgroup> red_b: array<f32, LANES * ROWS>;

// The row this invocation works on (may be ≥ the row count: check before loading).
fn row_of(wg: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wg.y * nwg.x + wg.x) * ROWS + lid.y;
}

// Σ of v over the LANES lanes of the row in slots [seg, seg + LANES); every invocation must call it.
fn row_sum(seg: u32, lane: u32, v: f32) -> f32 {
  red_a[seg + lane] = v;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { red_a[seg + lane] += red_a[seg + lane + s]; }
    workgroupBarrier();
  }
  let r = red_a[seg];
  workgroupBarrier();
  return r;
}

// The row's (max m, Σ exp(x − m)) from each lane's running pair (online softmax, Milakov & Gimelshein 2018):
// two pairs combine as m = max(m₁, m₂), s = s₁·exp(m₁ − m) + s₂·exp(m₂ − m). Every invocation must call it.
fn row_max_sum(seg: u32, lane: u32, m: f32, s: f32) -> vec2f {
  red_a[seg + lane] = m;
  red_b[seg + lane] = s;
  workgroupBarrier();
  for (var k = LANES / 2u; k > 0u; k >>= 1u) {
    if (lane < k) {
      let m1 = red_a[seg + lane];
      let m2 = red_a[seg + lane + k];
      let mm = max(m1, m2);
      red_b[seg + lane] = red_b[seg + lane] * exp(m1 - mm) + red_b[seg + lane + k] * exp(m2 - mm);
      red_a[seg + lane] = mm;
    }
    workgroupBarrier();
  }
  let r = vec2f(red_a[seg], red_b[seg]);
  workgroupBarrier();
  return r;
}

// A lane's running (max, Σ exp(x − max)) after one more Q of logits.
fn online_step(st: vec2f, v: Q) -> vec2f {
  let m = max(st.x, hmax(v));
  return vec2f(m, st.y * exp(st.x - m) + hsum(exp(v - Q(m))));
}
