// Embedding gather: out[n, :] = table[ids[n], :].
// Layouts: table f32 [V, H] row-major, ids u32 [N], out f32 [N, H]. One thread per output element.
// An id ≥ V writes a zero row instead of reading past the table; callers validate ids first (the TS side
// throws on bad host ids), so zeros here only ever mean "caller skipped validation", never undefined memory.

struct Params {
  N: u32,
  V: u32,
  H: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.N * p.H) { return; }
  let n = i / p.H;
  let c = i % p.H;
  let id = ids[n];
  var val = 0.0;
  if (id < p.V) { val = table[id * p.H + c]; }
  out[i] = val;
}
