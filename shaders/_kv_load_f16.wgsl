// _kv_load.wgsl's twin for a KV cache stored as f16 (kv-cache.ts, kvDtype 'f16'): k and v hold IEEE binary16
// values, two to a u32 word with the lower-indexed element in the low half (pack2x16float's order, as rope.wgsl's
// split_qkv_f16 and store_kv_f16 write them), so elements 4i..4i+3 are the two words of vec2u i. Core WGSL (no shader-f16): one
// load of 8 bytes and two unpacks replace a load of 16 bytes, and arithmetic stays f32.
@group(0) @binding(8) var<storage, read> k4: array<vec2u>;
@group(0) @binding(9) var<storage, read> v4: array<vec2u>;

fn key4(i: u32) -> vec4f {
  let w = k4[i];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}
fn val4(i: u32) -> vec4f {
  let w = v4[i];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
}
