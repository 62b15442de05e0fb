// Embedding gather: out[n, :] = table[ids[n], :].
// Layouts: table [V, H] row-major, ids u32 [N], out f32 [N, H]. One thread per output element.
// The table is bound as raw u32 words so one shader serves every storage type (override DTYPE): 0 = f32
// (bitcast), 1 = bf16, 2 = f16, the 16-bit ones packed two per word, even element low, as safetensors stores
// them. A 16-bit table matters: tied models use embed_tokens as lm_head too, and it is the largest tensor.
// A table above the binding limit is split by rows (model/split.ts): each chunk holds rows ROW0..ROW0+V−1 of a
// TOTAL-row table and is dispatched on its own; an id of another chunk is skipped (its row left untouched), so
// the chunks together write every row exactly once. An unsplit table is ROW0 = 0, TOTAL = V.
// An id ≥ TOTAL writes a zero row instead of reading past the table; callers validate ids first (the TS side
// throws on bad host ids), so zeros here only ever mean "caller skipped validation", never undefined memory.

override DTYPE: u32 = 0u;
// Each gathered value is multiplied by SCALE (Gemma 3's √hidden in the weights' dtype; 1, exact, for everyone else).
override SCALE: f32 = 1.0;

struct Params {
  N: u32,
  V: u32,     // rows in this table (chunk)
  H: u32,
  ROW0: u32,  // id of this chunk's first row
  TOTAL: u32, // rows of the whole table
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;

fn load(e: u32) -> f32 {
  if (DTYPE == 0u) { return bitcast<f32>(table[e]); }
  let word = table[e >> 1u];
  let hi = (e & 1u) == 1u;
  if (DTYPE == 2u) {
    let v = unpack2x16float(word);
    return select(v.x, v.y, hi);
  }
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, hi));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.N * p.H) { return; }
  let n = i / p.H;
  let c = i % p.H;
  let id = ids[n];
  if (id >= p.TOTAL) { out[i] = 0.0; return; }
  if (id < p.ROW0 || id - p.ROW0 >= p.V) { return; } // another chunk's row
  out[i] = load((id - p.ROW0) * p.H + c) * SCALE;
}
