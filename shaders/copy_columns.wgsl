// A column block from one row-major matrix into another (model/head.ts: a split lm_head's logit columns into the
// [rows, vocab] logits, and dlogits' columns back out for each chunk's input gradient), one dispatch instead of a
// copyBufferToBuffer per row:
//   dst[r, dst_col + j] = src[r, src_col + j]   for r < rows, j < cols
// Row strides src_stride, dst_stride and columns are in elements. The bits move as u32: a pure, bit-exact copy.
// Grid folds into 2-D (wg.y·nwg.x + wg.x).
struct Params {
  rows: u32,
  cols: u32,
  src_stride: u32,
  src_col: u32,
  dst_stride: u32,
  dst_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let j = i % p.cols;
  dst[r * p.dst_stride + p.dst_col + j] = src[r * p.src_stride + p.src_col + j];
}
