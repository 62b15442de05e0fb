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
