// Library (not a kernel): the element type of the hardware row kernels' vec2 variant, for rows of f16 activations
// whose width is even but not a multiple of 4 (act-dtype.ts): a Q is one u32 word of two f16 values, the smallest
// unit an invocation can store without racing its neighbour for the other half of a word (the scalar _hw_q1 cannot
// hold f16 rows). Its twins are _hw_q4 and _hw_q1.
alias Q = vec2f;
alias QU = vec2u;
alias QB = vec2<bool>;
const QW = 2u;
const Q_OFFSETS = vec2u(0u, 1u);
fn hsum(v: Q) -> f32 { return v.x + v.y; }
fn hmax(v: Q) -> f32 { return max(v.x, v.y); }
fn comp(v: Q, i: u32) -> f32 { return v[i]; }
alias QH = u32;
fn q_unpack(w: QH) -> Q { return unpack2x16float(w); }
fn q_pack(v: Q) -> QH { return pack2x16float(clamp(v, vec2f(-65504.0), vec2f(65504.0))); }
