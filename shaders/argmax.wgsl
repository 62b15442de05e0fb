// Greedy decoding's pick on the GPU, so a decode step reads back one id per row instead of a row of logits.
// Layouts: logits f32 [rows, V] row-major; out u32 [row0 + rows] (row r's id at out[row0 + r]: a block of a
// batch's logits writes its share of the batch's ids). One workgroup per row: each invocation scans a
// strided share of the row keeping its first maximum, then a tree reduction keeps the larger value and, on a
// tie, the smaller index, so the result is the row's first maximum exactly as torch.argmax and the CPU
// sampler (model/score.ts argmax) pick it.

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

const WG = 64u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.x;
  let t = lid.x;
  let base = row * p.V;
  var v = -3.0e38;
  var idx = 0xffffffffu;
  if (row < p.rows) {
    for (var i = t; i < p.V; i += WG) {
      let x = logits[base + i];
      if (idx == 0xffffffffu || x > v) {
        v = x;
        idx = i;
      }
    }
  }
  bestV[t] = v;
  bestI[t] = idx;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (t < stride) {
      let ov = bestV[t + stride];
      let oi = bestI[t + stride];
      if (oi != 0xffffffffu && (bestI[t] == 0xffffffffu || ov > bestV[t] || (ov == bestV[t] && oi < bestI[t]))) {
        bestV[t] = ov;
        bestI[t] = oi;
      }
    }
    workgroupBarrier();
  }
  if (t == 0u && row < p.rows) {
    out[p.row0 + row] = bestI[0];
  }
}
