// SiLU-gated MLP activation: out = silu(gate) ⊙ up, silu(g) = g / (1 + exp(−g)) as torch computes it.
// Entry `backward`, with σ = sigmoid(g): dgate = dout ⊙ up ⊙ σ·(1 + g·(1 − σ)), dup = dout ⊙ silu(g).
// Layouts: gate, up, out, dout, dgate, dup f32 [T, I] row-major (treated as flat arrays of n = T·I elements).
// Entry `main_packed` reads gate and up from one [T, 2I] buffer (each row: gate's I columns, then up's), the output
// of the fused gate_up matmul (model/layer.ts); training and LoRA keep them apart (the backward needs both).

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

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  let d = dout[i];
  if (GELU_TANH) {
    let t = gelu_tanh_t(g);
    let da = 0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * g * g);
    dgate[i] = d * up[i] * da;
    dup[i] = d * (0.5 * g * (1.0 + t));
    return;
  }
  // For g < −88, exp(−g) = +inf gives σ = 0 and both terms 0, their limits; for large g, σ = 1 exactly.
  let sig = 1.0 / (1.0 + exp(-g));
  dgate[i] = d * up[i] * (sig * (1.0 + g * (1.0 - sig)));
  dup[i] = d * (g * sig);
}
