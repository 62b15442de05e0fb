// LoRA dropout (PEFT's lora_dropout on the LoRA branch's input), inverted: kept elements are scaled by 1/(1−p).
// Layout: flat f32 arrays of n elements, element i = row·cols + col of a row-major [rows, cols] tensor.
//
// The mask is not stored: it is a pure function of (key, i), so the backward (and a recomputed forward) draw the
// same one again. key = the host's chain of PCG hashes over (seed, step, micro-batch, module index)
// (ops/dropout.ts: dropoutKey); per element h = pcg(pcg(i) ^ key), dropped iff h < thr, thr = round(p·2³²).
// pcg is Jarzynski & Olano's PCG hash ("Hash Functions for GPU Rendering", JCGT 2020): a bijection of u32, so
// distinct elements of one module never share a hash. Integer compare + one f32 multiply: bit-exact against the
// CPU reference (reference/dropout.ts).
//   forward       out = keep(i) ? x·inv : 0
//   backward_add  acc += keep(i) ? dy·inv : 0        (dX of the LoRA branch joins the base path's dX)
//   mask          out = keep(i) ? inv : 0            (tests read the mask back)

struct Params {
  n: u32,
  key: u32,
  thr: u32,
  inv: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG = 256u;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn keep(i: u32) -> bool {
  return pcg(pcg(i) ^ p.key) >= p.thr;
}

fn index(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { out[i] = select(0.0, x[i] * p.inv, keep(i)); }
}

@compute @workgroup_size(WG)
fn backward_add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { out[i] += select(0.0, x[i] * p.inv, keep(i)); }
}

@compute @workgroup_size(WG)
fn mask(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { out[i] = select(0.0, p.inv, keep(i)); }
}
