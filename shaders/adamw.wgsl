// AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW, non-amsgrad), one thread per parameter, in place:
//   g = grad·grad_scale·clip (clip: the clipping scale computed on the GPU, binding 6)
//   p ← p − lr·wd·p                      (decoupled weight decay, before the Adam step as PyTorch does)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / bc1) / (√(v / bc2) + eps),  bc1 = 1 − β1^t, bc2 = 1 − β2^t (computed on the host, f32)
// Layouts: param, grad, m, v f32 [n]. The step's numbers (binding 0) are one uniform block for every tensor of
// the step, rewritten once per step; each tensor's size and decay switch are its own constant block (binding 5), so
// a tensor's bind group never changes between steps. decay is 1, or 0 for the tensors HF's Trainer exempts from
// weight decay (biases and norm weights, full fine-tuning only).
// main_w16 (full fine-tuning of a 16-bit model): param is the f32 master copy, and each invocation updates one
// pair of elements and writes them, rounded to nearest even, into the model's own packed weight (binding 7: two
// bf16 or f16 a u32, even element in the low half, as model/weights.ts stores them), so the forward reads the
// rounded weights while the master keeps the small updates that rounding would lose.
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
  decay: f32,
}
@group(0) @binding(5) var<uniform> size: Size;
// (Σ g², clip scale) from sumsq.wgsl's finish (or (0, 1) unclipped): a non-finite Σ g² leaves every tensor as it
// was (the trainer then stops on it), the scale multiplies the gradient with grad_scale.
@group(0) @binding(6) var<storage, read> clip: array<f32>;

const WG = 256u;

fn not_finite(x: f32) -> bool {
  return ((bitcast<u32>(x) >> 23u) & 0xffu) == 0xffu; // exponent all ones: inf or NaN
}

/** Element i's update; returns the new parameter. */
fn update(i: u32) -> f32 {
  let g = grad[i] * (p.grad_scale * clip[1]);
  var w = param[i] * (1.0 - p.lr * p.weight_decay * size.decay);
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  w -= p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
  param[i] = w;
  return w;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= size.n) { return; }
  if (not_finite(clip[0])) { return; }
  update(i);
}

// ---- main_w16: the master update and the rounded 16-bit store ----
@group(0) @binding(7) var<storage, read_write> stored: array<u32>;
/** f16 (IEEE half) when true, else bf16 */
override HALF: bool = false;

/** f32 → bf16 bits, nearest even (io/safetensors/dtypes.ts f32ToBf16Bits); NaN stays a quiet NaN. */
fn bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u) { return ((b >> 16u) | 0x40u) & 0xffffu; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}

/** f32 → IEEE half bits, nearest even, subnormals, ±inf on overflow (dtypes.ts f32ToF16Bits). */
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let ex = i32((b >> 23u) & 0xffu);
  let mant = b & 0x7fffffu;
  if (ex == 0xff) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  let e = ex - 127 + 15;
  if (e >= 0x1f) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let mm = mant | 0x800000u;
    let shift = u32(14 - e);
    var h = mm >> shift;
    let rem = mm & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) { h += 1u; }
    return sign | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h += 1u; }
  return sign | h;
}

fn half_bits(x: f32) -> u32 {
  if (HALF) { return f16_bits(x); }
  return bf16_bits(x);
}

@compute @workgroup_size(WG)
fn main_w16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wg.y * nwg.x + wg.x) * WG + lid; // the pair (2j, 2j + 1), word j of the store
  let i = 2u * j;
  if (i >= size.n) { return; }
  if (not_finite(clip[0])) { return; }
  let lo = half_bits(update(i));
  // an odd n's last word keeps its unused high half
  var hi = stored[j] >> 16u;
  if (i + 1u < size.n) { hi = half_bits(update(i + 1u)); }
  stored[j] = lo | (hi << 16u);
}
