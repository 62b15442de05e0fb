// Embedding gather from a ggml block-quantised table (get-rows, as llama.cpp's token embedding): out[n, :] =
// table[ids[n], :] de-quantised, table [V, H] Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K (QTYPE) laid out as _quant_blocks.wgsl documents
// (a row is whole blocks), ids u32 [N], out f32 [N, H]. One thread per 4 consecutive outputs (one wq4 quad).
// Chunks of a split table, ids of other chunks and ids ≥ TOTAL as embedding.wgsl (whose header explains them);
// a quantised table's chunk is packed on its own (its scale table after its blocks).

struct Params {
  N: u32,
  V: u32,     // rows in this table (chunk)
  H: u32,
  ROW0: u32,  // id of this chunk's first row
  TOTAL: u32, // rows of the whole table
  kw: u32,    // = H, the row length the decoder reads
  d_off: u32, // the scale table's first word
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;

// #include _quant_blocks

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid; // quad index: output row n, columns 4c..4c+3
  let H4 = p.H / 4u;
  if (i >= p.N * H4) { return; }
  let n = i / H4;
  let c = i % H4;
  let id = ids[n];
  if (id >= p.TOTAL) { out[i] = vec4f(); return; }
  if (id < p.ROW0 || id - p.ROW0 >= p.V) { return; } // another chunk's row
  out[i] = wq4(id - p.ROW0, 4u * c);
}
