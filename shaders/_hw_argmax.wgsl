// Library (not a kernel): the hardware family's row-wise argmax, the body of hw_argmax.wgsl (vec4 loads,
// V % 4 == 0) and hw_argmax_x1.wgsl (scalar, any V). Same contract as argmax.wgsl (the software family's): out
// [row0 + r] = the first maximum of row r of logits f32 [rows, V], as torch.argmax and model/score.ts pick it.
// LANES invocations per row (_hw_rows): each visits its elements in increasing index order keeping the first
// maximum it meets (a later equal value does not replace it), then a tree (_hw_reduce) keeps the larger value
// and, on a tie, the smaller index (_hw_rows combine_argmax); so the pick does not depend on how the row was split.

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<Q>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(LANES, ROWS)
fn main(ids: RowIds) {
  let sg = row_layout(ids);
  let row = row_of(ids.wg, ids.nwg, ids.lid);
  let valid = row < p.rows;
  let nq = p.V / QW;
  let base = row * nq;
  var bv = -3.0e38;
  var bi = NONE;
  if (valid) {
    for (var q = ids.lid.x; q < nq; q += LANES) {
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
  let best = row_argmax(ids, sg, vec2u(bitcast<u32>(bv), bi));
  if (valid && ids.lid.x == 0u) { out[p.row0 + row] = best.y; }
}
