// Library (not a kernel): the element type of the hardware row kernels' scalar variant (rows whose width is not
// a multiple of 4: their starts are not 16-byte aligned, so no vec4 load is possible). Its twin is _hw_q4.
alias Q = f32;
alias QU = u32;
alias QB = bool;
const QW = 1u;
const Q_OFFSETS = 0u;
fn hsum(v: Q) -> f32 { return v; }
fn hmax(v: Q) -> f32 { return v; }
fn comp(v: Q, i: u32) -> f32 { return v; }
