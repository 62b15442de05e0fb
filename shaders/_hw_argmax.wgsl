// Library (not a kernel): the hardware family's row-wise argmax, the body of hw_argmax.wgsl (vec4 loads,
// V % 4 == 0) and hw_argmax_x1.wgsl (scalar, any V). Same contract as argmax.wgsl (the software family's): out
// [row0 + r] = the first maximum of row r of logits f32 [rows, V], as torch.argmax and model/score.ts pick it.
// LANES invocations per row (_hw_rows): each visits its elements in increasing index order keeping the first
// maximum it meets (a later equal value does not replace it), then a tree keeps the larger value and, on a tie,
// the smaller index; so the pick does not depend on how the row was split.

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<Q>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const NONE = 0xffffffffu;
var<workgroup> best_v: array<f32, LANES * ROWS>;
var<workgroup> best_i: array<u32, LANES * ROWS>;

@compute @workgroup_size(LANES, ROWS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = row_of(wg, nwg, lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var bv = -3.0e38;
  var bi = NONE;
  if (valid) {
    for (var q = lid.x; q < nq; q += LANES) {
      let v = logits[base + q];
      for (var j = 0u; j < QW; j++) {
        let x = comp(v, j);
        if (bi == NONE || x > bv) {
          bv = x;
          bi = q * QW + j;
        }
      }
    }
  }
  let seg = lid.y * LANES;
  let slot = seg + lid.x;
  best_v[slot] = bv;
  best_i[slot] = bi;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      let ov = best_v[slot + s];
      let oi = best_i[slot + s];
      if (oi != NONE && (best_i[slot] == NONE || ov > best_v[slot] || (ov == best_v[slot] && oi < best_i[slot]))) {
        best_v[slot] = ov;
        best_i[slot] = oi;
      }
    }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { out[p.row0 + row] = best_i[seg]; }
}
