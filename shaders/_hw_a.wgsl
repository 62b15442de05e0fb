// Library (not a kernel): the A operand of the hardware family's matmuls and mat-vecs (hw_matmul*.wgsl,
// hw_matvec*.wgsl), binding 1, as whole quads and single elements; the kernel's own quad_a (edges, A_VEC) is
// written on top of these. This one reads A as f32 (array<vec4f>: the binding covers whole 16 bytes, as the pool's
// size classes make it). Its twin _hw_a_a16.wgsl reads A stored as f16 pairs (act-dtype.ts), the `+a16` variants;
// the kernel text is shared, so the variants differ only here.
@group(0) @binding(1) var<storage, read> A: array<vec4f>;

// Elements [4i, 4i+4).
fn a_quad(i: u32) -> vec4f {
  return A[i];
}
// Element e.
fn a_elem(e: u32) -> f32 {
  return A[e >> 2u][e & 3u];
}
