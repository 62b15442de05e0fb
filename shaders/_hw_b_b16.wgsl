// Library (not a kernel): _hw_b.wgsl's twin for the `+b16` variants: B stored as f16 activations (act-dtype.ts:
// IEEE binary16 two to a u32 word, the lower-indexed element in the low half, pack2x16float's order), as
// _hw_a_a16.wgsl reads A. Bound as vec2u (4 elements, 8 bytes), so a whole quad is one 8-byte load and
// unpack2x16float widens it exactly to f32; the products and sums stay f32. Core WGSL, no `shader-f16`. An element
// is read by its own index (half e & 1 of word e >> 1), so any element offset or batch stride works, odd ones and
// split-K's K slices included; whole quads need e % 4 == 0, as B_VEC's rule already asks. The binding covers whole
// 8 bytes (the pool's size classes make it).
@group(0) @binding(2) var<storage, read> B: array<vec2u>;

// Elements [4i, 4i+4).
fn b_quad(i: u32) -> vec4f {
  let w = B[i];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}
// Element e: half e & 1 of word e >> 1.
fn b_elem(e: u32) -> f32 {
  return unpack2x16float(B[e >> 2u][(e >> 1u) & 1u])[e & 1u];
}
