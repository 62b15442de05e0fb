// Embedding backward: dTable[v, :] += Σ over the tokens n with ids[n] = v of dOut[n, :].
// Layouts (row-major): dOut f32 [N, H]; dTable f32 [V, H] (this chunk's rows ROW0..ROW0+V−1 of the table, as in
// embedding.wgsl; ROW0 = 0 for an unsplit table). The token→row grouping comes from the host, which has the ids
// anyway (src/engine/ops/embedding-backward.ts, a stable sort): rows u32 [U] the distinct ids in increasing order,
// offsets u32 [U+1], order u32 [N] the token positions grouped by id, so group u is order[offsets[u]..offsets[u+1]).
//
// WGSL has no float atomics, and tokens that share an id must add into one row. Grouping instead of atomics: one
// thread per (distinct id, column) sums its group in token order (deterministic) and is the only writer of its
// element. Work is O(N·H), not O(V·N·H), and only rows that some token used are touched: the caller clears
// dTable once per step, and the += lets micro-batches accumulate.
// The group's sum is multiplied by SCALE: the backward of embedding.wgsl's SCALE (Gemma 3's √hidden), 1 elsewhere.

struct Params {
  U: u32,     // distinct ids
  H: u32,
  ROW0: u32,  // id of this chunk's first row
  V: u32,     // rows in this chunk
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> rows: array<u32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

override SCALE: f32 = 1.0;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.U * p.H) { return; }
  let u = i / p.H;
  let c = i % p.H;
  let id = rows[u];
  if (id < p.ROW0 || id - p.ROW0 >= p.V) { return; } // another chunk's row
  var s = 0.0;
  for (var k = offsets[u]; k < offsets[u + 1u]; k++) { s += dout[order[k] * p.H + c]; }
  let at = (id - p.ROW0) * p.H + c;
  dtable[at] += s * SCALE;
}
