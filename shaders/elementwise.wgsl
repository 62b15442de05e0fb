// Elementwise adds (all f32, row-major, treated as flat arrays of n elements):
//   add          out = a + b                       (a, b, out [n])
//   add_inplace  acc += b                          (the residual stream: acc, b [n])
//   bias_add     acc[r, c] += bias[c]              (acc [n / cols, cols], bias [cols]; Qwen2's q/k/v biases)
//   bias_grad    acc[c] += Σ_r b[r, c]              (the backward of bias_add: b = dy [n / cols, cols], acc = dbias
//                [cols]; one thread per column summing its rows in order, since WGSL has no float atomics)
//   sum_splits   acc[i] = Σ_s b[s·n + i] (+ acc[i] when ACCUMULATE), s = 0..cols−1 in order (split-K's partial
//                products, ops/matmul-hw.ts: a fixed order, so the sum is deterministic)
//   softcap_inplace  acc = CAP·tanh(acc / CAP)     (Gemma's final_logit_softcapping on a logits block; tanh's argument
//                clamped to ±10, where it is ±1 in f32 already)
// The backward of add / add_inplace (the residual stream) needs no kernel: dy flows unchanged to both operands,
// and the branch gradients meet again through add_inplace.
// Each entry point uses its own bindings (numbers never shared between a read and a read_write view).

struct Params {
  n: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

const WG = 256u;
override CAP: f32 = 1.0;

fn index(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(WG)
fn add_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { acc[i] += b[i]; }
}

@compute @workgroup_size(WG)
fn softcap_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { acc[i] = CAP * tanh(clamp(acc[i] / CAP, -10.0, 10.0)); }
}

@compute @workgroup_size(WG)
fn bias_add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i < p.n) { acc[i] += bias[i % p.cols]; }
}

@compute @workgroup_size(WG)
fn bias_grad(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = index(wg, nwg, lid);
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var i = c; i < p.n; i += p.cols) { s += b[i]; }
  acc[c] += s;
}

override ACCUMULATE: bool = false;

@compute @workgroup_size(WG)
fn sum_splits(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= p.n) { return; }
  var t = 0.0;
  for (var s = 0u; s < p.cols; s++) { t += b[s * p.n + i]; }
  if (ACCUMULATE) { t = acc[i] + t; }
  acc[i] = t;
}
