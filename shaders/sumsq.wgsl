// Partial sums of squares for the global gradient norm (src/engine/train/clip.ts; CPU reference there).
// Invocation t sums x[t·SPAN .. min((t+1)·SPAN, n)) squared, in index order, into partials[out_offset + t].
// No workgroup memory and no barriers (cheap on SwiftShader, see slerp.wgsl); the host reads the ⌈n/SPAN⌉
// partials of every tensor back and adds them in float64 in a fixed order, so the norm is deterministic.
// Layouts: x f32 [n]; partials f32 [≥ out_offset + ⌈n/SPAN⌉]. Grid folds into 2-D (wg.y·nwg.x + wg.x).
struct Params {
  n: u32,
  out_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

const WG = 64u;
override SPAN: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wg.y * nwg.x + wg.x) * WG + lid;
  let start = t * SPAN;
  if (start >= p.n) { return; }
  let end = min(start + SPAN, p.n);
  var acc = 0.0;
  for (var i = start; i < end; i++) {
    let g = x[i];
    acc += g * g;
  }
  partials[p.out_offset + t] = acc;
}
