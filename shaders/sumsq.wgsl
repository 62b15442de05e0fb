// Partial sums of squares for the global gradient norm (src/engine/train/clip.ts; CPU reference there).
// Invocation t sums x[t·SPAN .. min((t+1)·SPAN, n)) squared, in index order, into partials[out_offset + t].
// No workgroup memory and no barriers (cheap on SwiftShader, see slerp.wgsl). Entry `finish` (one invocation)
// then adds the n partials of every tensor in index order, so the norm is deterministic, and writes
// clip = (Σ g², clip_grad_norm_'s scale min(1, max_norm / (‖g‖ + 1e-6)), 1 when max_norm ≤ 0), which AdamW reads
// on the GPU: the step never waits for the norm before its update.
// Layouts: x f32 [n]; partials f32 [≥ out_offset + ⌈n/SPAN⌉]; clip f32 [2]. Grid folds into 2-D (wg.y·nwg.x + wg.x).
struct Params {
  n: u32, // main: the tensor's elements; finish: the partials
  out_offset: u32,
  max_norm: f32, // finish only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> clip: array<f32>;

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

@compute @workgroup_size(1)
fn finish() {
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s += partials[i]; }
  clip[0] = s;
  clip[1] = select(1.0, min(1.0, p.max_norm / (sqrt(s) + 1e-6)), p.max_norm > 0.0);
}
