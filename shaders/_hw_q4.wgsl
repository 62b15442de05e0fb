// Library (not a kernel): the element type of the hardware row kernels' vec4 variant (rows whose width is a
// multiple of 4, so every row starts on a 16-byte boundary and loads whole vec4s). Its twin _hw_q1 is scalar.
alias Q = vec4f;
alias QU = vec4u;
alias QB = vec4<bool>;
const QW = 4u;
const Q_OFFSETS = vec4u(0u, 1u, 2u, 3u);
fn hsum(v: Q) -> f32 { return (v.x + v.y) + (v.z + v.w); }
fn hmax(v: Q) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn comp(v: Q, i: u32) -> f32 { return v[i]; }
// f16 activations (act-dtype.ts): a Q's four values as two u32 words of f16 pairs (the _hw_*_x16/_y16 twins'
// storage), clamped to f16's range on the way out (pack2x16float leaves a value beyond it undefined).
alias QH = vec2u;
fn q_unpack(w: QH) -> Q { return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn q_pack(v: Q) -> QH {
  let c = clamp(v, vec4f(-65504.0), vec4f(65504.0));
  return vec2u(pack2x16float(c.xy), pack2x16float(c.zw));
}
