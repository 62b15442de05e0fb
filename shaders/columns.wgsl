// Column blocks of a row-major matrix, in and out of one packed buffer: the fused projections (q|k|v, gate|up)
// compute one [rows, w0 + w1 + w2] product; training and LoRA want each block as its own dense [rows, w_i] buffer,
// and their backward packs the blocks' gradients again for one input-gradient matmul (model/layer.ts).
//   split: a [rows, w0], b [rows, w1], c [rows, w2] ← packed
//   pack:  packed ← a | b | c
// w2 may be 0 (two blocks; c is then a placeholder that is never touched). Pure copies of 32-bit words, moved as
// u32 (no float load/store that might flush or canonicalise): bit-exact. An element is one word; f16 activations
// (act-dtype.ts: two halves a word) with even widths are moved as words at half the widths (ops/columns.ts f16).

struct Params {
  rows: u32,
  w0: u32,
  w1: u32,
  w2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> a: array<u32>;
@group(0) @binding(3) var<storage, read_write> b: array<u32>;
@group(0) @binding(4) var<storage, read_write> c: array<u32>;

const WG = 256u;

// Element i of the packed matrix: its row, its block (0, 1, 2) and its column within the block.
fn locate(i: u32) -> vec3u {
  let W = p.w0 + p.w1 + p.w2;
  let row = i / W;
  let col = i % W;
  if (col < p.w0) { return vec3u(row, 0u, col); }
  if (col < p.w0 + p.w1) { return vec3u(row, 1u, col - p.w0); }
  return vec3u(row, 2u, col - p.w0 - p.w1);
}

@compute @workgroup_size(WG)
fn split(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.rows * (p.w0 + p.w1 + p.w2)) { return; }
  let at = locate(i);
  let x = packed[i];
  switch (at.y) {
    case 0u: { a[at.x * p.w0 + at.z] = x; }
    case 1u: { b[at.x * p.w1 + at.z] = x; }
    default: { c[at.x * p.w2 + at.z] = x; }
  }
}

@compute @workgroup_size(WG)
fn pack(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.rows * (p.w0 + p.w1 + p.w2)) { return; }
  let at = locate(i);
  var x: u32;
  switch (at.y) {
    case 0u: { x = a[at.x * p.w0 + at.z]; }
    case 1u: { x = b[at.x * p.w1 + at.z]; }
    default: { x = c[at.x * p.w2 + at.z]; }
  }
  packed[i] = x;
}
