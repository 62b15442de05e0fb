// AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW, non-amsgrad), one thread per parameter, in place:
//   g = grad·grad_scale·clip (clip: the clipping scale computed on the GPU, binding 6)
//   p ← p − lr·wd·p                      (decoupled weight decay, before the Adam step as PyTorch does)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / bc1) / (√(v / bc2) + eps),  bc1 = 1 − β1^t, bc2 = 1 − β2^t (computed on the host, f32)
// Layouts: param, grad, m, v f32 [n]. The step's numbers (binding 0) are one uniform block for every tensor of
// the step, rewritten once per step; each tensor's size is its own constant block (binding 5), so a tensor's bind
// group never changes between steps.
struct Params {
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  bc1: f32,
  bc2: f32,
  grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
struct Size {
  n: u32,
}
@group(0) @binding(5) var<uniform> size: Size;
// (Σ g², clip scale) from sumsq.wgsl's finish (or (0, 1) unclipped): a non-finite Σ g² leaves every tensor as it
// was (the trainer then stops on it), the scale multiplies the gradient with grad_scale.
@group(0) @binding(6) var<storage, read> clip: array<f32>;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= size.n) { return; }
  if (((bitcast<u32>(clip[0]) >> 23u) & 0xffu) == 0xffu) { return; } // exponent all ones: inf or NaN
  let g = grad[i] * (p.grad_scale * clip[1]);
  var w = param[i] * (1.0 - p.lr * p.weight_decay);
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  w -= p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
  param[i] = w;
}
