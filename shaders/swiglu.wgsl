// SiLU-gated MLP activation: out = silu(gate) ⊙ up, silu(g) = g / (1 + exp(−g)) as torch computes it.
// Layouts: gate, up, out f32 [T, I] row-major (treated as flat arrays of n = T·I elements).
// gate and up are separate buffers because HF keeps gate_proj and up_proj as separate weights: each stays a
// plain matmul (LoRA and merging address them by name), and the backward pass needs d_gate and d_up apart.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  // exp(−g) overflows to +inf for g < −88; g / inf = −0, which is silu's limit, so no guard is needed.
  out[i] = (g / (1.0 + exp(-g))) * up[i];
}
