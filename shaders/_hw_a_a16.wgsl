// Library (not a kernel): _hw_a.wgsl's twin for the `+a16` variants: A stored as f16 activations (act-dtype.ts:
// IEEE binary16 two to a u32 word, the lower-indexed element in the low half, pack2x16float's order, as the f16
// KV cache, _kv_load_f16.wgsl). Bound as vec2u (4 elements, 8 bytes), so a whole quad is one 8-byte load (half the
// f32 kernel's bytes) and unpack2x16float widens it exactly to f32; the products and sums stay f32. Core WGSL, no
// `shader-f16`. The binding covers whole 8 bytes (the pool's size classes make it).
@group(0) @binding(1) var<storage, read> A: array<vec2u>;

// Elements [4i, 4i+4).
fn a_quad(i: u32) -> vec4f {
  let w = A[i];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}
// Element e: half e & 1 of word e >> 1.
fn a_elem(e: u32) -> f32 {
  return unpack2x16float(A[e >> 2u][(e >> 1u) & 1u])[e & 1u];
}
