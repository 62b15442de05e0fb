// SiLU-gated MLP activation: out = silu(gate) ⊙ up, silu(g) = g / (1 + exp(−g)) as torch computes it.
// Entry `backward`, with σ = sigmoid(g): dgate = dout ⊙ up ⊙ σ·(1 + g·(1 − σ)), dup = dout ⊙ silu(g).
// Layouts: gate, up, out, dout, dgate, dup f32 [T, I] row-major (treated as flat arrays of n = T·I elements).
// Entry `main_packed` reads gate and up from one [T, 2I] buffer (each row: gate's I columns, then up's), the output
// of the fused gate_up matmul (model/layer.ts); training and LoRA keep them apart (the backward needs both).
// The *_f16 entries read gate and up (and write out) as f16 activations: the hardware family's (ops/swiglu.ts).

// #include _gate_act

struct Params {
  n: u32,
  F: u32,  // main_packed only: columns of each half
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(6) var<storage, read_write> dup: array<f32>;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  out[i] = act(gate[i]) * up[i];
}

@compute @workgroup_size(WG)
fn main_packed(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let at = (i / p.F) * 2u * p.F + i % p.F;
  out[i] = act(gate[at]) * gate[at + p.F];
}

// main_packed_f16: main_packed over f16 activations (act-dtype.ts: two halves a u32 word, the lower index in the
// low half), the hardware family's f16 forward: gate|up [T, 2I] in as words at binding 7, out [T, I] as words at
// binding 8. One invocation a word of out (two adjacent columns: I even, so a word never straddles a row or the
// gate|up seam); act and the product in f32, the result clamped to f16's range (pack2x16float leaves a value beyond
// it undefined). p.n counts out's words here.
@group(0) @binding(7) var<storage, read> gu16: array<u32>;
@group(0) @binding(8) var<storage, read_write> out16: array<u32>;

@compute @workgroup_size(WG)
fn main_packed_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let half = p.F / 2u; // words of each half of a row
  let at = (i / half) * 2u * half + i % half;
  let g = unpack2x16float(gu16[at]);
  let u = unpack2x16float(gu16[at + half]);
  let o = vec2f(act(g.x), act(g.y)) * u;
  out16[i] = pack2x16float(clamp(o, vec2f(-65504.0), vec2f(65504.0)));
}

// (dgate, dup) of one element: gate g, up u, dout d (backward and backward_f16 share it, so the same bits).
fn act_grad(g: f32, u: f32, d: f32) -> vec2f {
  if (GELU_TANH) {
    let t = gelu_tanh_t(g);
    let da = 0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * g * g);
    return vec2f(d * u * da, d * (0.5 * g * (1.0 + t)));
  }
  // For g < −88, exp(−g) = +inf gives σ = 0 and both terms 0, their limits; for large g, σ = 1 exactly.
  let sig = 1.0 / (1.0 + exp(-g));
  return vec2f(d * u * (sig * (1.0 + g * (1.0 - sig))), d * (g * sig));
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let gr = act_grad(gate[i], up[i], dout[i]);
  dgate[i] = gr.x;
  dup[i] = gr.y;
}

// main_f16 and backward_f16: main and backward over gate and up stored as f16 activations (act-dtype.ts), the
// hardware family's f16-activation forward and its backward (training, LoRA: gate and up apart, ops/columns.ts
// splitting the packed gate|up as words). gate, up at bindings 9, 10 as words; main_f16 writes out as words at
// binding 8 (clamped as main_packed_f16's), backward_f16 reads dout and writes dgate, dup as f32 (bindings 4-6).
// One invocation a word (two adjacent elements: T·I even); p.n counts the words.
@group(0) @binding(9) var<storage, read> gate16: array<u32>;
@group(0) @binding(10) var<storage, read> up16: array<u32>;

@compute @workgroup_size(WG)
fn main_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = unpack2x16float(gate16[i]);
  let o = vec2f(act(g.x), act(g.y)) * unpack2x16float(up16[i]);
  out16[i] = pack2x16float(clamp(o, vec2f(-65504.0), vec2f(65504.0)));
}

@compute @workgroup_size(WG)
fn backward_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = unpack2x16float(gate16[i]);
  let u = unpack2x16float(up16[i]);
  let a = act_grad(g.x, u.x, dout[2u * i]);
  let b = act_grad(g.y, u.y, dout[2u * i + 1u]);
  dgate[2u * i] = a.x;
  dgate[2u * i + 1u] = b.x;
  dup[2u * i] = a.y;
  dup[2u * i + 1u] = b.y;
}
