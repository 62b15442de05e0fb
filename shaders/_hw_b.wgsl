// Library (not a kernel): the B operand of the hardware family's f32-B tiled matmul (hw_matmul.wgsl), binding 2,
// as whole quads and single elements; the kernel's own quad_b (edges, B_VEC) is written on top of these. This one
// reads B as f32 (array<vec4f>: the binding covers whole 16 bytes, as the pool's size classes make it). Its twin
// _hw_b_b16.wgsl reads B stored as f16 pairs (act-dtype.ts), the `+b16` variants: training's weight gradients
// (LoRA's dA = gᵀ·x, full fine-tuning's dW = dYᵀ·X) with x saved as f16. The 16-bit-weight and quantized kernels
// bind their weight as B themselves and include neither.
@group(0) @binding(2) var<storage, read> B: array<vec4f>;

// Elements [4i, 4i+4).
fn b_quad(i: u32) -> vec4f {
  return B[i];
}
// Element e.
fn b_elem(e: u32) -> f32 {
  return B[e >> 2u][e & 3u];
}
