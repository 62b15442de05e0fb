// Four consecutive 16-bit weights (BF16, or F16 with the includer's IS_F16), the first in the low half of w.x:
// the decoder of the forward-form kernels' W16 variant (matmul_nt.wgsl, matmul_nt_4x4.wgsl). Exact for both.
fn decode4(w: vec2u) -> vec4f {
  if (IS_F16) { return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
  return bitcast<vec4f>(vec4u(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
}
